#!/usr/bin/env bash
# What a cold start costs as packages pile up on a node: starts `ridge serve` (BINARY, as root,
# so each unpacked package is a tmpfs of its own) with no pre-started workers, creates N Python
# no-ops and runs each once, one after the other, timing each first execution (a cold start:
# unpack, sandbox, interpreter, import), then detaches it (its worker stops, its package stays
# unpacked), so that only the packages pile up, not idle workers (KEEP_WORKERS=1 keeps them:
# then idle workers pile up too). Prints the cold start's p50 and p90 for each tenth of the
# run, with the mounts in the server's namespace and its RSS at that point. A benchmark, not a
# test: figures are printed, nothing is asserted (docs/benchmarks.md, "the namespace workers
# start from").
#
#   scripts/bench-unpacked.sh BINARY [N]
set -euo pipefail
binary=$1
n=${2:-1000}
python=$(python3 -c 'import sys; print(sys.executable)')
data=$(mktemp -d -t ridge-unpacked.XXXXXX)
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'runtime_pool_size = 0\n' >"$data/ridge.toml"
"$binary" serve --listen "127.0.0.1:$port" --data-dir "$data" --config "$data/ridge.toml" \
    >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
"$python" - "$port" "$server" "$n" "$(dirname "$0")" "${KEEP_WORKERS:-0}" <<'PY'
import json, sys, time
port, server, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
keep_workers = sys.argv[5] == "1"
sys.path.insert(0, sys.argv[4])
from bench_noop import api, create_function, create_runtime

runtime = create_runtime(port)
step = max(1, n // 10)
times = []
for i in range(n):
    function = create_function(port, runtime, f"unpacked-{i}")
    start = time.perf_counter()
    answer = api(port, "POST", "/v1/executions", json.dumps({"function_id": function}))
    times.append(time.perf_counter() - start)
    assert answer["status"] == "success", answer
    if not keep_workers:
        api(port, "POST", f"/v1/functions/{function}/detach")
    if (i + 1) % step == 0:
        part = sorted(times[-step:])
        with open(f"/proc/{server}/mountinfo") as f:
            mounts = sum(1 for _ in f)
        with open(f"/proc/{server}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
        print(f"functions {i + 2 - step:5}-{i + 1:<5} cold start p50 {part[len(part) // 2] * 1e3:6.2f} ms"
              f"  p90 {part[len(part) * 9 // 10] * 1e3:6.2f} ms  (server after: {mounts} mounts,"
              f" RSS {rss:.0f} MiB)", flush=True)
PY
