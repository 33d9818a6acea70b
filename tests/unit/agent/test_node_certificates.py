"""Per-node certificates over real mutual TLS: the CA admits a peer, the listed digests decide what it may call."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import pytest

from agent import callers, httpserver
from agent.server import node_dispatcher
from gnt import certs, node_certs
from gnt.rpc import procedures as proc
from gnt.rpc.client import RpcClient, Target
from gnt.rpc.https import HttpsTransport

CA = certs.generate_pem("cluster.example.com")
OTHER_CA = certs.generate_pem("other.example.com")


def _write(path: Path, pem: bytes) -> str:
    certs.write_pem(str(path), pem)
    return str(path)


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A node directory (node2) serving with its own CA-signed certificate."""
    root = tmp_path / "node2"
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    monkeypatch.setenv("GNT_HOSTNAME", "node2")
    (root / "var/lib/gnt").mkdir(parents=True)
    _write(root / "var/lib/gnt/server.pem", node_certs.issue(CA, "node2"))
    return root


def _list(root: Path, entries: list[tuple[bytes, str]]) -> None:
    text = node_certs.format_list([(node_certs.digest(pem), role) for pem, role in entries])
    (root / "var/lib/gnt/ssconf_node_certs").write_text(text)


def _calls(root: Path, client_pem: str, calls: list[tuple[proc.Procedure[Any], Any]]) -> list[Any]:
    """Each call made to the node's daemon over HTTPS, presenting `client_pem`."""

    async def scenario() -> list[Any]:
        server = httpserver.Server()
        ctx = certs.server_context(str(root / "var/lib/gnt/server.pem"))
        await server.start(node_dispatcher().http, "127.0.0.1", 0, ctx)
        assert server.server is not None
        transport = HttpsTransport(client_pem, server.server.sockets[0].getsockname()[1])
        rpc = RpcClient(transport)
        try:
            return [await rpc.call(Target("node2", "127.0.0.1"), p, a) for p, a in calls]
        finally:
            await transport.close()
            await server.close()

    return asyncio.run(scenario())


MASTER_ONLY = (proc.SSCONF_WRITE, proc.SsconfWriteArgs({"cluster_name": "evil.example.com"}))
VERSION = (proc.VERSION, proc.NoArgs())


def test_a_node_certificate_from_another_cluster_fails_the_handshake(node: Path, tmp_path: Path) -> None:
    master = node_certs.issue(CA, "node1")
    _list(node, [(master, node_certs.ROLE_CANDIDATE)])
    stranger = _write(tmp_path / "stranger.pem", node_certs.issue(OTHER_CA, "node1"))
    (result,) = _calls(node, stranger, [VERSION])
    assert result.failed and "TLS handshake" in str(result.error)


def test_a_plain_nodes_certificate_cannot_call_master_only_procedures(node: Path, tmp_path: Path) -> None:
    master, plain = node_certs.issue(CA, "node1"), node_certs.issue(CA, "node3")
    _list(node, [(master, node_certs.ROLE_CANDIDATE), (plain, node_certs.ROLE_NODE)])
    plain_path = _write(tmp_path / "plain.pem", plain)
    refused, version = _calls(node, plain_path, [MASTER_ONLY, VERSION])
    assert refused.failed and "only the master or a master candidate" in str(refused.error)
    assert not (node / "var/lib/gnt/ssconf_cluster_name").exists()  # nothing was written
    assert version.payload["node"] == "node2"  # a procedure any node may call still answers
    (written,) = _calls(node, _write(tmp_path / "master.pem", master), [MASTER_ONLY])
    assert not written.failed and (node / "var/lib/gnt/ssconf_cluster_name").read_text() == "evil.example.com"


def test_a_renewed_certificates_predecessor_is_refused_though_it_chains_to_the_ca(node: Path, tmp_path: Path) -> None:
    old, new = node_certs.issue(CA, "node1"), node_certs.issue(CA, "node1")
    _list(node, [(new, node_certs.ROLE_CANDIDATE)])  # what the master lists once node1's certificate is renewed
    (result,) = _calls(node, _write(tmp_path / "old.pem", old), [VERSION])
    assert result.failed and "not one of this cluster's node certificates" in str(result.error)
    (ok,) = _calls(node, _write(tmp_path / "new.pem", new), [VERSION])
    assert not ok.failed


def test_a_node_without_a_list_fails_safe_serving_only_any_node_procedures(node: Path, tmp_path: Path) -> None:
    # the list lost, or a node set up by hand without it: no CA-signed key may drive it, the master's neither
    caller = _write(tmp_path / "any.pem", node_certs.issue(CA, "node1"))
    ok, refused = _calls(node, caller, [VERSION, MASTER_ONLY])
    assert not ok.failed
    assert refused.failed and "holds no list of the cluster's node certificates" in str(refused.error)
    assert not (node / "var/lib/gnt/ssconf_cluster_name").exists()


def test_a_node_of_a_cluster_made_before_the_ca_serves_the_shared_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every node holds the one shared key there: no list could tell them apart (verify reports it)
    shared = certs.generate_pem("cluster.example.com")
    root = tmp_path / "node2"
    monkeypatch.setenv("GNT_ROOTDIR", str(root))
    _write(root / "var/lib/gnt/server.pem", shared)
    (written,) = _calls(root, _write(tmp_path / "shared.pem", shared), [MASTER_ONLY])
    assert not written.failed


def test_a_node_trusts_the_ca_not_its_own_certificate_alone() -> None:
    pem = node_certs.issue(CA, "node2")
    assert certs.trusted_part(pem) == certs.public_part(CA)
    assert certs.trusted_part(CA) == certs.public_part(CA)  # a cluster made before per-node certificates


def test_issued_certificates_are_distinct_signed_and_hold_no_ca_key() -> None:
    one, two = node_certs.issue(CA, "node1"), node_certs.issue(CA, "node1")
    assert node_certs.digest(one) != node_certs.digest(two)
    assert one.count(b"PRIVATE KEY-----") == 2  # BEGIN and END of the node's own key only
    certs.check_key_pair(one, "node1's key pair")
    facts = node_certs.inspect(one)
    assert facts.problems == [] and "CN=node1" in facts.subject


def test_inspect_names_an_expired_or_foreign_certificate() -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=node_certs.VALIDITY_DAYS + 1)
    assert any("expired" in p for p in node_certs.inspect(node_certs.issue(CA, "n"), later).problems)
    forged = node_certs.issue(OTHER_CA, "n")
    mixed = forged.split(b"-----BEGIN CERTIFICATE-----")
    bundle = mixed[0] + b"-----BEGIN CERTIFICATE-----" + mixed[1] + certs.public_part(CA)
    assert any("not signed" in p for p in node_certs.inspect(bundle).problems)


def test_the_list_keeps_a_candidate_listing_over_a_plain_one() -> None:
    text = node_certs.format_list([("aa", "node"), ("aa", "candidate"), ("bb", "node")]) + "\ngarbage\n"
    assert node_certs.parse_list(text) == {"aa": "candidate", "bb": "node"}


def test_callers_without_tls_are_not_checked() -> None:
    callers.check(proc.SSCONF_WRITE, None)  # the in-process transport of unit tests: no peer certificate
