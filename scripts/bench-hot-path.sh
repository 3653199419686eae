#!/usr/bin/env bash
# Where a warm sync execution's server time goes, at concurrency 1: starts `ridge serve`
# (BINARY) on a fresh data dir (SQLite, or RIDGE_STORE if set), creates a Python no-op (a
# WebAssembly one with BENCH_RUNTIME=wasm: its executions run in the server itself), runs
# 20 warm-up then N warm sync executions over one HTTP connection, and prints the rate, the CPU
# the server and its workers spent per execution (/proc/<pid>/stat), and the server's context
# switches per execution by thread name (/proc/<pid>/task/*/status): each message between the
# server's threads (Tokio's workers, sqlx's SQLite threads) costs two. A benchmark, not a test:
# figures are printed, nothing is asserted (docs/benchmarks.md, "the hot path").
#
#   [BENCH_RUNTIME=wasm] scripts/bench-hot-path.sh BINARY [N]
set -euo pipefail
binary=$1
n=${2:-3000}
python=$(python3 -c 'import sys; print(sys.executable)')
data=$(mktemp -d -t ridge-hot-path.XXXXXX)
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$binary" serve --listen "127.0.0.1:$port" --data-dir "$data" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
"$python" - "$port" "$server" "$n" "$(dirname "$0")" <<'PY'
import glob, os, sys, time
port, server, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from bench_noop import create_noop, thread_switches, warm_runner
tick = os.sysconf("SC_CLK_TCK")

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

run = warm_runner(port, create_noop(port, os.environ.get("BENCH_RUNTIME", "python3")))
for _ in range(20):
    run()
workers = descendants(server)
server0, workers0, switches0 = cpu(server), sum(map(cpu, workers)), thread_switches(server)
began = time.perf_counter()
for _ in range(n):
    run()
took = time.perf_counter() - began
server1, workers1, switches1 = cpu(server), sum(map(cpu, workers)), thread_switches(server)
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
