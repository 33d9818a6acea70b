"""Ganeti options from the command tables on a real virtual cluster: `gnt-cluster init -I -m
--node-parameters`, `modify -m --node-parameters`, `verify-disks -g`, `gnt-node add
--node-parameters`, `power --print-jobid`, `info --roman` and Ganeti's aliases (`gnt-cluster show`)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import make_cluster


def test_init_modify_and_node_add_options_reach_the_config(tmp_path: Path) -> None:
    vc = make_cluster(tmp_path / "vc", 2)
    vc.start()
    try:
        shared = f"--shared-file-storage-dir={vc.dir / 'shared-file-storage'}"
        bad = vc.run("gnt-cluster", "init", shared, "--node-parameters", "oob_program=relative", "cluster")
        assert bad.rc == 1 and bad.err.strip().splitlines() == [
            "Parameter Error: Invalid --node-parameters: oob_program must be a normalised absolute path, not 'relative'"
        ]
        assert not (vc.dir / "node1/var/lib/gnt/config.db").exists()

        vc.ok(
            "gnt-cluster",
            "init",
            shared,
            "-I",
            "hail",
            "-m",
            "aa:00:01",
            "--node-parameters",
            "spindle_count=2",
            "cluster",
        )
        info = vc.ok("gnt-cluster", "show")  # Ganeti's alias of info
        assert "mac prefix: aa:00:01" in info and "spindle_count: 2" in info
        assert "default instance allocator: hail" in info

        roman = vc.ok("gnt-cluster", "info", "--roman")
        assert "candidate pool size: X" in roman and "spindle_count: II" in roman

        vc.ok("gnt-cluster", "modify", "-m", "aa:00:02", "--node-parameters", "spindle_count=3")
        info = vc.ok("gnt-cluster", "info")
        assert "mac prefix: aa:00:02" in info and "spindle_count: 3" in info

        vc.ok("gnt-node", "add", "--node-parameters", "cpu_speed=2", "node2")
        assert "cpu_speed: 2" in vc.ok("gnt-node", "show", "node2")

        assert vc.run("gnt-cluster", "verify-disks", "-g", "default").rc == 0
        unknown = vc.run("gnt-cluster", "verify-disks", "-g", "rack9")
        assert unknown.rc == 1 and "Node group 'rack9' not known" in unknown.err

        status = vc.run("gnt-node", "power", "--print-jobid", "status", "node2")
        assert status.out.splitlines()[0].isdigit()  # the job id first, then the (unavailable) status
    finally:
        vc.stop()
