#!/usr/bin/env bash
# Sets up and starts Ridge on its embedded defaults (SQLite and packages under
# $RIDGE_DATA_DIR or ~/.local/share/ridge, listening on 127.0.0.1:7070). The system packages
# the sandbox needs are bubblewrap, and passt (pasta) for functions granted outbound network;
# they are installed here when missing. Extra arguments go to `ridge serve` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null 2>&1 || ! command -v pasta >/dev/null 2>&1; then
  echo "installing bubblewrap (the worker sandbox) and passt (outbound network)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq bubblewrap passt
fi

exec cargo run --release --bin ridge -- serve "$@"
