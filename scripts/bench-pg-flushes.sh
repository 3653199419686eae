#!/usr/bin/env bash
# Counts the WAL flushes a warm sync execution costs on PostgreSQL, and its rate at
# concurrency 1: starts `ridge serve` (BINARY) on a fresh database of the cluster at URL, runs
# 20 warm-up then N warm sync executions of a Python no-op over one HTTP connection, and reads
# pg_stat_wal.wal_sync before and after (docs/benchmarks.md, "a sync execution's create and
# claim"). A benchmark, not a test: the figures are printed, nothing is asserted.
#
#   scripts/bench-pg-flushes.sh BINARY postgres://USER:PASSWORD@HOST:PORT [N]
#
# URL names the cluster (a database `ridge_flushes` is made anew in it); for flushes to count,
# start it with fsync on: `RIDGE_PG_DURABLE=1 scripts/postgres-test.sh start DIR`.
set -euo pipefail
binary=$1
cluster=${2%/}
n=${3:-300}
python=$(python3 -c 'import sys; print(sys.executable)')
psql "$cluster/postgres" -qc "DROP DATABASE IF EXISTS ridge_flushes" -c "CREATE DATABASE ridge_flushes"
data=$(mktemp -d -t ridge-flushes.XXXXXX)
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RIDGE_STORE="$cluster/ridge_flushes" "$binary" serve --listen "127.0.0.1:$port" --data-dir "$data" \
  >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
"$python" - "$port" "$cluster/ridge_flushes" "$n" <<'PY'
import http.client, json, subprocess, sys, time
port, url, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def api(method, path, body=None):
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request(method, path, json.dumps(body) if body is not None else None,
                      {"content-type": "application/json"})
            r = c.getresponse()
            return json.loads(r.read() or b"null")
        except ConnectionError:
            time.sleep(0.1)
    sys.exit("the server did not answer")
runtime = api("POST", "/v1/runtimes", {"image": "python3", "name": "py"})["id"]
for _ in range(100):
    if api("GET", f"/v1/runtimes/{runtime}")["status"] == "available":
        break
    time.sleep(0.1)
import base64, io, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("main.py", "def main(**kw):\n    return 1\n")
boundary = "ridgeflushes"
code = json.dumps({"source": "package"})
parts = [
    f'--{boundary}\r\nContent-Disposition: form-data; name="runtime_id"\r\n\r\n{runtime}\r\n',
    f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nnoop\r\n',
    f'--{boundary}\r\nContent-Disposition: form-data; name="entry"\r\n\r\nmain.main\r\n',
    f'--{boundary}\r\nContent-Disposition: form-data; name="code"\r\n\r\n{code}\r\n',
]
body = "".join(parts).encode() + (
    f'--{boundary}\r\nContent-Disposition: form-data; name="package"; filename="p.zip"\r\n'
    'Content-Type: application/zip\r\n\r\n').encode() + buf.getvalue() + f"\r\n--{boundary}--\r\n".encode()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("POST", "/v1/functions", body, {"content-type": f"multipart/form-data; boundary={boundary}"})
function = json.loads(c.getresponse().read())["id"]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
run_body = json.dumps({"function_id": function})
def run():
    c.request("POST", "/v1/executions", run_body, {"content-type": "application/json"})
    answer = json.loads(c.getresponse().read())
    assert answer["status"] == "success", answer
def syncs():
    out = subprocess.check_output(["psql", url, "-Atc", "SELECT wal_sync FROM pg_stat_wal"])
    return int(out.strip())
for _ in range(20):
    run()
before, began = syncs(), time.perf_counter()
for _ in range(n):
    run()
took, flushes = time.perf_counter() - began, syncs() - before
print(f"{n} warm sync executions at concurrency 1: {n / took:.0f} per s, "
      f"{took / n * 1000:.2f} ms each; {flushes} WAL syncs, {flushes / n:.2f} per execution")
PY
