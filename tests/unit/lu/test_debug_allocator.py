"""LUTestAllocator (gnt-debug iallocator): Ganeti's request built from the opcode, shown or answered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gnt.debug.iallocator import LUTestAllocator
from gnt.debug.opcodes import OpTestAllocator
from gnt.errors import ECODE_EXISTS, ECODE_INVAL, OpPrereqError
from tests.unit.lu.conftest import Harness


@pytest.fixture(autouse=True)
def _full_node_info(harness: Harness) -> None:
    """The node doubles answer node_info with the facts the allocator's model reads (dom0 memory too)."""
    for node in harness.nodes.values():
        plain = node.do_node_info

        def node_info(args: Any, plain: Any = plain) -> dict[str, Any]:
            info = plain(args)
            for hv in info["hv"].values():
                hv.setdefault("memory_dom0", 512)
            return info

        node.do_node_info = node_info  # type: ignore[method-assign]


def _op(**kw: object) -> OpTestAllocator:
    base = {"direction": "in", "mode": "allocate", "name": "new1", "disk_template": "file", "memory": 256}
    return OpTestAllocator(**{**base, "disks": [{"size": 1024, "mode": "rw"}], **kw})  # type: ignore[arg-type]


def test_dir_in_shows_the_request_over_the_cluster(harness: Harness) -> None:
    data = json.loads(harness.run(_op(tags=["a"]), LUTestAllocator))
    assert data["version"] == 2 and sorted(data["nodes"]) == ["node1", "node2"]
    req = data["request"]
    assert (req["type"], req["name"], req["memory"], req["required_nodes"]) == ("allocate", "new1", 256, 1)
    assert req["disks"] == [{"size": 1024, "mode": "rw"}] and req["disk_space_total"] == 1024
    assert req["tags"] == ["a"] and req["hypervisor"] == harness.cfg.cluster.default_hypervisor


def test_dir_out_runs_the_builtin_allocator(harness: Harness) -> None:
    answer = json.loads(harness.run(_op(direction="out", iallocator="hail"), LUTestAllocator))
    assert answer["success"] is True and answer["result"][0] in ("node1", "node2")


def test_multi_allocate_names_count_instances(harness: Harness) -> None:
    data = json.loads(harness.run(_op(mode="multi-allocate", count=3), LUTestAllocator))
    assert [r["name"] for r in data["request"]["instances"]] == ["new10", "new11", "new12"]


def test_node_evacuate_and_relocate_requests(harness: Harness) -> None:
    harness.add_instance("inst1", "node2")
    data = json.loads(
        harness.run(_op(mode="node-evacuate", instances=["inst1"], evac_mode="primary-only"), LUTestAllocator)
    )
    assert data["request"] == {"type": "node-evacuate", "instances": ["inst1"], "evac_mode": "primary-only"}
    data = json.loads(harness.run(_op(mode="relocate", name="inst1"), LUTestAllocator))
    assert data["request"]["type"] == "relocate" and data["request"]["relocate_from"] == []


@pytest.mark.parametrize(
    ("kw", "message", "code"),
    [
        ({"name": "inst1"}, "Instance 'inst1' already in the cluster", ECODE_EXISTS),
        ({"direction": "out"}, "Missing allocator name", ECODE_INVAL),
        ({"disks": [{"size": "big", "mode": "rw"}]}, "Invalid contents of the 'disks' parameter", ECODE_INVAL),
        ({"mode": "change-group"}, "Missing instances", ECODE_INVAL),
        ({"direction": "out", "iallocator": "/bin/sh"}, "Unknown iallocator '/bin/sh'", ECODE_INVAL),
    ],
)
def test_refusals(harness: Harness, kw: dict, message: str, code: str) -> None:
    harness.add_instance("inst1", "node2")
    with pytest.raises(OpPrereqError, match=message) as err:
        harness.run(_op(**kw), LUTestAllocator)
    assert err.value.code == code


def test_relocate_of_unknown_instance(harness: Harness) -> None:
    with pytest.raises(OpPrereqError, match="not known"):
        harness.run(_op(mode="relocate", name="ghost"), LUTestAllocator)
