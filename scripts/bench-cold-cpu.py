#!/usr/bin/env python3
"""What a Python cold start costs the machine in CPU, not in latency: for each BINARY in turn
(ROUNDS times, alternating), starts `ridge serve` on a fresh data directory, creates N no-op
functions (distinct packages), waits for the runtime's pre-started pool to settle, then runs
each function once, one after another, and reads the whole machine's busy time
(`/proc/stat`: user, nice, system, irq, softirq, steal) over those N executions. Each
execution starts a worker (a pre-started one taken and another started in its place, or a
new one), so the figure per function is the CPU of one worker start, with everything it
involves on this host: the server, bubblewrap, the zygote, the worker, the kernel's threads,
and this script's own HTTP calls (about a millisecond each). Then it detaches every function
(`POST /v1/functions/{id}/detach`, which kills its worker) and reads the machine's busy time over
that and the 3 s after it: what a worker's end costs, including the idle machine's own activity
over those seconds (20 ms on this machine: 0.2 ms per function at N = 100). The burst of
scenario 5 is CPU-bound on two cores, so the cold start's CPU is what bounds it, with far less
noise than the burst's latency (docs/benchmarks.md, "2026-12-07 (15)" and "(16)"). A
benchmark: figures are printed, nothing asserted; run it on an otherwise idle machine.

    scripts/bench-cold-cpu.py [N] [ROUNDS] BINARY...
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_noop import api, create_function, create_runtime, serve  # noqa: E402


def busy_ticks():
    """The machine's busy time so far, in USER_HZ ticks (10 ms)."""
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:9]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def cold_cpu(binary, n):
    """Milliseconds of machine CPU per cold start, and of wall time, for `binary`."""
    with tempfile.TemporaryDirectory(prefix="ridge-cold-cpu.") as data:
        server, port = serve(binary, data)
        try:
            runtime = create_runtime(port)
            functions = [create_function(port, runtime, f"cold{i}",
                                         {"main.py": f"def main(**kw):\n    return {i}\n"})
                         for i in range(n)]
            time.sleep(2)  # the pre-started pool filled, the uploads' writes flushed
            busy, start = busy_ticks(), time.perf_counter()
            for function in functions:
                answer = api(port, "POST", "/v1/executions", json.dumps({"function_id": function}))
                if answer.get("status") != "success":
                    sys.exit(f"an execution failed: {answer}")
            wall = time.perf_counter() - start
            time.sleep(0.3)  # what the last start left to the kernel's threads
            start_cpu = (busy_ticks() - busy) * 10 / n
            # Then each worker's end: detach answers at once and kills in the background (the
            # process tree, the cgroup, the network namespace the kernel's threads clean up).
            busy = busy_ticks()
            for function in functions:
                api(port, "POST", f"/v1/functions/{function}/detach")
            time.sleep(3)
            return start_cpu, wall * 1e3 / n, (busy_ticks() - busy) * 10 / n
        finally:
            server.terminate()
            server.wait()


args = sys.argv[1:]
n = int(args.pop(0)) if args and args[0].isdigit() else 100
rounds = int(args.pop(0)) if args and args[0].isdigit() else 3
if not args:
    sys.exit(__doc__)
for _ in range(rounds):
    for binary in args:
        cpu, wall, end = cold_cpu(binary, n)
        print(f"{binary}: {cpu:.2f} ms of CPU per cold start ({wall:.2f} ms wall each), "
              f"{end:.2f} ms per worker's end (detach), {n} functions", flush=True)
