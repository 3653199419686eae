#!/usr/bin/env python3
"""What a sandbox's start costs beside many mounts, and from a spawn namespace.

Run as root: `unshare -m python3 scripts/bench-bwrap-mounts.py N`. In a mount namespace of its
own (a slave of the host's), it makes a copy of that namespace first (the spawn namespace, as
`ridge serve` does at start-up), then mounts N small tmpfs (as N unpacked packages), and starts
bubblewrap 30 times each way with options like a worker's: from the namespace that holds the N
mounts, and from the spawn namespace with a copy of one package attached (open_tree, then
move_mount in a private copy of it, as the worker's pre-exec hook does). Prints the p50 time until
the program inside prints its first line. A benchmark, not a test (docs/benchmarks.md, "the
namespace workers start from").
"""
import ctypes
import os
import subprocess
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWNS, OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH, AT_FDCWD = 0x20000, 1, 4, -100
SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429  # x86_64
RUNS = 30
PACKAGES = "/tmp/ridge-bench-mounts"


def check(rc, what):
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def bwrap(package):
    return ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64", "--ro-bind", "/etc/hosts", "/etc/hosts",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--ro-bind", package, "/function", "sh", "-c", "echo ready; read line"]


def p50(start):
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        p = start()
        p.stdout.readline()
        times.append(time.perf_counter() - t)
        p.kill()
        p.wait()
    return sorted(times)[RUNS // 2] * 1e3


def main():
    n = int(sys.argv[1])
    subprocess.run(["mount", "--make-rslave", "/"], check=True)
    own = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    check(libc.unshare(CLONE_NEWNS), "unshare")
    spawn = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    check(libc.setns(own, CLONE_NEWNS), "setns")
    for i in range(max(n, 1)):
        path = f"{PACKAGES}/{i}"
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "pkg", path], check=True)
    package = f"{PACKAGES}/0"

    def direct():
        return subprocess.Popen(bwrap(package), stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def from_spawn_namespace():
        tree = check(libc.syscall(SYS_OPEN_TREE, AT_FDCWD, package.encode(),
                                  OPEN_TREE_CLONE | os.O_CLOEXEC), "open_tree")

        def attach():
            check(libc.setns(spawn, CLONE_NEWNS), "setns")
            check(libc.unshare(CLONE_NEWNS), "unshare")
            check(libc.syscall(SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, PACKAGES.encode(),
                               MOVE_MOUNT_F_EMPTY_PATH), "move_mount")
        try:
            return subprocess.Popen(bwrap(PACKAGES), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, preexec_fn=attach)
        finally:
            os.close(tree)

    print(f"{n} tmpfs mounts: started from their namespace {p50(direct):.2f} ms p50, "
          f"from the spawn namespace {p50(from_spawn_namespace):.2f} ms p50")


main()
