"""`gnt-node evacuate --ignore-soft-errors` (OP_NODE_EVACUATE.ignore_soft_errors): a move the allocator
refuses only for a soft constraint (here an exclusion tag, htools:iextags:) is planned with the flag,
as hail's --ignore-soft-errors plans it."""

from __future__ import annotations

from typing import Any

import pytest

from gnt.instance.migrate import LUNodeEvacuate
from gnt.opcodes import OpNodeEvacuate
from tests.unit.lu.conftest import Harness
from tests.unit.lu.test_instance_multi_alloc import _full_node_info


@pytest.fixture
def tagged(harness: Harness) -> Harness:
    """web1 on node1 and web2 on node2 share the exclusion tag svc:web; node2 is the only target."""
    harness.cfg.cluster.tags = ["htools:iextags:svc"]
    harness.add_instance("web1", "node1", template="sharedfile", tags=["svc:web"])
    harness.add_instance("web2", "node2", template="sharedfile", tags=["svc:web"])
    _full_node_info(harness)
    return harness


def test_without_the_flag_the_tag_clash_keeps_the_instance_and_submits_nothing(tagged: Harness) -> None:
    result = tagged.run(OpNodeEvacuate(node_name="node1", iallocator="hail"), LUNodeEvacuate)
    assert result == {"jobs": []} and tagged.queue.jobs == []
    assert tagged.log == [" - WARNING: Instance web1 cannot be moved: no valid move for instance web1"]


def test_with_the_flag_the_move_is_planned_and_submitted(tagged: Harness) -> None:
    op = OpNodeEvacuate(node_name="node1", iallocator="hail", ignore_soft_errors=True)
    tagged.run(op, LUNodeEvacuate)
    assert [(j[0]["OP_ID"], j[0]["instance_name"], j[0].get("target_node")) for j in tagged.queue.jobs] == [
        ("OP_INSTANCE_MIGRATE", "web1", "node2")
    ]


def test_the_flag_goes_to_an_external_allocator_on_its_command_line(
    tagged: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnt.instance import placement

    seen: list[list[str]] = []

    async def external(path: str, request: dict[str, Any], arguments: list[str] | None = None) -> dict[str, Any]:
        seen.append(list(arguments or []))
        return {"success": True, "info": "", "result": [[], [], []]}

    monkeypatch.setattr(placement, "_external", external)
    for flag in (False, True):
        tagged.run(OpNodeEvacuate(node_name="node1", iallocator="my-alloc", ignore_soft_errors=flag), LUNodeEvacuate)
    assert seen == [[], ["--ignore-soft-errors"]]
