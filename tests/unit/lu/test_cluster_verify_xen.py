"""gnt-cluster verify warns when a hypervisor's version differs between nodes (Ganeti issue #1053)."""

from __future__ import annotations

from gnt import PROTOCOL_VERSION
from gnt.cluster.logic import LUClusterVerify
from gnt.opcodes import OpClusterVerify
from tests.unit.lu.conftest import Harness


def _verify(harness: Harness, versions: dict[str, str]) -> list[str]:
    for name, version in versions.items():
        facts = {
            "version": PROTOCOL_VERSION,
            "hypervisors": {"xen-pvm": {"problems": [], "instances": {}, "version": version}},
            "disk_files": [],
            "ssconf": {},
        }
        harness.nodes[name].do_node_verify = lambda args, facts=facts: facts  # type: ignore[attr-defined]
    harness.run(OpClusterVerify(), LUClusterVerify)
    return [line.strip() for line in harness.log if "versions differ" in line]


def test_different_xen_versions_are_a_warning(harness: Harness) -> None:
    lines = _verify(harness, {"node1": "4.17.7", "node2": "4.17.5"})
    assert lines == [
        "- WARNING: hypervisor xen-pvm: versions differ between nodes (node1 4.17.7, node2 4.17.5); migrations may fail"
    ]


def test_same_or_unknown_versions_say_nothing(harness: Harness) -> None:
    assert _verify(harness, {"node1": "4.17.7", "node2": "4.17.7"}) == []
    harness.log.clear()
    assert _verify(harness, {"node1": "4.17.7", "node2": ""}) == []
