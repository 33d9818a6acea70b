"""The kvm test guest, for the system tests and benchmarks that import it as `guest`.

The builder lives in tools/testguest.py, which tools/demo.sh also uses; this module only makes it
importable under its old name.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))

from testguest import (  # noqa: E402
    COUNTER_PREFIX,
    INIT_SCRIPT,
    MODULES,
    READY_MARKER,
    build_initramfs,
    cache_dir,
    hvparams,
    initramfs,
    kernel,
)

__all__ = [
    "COUNTER_PREFIX",
    "INIT_SCRIPT",
    "MODULES",
    "READY_MARKER",
    "build_initramfs",
    "cache_dir",
    "hvparams",
    "initramfs",
    "kernel",
]
