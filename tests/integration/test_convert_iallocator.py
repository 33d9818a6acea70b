"""`gnt-instance modify -t drbd -I` on a real virtual cluster: the refusals, from the CLI and RAPI
alike (the conversion itself needs LVM and DRBD: the test bed's; its allocator part is in
tests/unit/lu/test_instance_convert_iallocator.py)."""

from __future__ import annotations

from tests.integration.test_rapi import ADMIN, Rapi, rapi  # noqa: F401 - the fixture
from tests.integration.vcluster import ADD_INSTANCE, VCluster


def test_n_and_i_together_are_refused_before_any_job_by_the_cli_and_rapi(cluster: VCluster, rapi: Rapi) -> None:  # noqa: F811
    cluster.ok(*ADD_INSTANCE, "-t", "diskless", "--no-start", "-n", "node1", "conv-i")
    try:
        jobs_before = cluster.ok("gnt-job", "list", "--no-headers")
        result = cluster.run("gnt-instance", "modify", "-t", "drbd", "-n", "node2", "-I", "hail", "conv-i")
        assert result.rc == 1
        (line,) = result.err.strip().splitlines()
        assert "Do not specify both, iallocator and node" in line
        body = {"disk_template": "drbd", "remote_node": "node2", "iallocator": "hail"}
        status, answer = rapi.call("PUT", "/2/instances/conv-i/modify", body, user=ADMIN)
        assert status == 400 and "Do not specify both, iallocator and node" in answer["explain"]
        assert cluster.ok("gnt-job", "list", "--no-headers") == jobs_before

        result = cluster.run("gnt-instance", "modify", "-t", "drbd", "-I", "hail", "conv-i")
        assert result.rc == 1 and "Unsupported disk template conversion from diskless to drbd" in result.err
        assert cluster.instance_field("conv-i", "disk_template") == "diskless"
    finally:
        cluster.ok("gnt-instance", "remove", "-f", "conv-i")
