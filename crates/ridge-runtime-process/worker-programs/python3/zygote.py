"""The zygote mode of Ridge's Python worker (worker.py, which follows this file in the program
ridge-runtime-process embeds: src/python.rs): started with RIDGE_ZYGOTE set, the program is a
zygote, one per runtime, that forks each new worker into a sandbox bubblewrap made for it
(src/zygote.rs has the whole sequence, docs/sandbox.md "Python workers forked by a zygote" what
it keeps and what workers share). Everything here runs before any function's code, and only
the worker program runs in the zygote itself. Names from worker.py (posix, sys, resource,
_decode, _take_var, _fresh_stdio, _PID, ...) are its module globals, defined by the time the
zygote runs."""

# The namespaces a zygote's child enters (sched.h), and the prctl(2) and seccomp(2) values it
# uses to drop what it had as host root.
_CLONE_NEWNS, _CLONE_NEWCGROUP, _CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
_CLONE_NEWIPC, _CLONE_NEWUSER, _CLONE_NEWPID = 0x08000000, 0x10000000, 0x20000000
_CLONE_NEWNET = 0x40000000
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP = 24, 38, 22
_SECCOMP_MODE_FILTER = 2
_EINVAL = 22
_SA_NOCLDSTOP = 1
_ZYGOTE_NOFILE = 0  # the zygote's open-files limit, once it has raised it


def _zygote(control_fd):
    """Serves the server's requests for workers on `control_fd` (a SOCK_SEQPACKET socket), one
    message each, until the server closes it; returns only in a forked worker, which then goes
    on as any worker does (_main).

    Why: an interpreter's start was most of a cold start's CPU (docs/benchmarks.md,
    "2026-12-07 (9)"). This process is started once per runtime, as the server's own (host root, no
    sandbox; only the worker program runs in it, never a function), and imports what a worker
    imports. For each worker the server has bubblewrap make the whole sandbox (namespaces,
    mounts, seccomp, cgroups, uid), with the drop helper waiting as its process 1, and sends
    here that process's pid with the worker's descriptors. The zygote forks into the
    sandbox's PID namespace; that child, the worker, joins its cgroups and enters every other
    namespace of the sandbox (user, mount, network, IPC, UTS, cgroup). The zygote reaps it when
    it ends and tells the sandbox's process 1 how (_reap), which exits with that status as
    bubblewrap reports its own child's. The worker drops everything before it reads a byte of
    its function: no capability in any set, bounding included, no_new_privs, its uid, gid and
    no groups (checked in /proc/self/status, not assumed), the rlimits, the seccomp programs, a
    fresh session, a cleared environment, only its own descriptors. A failure there ends it
    before the function runs, with the reason on its output. What workers of one zygote share:
    memory pages, copy-on-write, the address-space layout and the hash secret of str and
    bytes."""
    global _FROM_ZYGOTE, _ZYGOTE_NOFILE
    import _signal
    import ctypes
    import socket
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4

    def check(result, what):
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, "%s: %s" % (what, posix.strerror(errno)))

    programs = _read_programs(int(_take_var("RIDGE_ZYGOTE_SECCOMP")))
    code_fd = _take_var("RIDGE_FD_CODE")
    if code_fd is not None:
        posix.close(int(code_fd))
    own_pid_ns = posix.open("/proc/self/ns/pid", posix.O_RDONLY | posix.O_CLOEXEC)
    own_namespaces = _own_namespaces()
    # Python 3.9 (socket.recv_fds, posix.pidfd_open); entering a PID namespace through a pidfd
    # needs Linux 5.8: learn it now, not per worker.
    if not hasattr(socket, "recv_fds") or not hasattr(posix, "pidfd_open"):
        raise OSError("a zygote needs Python 3.9 or later")
    probe = posix.pidfd_open(posix.getpid())
    check(libc.setns(probe, _CLONE_NEWPID), "setns through a pidfd")
    posix.close(probe)
    # It holds a socket per live worker (see _reap): as many as the hard limit allows.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    _ZYGOTE_NOFILE = hard
    workers = {}
    _signal.signal(_signal.SIGCHLD, lambda signum, frame: _reap(workers))
    _quiet_stops(libc, check)
    # Built once here, shared by every worker: see _compile_apart.
    compile("0", "<ridge-zygote>", "eval")
    # Every object so far out of the collector's sight: a collection in a worker would otherwise
    # write to (so copy) pages it shares with the zygote.
    import gc
    gc.freeze()
    control = socket.socket(fileno=control_fd)
    control.send(b"ready")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 16, 64)
        except InterruptedError:
            continue
        if not message:  # the server is gone
            posix._exit(0)
        try:
            forked = _fork_worker(libc, check, own_pid_ns, own_namespaces, message, fds,
                                  programs, workers)
        except Exception as exc:  # a request it cannot read: the worker's start fails
            _say(exc)
            for fd in fds:
                posix.close(fd)
            continue
        if forked:
            control.detach()  # its descriptor is closed already
            _FROM_ZYGOTE = True
            return


def _read_programs(fd):
    """The seccomp programs in the memfd `fd` (each a 4-byte little-endian length, then that
    many bytes of `struct sock_filter`), which it closes."""
    data = posix.pread(fd, posix.fstat(fd).st_size, 0)
    posix.close(fd)
    programs = []
    while data:
        size = int.from_bytes(data[:4], "little")
        programs.append(data[4:4 + size])
        data = data[4 + size:]
    return programs


def _fork_worker(libc, check, own_pid_ns, own_namespaces, message, fds, programs, workers):
    """Forks the worker of one request; True in the worker (whose caller returns into _main),
    False in the zygote, which then keeps the socket to the sandbox's process 1 in `workers`
    and closes the request's other descriptors (on an exception, before the fork, the caller
    closes them all). A request it cannot serve fails in the child, which says why on the
    worker's output and exits: the sandbox's process 1 then exits with that status, and the
    server sees the start fail."""
    import _signal
    request = _decode(message.decode("utf-8"))
    if len(fds) != 4 + request["cgroups"]:
        raise _ProtocolError("a zygote request with %d descriptors" % len(fds))
    fd_in, fd_out, output, await_fd = fds[:4]
    cgroups = fds[4:]
    pidfd = _sandbox_init(request["pid"], request["parent"])
    try:
        entered = _namespaces_to_enter(request["pid"], own_namespaces)
        # Only this fork is made in the sandbox's PID namespace: the zygote enters it for the
        # fork, and leaves it right after.
        check(libc.setns(pidfd, _CLONE_NEWPID), "setns(pid)")
        # Until the worker is in `workers`, its end waits: reaped before, its status would
        # have nowhere to go.
        _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGCHLD,))
        try:
            pid = posix.fork()
        finally:
            if posix.getpid() == _PID and libc.setns(own_pid_ns, _CLONE_NEWPID) != 0:
                posix._exit(70)  # its later children would be made in that sandbox
    except BaseException:
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, (_signal.SIGCHLD,))
        posix.close(pidfd)
        raise
    if pid:
        try:
            workers[pid] = await_fd
        finally:  # whatever happens, workers' ends are heard again
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, (_signal.SIGCHLD,))
        for fd in [pidfd] + fds:
            if fd != await_fd:
                posix.close(fd)
        return False
    # The worker: every failure ends here, never back in the zygote's loop. It was forked once,
    # straight into the sandbox's PID namespace, so its parent is the zygote, outside it
    # (getppid() says 0, as for a process `nsenter` or `docker exec` starts).
    try:
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, (_signal.SIGCHLD,))
        for fd in workers.values():  # the other workers' sockets
            posix.close(fd)
        workers.clear()
        for procs in cgroups:
            posix.write(procs, b"0")
        check(libc.setns(pidfd, entered), "setns")
        _become_worker(libc, check, request, fd_in, fd_out, output, await_fd, programs)
    except BaseException as exc:
        text = ("ridge-zygote: cannot start the worker: %s\n" % exc).encode("utf-8", "replace")
        for fd in (output, 2):  # the output pipe, or, once it is fd 2 only, fd 2
            try:
                posix.write(fd, text)
                break
            except BaseException:
                pass
        posix._exit(126)
    return True


# The namespaces a worker enters, as /proc/<pid>/ns names them; its PID namespace is entered
# for its fork apart.
_NAMESPACES = (("user", _CLONE_NEWUSER), ("mnt", _CLONE_NEWNS), ("net", _CLONE_NEWNET),
               ("ipc", _CLONE_NEWIPC), ("uts", _CLONE_NEWUTS), ("cgroup", _CLONE_NEWCGROUP))


def _reap(workers):
    """Reaps every worker that ended (the SIGCHLD handler) and tells the process 1 of its
    sandbox how: `e` and the wait status, four bytes little-endian, on the socket `workers`
    kept for it, which it then closes. That process exits with the status as bubblewrap
    reports its own child's, so that to the server the worker ends as any worker does. Never
    raises: a handler's exception would surface wherever the zygote happened to be."""
    while True:
        try:
            pid, status = posix.waitpid(-1, posix.WNOHANG)
        except ChildProcessError:  # no worker left
            return
        except InterruptedError:
            continue
        except BaseException as exc:
            _say("cannot reap: %r" % exc)
            return
        if pid == 0:
            return
        helper = workers.pop(pid, None)
        if helper is None:
            continue
        try:
            posix.write(helper, b"e" + status.to_bytes(4, "little"))
        except OSError:  # the sandbox ended first: nobody left to tell
            pass
        except BaseException as exc:
            _say("cannot tell a sandbox its worker's end: %r" % exc)
        try:
            posix.close(helper)
        except OSError:
            pass


def _say(text):
    """Writes `text` to the zygote's standard error (the server's), never raising."""
    try:
        posix.write(2, ("ridge-zygote: %s\n" % text).encode("utf-8", "replace"))
    except BaseException:
        pass


def _quiet_stops(libc, check):
    """SA_NOCLDSTOP on the zygote's SIGCHLD handler (Python's signal() cannot set it): a
    worker that stops and continues itself does not run the zygote's handler each time."""
    import ctypes

    class Sigaction(ctypes.Structure):  # glibc's struct sigaction, x86_64
        _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                    ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]

    import _signal
    action = Sigaction()
    check(libc.sigaction(_signal.SIGCHLD, None, ctypes.byref(action)), "sigaction")
    action.flags |= _SA_NOCLDSTOP
    check(libc.sigaction(_signal.SIGCHLD, ctypes.byref(action), None), "sigaction")


def _own_namespaces():
    """The inodes of the zygote's own namespaces, in _NAMESPACES' order: read once, as the
    zygote never changes them (it enters a sandbox's PID namespace only for its children)."""
    return tuple(posix.stat("/proc/self/ns/%s" % name).st_ino for name, _ in _NAMESPACES)


def _namespaces_to_enter(pid, own):
    """The setns(2) flags of the sandbox's namespaces that are not the zygote's own (`own`, as
    _own_namespaces reads them): a server may give every worker the host's network, and a host
    may not give a cgroup namespace. Once in the worker's user namespace, entering one of the
    host's again would be refused."""
    flags = 0
    for (name, flag), ours in zip(_NAMESPACES, own):
        if posix.stat("/proc/%d/ns/%s" % (pid, name)).st_ino != ours:
            flags |= flag
    if not flags & _CLONE_NEWUSER or not flags & _CLONE_NEWNS:
        raise OSError("the sandbox of process %d has no user or mount namespace of its own" % pid)
    return flags


def _sandbox_init(pid, parent):
    """A pidfd of the sandbox's process 1, host pid `pid` (from the credentials of its first
    message), checked to be the child of bubblewrap's `parent`: a process that had ended and
    whose pid was reused would otherwise be entered instead."""
    import _signal
    pidfd = posix.pidfd_open(pid)
    try:
        ppid = int(_stat_fields(pid)[1])
        # Alive after the read: the file was that process's.
        _signal.pidfd_send_signal(pidfd, 0)
        if ppid != parent:
            raise OSError("process %d is not the sandbox's process 1" % pid)
    except BaseException:
        posix.close(pidfd)
        raise
    return pidfd


def _become_worker(libc, check, request, fd_in, fd_out, output, await_fd, programs):
    """In the sandbox's namespaces, still root of its user namespace: becomes the worker."""
    global _PID
    _PID = posix.getpid()
    posix.setsid()
    null = posix.open("/dev/null", posix.O_RDONLY)
    posix.dup2(null, 0)
    posix.dup2(output, 1)
    posix.dup2(output, 2)
    # The zygote's streams were made for its own descriptors (a seekable /dev/null): new ones,
    # as the interpreter's start makes them (and _fresh_stdio for fds 1 and 2).
    sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
    sys.stdout = sys.__stdout__ = sys.stderr = sys.__stderr__ = None
    _fresh_stdio()
    posix.chdir(request["cwd"])
    for name, value in request["rlimits"].items():
        which = getattr(resource, "RLIMIT_" + name.upper())
        resource.setrlimit(which, (value, value))
    import ctypes
    for cap in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == _EINVAL:  # past the kernel's last capability
                break
            check(-1, "prctl(PR_CAPBSET_DROP)")
    check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    uid, gid = request["uid"], request["gid"]
    posix.setgroups([])
    posix.setresgid(gid, gid, gid)
    posix.setresuid(uid, uid, uid)
    _check_dropped(uid, gid)
    _retitle(libc, request["name"])
    sys.argv[-1] = request["name"]  # as a started worker's: ["-c", its name]
    posix.write(await_fd, b"w" + _PID.to_bytes(4, "little"))
    # Nothing but the worker's own descriptors: every one the zygote could have held is below
    # its open-files limit.
    keep = sorted({0, 1, 2, fd_in, fd_out})
    for low, high in zip(keep, keep[1:] + [max(_ZYGOTE_NOFILE, 1 << 20)]):
        posix.closerange(low + 1, high)
    for program in programs:
        _install_filter(libc, check, program)
    for key in list(posix.environ):
        posix.unsetenv(key)
    posix.environ.clear()
    env = dict(request["env"])
    # PWD as bubblewrap sets it for the program it starts in its --chdir.
    env.update({"PWD": request["cwd"], "RIDGE_FD_IN": str(fd_in), "RIDGE_FD_OUT": str(fd_out)})
    for key, value in env.items():
        posix.putenv(key, value)
        posix.environ[key.encode()] = value.encode()


def _retitle(libc, name):
    """Writes `name` over the zygote's last argument (its name and the room after it), so that
    the worker's command line is a freshly started worker's: `ps` and the host's tools tell
    workers apart by it."""
    import ctypes
    fields = _stat_fields("self")
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49)
    args = ctypes.string_at(start, end - start)
    last = args.rstrip(b"\0").rfind(b"\0") + 1
    room = len(args) - last - 1  # the last NUL stays
    title = name.encode()[:room]
    ctypes.memmove(start + last, title + b"\0" * (room - len(title)), room)


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command's name (which may hold spaces and
    parentheses): the state first, then the parent's pid, ... (proc(5)'s field 3 onwards)."""
    with open("/proc/%s/stat" % pid, "rb") as f:
        stat = f.read()
    return stat[stat.rindex(b")") + 2:].split()


def _check_dropped(uid, gid):
    """Fails unless /proc/self/status shows the ids dropped to `uid` and `gid`, no groups, no
    capability in any set and no_new_privs."""
    with open("/proc/self/status", "rb") as f:
        status = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
    want = {
        b"Uid": [str(uid).encode()] * 4,
        b"Gid": [str(gid).encode()] * 4,
        b"Groups": [],
        b"NoNewPrivs": [b"1"],
    }
    for key in (b"CapInh", b"CapPrm", b"CapEff", b"CapBnd", b"CapAmb"):
        want[key] = [b"0000000000000000"]
    for key, value in want.items():
        if status.get(key, b"?").split() != value:
            raise OSError("the worker kept %s: %s" % (key.decode(), status.get(key)))


def _install_filter(libc, check, program):
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(bytes(program), len(program))
    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0),
          "prctl(PR_SET_SECCOMP)")
