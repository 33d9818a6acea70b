"""The procedure table, the typed client derived from it, and the transports behind it."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

import pytest

from agent.server import node_dispatcher
from gnt.errors import OpExecError, RpcArgumentError
from gnt.rpc import procedures as proc
from gnt.rpc import records
from gnt.rpc.client import RpcClient, Target
from gnt.rpc.procedures import TABLE, Timeout
from gnt.rpc.transport import InProcessTransport, RecordingTransport, RpcResult

NODE1, NODE2 = Target("node1", "192.0.2.1"), Target("node2", "192.0.2.2")


def test_every_declared_procedure_has_a_record_the_decoder_understands() -> None:
    for name, decl in TABLE.items():
        assert decl.name == name
        assert dataclasses.is_dataclass(decl.args)
        assert isinstance(decl.timeout, Timeout)
        records._converter(decl.args)  # raises TypeError for a field type the node could not check
        names = {f.name for f in dataclasses.fields(decl.args)}
        assert set(decl.paths) <= names and {f for f, _ in decl.names} <= names
        assert callable(getattr(RpcClient, name))


def test_the_typed_client_sends_the_declared_name_record_and_timeout_class() -> None:
    transport = RecordingTransport(script={"instance_info": None})
    rpc = RpcClient(transport)
    asyncio.run(rpc.instance_info(NODE1, proc.InstanceQueryArgs("inst1", "fake")))
    (call,) = transport.calls
    assert (call.node, call.procedure, call.args) == ("node1", "instance_info", proc.InstanceQueryArgs("inst1", "fake"))
    assert call.timeout == Timeout.FAST.value


def test_node_info_waits_as_long_as_a_node_running_its_hypervisor_tools_needs() -> None:
    """node_info runs `xl info`/`xl list` and LVM on the node: on a loaded Xen dom0 that passed
    URGENT's 10 s and every instance add failed in the allocator's node_info call."""
    transport = RecordingTransport(script={"node_info": {}})
    asyncio.run(RpcClient(transport).node_info(NODE1, proc.NodeInfoArgs(["xen-pvm"], vg_names=["xenvg"])))
    (call,) = transport.calls
    assert call.procedure == "node_info" and call.timeout == Timeout.FAST.value


def test_a_procedure_that_waits_on_purpose_extends_its_timeout_by_that_argument() -> None:
    assert proc.INSTANCE_SHUTDOWN.timeout_for(proc.InstanceShutdownArgs(_spec(), timeout=300)) == 330
    assert proc.TEST_DELAY.timeout_for(proc.TestDelayArgs(5)) == Timeout.URGENT.value + 5


def test_the_wrong_record_for_a_procedure_is_a_programming_error() -> None:
    rpc = RpcClient(RecordingTransport())
    with pytest.raises(TypeError, match="instance_start takes a InstanceStartArgs"):
        asyncio.run(rpc.instance_start(NODE1, proc.InstanceArgs(_spec())))


def test_a_record_the_node_would_refuse_is_refused_by_the_recording_transport_too() -> None:
    rpc = RpcClient(RecordingTransport())
    result = asyncio.run(rpc.os_validate(NODE1, proc.OsValidateArgs(7)))  # type: ignore[arg-type]
    assert result.failed and isinstance(result.error, RpcArgumentError)


def test_call_many_fans_out_in_parallel() -> None:
    """Each node's answer waits until every node was asked: sequential calls would never finish."""
    arrived: list[str] = []
    everyone = asyncio.Event()

    class Barrier:
        async def call(self, target: Target, procedure: str, payload: dict[str, Any], timeout: float) -> RpcResult:
            arrived.append(target.name)
            if len(arrived) == 3:
                everyone.set()
            await everyone.wait()
            return RpcResult(target.name, payload=procedure)

        async def close(self) -> None:
            return None

    async def scenario() -> dict[str, RpcResult]:
        targets = [Target(f"node{i}", "x") for i in range(3)]
        return await asyncio.wait_for(RpcClient(Barrier()).call_many(targets, proc.VERSION, proc.NoArgs()), 30)

    results = asyncio.run(scenario())
    assert sorted(results) == ["node0", "node1", "node2"]
    assert all(r.payload == "version" for r in results.values())


def test_a_dead_or_offline_node_is_an_error_result_not_an_exception() -> None:
    rpc = RpcClient(InProcessTransport({"node1": node_dispatcher().answer}))
    offline = Target("node3", "x", offline=True)
    results = asyncio.run(rpc.call_many([NODE1, NODE2, offline], proc.VERSION, proc.NoArgs()))
    assert not results["node1"].failed
    assert results["node2"].failed and "no daemon" in results["node2"].error.message  # type: ignore[union-attr]
    assert "marked offline" in results["node3"].error.message  # type: ignore[union-attr]


def test_in_process_transport_carries_typed_errors_back() -> None:
    rpc = RpcClient(InProcessTransport({"node1": node_dispatcher().answer}))
    result = asyncio.run(rpc.os_validate(NODE1, proc.OsValidateArgs("../etc")))
    with pytest.raises(RpcArgumentError, match="os_validate on node node1: Invalid OS name"):
        result.get("os_validate")


def test_recording_transport_answers_from_its_script() -> None:
    transport = RecordingTransport(script={"version": {"node": "x"}, "node_leave": OpExecError("busy")})
    rpc = RpcClient(transport)
    assert asyncio.run(rpc.version(NODE1)).payload == {"node": "x"}
    left = asyncio.run(rpc.node_leave(NODE1))
    assert isinstance(left.error, OpExecError) and transport.names() == ["version", "node_leave"]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(RpcArgumentError, match="not a finite number"):
        records.decode(proc.TestDelayArgs, {"duration": value})


def test_integers_beyond_int64_and_booleans_as_integers_are_refused() -> None:
    with pytest.raises(RpcArgumentError, match="out of range"):
        records.decode(proc.ConfigReplaceArgs, {"serial": 2**64, "objects": {}})
    with pytest.raises(RpcArgumentError, match="expected an integer, got bool"):
        records.decode(proc.ConfigReplaceArgs, {"serial": True, "objects": {}})


def _spec() -> Any:
    from gnt.runtime import InstanceSpec

    return InstanceSpec(name="inst1", uuid="u1", hypervisor="fake", memory=32, vcpus=1)
