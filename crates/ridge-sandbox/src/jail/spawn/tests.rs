//! Tests of the spawn: what the program starts with, how a failure before `exec` is reported,
//! and that no child is left unreaped.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::*;

/// Runs `script` under `/bin/sh` with `hooks`; its exit code, output and errors.
fn run(script: &str, hooks: Hooks, env: &[(&str, &str)], dir: &Path) -> (i32, String, String) {
    let mut command = WorkerCommand::new(Path::new("/bin/sh"), dir);
    command.args(["-c", script, "zero", "one"]);
    for (k, v) in env {
        command.env(k, v);
    }
    command.set_hooks(hooks);
    let output = command.output().expect("ran");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("text");
    (
        output.status.code().unwrap_or(-1),
        text(output.stdout),
        text(output.stderr),
    )
}

#[test]
fn a_program_gets_its_arguments_environment_directory_and_descriptors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = "echo \"$0 $1\"; tr '\\0' ' ' < /proc/$$/environ; echo; pwd; \
                  echo problem >&2; exit 3";
    let (code, out, err) = run(
        script,
        Hooks::default(),
        &[("FOO", "bar"), ("PATH", "/usr/bin:/bin")],
        dir.path(),
    );
    assert_eq!(code, 3);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "zero one");
    assert_eq!(
        lines[1].trim(),
        "FOO=bar PATH=/usr/bin:/bin",
        "nothing inherited"
    );
    let real = dir.path().canonicalize().expect("canonical");
    assert_eq!(Path::new(lines[2]), real);
    assert_eq!(err, "problem\n");
}

/// Nothing of the server's signal state reaches the program: no signal blocked, SIGPIPE (which
/// Rust programs ignore) at its default; and it leads a process group of its own.
#[test]
fn a_program_starts_with_default_signals_in_its_own_process_group() {
    // The masks are read by the program itself (`exec`), not by a child of the shell reading
    // the shell's: dash blocks every signal around each fork, so a child that read its
    // parent's status at once could see them all blocked.
    let script = "echo pid $$ group $(cut -d' ' -f5 /proc/$$/stat); \
                  exec grep -E '^Sig(Blk|Ign)' /proc/self/status";
    let (code, out, _) = run(script, Hooks::default(), &[], Path::new("/"));
    assert_eq!(code, 0, "{out}");
    let field = |name: &str| {
        let line = out.lines().find(|l| l.starts_with(name)).expect(name);
        u64::from_str_radix(line.split_whitespace().nth(1).expect("a mask"), 16).expect("hex")
    };
    assert_eq!(field("SigBlk:"), 0, "{out}");
    let sigpipe = 1u64 << (libc::SIGPIPE - 1);
    assert_eq!(field("SigIgn:") & sigpipe, 0, "{out}");
    let first: Vec<&str> = out.lines().next().expect("a line").split(' ').collect();
    assert_eq!(first[1], first[3], "the group is led by the program: {out}");
}

/// Only descriptors 0–2 and the kept ones reach the program, even those this process holds
/// without close-on-exec.
#[test]
fn only_the_kept_descriptors_reach_the_program() {
    let file = std::fs::File::open("/dev/null").expect("/dev/null");
    // `dup` clears close-on-exec: as a descriptor inherited from whoever started Ridge.
    let leaked = nix::unistd::dup(&file).expect("dup");
    let kept = nix::unistd::dup(&file).expect("dup");
    let hooks = Hooks {
        keep: vec![kept.as_raw_fd()],
        ..Hooks::default()
    };
    let (code, out, _) = run("ls /proc/$$/fd", hooks, &[], Path::new("/"));
    assert_eq!(code, 0);
    let fds: Vec<RawFd> = out.lines().filter_map(|l| l.parse().ok()).collect();
    assert!(fds.contains(&kept.as_raw_fd()), "{fds:?}");
    assert!(!fds.contains(&leaked.as_raw_fd()), "{fds:?}");
}

#[test]
fn a_failure_before_exec_is_the_spawns_error() {
    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    let stdio = [null.as_raw_fd(); 3];
    let missing = WorkerCommand::new(Path::new("/nonexistent/program"), Path::new("/"));
    let e = missing.spawn(stdio).expect_err("no such program");
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    // A hook that fails: a descriptor to keep that is not open.
    let mut command = WorkerCommand::new(Path::new("/bin/true"), Path::new("/"));
    command.set_hooks(Hooks {
        keep: vec![1_000_000],
        ..Hooks::default()
    });
    let e = command.spawn(stdio).expect_err("a hook failed");
    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
    let gone = WorkerCommand::new(Path::new("/bin/true"), Path::new("/nonexistent/dir"));
    let e = gone.spawn(stdio).expect_err("no such directory");
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    let nul = WorkerCommand::new(Path::new("/bin/tr\0ue"), Path::new("/"));
    let e = nul.spawn(stdio).expect_err("a NUL byte");
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
}

#[tokio::test]
async fn a_killed_process_is_reported_killed_and_reaped() {
    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    let mut command = WorkerCommand::new(Path::new("/bin/sleep"), Path::new("/"));
    command.args(["30"]);
    let mut child = command.spawn([null.as_raw_fd(); 3]).expect("spawned");
    assert!(child.try_wait().expect("alive").is_none());
    child.start_kill().expect("killed");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("ends")
        .expect("reaped");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(child.id(), None);
    child
        .start_kill()
        .expect("a reaped process is not signalled");
    // Reaped while blocking, too.
    let mut child = WorkerCommand::new(Path::new("/bin/true"), Path::new("/"))
        .spawn([null.as_raw_fd(); 3])
        .expect("spawned");
    assert!(child.wait_blocking().expect("reaped").success());
    assert_eq!(child.id(), None, "no pid once reaped");
}

/// Dropping a running process kills it and reaps it in the background: no zombie is left.
#[tokio::test]
async fn a_dropped_process_is_killed_and_reaped() {
    let null = std::fs::File::open("/dev/null").expect("/dev/null");
    let mut command = WorkerCommand::new(Path::new("/bin/sleep"), Path::new("/"));
    command.args(["30"]);
    let child = command.spawn([null.as_raw_fd(); 3]).expect("spawned");
    let pid = child.id().expect("a pid");
    drop(child);
    let began = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "process {pid} still there (killed and reaped it should be gone)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// With a hook that enters a user namespace the child cannot share the server's memory (the
/// kernel refuses `setns` then): it gets a copy, and enters the namespace.
#[test]
fn a_hook_may_enter_a_user_namespace() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: only root creates user namespaces owned by another uid");
        return;
    }
    let ns = crate::userns::create(1_879_500_000, 65534, false).expect("a user namespace");
    let hooks = Hooks {
        userns: Some(ns.user.as_raw_fd()),
        ..Hooks::default()
    };
    let (code, out, err) = run("cat /proc/self/uid_map", hooks, &[], Path::new("/"));
    assert_eq!(code, 0, "{err}");
    let map: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        map,
        [["0", "0", "1"], ["1879500000", "1879500000", "1"]],
        "{out}"
    );
}
