#!/bin/sh
# Runs a systemd unit's ExecStart= as the unit says, on a host without systemd as PID 1 (CI),
# making by hand what systemd would make: a mount namespace with ProtectSystem=strict (every
# mount read-only but /proc, /sys, /dev and ReadWritePaths=), ProtectHome=yes and PrivateTmp=yes;
# cgroups delegated to User= as Delegate=yes delegates them (a cgroup of the service's own in
# each hierarchy, its directory and cgroup.procs chowned to the user); then User=, Group=,
# UMask=, LimitNOFILE=, NoNewPrivileges=yes and the empty CapabilityBoundingSet= (setpriv), and
# an environment of systemd's PATH, the user's HOME, USER, LOGNAME, SHELL and the unit's
# Environment= lines only. The unit's other hardening lines (RestrictSUIDSGID=,
# LockPersonality=, RestrictRealtime=: seccomp filters) are not emulated.
#
#   as-the-unit.sh UNIT CGROUP [NAME=VALUE...]
#
# CGROUP names the service's cgroups (the caller removes them afterwards); NAME=VALUE are added
# to the environment, as `systemctl edit` would. Run as root; it becomes the service.
set -eu
unit=$1
cg=$2
shift 2

value() { sed -n "s/^$1=//p" "$unit" | tail -n1; }
require() {
  grep -qx "$1" "$unit" || { echo "as-the-unit.sh: $unit lacks \`$1\`, which this emulates" >&2; exit 1; }
}
for line in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
  CapabilityBoundingSet= Delegate=yes; do
  require "$line"
done
user=$(value User)
group=$(value Group)
exec_start=$(value ExecStart)
umask_value=$(value UMask)
nofile=$(value LimitNOFILE)
rw_paths=$(value ReadWritePaths)
environment=$(sed -n 's/^Environment=//p' "$unit")

if [ -z "${AS_THE_UNIT_NS:-}" ]; then
  AS_THE_UNIT_NS=1 exec unshare --mount --propagation private -- "$0" "$unit" "$cg" "$@"
fi

# ProtectSystem=strict with ReadWritePaths=.
for path in $rw_paths; do
  mount --bind "$path" "$path"
done
awk '{print $5}' /proc/self/mountinfo | while read -r mountpoint; do
  case "$mountpoint" in
    /proc | /proc/* | /sys | /sys/* | /dev | /dev/*) ;;
    # A mount of a test running beside this one may have gone since the table was read:
    # only one still there must become read-only.
    *) mount -o remount,bind,ro "$mountpoint" 2>/dev/null || [ ! -e "$mountpoint" ] ||
      mount -o remount,bind,ro "$mountpoint" ;;
  esac
done
for path in $rw_paths; do
  mount -o remount,bind,rw "$path"
done
# ProtectHome=yes: empty and inaccessible.
for path in /home /root /run/user; do
  if [ -d "$path" ]; then
    mount -t tmpfs -o ro,mode=000 tmpfs "$path"
  fi
done
# PrivateTmp=yes.
for path in /tmp /var/tmp; do
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$path"
done

# Delegate=yes: the service's own cgroup in each hierarchy, handed to the user.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  hierarchies=/sys/fs/cgroup
  # systemd enables the controllers of a delegated service in its parent.
  for c in memory cpu pids; do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
  done
else
  hierarchies=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 1 -type d)
fi
for h in $hierarchies; do
  [ -f "$h/cgroup.procs" ] || continue
  mkdir -p "$h/$cg"
  # v1 cpuset: a new cgroup has no CPUs or memory nodes until given its parent's.
  for f in cpuset.cpus cpuset.mems; do
    if [ -e "$h/$f" ]; then cat "$h/$f" >"$h/$cg/$f"; fi
  done
  chown "$user:$group" "$h/$cg"
  for f in cgroup.procs cgroup.threads cgroup.subtree_control tasks; do
    if [ -e "$h/$cg/$f" ]; then chown "$user:$group" "$h/$cg/$f"; fi
  done
  echo $$ >"$h/$cg/cgroup.procs"
done

[ -z "$umask_value" ] || umask "$umask_value"
# A container may not let even root raise the hard limit: then as high as it goes.
[ -z "$nofile" ] || ulimit -n "$nofile" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cd /
home=$(getent passwd "$user" | cut -d: -f6)
shell=$(getent passwd "$user" | cut -d: -f7)
# shellcheck disable=SC2086 # ExecStart= and Environment= are split into words as systemd does
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$home" USER="$user" LOGNAME="$user" SHELL="$shell" $environment "$@" \
  setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs \
  --bounding-set=-all --inh-caps=-all -- $exec_start
