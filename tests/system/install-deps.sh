#!/bin/sh
# Install what the kvm system tests and the migration benchmark need (Debian 12, as root).
# Idempotent: apt-get skips installed packages; the kernel .deb is only downloaded (never installed
# as the running kernel) into the guest cache, where tests/system/guest.py unpacks it.
set -eu

PKGS="qemu-system-x86 qemu-utils busybox-static iproute2 bridge-utils iputils-ping socat cpio procps"
# tools/testbed (hosts with a real kernel): image build, private network, ssh key, seed disk.
PKGS="$PKGS mmdebstrap e2fsprogs vde2 openssh-client git"
# the Xen hosts' hypervisor, built from Debian's source with shadow paging (tools/testbed/xenbuild.py)
PKGS="$PKGS make gcc libc6-dev flex bison xz-utils"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing
fi

CACHE="${GNT_TEST_GUEST_CACHE:-$HOME/.cache/gnt-test-guest}"
mkdir -p "$CACHE/debs"
if ! ls "$CACHE"/debs/linux-image-*.deb >/dev/null 2>&1; then
    # linux-image-amd64 is a metapackage: fetch the versioned image it depends on.
    dep=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$dep" ]; then  # no package lists yet on this machine
        apt-get update
        dep=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    (cd "$CACHE/debs" && apt-get download "$dep")
fi
echo "kvm system test dependencies installed; guest cache in $CACHE"
