"""Keep glibc from mapping and unmapping numpy's temporaries during long array searches.

The balancer creates and frees millions of short-lived arrays of a few hundred KiB to a few
MiB. With glibc's defaults, arrays above the mmap threshold are mapped and unmapped on every
operation, and freed memory at the top of the heap is returned to the kernel as soon as it
exceeds the trim threshold; either way every page of the next temporary faults in again. On
the 200-node benchmark that was a third of the balancer's time (system time, page faults).
`roomy_heap` raises both thresholds while a search runs, then restores glibc's defaults and
gives the memory back. It does nothing where glibc's `mallopt` is not available.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["roomy_heap"]

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_TOP_PAD: 128 * 1024, _M_MMAP_THRESHOLD: 128 * 1024}
_ROOMY = {_M_TRIM_THRESHOLD: 512 << 20, _M_TOP_PAD: 64 << 20, _M_MMAP_THRESHOLD: 32 << 20}
_lock = threading.Lock()
_depth = 0


def _libc():
    try:
        name = ctypes.util.find_library("c")
        lib = ctypes.CDLL(name) if name else None
        return lib if lib is not None and hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


def _set(values: dict[int, int]) -> None:
    for opt, val in values.items():
        _LIBC.mallopt(ctypes.c_int(opt), ctypes.c_int(val))


@contextmanager
def roomy_heap() -> Iterator[None]:
    """Run the block with large malloc thresholds (re-entrant, thread-safe)."""
    global _depth
    if _LIBC is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _set(_ROOMY)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(_DEFAULTS)
                _LIBC.malloc_trim(ctypes.c_size_t(0))
