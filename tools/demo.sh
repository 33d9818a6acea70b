#!/bin/bash
# Install gnt and run the main job: a 3-node virtual cluster, instances created, listed, migrated,
# failed over, stopped and started; then one real QEMU guest with a local disk live-migrated between
# two virtual nodes, with QEMU's measured downtime. Where QEMU cannot run, that part is skipped with
# one line saying why. Leaves the cluster running in $DIR (stop it with $DIR/stop-all).
set -euo pipefail
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
DIR=${1:-/tmp/gnt-demo}
if [ -x "$DIR/stop-all" ]; then "$DIR/stop-all"; fi
rm -rf "$DIR"
python3 tools/vcluster-setup -c 3 "$DIR"
"$DIR/start-all"
run() { echo; echo "\$ $*"; "$DIR/node1/cmd" "$@"; }
ADD=(gnt-instance add -o noop --no-name-check --no-ip-check --no-nics)

# The kvm guest (a Debian kernel and a busybox initramfs, built once and cached): "" when QEMU cannot run.
KVM_HV=""
if KVM_HV=$(python3 tools/testguest.py --hvparams 2>"$DIR/kvm-skipped"); then
  HYPERVISORS=fake,kvm
else
  HYPERVISORS=fake
fi

run gnt-cluster init --enabled-hypervisors=$HYPERVISORS demo
run gnt-node add node2
run gnt-node add node3
run gnt-node list
run "${ADD[@]}" -t diskless -B memory=64M -n node1 web1
run "${ADD[@]}" -t sharedfile --disk 0:size=64M -B memory=128M -n node2 db1
run "${ADD[@]}" -t file --disk 0:size=32M -B memory=64M -n node3 files1
run gnt-instance list
run gnt-instance migrate -f -n node2 web1
run gnt-instance failover -f -n node3 db1
run gnt-instance shutdown files1
run gnt-instance startup files1

# The guest prints GNT-COUNTER n ten times a second from a counter in its RAM: after the live
# migration the copy on node2 carries on from where node1's left off.
serial() { echo "$DIR/$1/var/run/gnt/instances/kvm/vm1/serial.log"; }
counter() { grep -ao 'GNT-COUNTER [0-9]*' "$(serial "$1")" 2>/dev/null | tail -n 1 | cut -d" " -f2 || true; }
wait_counter() {  # wait_counter NODE ABOVE: until the guest on NODE prints a counter above ABOVE
  for _ in $(seq 1 600); do
    c=$(counter "$1"); [ -n "$c" ] && [ "$c" -gt "$2" ] && { echo "$c"; return 0; }
    sleep 0.1
  done
  echo "the guest on $1 printed no counter above $2; see $(serial "$1")" >&2; return 1
}
if [ -n "$KVM_HV" ]; then
  echo
  echo "# Now a real QEMU guest with a local disk, live-migrated (disk and RAM) from node1 to node2:"
  run "${ADD[@]}" -t file --disk 0:size=32M -B memory=128M -H "kvm:$KVM_HV" -n node1 vm1
  before=$(wait_counter node1 5)
  echo "vm1 (a real QEMU guest on node1) is counting: $before"
  run gnt-instance migrate -f -n node2 vm1
  after=$(wait_counter node2 "$before")
  echo "vm1 carries on counting on node2: $after (it was at $before before the move; its disk moved with it)"
else
  echo
  echo "kvm part skipped: $(tail -n 1 "$DIR/kvm-skipped")"
fi

run gnt-instance list -o name,pnode,status,oper_ram,disk_template,hypervisor
run gnt-cluster verify
run gnt-job list
echo
echo "The cluster keeps running in $DIR: try $DIR/node1/cmd gnt-instance info web1; stop it with $DIR/stop-all"
