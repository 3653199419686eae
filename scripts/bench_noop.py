"""What the benchmark scripts share (bench-hot-path.sh, bench-pg-flushes.sh, bench-unpacked.sh,
bench-request-switches.py, bench-wrk.py): a `ridge serve` started on loopback, calls to it,
no-op functions created on it, and its threads' context switches."""
import glob
import http.client
import io
import json
import socket
import subprocess
import sys
import time
import zipfile


def api(port, method, path, body=None, headers=None):
    """One call on a fresh connection, retried while the server is not up yet."""
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request(method, path, body, headers or {"content-type": "application/json"})
            return json.loads(c.getresponse().read() or b"null")
        except ConnectionError:
            time.sleep(0.1)
    sys.exit("the server did not answer")


# A WASI command whose `_start` returns at once, with the memory WASI expects exported.
WASM_NOOP = bytes.fromhex("0061736d01000000" "010401600000" "03020100" "0503010001"
                          "071302065f73746172740000066d656d6f72790200" "0a040102000b")


def create_runtime(port, image="python3"):
    """A runtime of `image`, once available; its id."""
    runtime = api(port, "POST", "/v1/runtimes", json.dumps({"image": image, "name": image}))["id"]
    for _ in range(100):
        if api(port, "GET", f"/v1/runtimes/{runtime}")["status"] == "available":
            break
        time.sleep(0.1)
    return runtime


def create_function(port, runtime, name="noop", files=None):
    """A no-op function on `runtime` (Python's unless `files` says otherwise), uploaded as a zip
    package; its id."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path, data in (files or {"main.py": "def main(**kw):\n    return 1\n"}).items():
            z.writestr(path, data)
    boundary = "ridgebench"
    fields = {"runtime_id": runtime, "name": name, "entry": "main.main",
              "code": json.dumps({"source": "package"})}
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items()).encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="package"; filename="p.zip"\r\n'
             'Content-Type: application/zip\r\n\r\n').encode() + buf.getvalue()
    body += f"\r\n--{boundary}--\r\n".encode()
    return api(port, "POST", "/v1/functions", body,
               {"content-type": f"multipart/form-data; boundary={boundary}"})["id"]


def create_noop(port, image="python3"):
    """A runtime of `image` (`python3` or `wasm`, once available) and a no-op function on it; the
    function's id."""
    files = {"main.wasm": WASM_NOOP} if image == "wasm" else None
    return create_function(port, create_runtime(port, image), files=files)


def warm_runner(port, function):
    """A call that runs `function` sync over one kept-alive connection and checks it succeeded."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"function_id": function})

    def run():
        c.request("POST", "/v1/executions", body, {"content-type": "application/json"})
        answer = json.loads(c.getresponse().read())
        assert answer["status"] == "success", answer
    return run


def thread_switches(pid):
    """Context switches (voluntary and involuntary) of process `pid`'s threads, summed by
    thread name (Tokio's workers are all `tokio-rt-worker`)."""
    by_name = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            name = open(f"{task}/comm").read().strip()
            status = open(f"{task}/status").read().split("\n")
        except OSError:
            continue
        count = sum(int(line.split()[1]) for line in status
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
        by_name[name] = by_name.get(name, 0) + count
    return by_name


def serve(binary, data_dir):
    """`binary serve` on a loopback port the kernel picked and `data_dir`, its output dropped;
    the process and the port (call `api` to wait until it answers)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server, port
