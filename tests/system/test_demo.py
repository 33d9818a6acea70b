"""README's first command, run as a newcomer runs it: `bash tools/demo.sh DIR`.

It installs (idempotently), builds a 3-node virtual cluster, runs the fake-instance tour, then
live-migrates a real QEMU guest with a local disk and prints QEMU's measured downtime. Where QEMU
cannot run, the demo must say so in one line and still finish.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    directory = tmp_path / "demo"
    # python3 and the gnt-* scripts of the interpreter running the tests, as after `pip install -e .`
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        proc = subprocess.run(
            ["bash", str(REPO / "tools" / "demo.sh"), str(directory)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=600,
        )
        yield proc, directory
    finally:
        if (directory / "stop-all").exists():
            subprocess.run([str(directory / "stop-all")], capture_output=True, timeout=120)


def test_demo_live_migrates_a_real_guest_and_prints_qemu_downtime(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, directory = demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "INSTANCE_MIGRATE(web1)" in out and "CLUSTER_VERIFY" in out
    if shutil.which("qemu-system-x86_64") is None:
        assert re.search(r"^kvm part skipped: qemu-system-x86_64 not installed", out, re.M)
        return
    assert "kvm part skipped" not in out
    kvm_part = out.split("$ gnt-instance migrate -f -n node2 vm1", 1)[1]
    timing = re.search(r"\* migration done: total (\d+) ms, downtime (\d+) ms", kvm_part)
    assert timing is not None, kvm_part
    assert 0 < int(timing.group(2)) <= int(timing.group(1))
    assert re.search(r"^vm1\s+node2\s+running\s+128M\s+file\s+kvm$", out, re.M)
    before, after = map(int, re.search(r"counting on node2: (\d+) \(it was at (\d+)", out).group(2, 1))
    assert after > before  # the guest's RAM came along: its counter carries on
    assert list(directory.glob("node2/srv/gnt/file-storage/vm1/*.disk0"))  # the local disk moved too
    assert not list(directory.glob("node1/srv/gnt/file-storage/vm1/*.disk0"))
