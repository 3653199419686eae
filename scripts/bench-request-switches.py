#!/usr/bin/env python3
"""How many context switches of Tokio's worker threads one HTTP request costs `ridge serve`,
for requests that end before any execution (a body that is not JSON, an unknown function) and
two reads: each over one kept-alive connection at concurrency 1, 2,000 requests after 50 to
warm up, on a fresh data directory. The floor under every request's latency at concurrency 1
(docs/benchmarks.md, "2026-12-07 (11)"). A benchmark: figures are printed, nothing asserted.

    scripts/bench-request-switches.py BINARY [N]
"""
import http.client
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_noop import api, serve, thread_switches  # noqa: E402

binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
data = tempfile.TemporaryDirectory(prefix="ridge-switches.")
server, port = serve(binary, data.name)


def tokio_switches():
    """Context switches of the server's Tokio worker threads."""
    return thread_switches(server.pid).get("tokio-rt-worker", 0)


try:
    api(port, "GET", "/v1/info")  # once the server answers
    unknown = json.dumps({"function_id": "5a1cf1a4-8c2b-4e5a-9d67-3f2a1b0c9d8e"}).encode()
    cases = [
        ("POST /v1/executions, a body that is not JSON", "POST", "/v1/executions", b"{nope"),
        ("POST /v1/executions, an unknown function", "POST", "/v1/executions", unknown),
        ("GET /v1/info", "GET", "/v1/info", None),
        ("GET /v1/runtimes", "GET", "/v1/runtimes", None),
    ]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"content-type": "application/json"}
    for name, method, path, body in cases:
        for _ in range(50):
            c.request(method, path, body, headers)
            c.getresponse().read()
        before, began = tokio_switches(), time.perf_counter()
        for _ in range(n):
            c.request(method, path, body, headers)
            answer = c.getresponse()
            answer.read()
        took = time.perf_counter() - began
        print(f"{name}: {answer.status}, {took / n * 1e6:.0f} us each, "
              f"{(tokio_switches() - before) / n:.2f} context switches per request")
finally:
    server.terminate()
    server.wait()
