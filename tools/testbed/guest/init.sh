#!/bin/sh
# PID 1's child (tini reaps orphans) on a test-bed host; no systemd, so a host is ready in seconds.
# Reads its identity from kernel parameters written by tools/testbed/qemu.py:
#   tb.name=NAME tb.ip=ADDR/PFX tb.mac=MAC (private NIC) tb.mgmt=MAC (slirp NIC for ssh)
#   tb.hosts=NAME=ADDR,... (/etc/hosts) tb.udev=0|1 tb.tty=TTY (rescue shell, default ttyS0)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/lock /run/lvm /run/sshd /var/lock
# systemd would create these; tools such as xen's hotplug scripts need them.
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mount -o remount,rw /
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}";; esac; done; }
NAME=$(arg tb.name); IP=$(arg tb.ip); MAC=$(arg tb.mac); MGMT=$(arg tb.mgmt); HOSTS=$(arg tb.hosts)
UDEV=$(arg tb.udev)
hostname "${NAME:-host}"; echo "${NAME:-host}" > /etc/hostname
{ echo "127.0.0.1 localhost"; echo "$HOSTS" | tr ',' '\n' | awk -F= 'NF==2 {print $2, $1}'; } > /etc/hosts
if [ "$UDEV" = 1 ]; then
  printf 'activation {\n udev_sync = 1\n udev_rules = 1\n}\n' > /etc/lvm/lvmlocal.conf
  /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
  udevadm trigger --action=add >/dev/null 2>&1; udevadm settle -t 30
else
  # Without udev, LVM must create its /dev nodes itself and not wait for udev cookies.
  printf 'activation {\n udev_sync = 0\n udev_rules = 0\n}\ndevices {\n obtain_device_list_from_udev = 0\n}\n' \
    > /etc/lvm/lvmlocal.conf
fi
modprobe virtio_net 2>/dev/null
ip link set lo up
for dev in /sys/class/net/*; do
  n=${dev##*/}; a=$(cat "$dev/address")
  if [ "$a" = "$MAC" ]; then ip link set "$n" name priv0 && ip link set priv0 up && ip addr add "$IP" dev priv0; fi
  if [ "$a" = "$MGMT" ]; then ip link set "$n" name mgmt0 && ip link set mgmt0 up && ip addr add 10.0.2.15/24 dev mgmt0; fi
done
# gnt comes from the checkout, on a read-only disk made for each run (serial "gnt").
for b in /sys/block/vd*; do
  if [ "$(cat "$b/serial" 2>/dev/null)" = gnt ]; then mount -o ro,noload "/dev/${b##*/}" /opt/gnt; fi
done
if [ -d /opt/gnt/.testbed/bin ]; then ln -sf /opt/gnt/.testbed/bin/* /usr/local/bin/; fi
[ -e /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
/usr/sbin/sshd -r  # no re-exec per connection: a login costs 0.25 s instead of 0.6 s under TCG
# /dev/console is whatever console= says (ttyS0 on QEMU, hvc0 for a Xen dom0); tb.tty names the
# terminal for the rescue shell.
echo "TESTBED-READY $NAME uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/console
TTY=$(arg tb.tty)
while :; do setsid sh -c "exec sh </dev/${TTY:-ttyS0} >/dev/${TTY:-ttyS0} 2>&1"; sleep 1; done
