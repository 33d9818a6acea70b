"""The master calls a node only when the node presents the certificate the cluster lists for it.

TLS proves only that the node's certificate chains to the cluster CA, which every node's (and a stolen
or renewed-away one) does; the digest list of the node's config entry (Target.cert_digests) decides.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent import httpserver
from agent.server import node_dispatcher
from gnt import certs, node_certs
from gnt.rpc import procedures as proc
from gnt.rpc.client import RpcClient, Target
from gnt.rpc.https import HttpsTransport

CA = certs.generate_pem("cluster.example.com")


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "node2"
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node2")
    (root / "var/lib/gnt").mkdir(parents=True)
    certs.write_pem(str(root / "var/lib/gnt/server.pem"), node_certs.issue(CA, "node2"))
    master = node_certs.issue(CA, "node1")
    certs.write_pem(str(tmp_path / "master.pem"), master)
    (root / "var/lib/gnt/ssconf_node_certs").write_text(f"{node_certs.digest(master)} candidate\n")
    return root


def _serve_and_call(node: Path, steps: list[Any]) -> list[Any]:
    """Run the node's daemon (reloading its certificate per handshake) and, in order, each step:
    a tuple of digests to call `version` expecting them, or a callable run between calls."""

    async def scenario() -> list[Any]:
        server = httpserver.Server()
        reloading = certs.ReloadingContext(str(node / "var/lib/gnt/server.pem"))
        await server.start(node_dispatcher().http, "127.0.0.1", 0, reloading.context)
        assert server.server is not None
        transport = HttpsTransport(str(node.parent / "master.pem"), server.server.sockets[0].getsockname()[1])
        rpc = RpcClient(transport)
        results = []
        try:
            for step in steps:
                if callable(step):
                    step()
                    continue
                target = Target("node2", "127.0.0.1", cert_digests=step)
                results.append(await rpc.call(target, proc.VERSION, proc.NoArgs()))
            return results
        finally:
            await transport.close()
            await server.close()

    return asyncio.run(scenario())


def _own(node: Path) -> str:
    return node_certs.digest((node / "var/lib/gnt/server.pem").read_bytes())


def test_a_node_presenting_another_ca_signed_certificate_is_not_called(node: Path) -> None:
    stolen = node_certs.digest(node_certs.issue(CA, "node2"))  # what the cluster lists; the node shows another
    (result,) = _serve_and_call(node, [(stolen,)])
    assert result.failed
    assert "presents a certificate the cluster does not list for it" in str(result.error)
    assert "gnt-node add --readd node2" in str(result.error)


def test_the_listed_certificate_is_called_and_an_empty_list_checks_nothing(node: Path) -> None:
    listed, unlisted = _serve_and_call(node, [(_own(node),), ()])
    assert listed.payload["node"] == "node2" and unlisted.payload["node"] == "node2"


def test_a_renewal_switches_pooled_connections_without_a_failed_call(node: Path) -> None:
    old = _own(node)
    new_pem = node_certs.issue(CA, "node2")
    new = node_certs.digest(new_pem)

    def install() -> None:
        certs.write_pem(str(node / "var/lib/gnt/server.pem"), new_pem)

    # the roll: both listed, the node switches, then only the new one: the pooled connection made with
    # the old certificate is dropped and a new one made, rather than the call failing
    results = _serve_and_call(node, [(old, new), install, (old, new), (new,), (new,)])
    assert [r.error for r in results] == [None, None, None, None]
    stale = _serve_and_call(node, [(old,)])
    assert stale[0].failed and "does not list" in str(stale[0].error)


def test_nothing_reaches_a_node_presenting_an_unlisted_certificate(node: Path) -> None:
    """The check runs before the request is written: a request may carry a key pair (crypto_install)."""

    async def scenario() -> Any:
        server = httpserver.Server()
        await server.start(
            node_dispatcher().http, "127.0.0.1", 0, certs.server_context(str(node / "var/lib/gnt/server.pem"))
        )
        assert server.server is not None
        transport = HttpsTransport(str(node.parent / "master.pem"), server.server.sockets[0].getsockname()[1])
        try:
            target = Target("node2", "127.0.0.1", cert_digests=("00" * 32,))
            args = proc.SsconfWriteArgs({"cluster_name": "other.example.com"})
            return await RpcClient(transport).call(target, proc.SSCONF_WRITE, args)
        finally:
            await transport.close()
            await server.close()

    result = asyncio.run(scenario())
    assert result.failed and "does not list" in str(result.error)
    assert not (node / "var/lib/gnt/ssconf_cluster_name").exists()


class _CountingRelay:
    """A TCP relay in front of the node daemon that counts the connections (TLS handshakes) the master opens."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def _relayed(node: Path, calls: Any) -> tuple[Any, int]:
    """Serve the node behind a counting relay and run `calls(rpc)`: (its result, connections the master made)."""
    server = httpserver.Server()
    reloading = certs.ReloadingContext(str(node / "var/lib/gnt/server.pem"))
    await server.start(node_dispatcher().http, "127.0.0.1", 0, reloading.context)
    assert server.server is not None
    relay = _CountingRelay(server.server.sockets[0].getsockname()[1])
    transport = HttpsTransport(str(node.parent / "master.pem"), await relay.start())
    try:
        return await calls(RpcClient(transport)), relay.accepted
    finally:
        await transport.close()
        await relay.close()
        await server.close()


def test_a_pooled_connection_whose_certificate_the_list_no_longer_names_carries_nothing(node: Path) -> None:
    """The pin is checked per request on the connection it goes out on, not only when a connection is made:
    a connection pooled while the node's certificate was listed must not carry a request once it is not."""
    listed = _own(node)
    other = node_certs.digest(node_certs.issue(CA, "node2"))

    async def calls(rpc: RpcClient) -> list[Any]:
        first = await rpc.call(Target("node2", "127.0.0.1", cert_digests=(listed,)), proc.VERSION, proc.NoArgs())
        args = proc.SsconfWriteArgs({"cluster_name": "other.example.com"})
        second = await rpc.call(Target("node2", "127.0.0.1", cert_digests=(other,)), proc.SSCONF_WRITE, args)
        return [first, second]

    (first, second), connections = asyncio.run(_relayed(node, calls))
    assert first.error is None
    assert second.failed and "does not list" in str(second.error)
    assert not (node / "var/lib/gnt/ssconf_cluster_name").exists()
    assert connections == 2  # the pooled one was dropped, and one fresh handshake showed the same certificate


def test_a_node_presenting_an_unlisted_certificate_costs_one_handshake_per_call(node: Path) -> None:
    """A fresh connection showing an unlisted certificate ends the call: another would show the same one."""
    stolen = node_certs.digest(node_certs.issue(CA, "node2"))

    async def calls(rpc: RpcClient) -> Any:
        return await rpc.call(Target("node2", "127.0.0.1", cert_digests=(stolen,)), proc.VERSION, proc.NoArgs())

    result, connections = asyncio.run(_relayed(node, calls))
    assert result.failed and "does not list" in str(result.error)
    assert connections == 1


def test_a_renewal_moves_calls_to_a_connection_presenting_the_new_certificate(node: Path) -> None:
    """The pooled connection made with the old certificate is dropped at the first call listing only the new one."""
    old = _own(node)
    new_pem = node_certs.issue(CA, "node2")
    new = node_certs.digest(new_pem)

    async def calls(rpc: RpcClient) -> list[Any]:
        results = [await rpc.call(Target("node2", "127.0.0.1", cert_digests=(old, new)), proc.VERSION, proc.NoArgs())]
        certs.write_pem(str(node / "var/lib/gnt/server.pem"), new_pem)
        for _ in range(3):
            results.append(
                await rpc.call(Target("node2", "127.0.0.1", cert_digests=(new,)), proc.VERSION, proc.NoArgs())
            )
        return results

    results, connections = asyncio.run(_relayed(node, calls))
    assert [r.error for r in results] == [None] * 4
    assert connections == 2  # one per certificate: the new connection is pooled and reused from then on
