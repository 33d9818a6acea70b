"""Fixtures for tests on hosts with a real kernel (tools/testbed): boot once, restore per test.

`testbed_session` builds (or reuses) the host image, boots two hosts (node1, node2) with a shared
LUN, and saves a snapshot of them booted; `testbed` restores that snapshot before each test, so
every test starts from fresh, identical, running hosts in a few seconds. Issues 9 (hosts over SSH)
and 12 (Xen) reuse these fixtures or `make_bed()` for beds of another shape.

`gnt_cluster` gives a test the same two hosts running a gnt cluster (master daemon, RAPI and node
daemons for real, fake hypervisor, VG `xenvg` on each data disk): made once per session and saved
as the snapshot `gnt-cluster`, restored before each test that uses it.

The time each phase took is printed at the end of the run ("test bed timings").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.testbed import TestBed, build_image  # noqa: E402
from tools.testbed.bed import RUN_TOOLS  # noqa: E402
from tools.testbed.gntcluster import GntCluster, start_gnt_cluster  # noqa: E402
from tools.testbed.image import TOOLS as BUILD_TOOLS  # noqa: E402

TIMINGS: dict[str, list[float]] = {}
NODED_PORT = 1811  # gnt's node daemon port (gnt.constants.DEFAULT_NODED_PORT), forwarded to 127.0.0.1


def record(name: str, seconds: float) -> None:
    """Remember how long a phase took, for the summary at the end of the run."""
    TIMINGS.setdefault(name, []).append(seconds)


@pytest.fixture
def timed() -> Callable[[str], contextlib.AbstractContextManager[None]]:
    """`with timed("gnt-instance add -t plain"):` adds the block's time to the "test bed timings"
    (measured and reported, never asserted)."""

    @contextlib.contextmanager
    def measure(name: str) -> Iterator[None]:
        start = time.monotonic()
        yield
        record(name, time.monotonic() - start)

    return measure


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


BOOTED = "booted"
CLUSTER_SNAPSHOT = "gnt-cluster"


class Session:
    """The session's bed, the snapshot its hosts were last restored from, and whether a test has
    touched them since (then the next test restores)."""

    def __init__(self, bed: TestBed) -> None:
        self.bed = bed
        self.snapshot = BOOTED
        self.dirty = False
        self.cluster: GntCluster | None = None

    def use(self, snapshot: str) -> None:
        """Hand the hosts to a test as they were at `snapshot` (restoring unless they still are)."""
        if self.dirty or self.snapshot != snapshot:
            t = time.monotonic()
            self.bed.restore(snapshot)
            record(f"restore 2 hosts to {snapshot!r}", time.monotonic() - t)
            self.snapshot = snapshot
        self.dirty = True


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
    testbed_session.use(BOOTED)
    return testbed_session.bed


@pytest.fixture
def gnt_cluster(testbed_session: Session) -> GntCluster:
    """A running gnt cluster on the session's hosts, fresh for each test.

    node1 is the master (gnt-masterd with its RAPI on 192.168.77.1:5080, user and password in
    `cluster.spec`), node2 was joined with `gnt-node add` over the private network; both run
    gnt-noded and have the volume group `xenvg` on their data disk and the OS `noop`. The cluster
    (fake hypervisor, disk templates plain and file) is made once per session
    (tools/testbed/gntcluster.py; its steps' times are in the "test bed timings") and saved as
    the snapshot `gnt-cluster`; every test after the first gets it restored. `cluster.gnt(cmd)` runs
    a command on the master; `cluster.bed["node2"]` is a host as with `testbed`.
    """
    session = testbed_session
    if session.cluster is None:
        session.use(BOOTED)
        t = time.monotonic()
        cluster = start_gnt_cluster(session.bed)
        record("gnt cluster up on 2 booted hosts", time.monotonic() - t)
        for step, seconds in cluster.timings.items():
            record(f"  {step}", seconds)
        t = time.monotonic()
        session.bed.save_snapshot(CLUSTER_SNAPSHOT)
        record("snapshot the gnt cluster", time.monotonic() - t)
        session.cluster, session.snapshot, session.dirty = cluster, CLUSTER_SNAPSHOT, False
    session.use(CLUSTER_SNAPSHOT)
    return session.cluster


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not TIMINGS:
        return
    terminalreporter.write_sep("-", "test bed timings")
    for name, values in TIMINGS.items():
        shown = ", ".join(f"{v:.1f}" for v in values[:8]) + (" ..." if len(values) > 8 else "")
        terminalreporter.write_line(f"{name}: {shown} s")


# the Xen bed's session fixtures (two Xen hosts booted once, restored per test), shared by the Xen modules
from .xen_fixtures import xen_bed, xen_cluster, xen_drbd_guest, xen_session  # noqa: E402,F401
