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
"$python" - "$port" "$cluster/ridge_flushes" "$n" "$(dirname "$0")" <<'PY'
import subprocess, sys, time
port, url, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from bench_noop import create_noop, warm_runner
run = warm_runner(port, create_noop(port))
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
