# Times single commands, one sandbox layer at a time (see docs/sandbox.md). Run as root:
#   python3 crates/ridge-sandbox/bench/layers.py
# P is the interpreter prefix of the development host; change it for yours.
import subprocess, time, os, sys, statistics
P="/root/.pyenv/versions/3.11.7"
PY=P+"/bin/python3"
def t(cmd, n=40, **kw):
    xs=[]
    for _ in range(n):
        s=time.perf_counter(); subprocess.run(cmd, check=True, **kw); xs.append((time.perf_counter()-s)*1000)
    xs.sort(); return statistics.median(xs), xs[int(len(xs)*0.9)]
base=["bwrap","--unshare-user","--unshare-pid","--unshare-ipc","--unshare-uts","--unshare-net","--unshare-cgroup-try","--die-with-parent","--new-session","--ro-bind","/usr","/usr","--symlink","usr/lib","/lib","--symlink","usr/lib64","/lib64","--symlink","usr/bin","/bin","--perms","0755","--dir","/root","--perms","0755","--dir","/root/.pyenv","--perms","0755","--dir","/root/.pyenv/versions","--ro-bind",P,P,"--size","67108864","--perms","1777","--tmpfs","/tmp","--proc","/proc","--dev","/dev","--remount-ro","/","--"]
rows=[("true", ["/usr/bin/true"]),
      ("bwrap true", base+["/usr/bin/true"]),
      ("python -c pass", [PY,"-I","-S","-B","-c","pass"]),
      ("bwrap python -c pass", base+[PY,"-I","-S","-B","-c","pass"]),
      ("bwrap setpriv python", base[:1]+base[2:]+["/usr/bin/setpriv","--reuid=65534","--regid=65534","--clear-groups","--",PY,"-I","-S","-B","-c","pass"])]
for name,cmd in rows:
    try:
        m,p90=t(cmd)
        print("%-24s p50 %6.2f ms  p90 %6.2f ms"%(name,m,p90))
    except Exception as e: print(name, "failed", e)
