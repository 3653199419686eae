#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: Debian's postgresql-15 (or whichever version is
# installed), initdb in a directory of its own, listening on a free loopback port only, with a
# password-authenticated superuser. Durability is off: the cluster lives for one test run.
# RIDGE_PG_DURABLE=1 keeps PostgreSQL's durable defaults (fsync, synchronous_commit,
# full_page_writes) instead, for measuring what an operator would run (ridge-bench does).
#
#   scripts/postgres-test.sh start DIR   creates and starts the cluster in DIR (which must not
#                                        exist or be empty), prints its superuser URL (also in
#                                        DIR/url)
#   scripts/postgres-test.sh stop DIR    stops it and removes DIR
#
# PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user.
# scripts/test.sh starts one cluster per run and exports RIDGE_TEST_POSTGRES_URL; tests run
# without it start one through this script themselves (crates/ridge-store/src/testing.rs).
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
command=$1
dir=$2

bin=${RIDGE_PG_BIN:-}
if [ -z "$bin" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "error: PostgreSQL's initdb not found: install postgresql-15 (apt) or set RIDGE_PG_BIN" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case $command in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  password=ridge-test
  mkdir -p "$dir/data"
  printf '%s\n' "$password" >"$dir/pwfile"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres "$dir"
    chmod 755 "$dir"
  fi
  as_owner "$bin/initdb" -D "$dir/data" -U ridge --pwfile="$dir/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  rm -f "$dir/pwfile"
  fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if [ "${RIDGE_PG_DURABLE:-}" = 1 ]; then
    fast=""
  fi
  # A random free port: pg_ctl fails when the port is taken, then another is tried.
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $dir $fast -c max_connections=300" \
      start >/dev/null; then
      url="postgres://ridge:$password@127.0.0.1:$port/postgres"
      printf '%s\n' "$url" >"$dir/url"
      echo "$url"
      exit 0
    fi
  done
  cat "$dir/postgres.log" >&2
  echo "error: PostgreSQL did not start on any port tried" >&2
  exit 1
  ;;
stop)
  if [ -d "$dir/data" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  usage
  ;;
esac
