"""The cluster certificate roll: its phase table, the "any two nodes can talk" invariant at every step,
a failure midway (saved, resumed, finished) and the node side's file handling."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from agent import crypto as node_crypto
from gnt import certs
from gnt.cluster import cert_roll
from gnt.cluster.cert_roll import Phase, RollFailed, RollState
from gnt.errors import RpcArgumentError
from gnt.rpc import procedures as proc

OLD = certs.generate_pem("cluster.example.com")
NEW = certs.generate_pem("cluster.example.com")


class FakeNode:
    """What one node presents and trusts, as its two files would say."""

    def __init__(self) -> None:
        self.pem = OLD
        self.extra: list[bytes] = []

    def trusts(self, pem: bytes) -> bool:
        cert = certs.public_part(pem)
        return cert == certs.public_part(self.pem) or cert in self.extra


class FakeOps:
    """cert_roll.NodeOps on FakeNodes; after every step it checks that every pair of nodes still talks."""

    def __init__(self, names: list[str], failing: dict[Phase, set[str]] | None = None) -> None:
        self.nodes = {name: FakeNode() for name in names}
        self.failing = failing or {}
        self.phase_of_call: Phase | None = None
        self.broken_pairs: list[tuple[str, str]] = []

    def _check(self) -> None:
        for a, node_a in self.nodes.items():
            for b, node_b in self.nodes.items():
                if not (node_b.trusts(node_a.pem) and node_a.trusts(node_b.pem)):
                    self.broken_pairs.append((a, b))

    async def trust(self, node: str, trusted: list[bytes]) -> str | None:
        await asyncio.sleep(0)
        phase = Phase.DROP_OLD if not trusted else Phase.TRUST_NEW
        if node in self.failing.get(phase, set()):
            return f"Node {node}: connection refused"
        self.nodes[node].extra = list(trusted)
        self._check()
        return None

    async def install(self, node: str, pem: bytes, trusted: list[bytes]) -> str | None:
        await asyncio.sleep(0)
        if node in self.failing.get(Phase.SWITCH, set()):
            return f"Node {node}: connection refused"
        self.nodes[node].extra = list(trusted)
        self.nodes[node].pem = pem
        self._check()
        return None


def _fresh() -> RollState:
    return RollState(Phase.TRUST_NEW, NEW, certs.public_part(OLD))


def _run(state: RollState, ops: FakeOps, saved: list[Phase]) -> None:
    asyncio.run(cert_roll.run_roll(state, list(ops.nodes), ops, lambda s: saved.append(s.phase), lambda _: None))


@pytest.mark.parametrize(
    ("phase", "after"),
    [(Phase.TRUST_NEW, Phase.SWITCH), (Phase.SWITCH, Phase.DROP_OLD), (Phase.DROP_OLD, Phase.DONE)],
)
def test_the_phases_run_in_one_order(phase: Phase, after: Phase) -> None:
    assert cert_roll.next_phase(phase) == after


def test_done_has_no_next_phase() -> None:
    with pytest.raises(ValueError, match="no phase after"):
        cert_roll.next_phase(Phase.DONE)


def test_roll_keeps_every_pair_talking_and_refuses_the_old_certificate_at_the_end() -> None:
    ops = FakeOps(["node1", "node2", "node3"])
    saved: list[Phase] = []
    state = _fresh()
    _run(state, ops, saved)
    assert state.phase == Phase.DONE
    assert saved == [Phase.TRUST_NEW, Phase.SWITCH, Phase.DROP_OLD]
    assert ops.broken_pairs == []
    for node in ops.nodes.values():
        assert node.pem == NEW and node.extra == []
        assert not node.trusts(OLD)


def test_a_node_failing_midway_stops_the_roll_where_every_node_still_talks_and_the_next_run_finishes() -> None:
    ops = FakeOps(["node1", "node2", "node3"], failing={Phase.SWITCH: {"node3"}})
    saved: list[Phase] = []
    state = _fresh()
    with pytest.raises(RollFailed, match="stopped at phase 'switch': node.s. node3 failed") as caught:
        _run(state, ops, saved)
    assert caught.value.failures == {"node3": "Node node3: connection refused"}
    assert saved[-1] == Phase.SWITCH and state.phase == Phase.SWITCH
    assert ops.nodes["node3"].pem == OLD and ops.nodes["node1"].pem == NEW
    assert ops.broken_pairs == []  # a mixed cluster: everyone accepts both
    ops.failing = {}  # node3 repaired: the saved state resumes with the same new certificate
    _run(state, ops, saved)
    assert state.phase == Phase.DONE and ops.broken_pairs == []
    assert all(n.pem == NEW and not n.trusts(OLD) for n in ops.nodes.values())


def test_a_fresh_roll_over_a_stopped_one_keeps_trusting_what_nodes_still_present() -> None:
    ops = FakeOps(["node1", "node2"], failing={Phase.SWITCH: {"node2"}})
    first = _fresh()
    with pytest.raises(RollFailed):
        _run(first, ops, [])
    ops.failing = {}
    third = certs.generate_pem("cluster.example.com")
    # the master (node1, presenting NEW) starts over: it trusts OLD still, so both stay trusted
    second = RollState(Phase.TRUST_NEW, third, certs.public_part(NEW) + certs.public_part(OLD))
    _run(second, ops, [])
    assert ops.broken_pairs == []
    assert all(n.pem == third and not n.trusts(OLD) and not n.trusts(NEW) for n in ops.nodes.values())


def test_roll_state_is_saved_private_and_read_back(tmp_path: Path) -> None:
    path = str(tmp_path / "renew-crypto.json")
    state = RollState(Phase.SWITCH, NEW, certs.public_part(OLD))
    state.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert RollState.load(path) == state
    RollState.clear(path)
    assert RollState.load(path) is None


def test_an_unreadable_roll_state_means_no_roll(tmp_path: Path) -> None:
    path = tmp_path / "renew-crypto.json"
    path.write_text("{not json")
    assert RollState.load(str(path)) is None


# -- the node's side ------------------------------------------------------------------------


@pytest.fixture
def node_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    monkeypatch.setenv("GNT_HOSTNAME", "node1")
    data = tmp_path / "node1/var/lib/gnt"
    certs.write_pem(str(data / "server.pem"), OLD)
    return data


def test_node_trusts_then_installs_then_drops_with_private_files(node_dir: Path) -> None:
    asyncio.run(node_crypto.crypto_trust(proc.CryptoTrustArgs([certs.public_part(NEW).decode()])))
    trust = node_dir / "server-trust.pem"
    assert trust.read_bytes() == certs.public_part(NEW)
    assert stat.S_IMODE(trust.stat().st_mode) == 0o600
    fingerprint = asyncio.run(
        node_crypto.crypto_install(proc.CryptoInstallArgs(NEW.decode(), [certs.public_part(OLD).decode()]))
    )
    assert fingerprint == certs.fingerprint(NEW)
    assert (node_dir / "server.pem").read_bytes() == NEW and trust.read_bytes() == certs.public_part(OLD)
    assert stat.S_IMODE((node_dir / "server.pem").stat().st_mode) == 0o600
    ctx = certs.server_context(str(node_dir / "server.pem"))
    assert len(ctx.get_ca_certs()) == 2  # old and new, during the roll
    asyncio.run(node_crypto.crypto_trust(proc.CryptoTrustArgs([])))
    assert not trust.exists()
    assert len(certs.server_context(str(node_dir / "server.pem")).get_ca_certs()) == 1


def test_node_refuses_a_key_as_a_trusted_certificate(node_dir: Path) -> None:
    with pytest.raises(RpcArgumentError, match="holds a private key") as caught:
        asyncio.run(node_crypto.crypto_trust(proc.CryptoTrustArgs([NEW.decode()])))
    assert "BEGIN" not in str(caught.value)
    assert not (node_dir / "server-trust.pem").exists()


def test_node_refuses_a_key_pair_whose_key_is_not_the_certificates(node_dir: Path) -> None:
    key_of_new = NEW.split(b"-----BEGIN CERTIFICATE-----")[0]
    mismatched = key_of_new + certs.public_part(OLD)
    with pytest.raises(RpcArgumentError, match="does not belong") as caught:
        asyncio.run(node_crypto.crypto_install(proc.CryptoInstallArgs(mismatched.decode(), [])))
    assert "PRIVATE" not in str(caught.value)
    assert (node_dir / "server.pem").read_bytes() == OLD


def test_reloading_context_serves_the_replaced_files_from_the_next_handshake(tmp_path: Path) -> None:
    pem = str(tmp_path / "server.pem")
    certs.write_pem(pem, OLD)
    reloading = certs.ReloadingContext(pem)
    first = reloading.current()
    assert reloading.current() is first  # unchanged files: the same context
    certs.write_pem(pem, NEW)
    assert reloading.current() is not first


# -- real TLS: what OpenSSL accepts in each mixed state of the roll ---------------------------


def _node_files(tmp: Path, name: str, pem: bytes, trusted: list[bytes]) -> str:
    path = str(tmp / name / "server.pem")
    certs.write_pem(path, pem)
    if trusted:
        certs.write_pem(certs.trust_path(path), b"".join(certs.public_part(t) for t in trusted))
    return path


def _talks(client_pem: str, server_pem: str) -> bool:
    """A real mutual-TLS handshake between the two files' holders over a socket pair."""
    import socket
    import ssl
    import threading

    left, right = socket.socketpair()
    outcome: dict[str, bool] = {}

    def serve() -> None:
        try:
            with certs.server_context(server_pem).wrap_socket(right, server_side=True) as tls:
                tls.sendall(b"k")
            outcome["server"] = True
        except (ssl.SSLError, OSError):
            outcome["server"] = False

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with certs.client_context(client_pem).wrap_socket(left) as tls:
            outcome["client"] = tls.recv(1) == b"k"
    except (ssl.SSLError, OSError):
        outcome["client"] = False
    thread.join(10)
    left.close()
    right.close()
    return outcome.get("client", False) and outcome.get("server", False)


@pytest.mark.parametrize(
    ("a_presents", "a_trusts", "b_presents", "b_trusts", "talk"),
    [
        ("old", ["new"], "old", [], True),  # trust-new half done
        ("new", ["old"], "old", ["new"], True),  # switch half done
        ("new", [], "new", ["old"], True),  # drop-old half done
        ("new", [], "old", [], False),  # after the roll: the old certificate is refused
    ],
)
def test_real_handshakes_in_each_mixed_state(
    tmp_path: Path, a_presents: str, a_trusts: list[str], b_presents: str, b_trusts: list[str], talk: bool
) -> None:
    pems = {"old": OLD, "new": NEW}
    a = _node_files(tmp_path, "a", pems[a_presents], [pems[t] for t in a_trusts])
    b = _node_files(tmp_path, "b", pems[b_presents], [pems[t] for t in b_trusts])
    assert _talks(a, b) is talk
    assert _talks(b, a) is talk


def test_two_certificates_of_one_cluster_name_can_be_trusted_side_by_side(tmp_path: Path) -> None:
    """OpenSSL picks a trusted certificate by subject: each certificate needs a subject of its own."""
    first, second = certs.generate_pem("same.example.com"), certs.generate_pem("same.example.com")
    a = _node_files(tmp_path, "a", second, [first])  # trusts second (own, loaded first), then first
    b = _node_files(tmp_path, "b", first, [second])
    assert _talks(a, b) and _talks(b, a)


class PreparingOps(FakeOps):
    """Per-node certificates: issued and listed once, before any node presents one (prepare_switch)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        self.events: list[str] = []

    async def prepare_switch(self, names: list[str], ca_pem: bytes) -> None:
        assert ca_pem == NEW and all(n.pem == OLD for n in self.nodes.values())
        self.events.append("prepare " + ",".join(names))

    async def install(self, node: str, pem: bytes, trusted: list[bytes]) -> str | None:
        self.events.append(f"install {node}")
        return await super().install(node, pem, trusted)


def test_per_node_certificates_are_prepared_once_before_the_switch_and_an_async_save_is_awaited() -> None:
    ops = PreparingOps(["node1", "node2"])
    saved: list[Phase] = []

    async def save(state: RollState) -> None:
        await asyncio.sleep(0)
        saved.append(state.phase)

    state = _fresh()
    asyncio.run(cert_roll.run_roll(state, list(ops.nodes), ops, save, lambda _: None))
    assert ops.events[0] == "prepare node1,node2" and sorted(ops.events[1:]) == ["install node1", "install node2"]
    assert saved == [Phase.TRUST_NEW, Phase.SWITCH, Phase.DROP_OLD] and state.phase == Phase.DONE


def test_cli_names_nodes_only_with_new_node_certificates() -> None:
    from click.testing import CliRunner

    from gnt.cluster.crypto_cli import build_opcode, renew_crypto

    result = CliRunner().invoke(renew_crypto, ["-n", "node2", "-f"])
    assert result.exit_code != 0 and "--new-node-certificates" in result.output
    op = build_opcode({"new_node_certificates": True, "node": ("node2", "node3")})
    assert op["node_certificates"] is True and op["node_names"] == ["node2", "node3"]
