"""OP_INSTANCE_MULTI_ALLOC on the in-process transport: one placement, one create job per instance."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gnt.errors import ECODE_EXISTS, ECODE_INVAL, OpPrereqError
from gnt.instance import placement
from gnt.instance.multi_alloc import LUInstanceMultiAlloc
from gnt.instance.multi_opcodes import OpInstanceMultiAlloc
from gnt.opcodes import from_dict
from tests.unit.lu.conftest import Harness


def _body(name: str, **kw: Any) -> dict[str, Any]:
    return {"instance_name": name, "disk_template": "diskless", "os_type": "noop", "beparams": {"memory": 128}, **kw}


def _fake_allocator(monkeypatch: pytest.MonkeyPatch, answer: Any) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = []

    async def run_iallocator(lu: Any, name: str | None, request: dict[str, Any]) -> Any:
        requests.append(request)
        return answer

    monkeypatch.setattr(placement, "run_iallocator", run_iallocator)
    return requests


def _full_node_info(harness: Harness) -> None:
    """The node doubles answer node_info with the facts the allocator's model reads (dom0 memory too)."""
    for node in harness.nodes.values():
        plain = node.do_node_info

        def node_info(args: Any, plain: Any = plain) -> dict[str, Any]:
            info = plain(args)
            for hv in info["hv"].values():
                hv["memory_dom0"] = 512
            return info

        node.do_node_info = node_info  # type: ignore[method-assign]


def test_allocator_places_the_batch_and_one_create_job_per_instance(harness: Harness) -> None:
    _full_node_info(harness)
    op = OpInstanceMultiAlloc(instances=[_body("a1"), _body("a2")], iallocator="hail")
    result = harness.run(op, LUInstanceMultiAlloc)
    assert result["allocatable"] == ["a1", "a2"] and result["failed"] == []
    assert result["jobs"] == [[True, 100], [True, 101]]
    creates = [job[0] for job in harness.queue.jobs]
    assert [c["instance_name"] for c in creates] == ["a1", "a2"]
    for create in creates:
        assert create["OP_ID"] == "OP_INSTANCE_CREATE" and create["iallocator"] is None
        assert create["pnode"] in ("node1", "node2", "node3") and create["snode"] is None
        from_dict(create)  # every submitted job is a valid opcode


def test_one_request_for_the_batch_and_failed_ones_get_no_job(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = _fake_allocator(monkeypatch, [[["a2", ["node2"]]], ["a1"]])
    op = OpInstanceMultiAlloc(instances=[_body("a1", beparams={"memory": "1G", "vcpus": 2}), _body("a2")])
    result = harness.run(op, LUInstanceMultiAlloc)
    (request,) = requests
    assert request["type"] == "multi-allocate" and [i["name"] for i in request["instances"]] == ["a1", "a2"]
    assert (request["instances"][0]["memory"], request["instances"][0]["vcpus"]) == (1024, 2)
    assert result == {"allocatable": ["a2"], "failed": ["a1"], "jobs": [[True, 100]]}
    assert harness.queue.jobs[0][0]["pnode"] == "node2"


def test_nodes_given_on_every_instance_skip_the_allocator(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = _fake_allocator(monkeypatch, None)
    op = OpInstanceMultiAlloc(instances=[_body("a1", pnode="node1"), _body("a2", pnode="node2")])
    result = harness.run(op, LUInstanceMultiAlloc)
    assert not requests and result["allocatable"] == ["a1", "a2"]
    assert [job[0]["pnode"] for job in harness.queue.jobs] == ["node1", "node2"]


def test_dry_run_result_places_without_jobs(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_allocator(monkeypatch, [[["a1", ["node1"]]], []])
    lu = LUInstanceMultiAlloc(OpInstanceMultiAlloc(instances=[_body("a1")], dry_run=True), harness.ctx, print)
    lu.check_arguments()
    asyncio.run(lu.check_prereq())
    assert lu.dry_run_result() == {"allocatable": ["a1"], "failed": [], "jobs": []}
    assert harness.queue.jobs == []


@pytest.mark.parametrize(
    ("instances", "extra", "message"),
    [
        ([_body("a1"), _body("a1")], {}, "There are duplicate instance names: a1"),
        ([_body("a1", pnode="node1"), _body("a2")], {}, "providing pnode/snode while others do not"),
        ([_body("a1", iallocator="hail")], {}, "iallocator are not allowed to be set on instance objects"),
        ([_body("a1", pnode="node1")], {"iallocator": "hail"}, "mutually exclusive"),
        ([_body("a1", bogus=1)], {}, "Instance 0: Parameter 'bogus' is not valid for OP_INSTANCE_CREATE"),
        ([{"disk_template": "diskless"}], {}, "Instance 0: Required parameter"),
        ([_body("a1", OP_ID="OP_INSTANCE_REMOVE")], {}, "only OP_INSTANCE_CREATE"),
        ([], {}, "No instances given to allocate"),
    ],
)
def test_bad_batches_are_refused_before_any_placement(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, instances: list[Any], extra: dict[str, Any], message: str
) -> None:
    requests = _fake_allocator(monkeypatch, None)
    with pytest.raises(OpPrereqError, match=message) as err:
        LUInstanceMultiAlloc.check_opcode(OpInstanceMultiAlloc(instances=instances, **extra))
    assert err.value.args[1] == ECODE_INVAL and not requests and harness.queue.jobs == []


def test_an_existing_name_refuses_the_batch(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.add_instance("a1", "node1", up=False)
    requests = _fake_allocator(monkeypatch, None)
    with pytest.raises(OpPrereqError, match="Instance 'a1' is already in the cluster") as err:
        harness.run(OpInstanceMultiAlloc(instances=[_body("a2"), _body("a1")]), LUInstanceMultiAlloc)
    assert err.value.args[1] == ECODE_EXISTS and not requests and harness.queue.jobs == []


@pytest.mark.parametrize("instances", [[1], "x", [{}] * 1001])
def test_the_opcode_refuses_malformed_instance_lists(instances: Any) -> None:
    with pytest.raises(OpPrereqError):
        from_dict({"OP_ID": "OP_INSTANCE_MULTI_ALLOC", "instances": instances})
