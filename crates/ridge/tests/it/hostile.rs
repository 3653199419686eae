//! Hostile functions, each run as a real function through the API on a real server with the
//! default sandbox (`refuse` mode: on a host that cannot apply every protection these tests
//! fail rather than pass unconfined). After each: the server answers, a normal function still
//! succeeds in a fresh sandbox, and once the hostile function is deleted no process and no
//! cgroup of its workers is left on the host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{RESOURCE, TestServer, output, zip_files};
use ridge_core::api::{ExecutionView, FunctionView, RuntimeView};
use ridge_sandbox::Protection;
use serde_json::{Value, json};

/// Runs in a fresh worker: a private, empty /tmp and no stray processes.
/// Python: `visible_pids()`, the pids in a worker's `/proc`. A worker a zygote forks is its only
/// child in the sandbox, made there directly: from its first instruction it sees itself and the
/// sandbox's process 1, nothing else.
pub(crate) const VISIBLE_PIDS: &str = r#"
import os
def visible_pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
"#;

/// A well-behaved function: what a fresh worker sees in `/tmp` and `/proc`.
fn normal() -> String {
    format!(
        "{VISIBLE_PIDS}\ndef main(**kw):\n    \
         return {{\"tmp\": sorted(os.listdir(\"/tmp\")), \"pids\": visible_pids()}}\n"
    )
}

struct Hostile {
    ts: TestServer,
    runtime: RuntimeView,
    function: FunctionView,
}

impl Hostile {
    async fn new(source: &str) -> Self {
        Self::with(source, |_| {}).await
    }

    async fn with(source: &str, adjust: impl FnOnce(&mut ridge_client::FunctionUpload)) -> Self {
        let ts = TestServer::start().await;
        let runtime = ts.python_runtime().await;
        let function = ts
            .function_with(&runtime, zip_files(&[("function.py", source)]), adjust)
            .await;
        Self {
            ts,
            runtime,
            function,
        }
    }

    async fn run(&self, input: Value) -> ExecutionView {
        self.ts.run(&self.function, Some(&input.to_string())).await
    }

    /// The checks that follow every hostile function.
    async fn survived(self) {
        let ts = &self.ts;
        ts.client.info().await.expect("the server answers");
        let normal = ts.function(&self.runtime, &normal()).await;
        let e = ts.run(&normal, None).await;
        assert_eq!(e.status, "success", "a normal function still runs: {e:?}");
        assert_eq!(
            output(&e)["tmp"],
            json!([]),
            "a fresh worker has an empty /tmp"
        );
        let pids = output(&e)["pids"].clone();
        // 2, or 3 when a zygote forked the worker (through a child that has exited since).
        assert!(
            pids == json!([1, 2]) || pids == json!([1, 3]),
            "a worker sees only its sandbox's init and itself: {pids}"
        );
        ts.client
            .delete_function(&self.function.id)
            .await
            .expect("the hostile function is deleted");
        let marker = worker_marker(&self.function);
        eventually(&format!("no process of `{marker}` is left"), || {
            host_processes(&marker).is_empty()
        })
        .await;
        eventually(&format!("no cgroup of `{marker}` is left"), || {
            worker_cgroups(&marker).is_empty()
        })
        .await;
        self.ts.stop().await;
    }
}

/// Worker names start `python3-<first 8 of the function id>-`.
pub(crate) fn worker_marker(function: &FunctionView) -> String {
    format!("python3-{}-", &function.id[..8])
}

/// Live (non-zombie) processes on the host whose command line or cgroup path contains
/// `marker` (a pre-started worker's command line names the pool, its cgroup the function).
pub(crate) fn host_processes(marker: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for process in ridge_sandbox::fixtures::proc_stats() {
        if process.is_zombie() {
            continue;
        }
        let dir = format!("/proc/{}", process.pid);
        let Ok(cmdline) = std::fs::read(format!("{dir}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cgroup = std::fs::read_to_string(format!("{dir}/cgroup")).unwrap_or_default();
        if cmdline.contains(marker) || cgroup.contains(marker) {
            found.push((process.pid, cmdline.chars().take(200).collect()));
        }
    }
    found
}

/// This server's cgroup directories for workers (`.../ridge/server-<pid>`), one per hierarchy.
fn server_cgroup_dirs() -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    let server = format!("server-{}", std::process::id());
    own.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            let mount = if names.is_empty() {
                let v2 = Path::new("/sys/fs/cgroup/unified");
                if v2.is_dir() {
                    v2.to_owned()
                } else {
                    PathBuf::from("/sys/fs/cgroup")
                }
            } else if names.starts_with("name=") {
                return None;
            } else {
                Path::new("/sys/fs/cgroup").join(names)
            };
            let dir = mount
                .join(path.trim_start_matches('/'))
                .join("ridge")
                .join(&server);
            dir.is_dir().then_some(dir)
        })
        .collect()
}

pub(crate) fn worker_cgroups(marker: &str) -> Vec<PathBuf> {
    server_cgroup_dirs()
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(marker))
        })
        .collect()
}

pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..250 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not reached within 5 s: {what}");
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_fails_with_the_resource_message() {
    let h = Hostile::with(
        r#"
import os
def main(bomb=False, **kw):
    if not bomb:
        return "calm"
    while True:
        os.fork()
"#,
        // Room for 128 forked interpreters, so that the pids limit is what stops the bomb.
        |u| u.memory_size = Some(128 * 1024 * 1024),
    )
    .await;
    let e = h.run(json!({"bomb": true})).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(&e), json!(RESOURCE));
    let e = h.run(json!({"bomb": false})).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e), json!("calm"));
    h.survived().await;
}

#[tokio::test]
async fn a_fork_bomb_under_the_default_memory_also_fails_with_the_resource_message() {
    // At 32 MiB the OOM killer churns the forked interpreters and the bomb runs into its
    // timeout; the cgroup's records say why, so the message is still the resource one.
    let h = Hostile::with(
        r#"
import os
def main(**kw):
    while True:
        os.fork()
"#,
        |u| u.timeout = Some(3),
    )
    .await;
    let e = h.run(json!({})).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(&e), json!(RESOURCE));
    h.survived().await;
}

#[tokio::test]
async fn memory_past_the_limit_fails_and_the_worker_is_replaced() {
    let h = Hostile::with(
        r#"
import os
TOKEN = os.urandom(8).hex()
def main(hog=False, **kw):
    if hog:
        chunks = []
        for _ in range(1024):
            chunks.append(b"x" * (1 << 20))
    return TOKEN
"#,
        |u| u.memory_size = Some(32 * 1024 * 1024),
    )
    .await;
    let first = h.run(json!({})).await;
    assert_eq!(first.status, "success", "{first:?}");
    let e = h.run(json!({"hog": true})).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(&e), json!(RESOURCE));
    let after = h.run(json!({})).await;
    assert_eq!(after.status, "success", "{after:?}");
    assert_ne!(output(&after), output(&first), "a new worker took over");
    h.survived().await;
}

#[tokio::test]
async fn an_endless_loop_is_killed_at_the_timeout_with_its_whole_tree() {
    let h = Hostile::with(
        r#"
import subprocess
def main(**kw):
    subprocess.Popen(["sleep", "4711.5"], start_new_session=True)
    while True:
        pass
"#,
        |u| u.timeout = Some(1),
    )
    .await;
    let e = h.run(json!({})).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(&e), json!("Function execution timeout."));
    let marker = worker_marker(&h.function);
    eventually(
        "the timed-out worker and its escaped child are gone",
        || host_processes(&marker).is_empty() && host_processes("sleep 4711.5").is_empty(),
    )
    .await;
    h.survived().await;
}

#[tokio::test]
async fn fifty_mib_of_output_is_capped() {
    let h = Hostile::new(
        r#"
import sys
def main(**kw):
    line = "y" * 1023 + "\n"
    for _ in range(50 * 1024):
        sys.stdout.write(line)
    return "flooded"
"#,
    )
    .await;
    let e = h.run(json!({})).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e), json!("flooded"));
    let log = h.ts.client.execution_log(&e.id).await.expect("log");
    assert!(log.len() < 2 * 1024 * 1024, "log of {} bytes", log.len());
    assert!(
        log.contains("[ridge: output truncated"),
        "{}",
        &log[log.len() - 300..]
    );
    h.survived().await;
}

#[tokio::test]
async fn filling_tmp_stops_at_its_size_cap() {
    let h = Hostile::with(
        r#"
def main(**kw):
    mib = 0
    try:
        with open("/tmp/fill", "wb", buffering=0) as f:
            while True:
                f.write(b"\0" * (1 << 20))
                mib += 1
    except OSError as e:
        return {"error": e.strerror, "mib": mib}
"#,
        |u| u.memory_size = Some(128 * 1024 * 1024),
    )
    .await;
    let e = h.run(json!({})).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e)["error"], json!("No space left on device"));
    let mib = output(&e)["mib"].as_u64().expect("a count");
    assert!(
        (60..=64).contains(&mib),
        "wrote {mib} MiB into a 64 MiB /tmp"
    );
    h.survived().await;
}

/// What the function got trying each path: `"ok"` or the error's name.
const PROBE_PATHS: &str = r#"
import os
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as e:
        return type(e).__name__ + ": " + (e.strerror or "")

def main(read=(), write=(), list=(), **kw):
    out = {}
    for p in read:
        out["read " + p] = attempt(lambda: open(p, "rb").read(1))
    for p in write:
        out["write " + p] = attempt(lambda: open(p, "w").write("x"))
    for p in list:
        out["list " + p] = attempt(lambda: os.listdir(p))
    out["root"] = sorted(os.listdir("/root")) if os.path.isdir("/root") else None
    out["slash"] = sorted(os.listdir("/"))
    return out
"#;

#[tokio::test]
async fn secrets_the_database_and_other_packages_are_invisible() {
    let h = Hostile::new(PROBE_PATHS).await;
    // Another function, run once so that its package is unpacked on the host.
    let other =
        h.ts.function(&h.runtime, "def main(**kw):\n    return 'secret'\n")
            .await;
    assert_eq!(h.ts.run(&other, None).await.status, "success");
    let data = h.ts.data_dir();
    let other_source = find_file(&data.join("unpacked"), "function.py").expect("unpacked");
    let db = data.join("ridge.db");
    assert!(db.is_file());
    let paths = [
        "/etc/shadow".to_owned(),
        db.display().to_string(),
        other_source.display().to_string(),
        "/home".to_owned(),
    ];
    let e = h
        .run(json!({"read": paths, "list": [data.display().to_string(), "/home"]}))
        .await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    for p in &paths {
        assert_eq!(
            out[format!("read {p}")],
            json!("FileNotFoundError: No such file or directory"),
            "{p}: {out}"
        );
    }
    assert_eq!(
        out[format!("list {}", data.display())],
        json!("FileNotFoundError: No such file or directory"),
        "{out}"
    );
    let root = out["root"].as_array().expect("a listing of /root");
    assert!(
        root.len() <= 1,
        "/root shows at most the interpreter's path: {root:?}"
    );
    let slash: Vec<&str> = out["slash"]
        .as_array()
        .expect("a listing of /")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!slash.contains(&"home"), "{slash:?}");
    assert!(
        slash.contains(&"function") && slash.contains(&"tmp"),
        "{slash:?}"
    );
    h.survived().await;
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

#[tokio::test]
async fn writing_to_the_root_the_package_and_the_data_directory_fails() {
    let h = Hostile::new(PROBE_PATHS).await;
    let data = h.ts.data_dir();
    let into_data = data.join("planted");
    let e = h
        .run(json!({"write": ["/planted", "/function/planted", into_data.display().to_string()]}))
        .await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    assert_eq!(
        out["write /planted"],
        json!("OSError: Read-only file system"),
        "{out}"
    );
    assert_eq!(
        out["write /function/planted"],
        json!("OSError: Read-only file system"),
        "{out}"
    );
    assert_eq!(
        out[format!("write {}", into_data.display())],
        json!("FileNotFoundError: No such file or directory"),
        "{out}"
    );
    assert!(!into_data.exists());
    h.survived().await;
}

#[tokio::test]
async fn the_network_is_loopback_only() {
    let h = Hostile::new(
        r#"
import socket
def main(port, **kw):
    # Only loopback exists, so nothing can leave the machine; no outside address is tried.
    out = {"interfaces": sorted(name for _, name in socket.if_nameindex())}
    for name, addr in (("ridge", ("127.0.0.1", port)),):
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect(addr)
            out[name] = "connected"
        except OSError as e:
            out[name] = type(e).__name__ + ": " + (e.strerror or str(e))
        finally:
            s.close()
    return out
"#,
    )
    .await;
    let port = h.ts.server.addr().port();
    let e = h.run(json!({"port": port})).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    assert_eq!(
        out["ridge"],
        json!("ConnectionRefusedError: Connection refused"),
        "{out}"
    );
    assert_eq!(out["interfaces"], json!(["lo"]), "{out}");
    h.survived().await;
}

#[tokio::test]
async fn killing_its_parent_and_pid_1_is_refused() {
    let h = Hostile::new(
        r#"
import os
def main(**kw):
    with open("/proc/1/cmdline", "rb") as f:
        out = {"parent": os.getppid(), "init": f.read().replace(b"\0", b" ").decode()}
    for name, pid in (("kill parent", os.getppid()), ("kill 1", 1)):
        if pid == 0:  # a parent outside its PID namespace: kill(0) would be its own group
            out[name] = "no parent to name"
            continue
        try:
            os.kill(pid, 9)
            out[name] = "sent"
        except OSError as e:
            out[name] = e.strerror
    for name in ("stop 1", "term 1"):
        try:
            os.kill(1, 19 if name == "stop 1" else 15)
            out[name] = "sent"
        except OSError as e:
            out[name] = e.strerror
    return out
"#,
    )
    .await;
    let e = h.run(json!({})).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    if out["init"]
        .as_str()
        .is_some_and(|i| i.contains("--await-worker"))
    {
        // A zygote's worker: the zygote forked it into the sandbox from outside, so it has no
        // parent it can name. Its process 1 is the drop helper waiting for it, with the
        // worker's own uid and nothing else, so the kernel lets the signals through, and
        // ignores them, as it ignores every signal sent to a PID namespace's process 1 from
        // inside that has no handler for it. Nothing happened: see below.
        assert_eq!(out["parent"], json!(0), "{out}");
        assert_eq!(out["kill parent"], json!("no parent to name"), "{out}");
        for sent in ["kill 1", "stop 1", "term 1"] {
            assert_eq!(out[sent], json!("sent"), "{out}");
        }
    } else {
        // bubblewrap's init, its parent, root of the worker's user namespace.
        assert_eq!(out["parent"], json!(1), "{out}");
        for refused in ["kill parent", "kill 1", "stop 1", "term 1"] {
            assert_eq!(out[refused], json!("Operation not permitted"), "{out}");
        }
    }
    let again = h.run(json!({})).await;
    assert_eq!(again.status, "success", "the worker lives on: {again:?}");
    h.survived().await;
}

#[tokio::test]
async fn a_background_process_does_not_outlive_its_execution() {
    let h = Hostile::new(
        r#"
import os, subprocess
def main(marker, **kw):
    subprocess.Popen(["sleep", marker], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        os.execvp("sleep", ["sleep", marker])
    return "started"
"#,
    )
    .await;
    let marker = "31337.25";
    let e = h.run(json!({"marker": marker})).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e), json!("started"));
    eventually("the background processes are gone", || {
        host_processes(&format!("sleep {marker}")).is_empty()
    })
    .await;
    // The worker itself stays warm.
    assert!(!host_processes(&worker_marker(&h.function)).is_empty());
    h.survived().await;
}

/// After an execution that started no process the worker skips its sweep for strays (its
/// namespace's last allocated pid is unchanged); a process started by an execution after quiet
/// ones is still killed, and one a thread started between executions by its worker's next
/// execution.
#[tokio::test]
async fn strays_started_after_quiet_executions_are_still_killed() {
    let h = Hostile::new(
        r#"
import subprocess, threading, time
def main(mode="quiet", marker="", **kw):
    def spawn(delay):
        time.sleep(delay)
        subprocess.Popen(["sleep", marker], start_new_session=True)
    if mode == "spawn":
        spawn(0)
    elif mode == "later":
        threading.Thread(target=spawn, args=(0.2,), daemon=True).start()
    return mode
"#,
    )
    .await;
    let quiet = async || {
        for _ in 0..5 {
            assert_eq!(output(&h.run(json!({})).await), json!("quiet"));
        }
    };
    quiet().await;
    let marker = "31337.5";
    let e = h.run(json!({"mode": "spawn", "marker": marker})).await;
    assert_eq!(output(&e), json!("spawn"), "{e:?}");
    eventually("the process the execution started is gone", || {
        host_processes(&format!("sleep {marker}")).is_empty()
    })
    .await;
    quiet().await;
    let marker = "31337.75";
    let e = h.run(json!({"mode": "later", "marker": marker})).await;
    assert_eq!(output(&e), json!("later"), "{e:?}");
    eventually("the thread started its process", || {
        !host_processes(&format!("sleep {marker}")).is_empty()
    })
    .await;
    // Killed at the end of that worker's next execution: the function's calls may be spread
    // over two workers (a worker held at its CPU quota), so run until one lands there.
    for _ in 0..50 {
        assert_eq!(output(&h.run(json!({})).await), json!("quiet"));
        if host_processes(&format!("sleep {marker}")).is_empty() {
            return h.survived().await;
        }
    }
    panic!("the process the thread started outlived 50 executions");
}

#[tokio::test]
async fn other_workers_and_the_server_are_invisible_in_proc() {
    let h = Hostile::new(&format!(
        "{VISIBLE_PIDS}{}",
        r#"
def main(**kw):
    pids = visible_pids()
    seen = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    seen.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
    return {"pids": pids, "seen": "\n".join(seen)}
"#
    ))
    .await;
    // Another function's warm worker, alive while the probe runs.
    let other =
        h.ts.function(&h.runtime, "def main(**kw):\n    return 1\n")
            .await;
    assert_eq!(h.ts.run(&other, None).await.status, "success");
    let other_marker = worker_marker(&other);
    assert!(!host_processes(&other_marker).is_empty());
    let e = h.run(json!({})).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    // The sandbox's process 1 and the worker.
    let pids = out["pids"].as_array().expect("pids");
    assert_eq!(pids.len(), 2, "{out}");
    assert_eq!(pids[0], json!(1), "{out}");
    let seen = out["seen"].as_str().expect("text");
    assert!(!seen.contains(&other_marker), "another worker is visible");
    assert!(
        !seen.contains("CARGO"),
        "the server's environment is visible"
    );
    assert!(!seen.contains(&h.ts.data_dir().display().to_string()));
    h.survived().await;
}

#[tokio::test]
async fn the_worker_is_unprivileged_and_filtered() {
    let h = Hostile::new(
        r#"
import ctypes, os
def main(**kw):
    status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
    libc = ctypes.CDLL(None, use_errno=True)
    def errno_of(rc):
        return os.strerror(ctypes.get_errno()) if rc == -1 else "allowed"
    return {
        "uid": status["Uid"].split(),
        "gid": status["Gid"].split(),
        "groups": status["Groups"].strip(),
        "cap_eff": status["CapEff"].strip(),
        "cap_prm": status["CapPrm"].strip(),
        "cap_inh": status["CapInh"].strip(),
        "cap_amb": status["CapAmb"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "seccomp": status["Seccomp"].strip(),
        "unshare": errno_of(libc.unshare(0x10000000)),
        "ptrace": errno_of(libc.ptrace(0, 0, None, None)),
        # (x86_64 numbers) ptrace as an x32 call; clone3 (ENOSYS: libc falls back to clone);
        # clone asking for a user namespace (it would fork if let through).
        "x32_ptrace": errno_of(libc.syscall(0x40000000 | 101, 0, 0, 0, 0)),
        "clone3": errno_of(libc.syscall(435, None, 0)),
        "clone_newuser": errno_of(libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)),
        "getppid": "allowed" if libc.syscall(110) >= 0 else "refused",
        "hostname": os.uname().nodename,
        "nofile": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE),
    }
"#,
    )
    .await;
    let e = h.run(json!({})).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    let uid = out["uid"][0].as_str().expect("uid").to_owned();
    assert_ne!(uid, "0", "{out}");
    // Real, effective, saved and file-system ids alike: nothing to switch back to.
    assert_eq!(out["uid"], json!([&uid, &uid, &uid, &uid]), "{out}");
    let gid = out["gid"][0].as_str().expect("gid").to_owned();
    assert_eq!(out["gid"], json!([&gid, &gid, &gid, &gid]), "{out}");
    for set in ["cap_eff", "cap_prm", "cap_inh", "cap_amb"] {
        assert_eq!(out[set], json!("0000000000000000"), "{set}: {out}");
    }
    if nix::unistd::geteuid().is_root() {
        // Dropped by Ridge's helper (or setpriv): gid 65534, no supplementary group.
        assert_eq!(gid, "65534", "{out}");
        assert_eq!(out["groups"], json!(""), "{out}");
    }
    assert_eq!(out["no_new_privs"], json!("1"), "{out}");
    assert_eq!(out["seccomp"], json!("2"), "filter mode: {out}");
    assert_eq!(out["unshare"], json!("Operation not permitted"), "{out}");
    assert_eq!(out["ptrace"], json!("Operation not permitted"), "{out}");
    assert_eq!(out["x32_ptrace"], json!("Operation not permitted"), "{out}");
    assert_eq!(out["clone3"], json!("Function not implemented"), "{out}");
    assert_eq!(
        out["clone_newuser"],
        json!("Operation not permitted"),
        "{out}"
    );
    assert_eq!(out["getppid"], json!("allowed"), "{out}");
    assert_eq!(out["hostname"], json!("ridge"), "{out}");
    assert_eq!(out["nofile"], json!([1024, 1024]), "{out}");
    // The worker's host uid, as the host sees it, is the same unprivileged one (when Ridge runs
    // as root; otherwise Ridge's own).
    let marker = worker_marker(&h.function);
    let host_uids: Vec<String> = host_processes(&marker)
        .iter()
        .filter_map(|(pid, _)| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(1).map(str::to_owned)
        })
        .collect();
    assert!(host_uids.contains(&uid), "{host_uids:?} vs {uid}");
    h.survived().await;
}

#[tokio::test]
async fn limits_reach_the_workers_cgroups_and_info_lists_them() {
    let h = Hostile::with("def main(**kw):\n    return 'ok'\n", |u| {
        u.cpu = Some(300);
        u.memory_size = Some(64 * 1024 * 1024);
    })
    .await;
    assert_eq!(h.run(json!({})).await.status, "success");
    let dirs = worker_cgroups(&worker_marker(&h.function));
    assert!(!dirs.is_empty(), "the worker has cgroups");
    let read = |file: &str| {
        dirs.iter()
            .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
            .map(|t| t.trim().to_owned())
    };
    match read("cpu.max") {
        Some(max) => assert_eq!(max, "30000 100000"),
        None => assert_eq!(read("cpu.cfs_quota_us").as_deref(), Some("30000")),
    }
    let memory = read("memory.max").or_else(|| read("memory.limit_in_bytes"));
    assert_eq!(memory.as_deref(), Some("67108864"));
    assert_eq!(read("pids.max").as_deref(), Some("128"));
    let info = h.ts.client.info().await.expect("info");
    for protection in Protection::ALL {
        let p = info
            .sandbox
            .protections
            .iter()
            .find(|p| Protection::from_name(&p.name) == Some(protection))
            .unwrap_or_else(|| panic!("{protection} is listed"));
        if protection == Protection::HiddenHostPaths {
            // Only `ridge serve` makes the mount namespace this needs, before any thread: an
            // in-process server says why not (`hostile_host::a_workers_mount_table_shows_no_host_path`
            // checks a real one).
            assert!(
                !p.enforced && p.detail.contains("`ridge serve`"),
                "{}",
                p.detail
            );
            continue;
        }
        assert!(p.enforced, "{protection}: {}", p.detail);
    }
    h.survived().await;
}

#[tokio::test]
async fn a_missing_bubblewrap_is_reported_and_refuse_mode_runs_nothing() {
    let ts = TestServer::start_with(|s| {
        s.sandbox.bwrap = Some(PathBuf::from("/nonexistent/bwrap"));
    })
    .await;
    let info = ts.client.info().await.expect("info");
    let ns = info
        .sandbox
        .protections
        .iter()
        .find(|p| Protection::from_name(&p.name) == Some(Protection::Namespaces))
        .expect("listed");
    assert!(!ns.enforced);
    assert!(ns.detail.contains("/nonexistent/bwrap"), "{}", ns.detail);
    // refuse (the default): the runtime cannot become available.
    let created = ts
        .client
        .create_runtime(&ridge_core::api::CreateRuntime {
            image: Some("python3".to_owned()),
            ..Default::default()
        })
        .await
        .expect("created");
    let mut status = String::new();
    for _ in 0..200 {
        status = ts
            .client
            .get_runtime(&created.id)
            .await
            .expect("runtime")
            .status;
        if status != "creating" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, "error", "refuse mode runs nothing unconfined");
    ts.stop().await;
}
