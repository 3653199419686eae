#!/usr/bin/env bash
# Runs Ridge's whole test suite. It first installs what the tests need that cargo does not
# bring (scripts/test-deps.sh: clang-14 for the wasm C guests, the `openstack` CLI and
# Keystone and SeaweedFS in venvs under target/), starts one real SeaweedFS S3 server
# (scripts/s3-test.sh) and one throwaway PostgreSQL cluster for the run
# (scripts/postgres-test.sh; each test makes its own database in it) and one RabbitMQ broker
# (scripts/rabbitmq-test.sh; each test makes its own queues), then runs every test with
# nextest (or cargo test), and last fuzzes the API against its OpenAPI document
# (scripts/fuzz-api.sh). As root, one of the tests builds the Debian package from the debug
# binary, installs it, runs it as its systemd unit says and purges it (crates/ridge/tests/it/deb.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-deps.sh
export RIDGE_OPENSTACK_CLI="$PWD/target/openstack-venv/bin/openstack"
RIDGE_KEYSTONE_VENV=$(scripts/keystone-venv.sh)
export RIDGE_KEYSTONE_VENV

# One real SeaweedFS (S3), one RabbitMQ and one PostgreSQL cluster for every test of the run, stopped on exit
# (SeaweedFS also by its watchdog if this script is killed).
s3_env=$(scripts/s3-test.sh start $$)
eval "$s3_env"
amqp_env=$(scripts/rabbitmq-test.sh start $$)
eval "$amqp_env"
pg_dir=$(mktemp -d -t ridge-test-postgres.XXXXXX)
trap 'scripts/s3-test.sh stop "$RIDGE_TEST_S3_STATE"; scripts/rabbitmq-test.sh stop "$RIDGE_TEST_AMQP_STATE"; scripts/postgres-test.sh stop "$pg_dir"' EXIT
RIDGE_TEST_POSTGRES_URL=$(scripts/postgres-test.sh start "$pg_dir")
export RIDGE_TEST_POSTGRES_URL

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi

# The API fuzzed against its own OpenAPI document (docs/testing.md), with the binary the tests
# built; not when only some tests were asked for.
if [ "$#" -eq 0 ]; then
  # The build the tests used (the same features), so nothing is compiled again.
  cargo build --workspace --all-targets
  scripts/fuzz-api.sh
fi
