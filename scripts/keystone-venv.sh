#!/usr/bin/env bash
# Builds (once) the venv with PyPI `keystone` that the Keystone tests run
# (scripts/keystone/serve.py), and prints its path. Keystone 30.x runs on Python 3.11 here.
set -euo pipefail
cd "$(dirname "$0")/.."

python=$(command -v python3)
python=$("$python" -c 'import sys; print(sys.executable)')

venv=target/keystone-venv
if [ ! -x "$venv/bin/keystone-manage" ] || ! "$venv/bin/python" -c 'import keystone.server.wsgi' 2>/dev/null; then
  echo "installing keystone into $venv" >&2
  rm -rf "$venv"
  mkdir -p target
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'keystone>=30,<31'
fi
echo "$PWD/$venv"
