#!/usr/bin/env bash
# Where a warm sync execution's server time goes, at concurrency 1: starts `ridge serve`
# (BINARY) on a fresh data dir (SQLite, or RIDGE_STORE if set), creates a Python no-op, runs
# 20 warm-up then N warm sync executions over one HTTP connection, and prints the rate, the CPU
# the server and its workers spent per execution (/proc/<pid>/stat), and the server's context
# switches per execution by thread name (/proc/<pid>/task/*/status): each message between the
# server's threads (Tokio's workers, sqlx's SQLite threads) costs two. A benchmark, not a test:
# figures are printed, nothing is asserted (docs/benchmarks.md, "the hot path").
#
#   scripts/bench-hot-path.sh BINARY [N]
set -euo pipefail
binary=$1
n=${2:-3000}
python=$(python3 -c 'import sys; print(sys.executable)')
data=$(mktemp -d -t ridge-hot-path.XXXXXX)
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$binary" serve --listen "127.0.0.1:$port" --data-dir "$data" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
"$python" - "$port" "$server" "$n" <<'PY'
import glob, http.client, io, json, os, sys, time, zipfile
port, server, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")

def api(method, path, body=None, headers=None):
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request(method, path, body, headers or {"content-type": "application/json"})
            return json.loads(c.getresponse().read() or b"null")
        except ConnectionError:
            time.sleep(0.1)
    sys.exit("the server did not answer")

def cpu(pid):
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return 0.0

def descendants(pid):
    children = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        with open(path) as f:
            children += [int(c) for c in f.read().split()]
    return children + [d for c in children for d in descendants(c)]

def switches():
    """Context switches of the server's threads, summed by thread name."""
    by_name = {}
    for task in glob.glob(f"/proc/{server}/task/*"):
        try:
            name = open(f"{task}/comm").read().strip()
            status = open(f"{task}/status").read().split("\n")
        except OSError:
            continue
        count = sum(int(line.split()[1]) for line in status
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
        by_name[name] = by_name.get(name, 0) + count
    return by_name

runtime = api("POST", "/v1/runtimes", json.dumps({"image": "python3", "name": "py"}))["id"]
for _ in range(100):
    if api("GET", f"/v1/runtimes/{runtime}")["status"] == "available":
        break
    time.sleep(0.1)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("main.py", "def main(**kw):\n    return 1\n")
boundary = "ridgehotpath"
fields = {"runtime_id": runtime, "name": "noop", "entry": "main.main",
          "code": json.dumps({"source": "package"})}
body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
               for k, v in fields.items()).encode()
body += (f'--{boundary}\r\nContent-Disposition: form-data; name="package"; filename="p.zip"\r\n'
         'Content-Type: application/zip\r\n\r\n').encode() + buf.getvalue()
body += f"\r\n--{boundary}--\r\n".encode()
function = api("POST", "/v1/functions", body,
               {"content-type": f"multipart/form-data; boundary={boundary}"})["id"]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
run_body = json.dumps({"function_id": function})
def run():
    c.request("POST", "/v1/executions", run_body, {"content-type": "application/json"})
    answer = json.loads(c.getresponse().read())
    assert answer["status"] == "success", answer
for _ in range(20):
    run()
workers = descendants(server)
server0, workers0, switches0 = cpu(server), sum(map(cpu, workers)), switches()
began = time.perf_counter()
for _ in range(n):
    run()
took = time.perf_counter() - began
server1, workers1, switches1 = cpu(server), sum(map(cpu, workers)), switches()
us = lambda seconds: f"{seconds / n * 1e6:.0f} us"
print(f"{n} warm sync executions at concurrency 1: {n / took:.0f} per s, "
      f"{took / n * 1000:.2f} ms each")
print(f"CPU per execution: server {us(server1 - server0)}, "
      f"workers {us(workers1 - workers0)} ({len(workers)} processes)")
total = sum(switches1.get(k, 0) - v for k, v in switches0.items())
print(f"server context switches per execution: {total / n:.1f}: " + ", ".join(
    f"{name} {(switches1.get(name, 0) - count) / n:.1f}"
    for name, count in sorted(switches0.items()) if switches1.get(name, 0) > count))
PY
