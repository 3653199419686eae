//! The Python worker's decision to look for strays (`_kill_strays` in worker.py), driven
//! directly: the function and the globals it reads are taken out of the worker program and run
//! by the real interpreter with a fake `posix` that counts kills, a file standing in for the
//! namespace's `ns_last_pid`, and a clock the test sets. Through the server (sandboxed, in a
//! PID namespace) the outcome is covered by `hostile::a_background_process_...` and
//! `hostile::strays_started_after_quiet_executions_...`; here, which path each look takes.

use std::process::Command;

const WORKER: &str = include_str!("../../worker-programs/python3/worker.py");

const DRIVER: &str = r#"
import ast, os, sys
tree = ast.parse(open(sys.argv[1]).read())
names = ("_kill_strays", "_read_last_pid")
keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
assert len(keep) == 2, "worker.py defines both"
ns = {}
exec(compile(ast.Module(body=keep, type_ignores=[]), "worker.py", "exec"), ns)

class Posix:
    kills = 0
    O_RDONLY, O_CLOEXEC = os.O_RDONLY, os.O_CLOEXEC
    open, read, close = staticmethod(os.open), staticmethod(os.read), staticmethod(os.close)
    def kill(self, pid, sig):
        assert (pid, sig) == (-1, 9)
        self.kills += 1
        raise ProcessLookupError  # ESRCH: nobody else
    def waitpid(self, pid, options):
        raise ChildProcessError

posix, clock, path = Posix(), [0.0], sys.argv[2]
ns.update(posix=posix, _NS_LAST_PID=path, _LAST_PID=b"", _LAST_LOOK=0.0, _WRAP_WINDOW=0.0033,
          _monotonic=lambda: clock[0])

def look(at, last_pid):
    clock[0] = at
    with open(ns["_NS_LAST_PID"], "w") as f:
        f.write(last_pid)
    before = posix.kills
    ns["_kill_strays"]()
    return posix.kills - before

print([
    look(1.0, "7\n"),     # the first look: kill
    look(1.001, "7\n"),   # no pid allocated since: nothing to kill
    look(1.002, "9\n"),   # a process (or thread) was started: kill
    look(1.003, "9\n"),   # none since
    look(1.010, "9\n"),   # unchanged, but long enough for the pids to have gone round: kill
    look(1.011, "9\n"),   # none since
])
ns["_NS_LAST_PID"] = path + ".unreadable"
os.mkdir(ns["_NS_LAST_PID"])  # a directory: reading it fails
clock[0] = 1.012
ns["_kill_strays"]()
print(posix.kills)  # ns_last_pid unreadable: killed again (the fourth time)
"#;

#[test]
fn the_worker_kills_only_when_a_pid_was_allocated_or_could_have_been() {
    let dir = tempfile::tempdir().expect("tempdir");
    let worker = dir.path().join("worker.py");
    let last_pid = dir.path().join("ns_last_pid");
    std::fs::write(&worker, WORKER).expect("write worker.py");
    std::fs::write(&last_pid, "1\n").expect("write ns_last_pid");
    let out = Command::new("python3")
        .args(["-I", "-c", DRIVER])
        .arg(&worker)
        .arg(&last_pid)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "[1, 0, 1, 0, 1, 0]\n4\n");
}
