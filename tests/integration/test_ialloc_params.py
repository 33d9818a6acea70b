"""`--default-iallocator-params` on a virtual cluster: set by `gnt-cluster modify`, shown by `info`,
and given to an external allocator as `--KEY=VALUE` options, as Ganeti's node daemon runs one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt.instance.placement import IALLOCATOR_SEARCH_PATH
from tests.integration.vcluster import ADD_DISKLESS, VCluster


@pytest.fixture
def recorder(cluster: VCluster, tmp_path: Path) -> Iterator[Path]:
    """An allocator on the master that notes its options and places on node3; params and instance go after."""
    directory = cluster.dir / "node1" / IALLOCATOR_SEARCH_PATH[0].lstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    seen = tmp_path / "argv"
    script = directory / f"recorder-{tmp_path.name}"
    script.write_text(
        f'#!/bin/sh\nshift\necho "$@" >{seen}\necho \'{{"success": true, "info": "", "result": ["node3"]}}\'\n'
    )
    script.chmod(0o755)
    yield script
    cluster.run("gnt-cluster", "modify", "--default-iallocator-params", "")
    cluster.run("gnt-instance", "remove", "-f", "ip-a")
    script.unlink()


def test_the_parameters_reach_an_external_allocator(cluster: VCluster, recorder: Path, tmp_path: Path) -> None:
    info = cluster.ok("gnt-cluster", "info")
    assert "primary ip version: 4" in info and "default instance allocator parameters: \n" in info
    cluster.ok("gnt-cluster", "modify", "--default-iallocator-params", "max-cpu=2,-ignore-soft-errors")
    assert "default instance allocator parameters: -ignore-soft-errors, max-cpu=2" in cluster.ok("gnt-cluster", "info")
    cluster.ok(*ADD_DISKLESS, "-B", "memory=32M", "-I", recorder.name, "ip-a")
    assert cluster.instance_field("ip-a", "pnode") == "node3"
    assert (tmp_path / "argv").read_text().split() == ["--max-cpu=2", "--ignore-soft-errors"]
    bad = cluster.run("gnt-cluster", "modify", "--default-iallocator-params", "x=a\tb,--y=1")
    assert bad.rc == 1 and len(bad.err.strip().splitlines()) == 1 and "invalid allocator parameter name" in bad.err
