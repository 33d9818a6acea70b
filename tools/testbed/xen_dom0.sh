#!/bin/sh
# Start Xen's toolstack in a test-bed host's PV dom0 (no systemd there); run over ssh once the
# host is up, and again after a cold boot. Idempotent: what already runs is left alone.
set -e
[ "$(cat /sys/hypervisor/type 2>/dev/null)" = xen ] || { echo "not running under Xen" >&2; exit 1; }
mountpoint -q /proc/xen || mount -t xenfs xenfs /proc/xen
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xen-blkback xen-netback dm_mod loop; do
  modprobe "$m" 2>/dev/null || true
done
mkdir -p /var/run/xen /var/log/xen/console /var/lib/xen /var/lib/xenstored /run/xen
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running /var/run/xenstored.pid || /usr/sbin/xenstored --pid-file /var/run/xenstored.pid
[ -n "$(xenstore-read /local/domain/0/name 2>/dev/null)" ] || /usr/lib/xen-4.17/bin/xen-init-dom0 >/dev/null
running /var/run/xenconsoled.pid ||
  /usr/sbin/xenconsoled --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
xl info >/dev/null
echo "xen dom0 ready: $(xl info | sed -n 's/^xen_version *: //p')"
