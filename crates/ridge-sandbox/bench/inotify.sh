#!/usr/bin/env bash
# Usage: inotify.sh RIDGE_BINARY PORT (as root): a worker exhausts inotify and holds it; can host
# root and another worker still use it? Numbers in docs/sandbox.md, "Per-user kernel limits".
set -u
R=$1; PORT=$2
D=$(mktemp -d); cd "$D"
$R serve --listen 127.0.0.1:$PORT --data-dir "$D/data" 2>serve.log & S=$!
export RIDGE_URL=http://127.0.0.1:$PORT
for i in $(seq 100); do curl -s $RIDGE_URL/v1/info >/dev/null && break; sleep 0.3; done
cat > hog.py <<'PY'
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
def main(hold=0, **kw):
    fds, errno = [], 0
    while len(fds) < 4096:
        fd = libc.inotify_init1(0)
        if fd < 0:
            errno = ctypes.get_errno(); break
        fds.append(fd)
    time.sleep(hold)
    return {"opened": len(fds), "errno": errno}
PY
cat > one.py <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def main(**kw):
    fd = libc.inotify_init1(0)
    return ctypes.get_errno() if fd < 0 else 0
PY
$R runtime create python3 --name py >/dev/null; sleep 2
$R function create --name hog --runtime py --entry hog.main --file hog.py --timeout 60 >/dev/null
$R function create --name one --runtime py --entry one.main --file one.py >/dev/null
$R execution create hog --async --input '{"hold": 10}' >/dev/null
sleep 6
python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); fd=l.inotify_init1(0); print("host root inotify_init1:", "ok" if fd >= 0 else "errno %d" % ctypes.get_errno())'
echo -n "another worker: "; $R execution create one -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])'
sleep 6
echo -n "the hog: "; $R execution list -f json | python3 -c 'import json,sys; print([e["result"] for e in json.load(sys.stdin) if "opened" in (e.get("result") or "")])'
kill $S; wait $S 2>/dev/null; rm -rf "$D"
