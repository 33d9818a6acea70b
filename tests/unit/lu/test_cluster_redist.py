"""OP_CLUSTER_REDIST_CONF: the config to master candidates, ssconf to every node."""

from __future__ import annotations

from gnt.cluster.redist import LUClusterRedistConf
from gnt.errors import RpcError
from gnt.opcodes import OpClusterRedistConf
from tests.unit.lu.conftest import Harness


def test_redistribute_config_resyncs_candidates_and_rewrites_ssconf(harness: Harness) -> None:
    """OP_CLUSTER_REDIST_CONF (PUT /2/redistribute-config): candidates other than the master get the
    whole config, every online node the ssconf files; a node that fails is a warning."""
    harness.cfg.node("node2").master_candidate = True
    harness.nodes["node1"].fail["ssconf_write"] = RpcError("disk full")
    harness.run(OpClusterRedistConf(), LUClusterRedistConf)
    assert [name for name, _ in harness.nodes["node2"].calls].count("config_replace") == 1
    assert "config_replace" not in harness.nodes["node1"].names()  # the master holds the config
    assert harness.nodes["node2"].ssconf["master_node"] == "node1"
    assert any("could not write ssconf on node1" in line for line in harness.log)
