//! Python workers forked by their runtime's zygote (`ridge-runtime-process/src/zygote.rs`), on
//! a real server as root: what such a worker is, seen from inside and from the host, and that
//! a zygote that dies costs no start. The hostile tests run on these workers too (the runtime's
//! check starts its zygote, so a test's workers are forked from it).

use crate::common::{RESOURCE, TestServer, output, zip_files};
use crate::hostile::{VISIBLE_PIDS, host_processes, worker_marker};
use ridge_client::{FunctionUpload, RidgeClient};
use ridge_core::api::CreateExecution;
use serde_json::{Value, json};

/// What a worker shows of itself (with [`VISIBLE_PIDS`] before it: [`probe`]).
const PROBE_MAIN: &str = r#"
import os
def main(**kw):
    status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
    def cmdline(pid):
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode()
    def opened(path):
        try:
            with open(path, "rb") as f:
                f.read(1)
            return "allowed"
        except OSError as e:
            return e.strerror
    return {
        "init_environ": opened("/proc/1/environ"),
        "init_mem": opened("/proc/1/mem"),
        "pid1": cmdline(1),
        "own": cmdline("self"),
        "argv": __import__("sys").argv,
        "ppid": os.getppid(),
        "pids": len(visible_pids()),
        "cap_bnd": status["CapBnd"].strip(),
        "cap_eff": status["CapEff"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "seccomp": status["Seccomp"].strip(),
        "filters": status["Seccomp_filters"].strip(),
        "env": dict(os.environ),
        "fds": len(os.listdir("/proc/self/fd")),
        "cgroup": open("/proc/self/cgroup").read().split(),
    }
"#;

/// [`PROBE_MAIN`] with the `visible_pids` it uses.
fn probe() -> String {
    format!("{VISIBLE_PIDS}{PROBE_MAIN}")
}

/// The zygotes this test's server started (it runs in this process): see [`zygotes_under`].
fn zygotes() -> Vec<u32> {
    zygotes_under(std::process::id())
}

/// The processes whose command line names a zygote and that descend from `ancestor`.
fn zygotes_under(ancestor: u32) -> Vec<u32> {
    let stats = ridge_sandbox::fixtures::proc_stats();
    let parent = |pid: u32| stats.iter().find(|s| s.pid == pid).and_then(|s| s.ppid());
    host_processes("ridge-zygote")
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|&pid| std::iter::successors(parent(pid), |&p| parent(p)).any(|p| p == ancestor))
        .collect()
}

/// Sends `signal` to the host's process `pid`.
fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid")),
        signal,
    )
    .expect("kill");
}

fn root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipped: a zygote needs Ridge to run as root");
    }
    root
}

#[tokio::test]
async fn python_workers_are_forked_by_the_zygote_and_keep_nothing_of_it() {
    if !root() {
        return;
    }
    let ts = TestServer::start().await;
    let runtime = ts.python_runtime().await;
    assert_eq!(zygotes().len(), 1, "the runtime's check started its zygote");
    let view = crate::prestart::pool(&ts, &runtime).await;
    assert_eq!(view.prestarted.zygote.as_deref(), Some("ready"), "{view:?}");
    for round in 0..3 {
        let function = ts.function(&runtime, &probe()).await;
        let e = ts.run(&function, None).await;
        assert_eq!(e.status, "success", "{e:?}");
        let out = output(&e);
        let pid1 = out["pid1"].as_str().expect("text");
        assert!(pid1.contains("--await-worker"), "round {round}: {out}");
        // Forked by the zygote straight into the sandbox, its parent outside the sandbox's
        // PID namespace (so none to name), alone with the sandbox's process 1.
        assert_eq!(out["ppid"], json!(0), "{out}");
        assert_eq!(out["pids"], json!(2), "{out}");
        // Nothing of the zygote's privileges: not even a bounding set to regain them from.
        for set in ["cap_bnd", "cap_eff"] {
            assert_eq!(out[set], json!("0000000000000000"), "{set}: {out}");
        }
        assert_eq!(out["no_new_privs"], json!("1"), "{out}");
        // The helper has the worker's uid, but changed it: not dumpable, so its memory and
        // environment are closed to the worker.
        for closed in ["init_environ", "init_mem"] {
            assert_eq!(out[closed], json!("Permission denied"), "{closed}: {out}");
        }
        assert_eq!(out["seccomp"], json!("2"), "{out}");
        assert_ne!(out["filters"], json!("0"), "{out}");
        // The environment and descriptors of a freshly started worker: 0 to 2, the protocol's
        // two, and the one that lists them.
        let mut env: serde_json::Map<String, Value> = ridge_runtime_process::WORKER_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        env.insert("PWD".to_owned(), json!("/function"));
        assert_eq!(out["env"], Value::Object(env), "{out}");
        assert_eq!(out["fds"], json!(6), "{out}");
        // Inside its own cgroups (the root of its cgroup namespace), not the zygote's.
        for line in out["cgroup"].as_array().expect("lines") {
            assert!(line.as_str().expect("text").ends_with(":/"), "{out}");
        }
        // Its command line names it, as a started worker's does (a pre-started one's names
        // the pool); from the host, its cgroup holds it and the waiting helper.
        let own = out["own"].as_str().expect("text");
        let name = own.rsplit(' ').next().expect("an argument");
        assert!(name.starts_with("python3-"), "{own}");
        assert_eq!(out["argv"], json!(["-c", name]), "{out}");
        assert!(!own.contains("ridge-zygote"), "{own}");
        let on_host = host_processes(&worker_marker(&function));
        assert_eq!(
            on_host.len(),
            3,
            "bubblewrap, the helper, the worker: {on_host:?}"
        );
        assert!(
            on_host.iter().any(|(_, c)| c.contains("--await-worker")),
            "{on_host:?}"
        );
        let named = on_host.iter().any(|(pid, _)| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .trim_end_matches('\0')
                    .ends_with(name)
            })
        });
        assert!(named, "{name} in {on_host:?}");
    }
    ts.stop().await;
}

#[tokio::test]
async fn a_dead_zygote_costs_no_start() {
    if !root() {
        return;
    }
    let ts = TestServer::start().await;
    let runtime = ts.python_runtime().await;
    let zygote = zygotes();
    assert_eq!(zygote.len(), 1);
    signal(zygote[0], nix::sys::signal::Signal::SIGKILL);
    // Workers it had forked (the pre-started ones) serve on; new ones start their own
    // interpreter, since a zygote that died this young is not started again.
    let mut last = Value::Null;
    for _ in 0..4 {
        let function = ts.function(&runtime, &probe()).await;
        let e = ts.run(&function, None).await;
        assert_eq!(e.status, "success", "{e:?}");
        last = output(&e);
    }
    assert!(
        last["pid1"].as_str().expect("text").contains("bwrap"),
        "{last}"
    );
    assert_eq!(last["cap_eff"], json!("0000000000000000"), "{last}");
    assert!(zygotes().is_empty(), "no zygote was started again");
    let view = crate::prestart::pool(&ts, &runtime).await;
    let said = view.prestarted.zygote.expect("said");
    assert!(said.starts_with("unavailable: the zygote died"), "{said}");
    ts.stop().await;
}

/// A forked worker's end reaches the server as a started worker's does, through the zygote
/// that reaps it and the sandbox's process 1 that exits with its status: its exit code, or
/// Qinling's resource message for a SIGKILL; and its sandbox ends with it.
#[tokio::test]
async fn a_forked_workers_end_is_reported_as_any_workers() {
    if !root() {
        return;
    }
    let ts = TestServer::start().await;
    let runtime = ts.python_runtime().await;
    let function = ts
        .function(
            &runtime,
            "import os, signal\ndef main(how, **kw):\n    if how == 'exit':\n        \
             os._exit(3)\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        )
        .await;
    let marker = worker_marker(&function);
    for (how, said) in [
        (
            "exit",
            "Function execution failed: the worker process exited unexpectedly (exit code 3)",
        ),
        ("kill", RESOURCE),
    ] {
        let e = ts
            .run(&function, Some(&json!({"how": how}).to_string()))
            .await;
        assert_eq!(e.status, "failed", "{e:?}");
        assert_eq!(output(&e), json!(said), "{how}: {e:?}");
        crate::hostile::eventually(&format!("{how}: the sandbox ends with its worker"), || {
            host_processes(&marker).is_empty()
        })
        .await;
    }
    ts.stop().await;
}

/// As process 1 of its PID namespace (a container without an init, as
/// `deploy/kubernetes/ridge.yaml` runs it), `ridge serve` reaps what the server does not. A
/// pre-started worker that outlives its zygote is then that process's child: once it ends, it
/// is reaped, so its sandbox ends too (its helper, which waited for it through a pidfd, exits
/// with 124, its status gone with the zygote). SIGTERM reaches the server, and its exit ends
/// the namespace.
#[tokio::test]
async fn as_process_1_it_reaps_a_worker_that_outlived_its_zygote() {
    if !root() {
        return;
    }
    let data = tempfile::tempdir().expect("tmp");
    let mut command = tokio::process::Command::new("unshare");
    command
        // --kill-child: a test that fails (and so kills unshare) leaves no server behind.
        .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_ridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .kill_on_drop(true);
    let (mut unshare, url) = crate::common::serve_child(command).await;
    let client = RidgeClient::new(&url).expect("client");
    let runtime = crate::common::python_runtime_via(&client).await;
    let mut last = None;
    for _ in 0..400 {
        let pool = client.runtime_pool(&runtime.id).await.expect("pool");
        let ready =
            pool.prestarted.ready >= 1 && pool.prestarted.zygote.as_deref() == Some("ready");
        last = Some(pool);
        if ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let view = last.expect("a view");
    assert!(
        view.prestarted.ready >= 1 && view.prestarted.zygote.as_deref() == Some("ready"),
        "a worker the zygote forked, ready within 10 s: {view:?}"
    );
    let unshare_pid = unshare.id().expect("a pid");
    let zygote = zygotes_under(unshare_pid);
    assert_eq!(zygote.len(), 1, "the server's zygote");
    signal(zygote[0], nix::sys::signal::Signal::SIGKILL);
    let function = client
        .create_function(&FunctionUpload {
            runtime_id: Some(runtime.id.clone()),
            entry: Some("function.main".into()),
            package: Some(
                zip_files(&[(
                    "function.py",
                    "import os\ndef main(**kw):\n    os._exit(3)\n",
                )])
                .into(),
            ),
            ..Default::default()
        })
        .await
        .expect("function");
    let e = client
        .create_execution(&CreateExecution {
            function_id: Some(function.id.clone()),
            ..Default::default()
        })
        .await
        .expect("execution");
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(
        output(&e),
        json!("Function execution failed: the worker process exited unexpectedly (exit code 124)"),
        "served by the worker the dead zygote forked: {e:?}"
    );
    let marker = worker_marker(&function);
    crate::hostile::eventually("the sandbox ends with its reaped worker", || {
        host_processes(&marker).is_empty()
    })
    .await;
    let init = ridge_sandbox::fixtures::proc_stats()
        .into_iter()
        .find(|s| s.ppid() == Some(unshare_pid))
        .expect("process 1")
        .pid;
    signal(init, nix::sys::signal::Signal::SIGTERM);
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), unshare.wait())
        .await
        .expect("the server stops, and the namespace with it")
        .expect("wait");
    assert!(status.success(), "{status}");
}

/// With the host's network for every worker (`[sandbox] network = "host"`), a sandbox shares
/// the zygote's network namespace: the worker enters only the namespaces that are its own.
#[tokio::test]
async fn a_worker_with_the_hosts_network_is_forked_too() {
    if !root() {
        return;
    }
    let ts = TestServer::start_with(|s| s.sandbox.network = ridge_sandbox::Network::Host).await;
    let runtime = ts.python_runtime().await;
    let probe = probe();
    let source = format!(
        "{probe}\nimport socket\ndef net(**kw):\n    return {{\"main\": main(), \"net\": \
         sorted(n for _, n in socket.if_nameindex())}}\n"
    );
    let function = ts
        .function_with(&runtime, zip_files(&[("function.py", &source)]), |u| {
            u.entry = Some("function.net".to_owned());
        })
        .await;
    let e = ts.run(&function, None).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    assert!(
        out["main"]["pid1"]
            .as_str()
            .expect("text")
            .contains("--await-worker"),
        "{out}"
    );
    let host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("the host's interfaces")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(host.len() > 1, "{host:?}");
    assert_eq!(
        out["net"].as_array().expect("names").len(),
        host.len(),
        "the host's interfaces: {host:?}, {out}"
    );
    ts.stop().await;
}

/// `python_zygote = false`: no zygote, each worker its own interpreter, as bubblewrap starts it.
#[tokio::test]
async fn an_operator_may_do_without_the_zygote() {
    let ts = TestServer::start_with(|s| s.python_zygote = false).await;
    let runtime = ts.python_runtime().await;
    let function = ts.function(&runtime, &probe()).await;
    let e = ts.run(&function, None).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    assert!(
        !out["pid1"]
            .as_str()
            .expect("text")
            .contains("--await-worker"),
        "{out}"
    );
    assert!(zygotes().is_empty(), "no zygote");
    let view = crate::prestart::pool(&ts, &runtime).await;
    assert_eq!(
        view.prestarted.zygote.as_deref(),
        Some("off: python_zygote = false")
    );
    ts.stop().await;
}
