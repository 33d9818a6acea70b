"""The node dispatcher checks every call against the procedure table before a handler runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agent.dispatcher import Dispatcher
from agent.handlers import HANDLERS
from agent.server import node_dispatcher
from gnt import certs
from gnt.confine import write_storage_paths
from gnt.rpc import procedures as proc
from gnt.rpc.client import RpcClient, Target
from gnt.rpc.procedures import TABLE


def answer(name: str, args: Any, dispatcher: Dispatcher | None = None) -> dict[str, Any]:
    return asyncio.run((dispatcher or node_dispatcher()).answer(name, args))


def error(name: str, args: Any) -> tuple[str, str]:
    body = answer(name, args)
    assert body["ok"] is False, body
    return body["error"]["class"], body["error"]["message"]


def test_the_node_serves_exactly_the_declared_procedures() -> None:
    node_dispatcher()  # imports agent.replica too
    assert set(HANDLERS) == set(TABLE)


def test_handlers_for_undeclared_procedures_are_refused_at_start() -> None:
    async def nothing(args: Any) -> None:
        return None

    with pytest.raises(ValueError, match="undeclared"):
        Dispatcher({"rm_rf": nothing})


def test_unknown_procedure_is_a_typed_error() -> None:
    assert error("rm_rf", {}) == ("RpcError", "Unknown RPC procedure 'rm_rf'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "test_delay: TestDelayArgs: missing field(s) duration"),
        ({"duration": 1, "extra": 2}, "test_delay: TestDelayArgs: unknown field(s) extra"),
        ({"duration": "1"}, "test_delay: duration: expected a number, got str"),
        ({"duration": True}, "test_delay: duration: expected a number, got bool"),
        ([1], "test_delay: arguments: expected a TestDelayArgs record, got list"),
    ],
)
def test_malformed_arguments_are_refused_with_the_field_named(args: Any, message: str) -> None:
    assert error("test_delay", args) == ("RpcArgumentError", message)


def test_nested_record_errors_name_the_path() -> None:
    spec = {"name": "i1", "uuid": "u", "hypervisor": "fake", "memory": 32, "vcpus": 1}
    spec["disks"] = [{"uuid": "d", "index": 0, "size": "big", "dev_type": "file"}]
    assert error("instance_start", {"instance": spec}) == (
        "RpcArgumentError",
        "instance_start: instance.disks[0].size: expected an integer, got str",
    )


def test_handlers_receive_the_typed_record() -> None:
    seen: list[Any] = []

    async def record(args: Any) -> str:
        seen.append(args)
        return "done"

    dispatcher = Dispatcher({"test_delay": record})
    assert answer("test_delay", {"duration": 2}, dispatcher) == {"ok": True, "result": "done"}
    assert seen == [proc.TestDelayArgs(2.0)]


def test_invalid_json_over_http_is_an_error_answer_not_a_trace() -> None:
    body = json.loads(asyncio.run(node_dispatcher().http("version", b"{not json")))
    assert body["ok"] is False and body["error"]["class"] == "RpcArgumentError"


def test_a_handler_crash_is_reported_not_raised() -> None:
    async def crash(args: Any) -> None:
        raise ZeroDivisionError("boom")

    body = answer("version", {}, Dispatcher({"version": crash}))
    assert body == {"ok": False, "error": {"class": "GntError", "message": "ZeroDivisionError: boom", "args": []}}


def test_confinement_holds_over_real_https_with_mutual_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same refusal through the production transport, as another node holding the certificate would see it."""
    from agent import httpserver
    from gnt.rpc.https import HttpsTransport

    root = tmp_path / "node1"
    write_storage_paths(str(root / "var/lib/gnt/file-storage-paths"), ["/srv/gnt/file-storage"])
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    pem = root / "var/lib/gnt/server.pem"  # the node's own: a shared (pre-CA) certificate, so no caller list
    certs.write_pem(str(pem), certs.generate_pem("cluster.example.com"))
    victim = root / "some/file"
    victim.parent.mkdir(parents=True)
    victim.write_text("precious")

    async def scenario() -> tuple[Any, Any]:
        server = httpserver.Server()
        await server.start(node_dispatcher().http, "127.0.0.1", 0, certs.server_context(str(pem)))
        assert server.server is not None
        port = server.server.sockets[0].getsockname()[1]
        transport = HttpsTransport(str(pem), port)
        target = Target("node1", "127.0.0.1")
        try:
            disk = {"uuid": "d", "index": 0, "size": 1, "dev_type": "file", "logical_id": ["loop", "/some/file"]}
            removed = await transport.call(target, "blockdev_remove", {"disk": disk}, 10)
            version = await RpcClient(transport).version(target)
        finally:
            await transport.close()
            await server.close()
        return removed, version

    removed, version = asyncio.run(scenario())
    assert removed.failed and type(removed.error).__name__ == "RpcArgumentError"
    assert victim.read_text() == "precious"
    assert version.payload["node"] == "node1"


MALFORMED: list[Any] = [[1], "x", 7, {"__bogus__": 1}, {"disks": "not a list", "__bogus__": None}]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_every_declared_procedure_refuses_malformed_arguments_before_its_handler(name: str) -> None:
    # The whole table, so a procedure added later is covered without a test of its own.
    called: list[Any] = []

    async def handler(args: Any) -> None:
        called.append(args)

    dispatcher = Dispatcher({name: handler})
    for args in MALFORMED:
        body = answer(name, args, dispatcher)
        assert body["ok"] is False and body["error"]["class"] == "RpcArgumentError", (name, args, body)
    assert called == []
