#!/usr/bin/env python3
"""A cross-check of ridge-bench's client with `wrk` (Debian's `wrk`, a C client on epoll): starts
`ridge serve` (BINARY) on a fresh data directory, creates a WebAssembly no-op, and runs
`wrk -t1 -c1` (or -cC, with min(C, 2) threads) for a few seconds each against a path no route
serves (a 404), `GET /v1/info` and the no-op's sync execution (`POST /v1/executions`), ROUNDS
times in turn. Prints wrk's p50 and requests per second for each. The floor of a request's
latency through the same server, and what an execution adds to it (docs/benchmarks.md,
"2026-12-07 (13)"). A benchmark: figures are printed, nothing asserted.

    scripts/bench-wrk.py BINARY [C] [ROUNDS]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_noop import create_noop, serve  # noqa: E402

if not shutil.which("wrk"):
    sys.exit("wrk is not installed: apt-get install wrk")
binary = sys.argv[1]
clients = int(sys.argv[2]) if len(sys.argv) > 2 else 1
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
data = tempfile.TemporaryDirectory(prefix="ridge-wrk.")
server, port = serve(binary, data.name)
try:
    function = create_noop(port, "wasm")
    script = os.path.join(data.name, "execute.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n'
                f"wrk.body = '{json.dumps({'function_id': function})}'\n"
                'wrk.headers["Content-Type"] = "application/json"\n')
    base = f"http://127.0.0.1:{port}"
    cases = [("404", [f"{base}/nothing-here"]),
             ("GET /v1/info", [f"{base}/v1/info"]),
             ("wasm execution", ["-s", script, f"{base}/v1/executions"])]
    for _ in range(rounds):
        for name, args in cases:
            out = subprocess.run(["wrk", f"-t{min(clients, 2)}", f"-c{clients}", "-d3s", "--latency"] + args,
                                 check=True, capture_output=True, text=True).stdout
            p50 = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("50%"))
            rate = next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec"))
            failed = [line.strip() for line in out.splitlines() if "Non-2xx" in line]
            # The 404 is the point of its case; elsewhere a non-2xx answer is worth seeing.
            note = f"  ({failed[0]})" if failed and name != "404" else ""
            print(f"{name:>15}, {clients} client(s): p50 {p50}, {rate} per s{note}", flush=True)
finally:
    server.terminate()
    server.wait()
    data.cleanup()
