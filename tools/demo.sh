#!/bin/bash
# Install gnt and run the main job: a 3-node virtual cluster, instances created, listed, migrated,
# failed over, stopped and started. Leaves the cluster running in $DIR (stop it with $DIR/stop-all).
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
run gnt-cluster init --shared-file-storage-dir="$DIR/shared-file-storage" demo
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
run gnt-instance list -o name,pnode,status,oper_ram,disk_template
run gnt-cluster verify
run gnt-job list
echo
echo "The cluster keeps running in $DIR: try $DIR/node1/cmd gnt-instance info web1; stop it with $DIR/stop-all"
