#!/bin/sh
# Install what gnt and its tests need on a fresh Debian machine; idempotent.
# As root it adds the Debian packages (QEMU, busybox, iproute2, ...); as a user it only does pip.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  for pkg in $(cat "$HERE/tools/debian-packages.txt"); do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
  fi
  if [ -x "$HERE/tests/system/install-deps.sh" ]; then
    "$HERE/tests/system/install-deps.sh"
  fi
fi
python3 -m pip install -q --disable-pip-version-check -e "$HERE[test]"
