"""Fixtures for tests on hosts with a real kernel (tools/testbed): boot once, restore per test.

`testbed_session` builds (or reuses) the host image, boots two hosts (node1, node2) with a shared
LUN, and saves a snapshot of them booted; `testbed` restores that snapshot before each test, so
every test starts from fresh, identical, running hosts in a few seconds. Issues 9 (hosts over SSH)
and 12 (Xen) reuse these fixtures or `make_bed()` for beds of another shape.

The time each phase took is printed at the end of the run ("test bed timings").
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.testbed import TestBed, build_image  # noqa: E402
from tools.testbed.bed import RUN_TOOLS  # noqa: E402
from tools.testbed.image import TOOLS as BUILD_TOOLS  # noqa: E402

TIMINGS: dict[str, list[float]] = {}
NODED_PORT = 1811  # gnt's node daemon port (gnt.constants.DEFAULT_NODED_PORT), forwarded to 127.0.0.1


def record(name: str, seconds: float) -> None:
    """Remember how long a phase took, for the summary at the end of the run."""
    TIMINGS.setdefault(name, []).append(seconds)


def missing_requirement() -> str | None:
    """Why the test bed cannot run here (naming the tool), or None."""
    if os.geteuid() != 0:
        return "the test bed needs root (mmdebstrap, chroot depmod)"
    try:
        import paramiko  # noqa: F401
    except ImportError:
        return "the test bed needs python paramiko"
    for tool in (*BUILD_TOOLS, *RUN_TOOLS):
        if not shutil.which(tool):
            return f"the test bed needs {tool}: run tests/system/install-deps.sh"
    return None


def make_bed(**kwargs: object) -> TestBed:
    """A TestBed in a fresh short directory under /tmp (unix socket paths must stay short)."""
    why = missing_requirement()
    if why:
        pytest.skip(why)
    t = time.monotonic()
    image = build_image()
    record("image (build or cache check)", time.monotonic() - t)
    return TestBed(tempfile.mkdtemp(prefix="gnt-tb-", dir="/tmp"), image=image, **kwargs)  # type: ignore[arg-type]


class Session:
    """The session's bed and whether a test has touched it since the last restore."""

    def __init__(self, bed: TestBed) -> None:
        self.bed = bed
        self.dirty = False


@pytest.fixture(scope="session")
def testbed_session() -> Iterator[Session]:
    bed = make_bed(hosts=2, shared_size="256M", forwards=(NODED_PORT,))
    try:
        bed.create()
        t = time.monotonic()
        bed.start()
        record("boot 2 hosts to ssh-ready", time.monotonic() - t)
        t = time.monotonic()
        bed.save_snapshot()
        record("snapshot 2 hosts", time.monotonic() - t)
        yield Session(bed)
    finally:
        bed.destroy()


@pytest.fixture
def testbed(testbed_session: Session) -> TestBed:
    """node1 and node2 as they were right after boot (restored from the snapshot if a test ran)."""
    if testbed_session.dirty:
        t = time.monotonic()
        testbed_session.bed.restore()
        record("restore 2 hosts to ssh-ready", time.monotonic() - t)
    testbed_session.dirty = True
    return testbed_session.bed


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not TIMINGS:
        return
    terminalreporter.write_sep("-", "test bed timings")
    for name, values in TIMINGS.items():
        shown = ", ".join(f"{v:.1f}" for v in values[:8]) + (" ..." if len(values) > 8 else "")
        terminalreporter.write_line(f"{name}: {shown} s")
