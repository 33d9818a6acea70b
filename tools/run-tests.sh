#!/bin/sh
# Install everything, then run the whole test suite (unit, golden, integration, system).
#
# unit, golden and integration are independent tests (each its own temp dirs; each virtual cluster
# on its own loopback subnet, per worker): they run on pytest-xdist workers, one per core, a test
# file per worker at a time (module fixtures are set up once). The system tests (QEMU guests and
# test-bed hosts: CPU-heavy and timing-sensitive) run after them, in one process. Extra arguments
# (-x, -k EXPR, ...) go to both runs; the script fails if either does.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
python3 -m ruff check .
python3 -m ruff format --check . >/dev/null || { python3 -m ruff format --check .; exit 1; }

# The test-bed host image and the Xen host image (cold builds of 1-2 min each, mostly downloading
# Debian packages) are built while the first run goes; the test bed waits on the image cache's lock
# and then reuses them. A failed build here is only logged: the test bed builds (or skips, naming
# what is missing) itself.
IMAGE_LOG="${TMPDIR:-/tmp}/gnt-testbed-image-build.log"
image_pid=""
if [ "$(id -u)" = 0 ]; then
  { sh tools/testbed/testbed build && sh tools/testbed/testbed build --xen; } >"$IMAGE_LOG" 2>&1 &
  image_pid=$!
fi

PYTEST="python3 -m pytest -q -p no:cacheprovider --durations=40"
first=0
$PYTEST -n auto --dist loadfile tests/unit tests/golden tests/integration "$@" || first=$?
if [ -n "$image_pid" ]; then
  wait "$image_pid" || echo "background test-bed image build failed (see $IMAGE_LOG); the test bed retries it"
fi
second=0
$PYTEST tests/system "$@" || second=$?
# pytest's 5 is "no test collected": fine for one run (a -k matching only in the other), not for both
if [ "$first" = 5 ] && [ "$second" = 5 ]; then exit 5; fi
for rc in "$first" "$second"; do
  if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
done
exit 0
