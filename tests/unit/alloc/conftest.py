"""Shared helpers for the allocation tests: golden paths and the optional htools binaries."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "alloc"
HTOOLS_DIR = Path("/usr/lib/ganeti/3.0/usr/bin")


def htool(name: str) -> str | None:
    """Path of a Ganeti htools binary (package ganeti-htools-3.0), or None."""
    cand = HTOOLS_DIR / name
    return str(cand) if cand.exists() else shutil.which(name)


def hinfo_score(path: Path) -> float:
    """`hinfo -t FILE`'s "Cluster score"."""
    exe = htool("hinfo")
    if exe is None:
        pytest.skip("ganeti-htools-3.0 (hinfo) not installed")
    out = subprocess.run([exe, "-t", str(path)], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"Cluster score: ([0-9.]+)", out)
    assert m, out
    return float(m.group(1))


@pytest.fixture
def golden() -> Path:
    return GOLDEN
