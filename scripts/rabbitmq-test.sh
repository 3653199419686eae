#!/usr/bin/env bash
# A real RabbitMQ broker (Debian's rabbitmq-server) for the tests, on free loopback ports, with
# its own node name, Erlang port mapper, data and logs under a temporary directory.
#
#   scripts/rabbitmq-test.sh start [PARENT_PID]   starts it; prints `export RIDGE_TEST_AMQP_...`
#                                                 lines (URL, state directory) for `eval`
#   scripts/rabbitmq-test.sh stop STATE_DIR       stops it and removes its data
#   scripts/rabbitmq-test.sh restart STATE_DIR    stops the node and starts it again on the same
#                                                 ports and data (durable queues survive)
#   scripts/rabbitmq-test.sh quiet-system         stops and disables the broker the Debian
#                                                 package starts by itself, where one runs
#
# `start` returns once the node has booted and its AMQP port answers the protocol header with
# `connection.start`. Nothing is shared with a system broker: a distinct RABBITMQ_NODENAME, an
# `epmd` on its own port (ERL_EPMD_PORT), free RABBITMQ_NODE_PORT and RABBITMQ_DIST_PORT, and
# HOME (the Erlang cookie) in the state directory. With PARENT_PID, a watchdog stops the broker
# when that process ends. scripts/test.sh starts one for the whole run; tests make their own
# queue names, and a test that must restart a broker starts its own with this script.
set -euo pipefail
server=/usr/lib/rabbitmq/bin/rabbitmq-server
ctl=/usr/lib/rabbitmq/bin/rabbitmqctl

# The broker's environment, from the ports and names recorded in the state directory.
env_of() {
  local state="$1"
  # shellcheck disable=SC1091
  . "$state/ports"
  export HOME="$state"
  export RABBITMQ_NODENAME="$node@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$amqp_port"
  export RABBITMQ_DIST_PORT="$dist_port"
  export ERL_EPMD_PORT="$epmd_port"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$state/mnesia"
  export RABBITMQ_LOG_BASE="$state/log"
  export RABBITMQ_PID_FILE="$state/rabbitmq.pid"
  export RABBITMQ_CONFIG_FILE="$state/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$state/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$state/rabbitmq-env.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$state/enabled_plugins"
}

launch() {
  local state="$1"
  env_of "$state"
  setsid "$server" </dev/null >>"$state/server.log" 2>&1 &
  echo $! >"$state/server.pid"
  local deadline=$((SECONDS + 120))
  # Booted (the node says so), then the AMQP port answers a client's protocol header.
  until "$ctl" -q -n "$RABBITMQ_NODENAME" await_startup --timeout 5 >/dev/null 2>&1 \
    && probe "$amqp_port"; do
    if ! kill -0 "$(cat "$state/server.pid")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "rabbitmq-test: the broker did not start within 120 s; its output:" >&2
      tail -n 30 "$state/server.log" >&2
      return 1
    fi
    sleep 0.5
  done
}

# Sends AMQP 0-9-1's protocol header and expects a method frame (connection.start) back.
probe() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"AMQP\x00\x00\x09\x01")
frame = s.recv(7)
sys.exit(0 if len(frame) == 7 and frame[0] == 1 else 1)
EOF
}

start() {
  local parent="${1:-}"
  if [ ! -x "$server" ]; then
    echo "rabbitmq-test: no $server: run scripts/test-deps.sh (it installs Debian's rabbitmq-server)" >&2
    exit 1
  fi
  local state
  state=$(mktemp -d "${TMPDIR:-/tmp}/ridge-rabbitmq-test.XXXXXX")
  chmod 0755 "$state"
  mkdir -p "$state/mnesia" "$state/log"
  # Four free loopback ports: AMQP, Erlang distribution, epmd, and one spare that keeps the
  # distribution port's neighbour (the CLI tools' port, RABBITMQ_DIST_PORT + 20000) unclaimed.
  python3 - >"$state/ports" <<'EOF'
import random, socket
held = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
a, d, e = (s.getsockname()[1] for s in held)
print(f"amqp_port={a}\ndist_port={d}\nepmd_port={e}\nnode=ridge-test-{random.randrange(1 << 30)}")
EOF
  # shellcheck disable=SC1091
  . "$state/ports"
  cat >"$state/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$amqp_port
log.console = false
log.file.level = warning
disk_free_limit.absolute = 10MB
EOF
  echo "[]." >"$state/advanced.config"
  echo "[]." >"$state/enabled_plugins"
  : >"$state/rabbitmq-env.conf"
  head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/.erlang.cookie"
  chmod 0400 "$state/.erlang.cookie"
  if ! launch "$state"; then
    stop "$state"
    exit 1
  fi
  if [ -n "$parent" ]; then
    ( trap '' HUP
      while kill -0 "$parent" 2>/dev/null; do sleep 1; done
      stop "$state" ) </dev/null >/dev/null 2>&1 &
  fi
  echo "export RIDGE_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$amqp_port/%2f"
  echo "export RIDGE_TEST_AMQP_STATE=$state"
}

halt() {
  local state="$1"
  env_of "$state"
  "$ctl" -q -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || true
  if [ -f "$state/server.pid" ]; then
    local pid
    pid=$(cat "$state/server.pid")
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -- "-$pid" 2>/dev/null || true
  fi
}

stop() {
  local state="$1"
  check "$state"
  halt "$state"
  # This broker's own epmd (found by its port), nothing else.
  env_of "$state"
  epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  rm -rf "$state"
}

restart() {
  local state="$1"
  check "$state"
  halt "$state"
  launch "$state"
}

check() {
  case "$1" in
    */ridge-rabbitmq-test.*) [ -f "$1/ports" ] ;;
    *) echo "rabbitmq-test: \`$1\` is not a state directory of this script" >&2; exit 1 ;;
  esac
}

# The system broker the package may have started (and its epmd on the default port): stopped
# and kept from starting again, so that it holds no default port.
quiet_system() {
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    service rabbitmq-server stop >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
  fi
  # The package's own node, if it still runs, asked to stop by its own name.
  if [ -x "$ctl" ] && pgrep -u rabbitmq -f beam >/dev/null 2>&1; then
    HOME=/var/lib/rabbitmq runuser -u rabbitmq -- "$ctl" -q stop >/dev/null 2>&1 || true
  fi
}

case "${1:-}" in
  quiet-system) quiet_system ;;
  start) start "${2:-}" ;;
  stop) stop "${2:?usage: rabbitmq-test.sh stop STATE_DIR}" ;;
  restart) restart "${2:?usage: rabbitmq-test.sh restart STATE_DIR}" ;;
  *) echo "usage: rabbitmq-test.sh start [PARENT_PID] | stop STATE_DIR | restart STATE_DIR | quiet-system" >&2; exit 2 ;;
esac
