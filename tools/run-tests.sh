#!/bin/sh
# Install everything, then run the whole test suite (unit, golden, integration, system).
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
python3 -m ruff check .
python3 -m ruff format --check . >/dev/null || { python3 -m ruff format --check .; exit 1; }
exec python3 -m pytest -q -p no:cacheprovider --durations=40 tests "$@"
