"""Runs a throwaway OpenStack Keystone for Ridge's tests: SQLite database, fernet tokens,
bootstrapped admin, served on 127.0.0.1 with the standard library's WSGI server.

Usage: python serve.py STATE_DIR [TOKEN_EXPIRATION_SECONDS]
Run with the Python of a venv holding PyPI `keystone` (scripts/keystone-venv.sh builds one).
Prints `READY http://127.0.0.1:<port>/v3` on stdout once Keystone answers, then serves until
killed. The admin user is `admin` / `admin-secret`, project `admin`, domain `Default`.
"""

import os
import socket
import subprocess
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ADMIN_PASSWORD = "admin-secret"


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def manage(conf, *args):
    keystone_manage = os.path.join(os.path.dirname(sys.executable), "keystone-manage")
    subprocess.run(
        [keystone_manage, "--config-file", conf, *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=sys.stderr,
    )


def main():
    state = os.path.abspath(sys.argv[1])
    expiration = int(sys.argv[2]) if len(sys.argv) > 2 else 3600
    os.makedirs(state, exist_ok=True)
    conf = os.path.join(state, "keystone.conf")
    keys = os.path.join(state, "fernet-keys")
    with open(conf, "w") as f:
        f.write(
            f"""[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///{state}/keystone.db
[token]
provider = fernet
expiration = {expiration}
[fernet_tokens]
key_repository = {keys}
[fernet_receipts]
key_repository = {keys}
[credential]
key_repository = {state}/credential-keys
"""
        )
    # Bind first, so that the catalog can name the real port.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/v3"
    user = os.environ.get("USER") or "root"
    manage(conf, "db_sync")
    manage(conf, "fernet_setup", "--keystone-user", user, "--keystone-group", user)
    manage(conf, "credential_setup", "--keystone-user", user, "--keystone-group", user)
    manage(
        conf,
        "bootstrap",
        "--bootstrap-password", ADMIN_PASSWORD,
        "--bootstrap-public-url", url,
        "--bootstrap-region-id", "RegionOne",
    )
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = conf
    # Keystone parses sys.argv as its own command line.
    sys.argv = sys.argv[:1]
    from keystone.server.wsgi import initialize_public_application

    app = initialize_public_application()
    server = make_server("127.0.0.1", port, app, ThreadingServer, QuietHandler)
    print(f"READY {url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
