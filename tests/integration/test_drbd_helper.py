"""`gnt-cluster modify --drbd-usermode-helper` through the real CLI (drbd is not enabled on the
virtual cluster, so nothing is asked of the nodes; the node checks are in the LU tests)."""

from __future__ import annotations

from tests.integration.vcluster import VCluster


def _helper(cluster: VCluster) -> str:
    info = cluster.ok("gnt-cluster", "info")
    return next(line.split(":", 1)[1].strip() for line in info.splitlines() if "drbd usermode helper:" in line)


def test_the_helper_is_shown_changed_and_a_bad_one_refused(cluster: VCluster) -> None:
    assert _helper(cluster) == "/bin/true"
    try:
        cluster.ok("gnt-cluster", "modify", "--drbd-usermode-helper", "/usr/lib/drbd/notify.sh")
        assert _helper(cluster) == "/usr/lib/drbd/notify.sh"
        bad = cluster.run("gnt-cluster", "modify", "--drbd-usermode-helper", "notify.sh")
        assert bad.rc != 0 and "drbd usermode helper must be an absolute path" in bad.text, bad.text
        assert "Traceback" not in bad.text and _helper(cluster) == "/usr/lib/drbd/notify.sh"
    finally:
        cluster.ok("gnt-cluster", "modify", "--drbd-usermode-helper", "/bin/true")


def test_drbd_disk_parameters_are_set_and_bad_ones_refused(cluster: VCluster) -> None:
    cluster.ok("gnt-cluster", "modify", "-D", "drbd:resync-rate=1000")
    try:
        info = cluster.ok("gnt-cluster", "info")
        assert "resync-rate: 1000" in info, info
        for bad, message in (
            ("drbd:resync-rate=fast", "resync-rate must be an integer"),
            ("drbd:bogus=1", "unknown drbd disk parameter 'bogus'"),
            ("plain:stripes=2", "no disk parameters for disk template 'plain'"),
        ):
            result = cluster.run("gnt-cluster", "modify", "-D", bad)
            assert result.rc != 0 and message in result.text and "Traceback" not in result.text, result.text
    finally:
        cluster.ok("gnt-cluster", "modify", "-D", f"drbd:resync-rate={61440}")
