"""Ridge's Python worker: loads one function once, then runs its executions one at a time.

ridge-runtime-process embeds this file, compiles it once with the worker's interpreter, and
starts each worker as `python3 -I -S -B -c <bootstrap>`, which runs that code from the memfd
named by RIDGE_FD_CODE (src/python.rs), with a cleared environment, in the package directory,
as the leader of its own process group (inside the server's sandbox, where the package is at
/function and this worker is alone in its PID namespace). It implements the worker protocol of
docs/runtime-protocol.md: length-prefixed frames (4-byte big-endian length, then UTF-8 JSON) on
the descriptors named by RIDGE_FD_IN and RIDGE_FD_OUT. Its fd 0 reads /dev/null and fds 1 and
2 append to the capture file that Ridge reads after each execution, so everything the function
(or a process it starts) prints is captured without this worker's help.

Started with RIDGE_ZYGOTE set, this program is instead a zygote (_zygote, in zygote.py, which
precedes this file in the embedded program): a process of the server's, outside any sandbox,
that forks each new worker already past the interpreter's start and this program's imports,
into a sandbox bubblewrap made for it.

Frames from Ridge:   init, invoke.
Frames to Ridge:     loading, ready, load_error, returned, raised, fatal.
See crates/ridge-runtime-process/src/protocol.rs for their fields. Every reply echoes the `id` of
the request it answers; Ridge refuses any other frame, so a function that writes to the protocol
descriptors can at most spoil its own execution. The descriptors are moved to high numbers and
named by no module global; the function can still find them (this is one process), which is
why Ridge checks the ids.
"""

import posix
import resource
import sys

# Imports are memory every idle worker holds (docs/benchmarks.md, "idle worker memory"): the
# worker imports only what start-up and a call need, and `traceback` (with `linecache`,
# `tokenize`, `re`...) or `time` where they are used. `posix` is the built-in module behind
# `os`, already loaded: `os` would import six more modules (0.15 MiB). JSON goes through the C
# accelerator `_json` directly: `json` would import `re` and its dependencies, about 1 MiB.
try:
    from _json import encode_basestring as _encode_str, make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner
except ImportError:  # an interpreter built without the accelerator
    _make_scanner = None

# Filled in by _main(); module globals so that the helpers stay small. The protocol's
# descriptors are not among them: see _channel().
_MAX_FRAME = 64 * 1024 * 1024
_MAX_OUTPUT = 6 * 1024 * 1024
_MAX_MESSAGE = 64 * 1024
_MAX_LOG = 1024 * 1024
_WORKER_FILE = ""  # the filename of this code, whose frames are kept out of tracebacks
_PID = posix.getpid()  # a process the function forked must never reach the protocol
_KILL_STRAYS = False  # alone in a PID namespace: see _kill_strays()
# What _kill_strays() last saw: the namespace's last allocated pid, and when (time.monotonic,
# set by _watch_pids()).
_NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"
_LAST_PID = b""
_LAST_LOOK = 0.0
_WRAP_WINDOW = 0.0  # seconds too short for the pids to go round
_monotonic = None
_FROM_ZYGOTE = False  # forked by a zygote: compile here, the ast types are the zygote's

# Qinling's message for a function that ran out of a resource (memory, processes, ...).
_RESOURCE_MESSAGE = "Function execution failed because of too much resource consumption"


class _ProtocolError(Exception):
    pass


def _channel(fd_in, fd_out):
    """(read_frame, write_bytes) over the protocol's descriptors, which only these closures
    hold."""

    def read_exact(n):
        chunks = []
        while n > 0:
            chunk = posix.read(fd_in, min(n, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def read_frame():
        """The next frame as a dict, or None when Ridge closed the pipe."""
        header = read_exact(4)
        if header is None:
            return None
        size = int.from_bytes(header, "big")
        if size > _MAX_FRAME:
            raise _ProtocolError("frame of %d bytes exceeds the limit of %d" % (size, _MAX_FRAME))
        body = read_exact(size)
        if body is None:
            raise _ProtocolError("pipe closed in the middle of a frame")
        message = _decode(body.decode("utf-8"))
        if not isinstance(message, dict):
            raise _ProtocolError("frame is not a JSON object")
        return message

    def write_bytes(body):
        data = memoryview(len(body).to_bytes(4, "big") + body)
        while data:
            written = posix.write(fd_out, data)
            data = data[written:]

    return read_frame, write_bytes


class _Decoding:
    """What `_json.make_scanner` reads from its context (json.JSONDecoder's defaults)."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name):  # NaN, Infinity: never in Ridge's frames
        raise _ProtocolError("frame holds the non-standard JSON constant %s" % name)


def _not_serializable(value):
    raise TypeError("Object of type %s is not JSON serializable" % value.__class__.__name__)


if _make_scanner is not None:
    _scan = _make_scanner(_Decoding())

    def _decode(text):
        """json.loads(text) for a frame: one JSON value, nothing after it but whitespace."""
        start = len(text) - len(text.lstrip(" \t\n\r"))
        try:
            value, end = _scan(text, start)
        except StopIteration:
            raise _ProtocolError("frame is not JSON")
        if text[end:].strip(" \t\n\r"):
            raise _ProtocolError("frame has data after its JSON value")
        return value

    def _dumps(message):
        """json.dumps(message, ensure_ascii=False, allow_nan=False), without importing json: a
        new encoder each time, as json.dumps makes (a failed call may leave entries in the
        cycle check's dict)."""
        encoder = _make_encoder({}, _not_serializable, _encode_str, None, ": ", ", ", False,
                                False, False)
        return "".join(encoder(message, 0))
else:
    def _decode(text):
        import json
        return json.loads(text)

    def _dumps(message):
        import json
        return json.dumps(message, ensure_ascii=False, allow_nan=False)


def _encode(message):
    # "replace": a lone surrogate in a str becomes "?" rather than invalid UTF-8 on the wire.
    return _dumps(message).encode("utf-8", "replace")


def _hide(fd):
    """A close-on-exec copy of `fd` at a random high number (below the open files limit), the
    original closed: not where a function looks first, and kept from processes it starts."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    high = min(soft if soft >= 0 else 4096, 4096) - 16
    low = min(100, max(high, 3))
    target = low + int.from_bytes(posix.urandom(2), "big") % max(high - low, 1)
    # The first free number from there, as fcntl(F_DUPFD_CLOEXEC) would pick it, without the
    # fcntl module: nothing else in this process opens descriptors meanwhile.
    while _is_open(target):
        target += 1
    moved = posix.dup2(fd, target, False)
    posix.close(fd)
    return moved


def _is_open(fd):
    try:
        posix.fstat(fd)
    except OSError:
        return False
    return True


def _take_var(name):
    """Removes `name` from the environment, as os.environ.pop does, and returns its value (or
    None). The function's os.environ, built when it imports os, does not have it either."""
    value = posix.environ.pop(name.encode(), None)
    if value is None:
        return None
    posix.unsetenv(name)
    return value.decode()


def _take_protocol_fds():
    """Finds the protocol's descriptors, hides them, and returns their channel. Closes the
    memfd this code came in, which the function must not inherit."""
    code_fd = _take_var("RIDGE_FD_CODE")
    if code_fd is not None:
        posix.close(int(code_fd))
    fd_in = _hide(int(_take_var("RIDGE_FD_IN")))
    fd_out = _hide(int(_take_var("RIDGE_FD_OUT")))
    return _channel(fd_in, fd_out)


def _cut(text, limit, what):
    """`text` within `limit` bytes of UTF-8, with a marker saying how much was over."""
    if len(text) * 4 <= limit:  # at most 4 bytes a character: no need to encode it all
        return text
    # isascii() is a flag of the string: no copy of a huge ASCII message.
    size = len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
    if size <= limit:
        return text
    marker = "[ridge: %s truncated, %d bytes over the %d-byte limit]" % (what, size - limit, limit)
    room = max(limit - len(marker) - 2, 0)
    kept = text[:room].encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
    return kept + ("\n%s\n" % marker if what == "traceback" else " " + marker)


def _fresh_stdio():
    """Line-buffered sys.stdout/sys.stderr on fds 1 and 2, replacing any the function left."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, "__%s__" % name)
        if stream is None or stream.closed:
            fd = 1 if name == "stdout" else 2
            # buffering=1: line-buffered (open() takes no line_buffering).
            stream = open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace",
                          closefd=False)
            setattr(sys, "__%s__" % name, stream)
        setattr(sys, name, stream)


def _flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or replaced stream: nothing more to save
            pass


class _Capture:
    """Gives the function fresh sys.stdout/sys.stderr on fds 1 and 2 (the capture file), and
    flushes them when it returns, before Ridge reads the file."""

    def __enter__(self):
        _fresh_stdio()
        return self

    def __exit__(self, *exc_info):
        _flush_stdio()
        return False


def _is_platform_frame(filename):
    return (filename == _WORKER_FILE
            or filename.startswith("<frozen importlib")
            or filename == getattr(sys.modules.get("importlib"), "__file__", None))


def _user_traceback(exc, message):
    """The traceback of `exc` without the worker's own (and importlib's) leading frames, within
    the log cap. `message` is str(exc) already cut: when it was cut, the traceback shows it
    rather than formatting the whole text again."""
    import traceback
    tb = exc.__traceback__
    while tb is not None and _is_platform_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    try:
        try:
            long = len(str(exc)) > _MAX_MESSAGE
        except Exception:
            long = False
        if long:
            text = "Traceback (most recent call last):\n%s%s: %s\n" % (
                "".join(traceback.format_tb(tb)), type(exc).__qualname__, message)
        else:
            text = "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception as e:  # a broken __str__ in the exception
        text = "%s (traceback unavailable: %s)\n" % (type(exc).__name__, e)
    return _cut(text, _MAX_LOG, "traceback")


def _message(exc):
    """str(exc), as Qinling reports it; the type's name when that is empty or fails. Like
    Qinling, an OSError about a resource (EAGAIN from fork at the pids limit, ENOMEM) is
    reported as too much resource consumption."""
    try:
        text = str(exc)
    except Exception:
        text = ""
    if isinstance(exc, OSError) and "Resource" in text:
        return _RESOURCE_MESSAGE
    return _cut(text or type(exc).__name__, _MAX_MESSAGE, "message")


def _leave_if_forked(code):
    """In a process the function forked, returning into the worker would speak the protocol:
    stop that process instead. In a PID namespace it waits for the end of the execution, which
    kills it: so a fork bomb's children keep their slots, the pids limit holds, and the function
    itself soon fails to fork (rather than churning until its timeout)."""
    if posix.getpid() != _PID:
        _flush_stdio()
        if _KILL_STRAYS:
            import time
            while True:
                time.sleep(3600)
        posix._exit(code)


def _watch_pids():
    """Learns, for _kill_strays(), how long the pids take at least to go round: `pid_max`
    allocations at ten million a second, faster than any host allocates them."""
    global _WRAP_WINDOW, _monotonic
    import time
    _monotonic = time.monotonic
    try:
        with open("/proc/sys/kernel/pid_max", "rb") as f:
            _WRAP_WINDOW = int(f.read()) * 1e-7
    except (OSError, ValueError):  # unknown: every execution kills
        _WRAP_WINDOW = 0.0


def _read_last_pid():
    """The PID namespace's last allocated pid, as text (b"" if unreadable). Opened each time:
    a descriptor kept open would be one more in the function's process."""
    try:
        fd = posix.open(_NS_LAST_PID, posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return b""
    try:
        return posix.read(fd, 32)
    except OSError:
        return b""
    finally:
        posix.close(fd)


def _kill_strays():
    """Alone in its PID namespace, the worker kills every other process it can see (pid 1, the
    sandbox's init, is spared by the kernel), then reaps its own children: nothing a function
    started outlives its execution.

    `kill(-1)` walks every process on the host, so it cost each execution more the more
    processes the host ran (docs/benchmarks.md, "strays looked for in the namespace"). It is
    skipped when the namespace has allocated no pid since the last look (its `ns_last_pid`
    unchanged, read before the kill so that a process started during it is seen next time),
    and that look was too recent for the pids to have gone round: nothing was started, so
    nothing is left."""
    global _LAST_PID, _LAST_LOOK
    now = _monotonic()
    last = _read_last_pid()
    unchanged = last and last == _LAST_PID and now - _LAST_LOOK < _WRAP_WINDOW
    _LAST_PID, _LAST_LOOK = last, now
    if unchanged:
        return
    try:
        posix.kill(-1, 9)
    except OSError:  # ESRCH: nobody else
        pass
    while True:
        try:
            posix.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _setup(init):
    limits = init["rlimits"]
    for which, value in ((resource.RLIMIT_NOFILE, limits["nofile"]),
                         (resource.RLIMIT_CORE, limits["core"]),
                         (resource.RLIMIT_FSIZE, limits["fsize"])):
        resource.setrlimit(which, (value, value))
    global _KILL_STRAYS
    _KILL_STRAYS = bool(init["kill_strays"])
    if _KILL_STRAYS:
        _watch_pids()
    # Again: a pre-started worker's package was mounted over its working directory after it
    # started, and the old directory is the empty one beneath.
    posix.chdir(init["package_dir"])
    sys.path.insert(0, init["package_dir"])
    _fresh_stdio()
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, errors="backslashreplace")


def _compile_apart(data, path):
    """The code of the module source `data`, compiled in a forked child and sent back as
    marshal data; None when that fails (the caller compiles here, for the real error).

    The first compile() in a process builds the `ast` module's node types, 0.2 MiB that an idle
    worker would keep for good (docs/benchmarks.md, "idle worker memory"); the child builds
    them and exits. It never returns into the worker, and writes nothing but the pipe."""
    if _FROM_ZYGOTE:  # the zygote built the ast types once, for every worker it forks
        return None
    import marshal
    try:
        alone = len(posix.listdir("/proc/self/task")) == 1
    except OSError:
        alone = False
    if not alone:  # a module started a thread: forking now could deadlock the child
        return None
    read_end, write_end = posix.pipe()
    try:
        pid = posix.fork()
    except OSError:  # the pids limit: compile here instead
        posix.close(read_end)
        posix.close(write_end)
        return None
    if pid == 0:
        code = 1
        try:
            posix.close(read_end)
            blob = memoryview(marshal.dumps(compile(data, path, "exec", dont_inherit=True)))
            while blob:
                blob = blob[posix.write(write_end, blob):]
            code = 0
        finally:
            posix._exit(code)
    posix.close(write_end)
    chunks = []
    try:
        while True:
            chunk = posix.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        posix.close(read_end)
        while True:
            try:
                _, status = posix.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
    if status != 0:
        return None
    return marshal.loads(b"".join(chunks))


def _compiling_apart(package_dir):
    """A path hook for the package's directories whose finders load source modules with
    _compile_apart; the caller removes it, and the finders it made, once the function loaded."""
    bootstrap = sys.modules["_frozen_importlib_external"]

    class CompiledApartLoader(bootstrap.SourceFileLoader):
        def source_to_code(self, data, path, *, _optimize=-1):
            code = None
            if _optimize == -1:
                code = _compile_apart(data, path)
            if code is None:
                code = super().source_to_code(data, path, _optimize=_optimize)
            return code

    def hook(path):
        if path != package_dir and not path.startswith(package_dir + "/"):
            raise ImportError("not the package")
        return bootstrap.FileFinder(
            path,
            (bootstrap.ExtensionFileLoader, bootstrap.EXTENSION_SUFFIXES),
            (CompiledApartLoader, bootstrap.SOURCE_SUFFIXES),
            (bootstrap.SourcelessFileLoader, bootstrap.BYTECODE_SUFFIXES))
    return hook


def _load(init):
    # Imports of the package's own modules while the function loads compile apart (see
    # _compile_apart); later ones, once the function runs (and may have started threads), as
    # usual.
    package_dir = init["package_dir"]
    hook = _compiling_apart(package_dir)
    sys.path_hooks.insert(0, hook)
    try:
        # __import__ rather than importlib.import_module: importing importlib costs
        # milliseconds of every cold start. It binds the top package; the module itself is in
        # sys.modules.
        __import__(init["module"])
    finally:
        sys.path_hooks.remove(hook)
        for path in list(sys.path_importer_cache):
            if path == package_dir or path.startswith(package_dir + "/"):
                del sys.path_importer_cache[path]
    module = sys.modules[init["module"]]
    func = getattr(module, init["function"])
    if not callable(func):
        raise TypeError("entry `%s` is not callable" % init["entry"])
    return func


def _call(func, init, message):
    context = {
        "os_session": None,
        "execution_id": message["execution_id"],
        "function_id": init["function_id"],
        "function_version": init["function_version"],
    }
    arguments = message.get("input")
    if arguments is None:
        return func(context=context)
    if "kwargs" in arguments:
        kwargs = dict(arguments["kwargs"])
        kwargs["context"] = context  # as Qinling: the platform's context wins
        return func(**kwargs)
    return func(arguments["arg"], context=context)


def _raised(reply_id, message, trace=""):
    return _encode({"type": "raised", "id": reply_id, "message": message, "traceback": trace})


def _invoke(func, init, message, capture):
    """Runs one execution; returns the encoded reply frame."""
    reply_id = message.get("id")
    try:
        capture.__enter__()
    except OSError as exc:  # e.g. the function leaked every file descriptor it may open
        return _raised(reply_id, "cannot capture the function's output: %s" % exc)
    try:
        output = _call(func, init, message)
    except BaseException as exc:  # SystemExit too: the worker must survive the function
        _leave_if_forked(1)
        text = _message(exc)
        return _raised(reply_id, text, _user_traceback(exc, text))
    finally:
        _leave_if_forked(0)
        capture.__exit__()
        if init["kill_strays"]:
            _kill_strays()
    try:
        body = _encode(output)
    except Exception as exc:  # TypeError, ValueError (NaN, a cycle), RecursionError
        return _raised(reply_id, "function output is not JSON serializable: %s" % _message(exc))
    if len(body) > _MAX_OUTPUT:
        return _raised(reply_id, "function output is too large: %d bytes of JSON, over the result "
                       "limit of %d bytes" % (len(body), _MAX_OUTPUT))
    return b'{"type": "returned", "id": %s, "output": %s}' % (_encode(reply_id), body)


def _load_reply(init, capture):
    """Imports the entry module and finds the function: (function, None) or (None, frame)."""
    try:
        capture.__enter__()
    except OSError as exc:
        return None, {"type": "load_error", "id": init.get("id"), "traceback": "",
                      "message": "cannot capture the function's output: %s" % exc}
    try:
        return _load(init), None
    except BaseException as exc:  # SyntaxError, ImportError, AttributeError, SystemExit...
        text = _message(exc)
        return None, {"type": "load_error", "id": init.get("id"), "message": text,
                      "traceback": _user_traceback(exc, text)}
    finally:
        capture.__exit__()


def _serve(init, read_frame, write_bytes):
    capture = _Capture()
    init_id = init.get("id")
    write_bytes(_encode({"type": "loading", "id": init_id}))
    func, failure = _load_reply(init, capture)
    if failure is not None:
        write_bytes(_encode(failure))
        return
    write_bytes(_encode({"type": "ready", "id": init_id,
                         "runtime": "python %d.%d.%d" % sys.version_info[:3]}))
    while True:
        message = read_frame()
        if message is None:
            return
        if message.get("type") != "invoke":
            raise _ProtocolError("unexpected frame type %r" % message.get("type"))
        write_bytes(_invoke(func, init, message, capture))


def _main():
    global _MAX_FRAME, _MAX_OUTPUT, _MAX_MESSAGE, _MAX_LOG, _WORKER_FILE
    _WORKER_FILE = _main.__code__.co_filename
    write_bytes = None
    try:
        read_frame, write_bytes = _take_protocol_fds()
        if _take_var("RIDGE_PRESTARTED"):
            # Started ahead of its function (a pre-started worker): past start-up and imports.
            write_bytes(b'{"type": "waiting"}')
        init = read_frame()
        if init is None:
            return 0
        if init.get("type") != "init":
            raise _ProtocolError("expected an init frame")
        _MAX_FRAME = init["max_frame"]
        _MAX_OUTPUT = init.get("max_output", _MAX_FRAME)
        _MAX_MESSAGE = init.get("max_message", _MAX_MESSAGE)
        _MAX_LOG = init.get("max_log", _MAX_LOG)
        _setup(init)
    except Exception as exc:
        _fatal(write_bytes, None, "worker setup failed: %s" % _message(exc))
        return 1
    try:
        _serve(init, read_frame, write_bytes)
    except _ProtocolError as exc:
        _fatal(write_bytes, None, "protocol error: %s" % exc)
        return 1
    return 0


def _fatal(write_bytes, reply_id, text):
    posix.write(2, ("ridge-worker: %s\n" % text).encode("utf-8", "replace"))
    if write_bytes is None:
        return
    try:
        write_bytes(_encode({"type": "fatal", "id": reply_id, "message": text}))
    except OSError:
        pass


_zygote_fd = _take_var("RIDGE_ZYGOTE")
if _zygote_fd is not None:
    _zygote(int(_zygote_fd))
_code = _main()
_flush_stdio()
# Not sys.exit(): threads the function started must not keep a discarded worker alive.
posix._exit(_code)
