#!/usr/bin/env bash
# Fuzzes Ridge's API against its own OpenAPI document (GET /v1/openapi.json) with schemathesis
# (PyPI, pinned, in target/schemathesis-venv, which scripts/test-deps.sh installs): a real
# `ridge serve` in `none` auth mode, then one in `token` mode called with the bootstrap admin's
# token, each on a fresh data directory on loopback. It fails on any 5xx, any answer the
# document does not allow (status code, content type, headers, body), any request that takes
# longer than the per-request timeout, and when fewer requests than RIDGE_FUZZ_MIN were made.
# The two modes run at the same time, each with its own server and report (one alone keeps
# about one core busy). docs/testing.md records what it found. scripts/test.sh runs it after
# the tests.
#
# Environment: RIDGE_BIN (default target/debug/ridge), RIDGE_FUZZ_EXAMPLES (examples per
# operation and phase, default 90), RIDGE_FUZZ_SEED (default fixed, so CI is reproducible; set
# another to explore), RIDGE_FUZZ_MIN (default 10000, over both modes).
set -euo pipefail
cd "$(dirname "$0")/.."

ridge=${RIDGE_BIN:-$PWD/target/debug/ridge}
st=$PWD/target/schemathesis-venv/bin/schemathesis
examples=${RIDGE_FUZZ_EXAMPLES:-90}
seed=${RIDGE_FUZZ_SEED:-18}
min_total=${RIDGE_FUZZ_MIN:-10000}
[ -x "$ridge" ] || { echo "fuzz-api: no ridge binary at $ridge (cargo build -p ridge)" >&2; exit 1; }
[ -x "$st" ] || { echo "fuzz-api: no schemathesis at $st (scripts/test-deps.sh)" >&2; exit 1; }

work=$(mktemp -d -t ridge-fuzz.XXXXXX)
runs=()
stop_runs() {
  for run in "${runs[@]}"; do
    kill "$run" 2>/dev/null || true
    wait "$run" 2>/dev/null || true
  done
  runs=()
}
trap 'stop_runs; rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One mode's whole run in $work/MODE: a server, schemathesis against it, the server stopped;
# the number of requests made in `count`, schemathesis's exit status in `status`.
fuzz_mode() {
  local mode=$1 dir=$work/$1 server="" fuzzer="" status=0
  mkdir -p "$dir"
  # Stopped with the script (stop_runs): its server and schemathesis with it. Each runs in the
  # background and is waited for, so that the trap runs at once.
  trap 'kill $server $fuzzer 2>/dev/null; wait $server $fuzzer 2>/dev/null; exit 1' TERM
  local port token
  port=$(free_port)
  token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  {
    echo "listen = \"127.0.0.1:$port\""
    echo "data_dir = \"$dir/data\""
    echo "[auth]"
    echo "mode = \"$mode\""
    if [ "$mode" = token ]; then echo "bootstrap_token = \"$token\""; fi
  } >"$dir/ridge.toml"
  "$ridge" serve --config "$dir/ridge.toml" >"$dir/server.log" 2>&1 &
  server=$!
  local base=http://127.0.0.1:$port
  for _ in $(seq 1 600); do
    if curl -sf -o /dev/null "$base/v1/openapi.json"; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then
      echo "fuzz-api: ridge serve ($mode) exited before it answered" >"$dir/schemathesis.log"
      echo 0 >"$dir/count"
      echo 1 >"$dir/status"
      return
    fi
    sleep 0.1
  done
  local auth=()
  # X-Auth-Token, which the server reads before `Authorization`: schemathesis fills the
  # security schemes' headers with values of its own.
  if [ "$mode" = token ]; then auth=(--header "X-Auth-Token: $token"); fi
  echo "--- fuzzing $base in \`$mode\` mode (seed $seed, $examples examples per operation)" >&2
  # From the run's own directory: schemathesis keeps a cache (`.schemathesis/`) where it runs.
  (cd "$dir" && exec "$st" run "$base/v1/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth \
    --phases examples,fuzzing,stateful \
    --max-examples "$examples" --seed "$seed" --workers 2 \
    --request-timeout 10 --request-retries 0 \
    --suppress-health-check all --no-color \
    --report ndjson --report-ndjson-path "$dir/events.ndjson" \
    "${auth[@]}") >"$dir/schemathesis.log" 2>&1 &
  fuzzer=$!
  wait "$fuzzer" || status=$?
  fuzzer=""
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
  # Every request made (one per test case step), from the run's events.
  python3 - "$dir/events.ndjson" >"$dir/count" <<'EOF'
import json, sys
n = 0
try:
    events = open(sys.argv[1]).readlines()
except FileNotFoundError:
    events = []
for line in events:
    event = json.loads(line)
    for kind, body in event.items():
        if kind == "ScenarioFinished":
            n += len(body.get("recorder", {}).get("interactions", {}))
print(n)
EOF
  echo "$status" >"$dir/status"
}

for mode in none token; do
  fuzz_mode "$mode" &
  runs+=($!)
done
for run in "${runs[@]}"; do
  wait "$run" || true
done
runs=()

total=0
failed=0
for mode in none token; do
  dir=$work/$mode
  count=$(cat "$dir/count" 2>/dev/null || echo 0)
  status=$(cat "$dir/status" 2>/dev/null || echo 1)
  total=$((total + count))
  tail -n 40 "$dir/schemathesis.log" >&2
  echo "--- \`$mode\` mode: $count requests" >&2
  if [ "$status" -ne 0 ]; then
    echo "fuzz-api: schemathesis found failures in \`$mode\` mode; the whole report:" >&2
    cat "$dir/schemathesis.log" >&2
    echo "--- the server's log:" >&2
    tail -n 100 "$dir/server.log" >&2
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "fuzz-api: $total requests in all, no failure" >&2
if [ "$total" -lt "$min_total" ]; then
  echo "fuzz-api: only $total requests, fewer than $min_total: raise RIDGE_FUZZ_EXAMPLES" >&2
  exit 1
fi
