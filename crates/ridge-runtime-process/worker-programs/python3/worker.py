"""Ridge's Python worker: loads one function once, then runs its executions one at a time.

ridge-runtime-process embeds this file and starts it as `python3 -I -S -B -c <this source>` with a
cleared environment, in the package directory, as the leader of its own process group (inside
the server's sandbox, where the package is at /function and this worker is alone in its PID
namespace). It implements the worker protocol of docs/runtime-protocol.md: length-prefixed
frames (4-byte big-endian length, then UTF-8 JSON) on the descriptors named by RIDGE_FD_IN and
RIDGE_FD_OUT. Its fd 0 reads /dev/null and fds 1 and 2 append to the capture file that Ridge
reads after each execution, so everything the function (or a process it starts) prints is
captured without this worker's help.

Frames from Ridge:   init, invoke.
Frames to Ridge:     loading, ready, load_error, returned, raised, fatal.
See crates/ridge-runtime-process/src/protocol.rs for their fields.
"""

import json
import os
import resource
import sys
import time
import traceback

# Filled in by _main(); module globals so that the helpers stay small.
_PROTO_IN = -1
_PROTO_OUT = -1
_MAX_FRAME = 64 * 1024 * 1024
_WORKER_FILE = ""  # the filename of this code, whose frames are kept out of tracebacks
_PID = os.getpid()  # a process the function forked must never reach the protocol
_KILL_STRAYS = False  # alone in a PID namespace: see _kill_strays()

# Qinling's message for a function that ran out of a resource (memory, processes, ...).
_RESOURCE_MESSAGE = "Function execution failed because of too much resource consumption"


class _ProtocolError(Exception):
    pass


def _read_exact(n):
    chunks = []
    while n > 0:
        chunk = os.read(_PROTO_IN, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame():
    """The next frame as a dict, or None when Ridge closed the pipe."""
    header = _read_exact(4)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    if size > _MAX_FRAME:
        raise _ProtocolError("frame of %d bytes exceeds the limit of %d" % (size, _MAX_FRAME))
    body = _read_exact(size)
    if body is None:
        raise _ProtocolError("pipe closed in the middle of a frame")
    message = json.loads(body.decode("utf-8"))
    if not isinstance(message, dict):
        raise _ProtocolError("frame is not a JSON object")
    return message


def _encode(message):
    # "replace": a lone surrogate in a str becomes "?" rather than invalid UTF-8 on the wire.
    return json.dumps(message, ensure_ascii=False, allow_nan=False).encode("utf-8", "replace")


def _write_bytes(body):
    data = memoryview(len(body).to_bytes(4, "big") + body)
    while data:
        written = os.write(_PROTO_OUT, data)
        data = data[written:]


def _write_frame(message):
    _write_bytes(_encode(message))


def _take_protocol_fds():
    """Finds the protocol's descriptors and keeps them from processes the function starts."""
    global _PROTO_IN, _PROTO_OUT
    _PROTO_IN = int(os.environ.pop("RIDGE_FD_IN"))
    _PROTO_OUT = int(os.environ.pop("RIDGE_FD_OUT"))
    os.set_inheritable(_PROTO_IN, False)
    os.set_inheritable(_PROTO_OUT, False)


def _fresh_stdio():
    """Line-buffered sys.stdout/sys.stderr on fds 1 and 2, replacing any the function left."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, "__%s__" % name)
        if stream is None or stream.closed:
            fd = 1 if name == "stdout" else 2
            stream = open(fd, "w", encoding="utf-8", errors="backslashreplace",
                          line_buffering=True, closefd=False)
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


def _user_traceback(exc):
    """The traceback of `exc` without the worker's own (and importlib's) leading frames."""
    tb = exc.__traceback__
    while tb is not None and _is_platform_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception as e:  # a broken __str__ in the exception
        return "%s (traceback unavailable: %s)\n" % (type(exc).__name__, e)


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
    return text or type(exc).__name__


def _leave_if_forked(code):
    """In a process the function forked, returning into the worker would speak the protocol:
    stop that process instead. In a PID namespace it waits for the end of the execution, which
    kills it: so a fork bomb's children keep their slots, the pids limit holds, and the function
    itself soon fails to fork (rather than churning until its timeout)."""
    if os.getpid() != _PID:
        _flush_stdio()
        if _KILL_STRAYS:
            while True:
                time.sleep(3600)
        os._exit(code)


def _kill_strays():
    """Alone in its PID namespace, the worker kills every other process it can see (pid 1, the
    sandbox's init, is spared by the kernel), then reaps its own children: nothing a function
    started outlives its execution."""
    try:
        os.kill(-1, 9)
    except OSError:  # ESRCH: nobody else
        pass
    while True:
        try:
            os.waitpid(-1, 0)
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
    sys.path.insert(0, init["package_dir"])
    _fresh_stdio()
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, errors="backslashreplace")


def _load(init):
    # __import__ rather than importlib.import_module: importing importlib costs milliseconds
    # of every cold start. It binds the top package; the module itself is in sys.modules.
    __import__(init["module"])
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


def _raised(message, trace=""):
    return {"type": "raised", "message": message, "traceback": trace}


def _invoke(func, init, message, capture):
    """Runs one execution; returns the encoded reply frame."""
    try:
        capture.__enter__()
    except OSError as exc:  # e.g. the function leaked every file descriptor it may open
        return _encode(_raised("cannot capture the function's output: %s" % exc))
    try:
        output = _call(func, init, message)
    except BaseException as exc:  # SystemExit too: the worker must survive the function
        _leave_if_forked(1)
        return _encode(_raised(_message(exc), _user_traceback(exc)))
    finally:
        _leave_if_forked(0)
        capture.__exit__()
        if init["kill_strays"]:
            _kill_strays()
    try:
        body = _encode({"type": "returned", "output": output})
    except Exception as exc:  # TypeError, ValueError (NaN, a cycle), RecursionError
        return _encode(_raised("function output is not JSON serializable: %s" % _message(exc)))
    if len(body) > _MAX_FRAME:
        return _encode(_raised("function output is too large: %d bytes of JSON, the limit is "
                               "%d bytes" % (len(body), _MAX_FRAME)))
    return body


def _load_reply(init, capture):
    """Imports the entry module and finds the function: (function, None) or (None, frame)."""
    try:
        capture.__enter__()
    except OSError as exc:
        return None, {"type": "load_error", "traceback": "",
                      "message": "cannot capture the function's output: %s" % exc}
    try:
        return _load(init), None
    except BaseException as exc:  # SyntaxError, ImportError, AttributeError, SystemExit...
        return None, {"type": "load_error", "message": _message(exc),
                      "traceback": _user_traceback(exc)}
    finally:
        capture.__exit__()


def _serve(init):
    capture = _Capture()
    _write_frame({"type": "loading"})
    func, failure = _load_reply(init, capture)
    if failure is not None:
        _write_frame(failure)
        return
    _write_frame({"type": "ready", "runtime": "python %d.%d.%d" % sys.version_info[:3]})
    while True:
        message = _read_frame()
        if message is None:
            return
        if message.get("type") != "invoke":
            raise _ProtocolError("unexpected frame type %r" % message.get("type"))
        _write_bytes(_invoke(func, init, message, capture))


def _main():
    global _MAX_FRAME, _WORKER_FILE
    _WORKER_FILE = _main.__code__.co_filename
    try:
        _take_protocol_fds()
        init = _read_frame()
        if init is None:
            return 0
        if init.get("type") != "init":
            raise _ProtocolError("expected an init frame")
        _MAX_FRAME = init["max_frame"]
        _setup(init)
    except Exception as exc:
        _fatal("worker setup failed: %s" % _message(exc))
        return 1
    try:
        _serve(init)
    except _ProtocolError as exc:
        _fatal("protocol error: %s" % exc)
        return 1
    return 0


def _fatal(text):
    os.write(2, ("ridge-worker: %s\n" % text).encode("utf-8", "replace"))
    try:
        _write_frame({"type": "fatal", "message": text})
    except OSError:
        pass


_code = _main()
_flush_stdio()
# Not sys.exit(): threads the function started must not keep a discarded worker alive.
os._exit(_code)
