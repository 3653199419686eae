#!/usr/bin/env python3
"""What a fork server (a zygote) would save per sandboxed Python worker start, measured before
it is built (issue 15's cold burst; docs/benchmarks.md, "what a zygote would save").

Run as root: `python3 scripts/bench-zygote.py [N [fresh|zygote|holder]]`. Starts N sandboxes each way,
one at a time, and prints the CPU they cost (this program's reaped children, `RUSAGE_CHILDREN`:
it misses what the sandbox's processes reap themselves, so run one way under
`perf stat -e task-clock` for the whole) and the wall time until the worker inside says it is
ready:

- fresh: bubblewrap with options like a worker's runs a fresh interpreter, which imports what
  the worker program imports at start and says it is ready. This is what a start costs today,
  less the drop helper, the seccomp programs and the cgroups, which the other way would keep.
- zygote: bubblewrap makes the same sandbox around a holder (`sleep`); this program, already
  past its interpreter's start and those imports, forks a child into the holder's PID
  namespace, and the child enters the holder's mount, network, IPC, UTS and cgroup namespaces,
  its root, drops to a worker's uid with no_new_privs, and says it is ready.

A benchmark, not a test: figures are printed, nothing is asserted. The holder here is `sleep`,
a glibc program; the start of a static one without glibc costs about 0.05 ms here (the drop
helper's figures in docs/benchmarks.md), so the zygote row also prints what `sleep` costs on
its own, to subtract.
"""
import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100
UID, GID = 60999, 65534
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
PR_SET_NO_NEW_PRIVS = 38
ETC = ["/etc/ld.so.cache", "/etc/localtime", "/etc/hosts", "/etc/resolv.conf",
       "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates"]
# What the worker program imports before it waits for its function (worker.py's top).
IMPORTS = "import posix, resource, sys, marshal; from _json import encode_basestring, make_encoder"

libc = ctypes.CDLL(None, use_errno=True)
python = os.path.realpath(sys.executable)
bwrap = shutil.which("bwrap") or sys.exit("bwrap is not installed")
sleep = shutil.which("sleep")


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def sandbox(info_fd):
    """bubblewrap's options for a worker-like sandbox (jail/bwrap.rs), without seccomp."""
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--unshare-net", "--hostname", "ridge",
            "--ro-bind", "/usr", "/usr"]
    for link in ["/bin", "/lib", "/lib64", "/sbin"]:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
    args += ["--perms", "0755", "--dir", "/etc"]
    for path in ETC:
        args += ["--ro-bind-try", path, path]
    args += ["--size", str(64 << 20), "--perms", "1777", "--tmpfs", "/tmp"]
    prefix = sys.base_prefix
    if not prefix.startswith("/usr"):
        parents = [p for p in reversed(os.path.dirname(prefix).split("/")) if p]
        for i in range(len(parents), 0, -1):
            args += ["--perms", "0755", "--dir", "/" + "/".join(reversed(parents[i - 1:]))]
        args += ["--ro-bind", prefix, prefix]
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/", "--remount-ro", "/"]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    return args


def spawn(args, keep=()):
    pid = os.fork()
    if pid == 0:
        try:
            for fd in keep:
                os.set_inheritable(fd, True)
            os.execv(args[0], args)
        finally:
            os._exit(127)
    return pid


def fresh():
    """One sandbox around a fresh interpreter; returns once the interpreter says ready."""
    r, w = os.pipe()
    code = f"{IMPORTS}; posix.write({w}, b'r'); posix._exit(0)"
    pid = spawn(sandbox(None) + ["--", python, "-I", "-S", "-B", "-c", code], keep=[w])
    os.close(w)
    assert os.read(r, 1) == b"r"
    os.close(r)
    os.waitpid(pid, 0)


def holder():
    """A sandbox around `sleep`, set up; its bubblewrap's pid and the holder's pid."""
    r, w = os.pipe()
    pid = spawn(sandbox(w) + ["--", sleep, "1000"], keep=[w])
    os.close(w)
    info = b""
    while not info.rstrip().endswith(b"}"):
        info += os.read(r, 4096)
    os.close(r)
    init = json.loads(info)["child-pid"]
    while True:  # the holder is the init's child once the sandbox is set up
        try:
            with open(f"/proc/{init}/task/{init}/children") as f:
                children = f.read().split()
            if children and os.readlink(f"/proc/{children[0]}/exe") == os.path.realpath(sleep):
                return pid, int(children[0])
        except OSError:
            pass
        time.sleep(0.0002)


def zygote():
    """One sandbox around a holder, and a child of this process inside it; returns once the
    child says ready, with the holder's bubblewrap to kill later."""
    bw, held = holder()
    ns = {name: os.open(f"/proc/{held}/ns/{name}", os.O_RDONLY)
          for name in ["pid", "mnt", "net", "ipc", "uts", "cgroup"]}
    root = os.open(f"/proc/{held}/root", os.O_RDONLY | os.O_DIRECTORY)
    r, w = os.pipe()
    check(libc.setns(ns["pid"], CLONE_NEWPID), "setns pid")
    pid = os.fork()
    if pid == 0:
        try:
            for name, flag in [("mnt", CLONE_NEWNS), ("net", CLONE_NEWNET),
                               ("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS),
                               ("cgroup", CLONE_NEWCGROUP)]:
                check(libc.setns(ns[name], flag), f"setns {name}")
            os.fchdir(root)
            os.chroot(".")
            os.chdir("/")
            os.setgroups([])
            os.setresgid(GID, GID, GID)
            os.setresuid(UID, UID, UID)
            check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
            os.write(w, b"r")
        finally:
            os._exit(0)
    check(libc.setns(os.open("/proc/self/ns/pid", os.O_RDONLY), CLONE_NEWPID), "setns back")
    for fd in [*ns.values(), root, w]:
        os.close(fd)
    assert os.read(r, 1) == b"r"
    os.close(r)
    os.waitpid(pid, 0)
    return bw


def measure(name, start):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    walls, kept = [], []
    for _ in range(N):
        t = time.perf_counter()
        kept.append(start())
        walls.append(time.perf_counter() - t)
    took = time.perf_counter() - began
    for pid in filter(None, kept):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / N
    walls.sort()
    print(f"{name}: CPU {cpu * 1000:.2f} ms per start, wall p50 {walls[N // 2] * 1000:.2f} ms "
          f"({N} starts in {took:.2f} s)")


def sleep_alone():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(N):
        os.waitpid(spawn([sleep, "0"]), 0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / N
    print(f"sleep alone (the holder's own start): CPU {cpu * 1000:.2f} ms")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("run as root: the zygote's child enters namespaces it does not own")
    exec(IMPORTS)  # this process is the zygote: past what a worker imports
    ways = {"fresh": ("fresh interpreter in a new sandbox", fresh),
            "zygote": ("zygote child in a held sandbox", zygote),
            "holder": ("the held sandbox alone", lambda: holder()[0])}
    chosen = sys.argv[2:] or ["fresh", "zygote", "holder"]
    for way in chosen:
        measure(*ways[way])
    if not sys.argv[2:]:
        sleep_alone()
