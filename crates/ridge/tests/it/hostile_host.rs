//! Hostile functions against the kernel and the host (issue 13, items 6 to 9, and the x32
//! system calls): per-user kernel limits, descriptors the server inherited, host paths in a
//! worker's mount table, the filesystem a misconfigured interpreter path would show, and system
//! call numbers a denylist misses. Each
//! runs as a real function through the API on a real server with the default sandbox.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{TestServer, output, zip_files};
use ridge_client::{FunctionUpload, RidgeClient};
use ridge_core::api::{CreateExecution, CreateRuntime, ExecutionView, FunctionView};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Opens inotify instances until the kernel refuses one, holds them for `hold` seconds, and
/// says how many it got and why it stopped.
const INOTIFY_HOG: &str = r#"
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
def main(hold=0, **kw):
    fds, errno = [], 0
    while len(fds) < 4096:
        fd = libc.inotify_init1(0)
        if fd < 0:
            errno = ctypes.get_errno()
            break
        fds.append(fd)
    time.sleep(hold)
    return {"opened": len(fds), "errno": errno}
"#;

/// One inotify instance: 0, or the errno that refused it.
const ONE_INOTIFY: &str = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def main(**kw):
    fd = libc.inotify_init1(0)
    if fd < 0:
        return ctypes.get_errno()
    os.close(fd)
    return 0
"#;

/// Every descriptor the function's process holds, and what each names.
const DESCRIPTORS: &str = r#"
import os
def main(**kw):
    links = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            links[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError as e:
            links[fd] = "gone: %s" % e
    return links
"#;

/// The worker processes (not zombies) of `function`, by the name in their command line.
fn worker_pids(function: &FunctionView) -> Vec<u32> {
    // By command line or cgroup: a pre-started worker's names the pool, its cgroup the function.
    crate::hostile::host_processes(&crate::hostile::worker_marker(function))
        .into_iter()
        .map(|(pid, _)| pid)
        .collect()
}

/// How many inotify instances process `pid` holds.
fn inotify_instances(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == "anon_inode:inotify")
        })
        .count()
}

/// `inotify_init1` in a process of host root (this test runs as root): 0, or its errno.
fn host_root_inotify() -> i64 {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfd = libc.inotify_init1(0)\nprint(ctypes.get_errno() if fd < 0 else 0)",
        ])
        .output()
        .expect("python3 runs on the host");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("an errno")
}

async fn run_async(t: &TestServer, f: &FunctionView, input: Value) -> ExecutionView {
    t.client
        .create_execution(&CreateExecution {
            function_id: Some(f.id.clone()),
            sync: Some(false),
            input: Some(Value::String(input.to_string())),
            ..Default::default()
        })
        .await
        .expect("execution created")
}

/// Item 6. Before: workers shared one user namespace owned by root and one uid, so a worker
/// holding 128 inotify instances made host root's `inotify_init1` fail with EMFILE, and every
/// other worker's too.
#[tokio::test]
async fn exhausting_inotify_fails_neither_host_root_nor_another_worker() {
    if !nix_is_root() {
        eprintln!("skipped: per-worker uids need Ridge to run as root");
        return;
    }
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let hog = t
        .function_with(&rt, zip_files(&[("function.py", INOTIFY_HOG)]), |u| {
            u.timeout = Some(60);
        })
        .await;
    let other = t.function(&rt, ONE_INOTIFY).await;
    let running = run_async(&t, &hog, json!({"hold": 20})).await;
    // Until the hog's worker holds its whole allowance.
    let mut held = 0;
    for _ in 0..600 {
        held = worker_pids(&hog)
            .into_iter()
            .map(inotify_instances)
            .max()
            .unwrap_or(0);
        let e = t
            .client
            .get_execution(&running.id)
            .await
            .expect("execution");
        assert_eq!(e.status, "running", "the hog ended early: {e:?}");
        if held >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(held >= 100, "the hog opened only {held} instances");
    assert_eq!(host_root_inotify(), 0, "host root can still use inotify");
    let e = t.run(&other, None).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e), json!(0), "another worker can still use inotify");
    let done = t.wait_long(&running.id).await;
    assert_eq!(done.status, "success", "{done:?}");
    let out = output(&done);
    assert_eq!(
        out["errno"],
        json!(24),
        "stopped by its own limit (EMFILE): {out}"
    );
    t.stop().await;
}

/// The x32 item. Before: the denylist matched exact x86_64 numbers, so `getpid` called as
/// `0x40000000 | 39` reached the kernel (ENOSYS on a kernel without x32, success with it).
#[cfg(target_arch = "x86_64")]
#[tokio::test]
async fn x32_system_calls_are_denied() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t
        .function(
            &rt,
            r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def main(**kw):
    x32 = libc.syscall(0x40000000 | 39)
    x32_errno = ctypes.get_errno()
    return {"x32": [x32, x32_errno], "native": libc.syscall(39) > 0}
"#,
        )
        .await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(
        output(&e),
        json!({"x32": [-1, 1], "native": true}),
        "EPERM from the filter"
    );
    t.stop().await;
}

/// Item 9. Before: `/bin/python3` (a link into `/usr/bin`) made `/` the interpreter's prefix,
/// and the sandbox showed the whole host, the data directory included.
#[tokio::test]
async fn a_linked_interpreter_path_does_not_show_the_host() {
    let linked = Path::new("/bin/python3");
    if !linked.exists() {
        eprintln!("skipped: this host has no /bin/python3");
        return;
    }
    let t = TestServer::start_with(|s| s.python = Some(linked.to_owned())).await;
    let rt = t.python_runtime().await;
    let data = std::fs::canonicalize(t.data_dir()).expect("canonical");
    let f = t
        .function(
            &rt,
            r#"
import os
def main(data, **kw):
    return {"data": os.path.exists(data), "root": sorted(os.listdir("/"))}
"#,
        )
        .await;
    let input = json!({"data": data}).to_string();
    let e = t.run(&f, Some(&input)).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    assert_eq!(out["data"], json!(false), "{out}");
    let root = out["root"].as_array().expect("a list");
    assert!(
        !root.contains(&json!("home")),
        "the host's / is shown: {out}"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_data_directory_is_private() {
    let parent = tempfile::tempdir().expect("tempdir");
    let fresh = parent.path().join("fresh");
    let t = TestServer::start_with(|s| s.data_dir = fresh.clone()).await;
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&fresh), 0o700);
    let dir = t.stop().await;
    let existing = dir.path().join("open");
    std::fs::create_dir(&existing).expect("mkdir");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let t = TestServer::start_with(|s| s.data_dir = existing.clone()).await;
    assert_eq!(mode(&existing), 0o700, "an existing one is tightened");
    t.stop().await;
}

/// Item 7. Before: a descriptor the server inherited from whoever started it reached every
/// worker. The server here is started by a shell that leaves fd 9 open on a file (dash knows no higher number).
#[tokio::test]
async fn a_worker_inherits_no_descriptor_of_whoever_started_the_server() {
    let data = tempfile::tempdir().expect("tempdir");
    let marker = data.path().join("inherited-by-the-server");
    std::fs::write(&marker, "secret").expect("write");
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("exec 9<\"$1\"; shift; exec \"$@\"")
        .arg("sh")
        .arg(&marker)
        .arg(env!("CARGO_BIN_EXE_ridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let pid = child.id().expect("pid");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(url) = line.strip_prefix("Ridge listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server starts within a minute");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/9")).expect("the server holds fd 9"),
        marker,
        "the server did inherit the descriptor"
    );

    let client = RidgeClient::new(&url).expect("client");
    let links = run_once(&client, DESCRIPTORS).await;
    let links = links.as_object().expect("fd -> link");
    assert!(!links.contains_key("9"), "{links:?}");
    for (fd, link) in links {
        let link = link.as_str().expect("text");
        let n: u32 = fd.parse().expect("a number");
        // Beyond stdio: the protocol's two pipes, and the listing's own descriptor.
        // The listing's own descriptor, closed by the time it is read.
        let listing = link.starts_with("gone:") || link.ends_with("/fd");
        let expected = n <= 2 || link.starts_with("pipe:") || listing;
        assert!(expected, "fd {fd} -> {link} reached the worker: {links:?}");
        assert!(!link.contains("inherited-by-the-server"), "{links:?}");
        // No descriptor names a host file: stdin is /dev/null, the output and the protocol
        // are pipes (issue 13, item 8).
        let neutral = link == "/dev/null" || link.starts_with("pipe:") || listing;
        assert!(neutral, "fd {fd} -> {link} names a host file: {links:?}");
        let host = data.path().to_str().expect("utf-8 path");
        assert!(
            !link.contains(host),
            "fd {fd} -> {link} shows the data directory"
        );
    }
    assert!(links.len() <= 6, "{links:?}");
    child.kill().await.expect("kill");
}

/// A python3 runtime on the server `client` talks to, once available: its id.
async fn python3_runtime(client: &RidgeClient) -> String {
    let rt = client
        .create_runtime(&CreateRuntime {
            image: Some("python3".to_owned()),
            name: Some("python3".to_owned()),
            ..Default::default()
        })
        .await
        .expect("runtime");
    for _ in 0..400 {
        if client.get_runtime(&rt.id).await.expect("runtime").status == "available" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    rt.id
}

/// Creates a function of `source` on `runtime`, runs it once and checks that it succeeded.
async fn create_and_run(
    client: &RidgeClient,
    runtime: &str,
    name: &str,
    source: &str,
) -> (FunctionView, ExecutionView) {
    let f = client
        .create_function(&FunctionUpload {
            name: Some(name.to_owned()),
            runtime_id: Some(runtime.to_owned()),
            entry: Some("function.main".to_owned()),
            package: Some(zip_files(&[("function.py", source)]).into()),
            ..FunctionUpload::default()
        })
        .await
        .expect("function");
    let e = client
        .create_execution(&CreateExecution {
            function_id: Some(f.id.clone()),
            ..Default::default()
        })
        .await
        .expect("execution");
    assert_eq!(e.status, "success", "{e:?}");
    (f, e)
}

/// Creates a python3 runtime and a function of `source` on the server `client` talks to, runs
/// it once, and returns its output.
async fn run_once(client: &RidgeClient, source: &str) -> Value {
    let runtime = python3_runtime(client).await;
    // With a pre-started worker ready, so that what the probe sees is what a taken one shows.
    for _ in 0..400 {
        let pool = client.runtime_pool(&runtime).await.expect("pool");
        if pool.prestarted.ready > 0 {
            break;
        }
        assert_eq!(
            pool.prestarted.unavailable, None,
            "pre-started workers run as root"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    output(&create_and_run(client, &runtime, "probe", source).await.1)
}

/// The worker's mount tables, as the kernel shows them to it.
const MOUNT_TABLES: &str = r#"
def main(**kw):
    argv = [a for a in open("/proc/self/cmdline", "rb").read().split(b"\0") if a]
    return {
        "mountinfo": open("/proc/self/mountinfo").read(),
        "mounts": open("/proc/self/mounts").read(),
        "worker": argv[-1].decode(),
    }
"#;

/// Item 8. Before: the package was a bind mount of `<data_dir>/unpacked/<project>/<fid>_<md5>`,
/// and the kernel showed that path as the mount's root in the worker's mountinfo. Through
/// `ridge serve` as a process (only it makes its private mount namespace, before any thread).
#[tokio::test]
async fn a_workers_mount_table_shows_no_host_path() {
    if !nix_is_root() {
        eprintln!("skipped: the package's own tmpfs needs Ridge to run as root");
        return;
    }
    let parent = tempfile::tempdir().expect("tempdir");
    // Distinctive names, so that finding none of them means something.
    let data = parent.path().join("ridge-data-canary-mountinfo");
    std::fs::create_dir(&data).expect("mkdir");
    let (mut child, url) =
        crate::common::serve_process(&data, Some("unpack_cache_size = 33554432")).await;
    let client = RidgeClient::new(&url).expect("client");
    let out = run_once(&client, MOUNT_TABLES).await;
    let mountinfo = out["mountinfo"].as_str().expect("text");
    let mounts = out["mounts"].as_str().expect("text");

    // The real table: the package is there, a tmpfs of its own whose root is `/`. A
    // pre-started worker's is mounted over its slot (an empty directory of the slots' tmpfs,
    // whose root is the slot's name): the last mount at `/function` is the one seen.
    let function: Vec<Vec<&str>> = mountinfo
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .filter(|f| f.get(4) == Some(&"/function"))
        .collect();
    let package = function
        .last()
        .unwrap_or_else(|| panic!("no /function mount:\n{mountinfo}"));
    assert_eq!(package[3], "/", "the package's mount root: {package:?}");
    assert!(package.contains(&"tmpfs"), "{package:?}");
    let worker = out["worker"].as_str().expect("a name");
    assert!(
        worker.starts_with("python3-prestarted-"),
        "a pre-started worker: {worker}"
    );
    // Taken before bubblewrap had bound its slot, it got the package directly: one mount.
    if let [slot, _] = function.as_slice() {
        assert!(slot[3].starts_with("/python3-prestarted-"), "{function:?}");
    } else {
        assert_eq!(function.len(), 1, "{function:?}");
    }
    assert!(
        mounts
            .lines()
            .any(|l| l.split(' ').nth(1) == Some("/function")),
        "{mounts}"
    );

    let parent_name = parent
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name");
    let data_path = data.to_str().expect("utf-8");
    for (table, text) in [("mountinfo", mountinfo), ("mounts", mounts)] {
        for secret in [
            data_path,
            "ridge-data-canary-mountinfo",
            parent_name,
            "unpacked",
        ] {
            assert!(!text.contains(secret), "{table} shows `{secret}`:\n{text}");
        }
    }
    let info = client.info().await.expect("info");
    let hidden = info
        .sandbox
        .protections
        .iter()
        .find(|p| p.name == "hidden host paths")
        .expect("listed");
    assert!(hidden.enforced, "{}", hidden.detail);
    assert!(hidden.detail.contains("32 MiB"), "{}", hidden.detail);
    child.kill().await.expect("kill");
}

/// Before: a worker's bubblewrap started from the server's mount namespace, so it copied (and
/// parsed, for each read-only bind) the mount of every package unpacked on the node, and each
/// cold start took longer with every function run on it. Now it starts from a namespace that
/// holds the host's mounts and its own package only. Through `ridge serve` as a process (only
/// it has a private mount namespace, and so the namespace workers start from).
#[tokio::test]
async fn a_worker_starts_beside_no_other_functions_package() {
    if !nix_is_root() {
        eprintln!("skipped: packages are mounts of their own only when Ridge runs as root");
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    // No pre-started worker: each function's worker starts after the other's package is there.
    let (mut child, url) =
        crate::common::serve_process(data.path(), Some("runtime_pool_size = 0\n")).await;
    let client = RidgeClient::new(&url).expect("client");
    let runtime = python3_runtime(&client).await;
    let noop = "def main(**kw):\n    return 1\n";
    let (first, _) = create_and_run(&client, &runtime, "first", noop).await;
    let (second, _) = create_and_run(&client, &runtime, "second", noop).await;

    // The server holds both packages, each a mount named after its function.
    let server = std::fs::read_to_string(format!("/proc/{}/mountinfo", child.id().expect("pid")))
        .expect("the server's mount table");
    for f in [&first, &second] {
        assert!(server.contains(&f.id), "{} is not mounted:\n{server}", f.id);
    }
    // The second function's idle worker: its bubblewrap (outside the sandbox) and the
    // sandbox's processes see neither package mount by its path: the first function's was
    // never in their namespace, their own is attached over its parent directory.
    let processes = worker_pids(&second);
    assert!(
        processes.len() >= 3,
        "bubblewrap, its init and Python: {processes:?}"
    );
    for pid in processes {
        let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
            continue;
        };
        for f in [&first, &second] {
            assert!(
                !table.contains(&f.id),
                "process {pid} sees {}:\n{table}",
                f.id
            );
        }
        // Its own package only (`ridge-package` is what a package's tmpfs shows as its source).
        let packages = table.matches(" ridge-package ").count();
        assert!(
            packages <= 1,
            "process {pid} sees {packages} packages:\n{table}"
        );
    }
    child.kill().await.expect("kill");
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

impl TestServer {
    /// Polls an execution until it leaves `running` (bounded, about a minute).
    async fn wait_long(&self, id: &str) -> ExecutionView {
        for _ in 0..600 {
            let e = self.client.get_execution(id).await.expect("execution");
            if e.status != "running" {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("execution {id} did not finish");
    }
}
