"""gnt-cluster verify's certificate (ECLUSTERCERT, ENODESSL) and master IP (ENODENET) findings."""

from __future__ import annotations

import datetime

from gnt import certs, node_certs
from gnt.cluster import verify_crypto
from gnt.objects import Node

CA = certs.generate_pem("cluster.example.com")


def _now() -> datetime.datetime:
    """Taken per test: a certificate issued after a module-level time would not be valid yet then."""
    return datetime.datetime.now(datetime.UTC)


MASTER, OTHER = Node(name="node1"), Node(name="node2")


def _codes(found: list[verify_crypto.Finding]) -> list[tuple[bool, str, str]]:
    return [(error, code, item) for error, code, _kind, item, _message in found]


def test_a_sound_master_has_no_certificate_findings() -> None:
    files = {"ca": CA, "node": node_certs.issue(CA, "node1")}
    assert verify_crypto.cluster_files("c", files, "", _now()) == []


def test_an_expired_or_missing_master_certificate_is_an_eclustercert_error() -> None:
    later = _now() + datetime.timedelta(days=node_certs.VALIDITY_DAYS + 2)
    found = verify_crypto.cluster_files("c", {"ca": CA, "node": node_certs.issue(CA, "node1")}, "", later)
    assert _codes(found) and all(c == (True, "ECLUSTERCERT", "c") for c in _codes(found))
    assert any("expired" in f[4] for f in found)
    missing = verify_crypto.cluster_files("c", {"ca": CA, "node": None}, "", _now())
    assert _codes(missing) == [(True, "ECLUSTERCERT", "c")] and "missing" in missing[0][4]


def test_a_certificate_near_its_end_is_a_warning_and_an_unfinished_roll_too() -> None:
    soon = _now() + datetime.timedelta(days=node_certs.VALIDITY_DAYS - 10)
    found = verify_crypto.cluster_files("c", {"ca": CA, "node": node_certs.issue(CA, "n")}, "switch", soon)
    assert {f[0] for f in found} == {False}
    assert any("expires on" in f[4] for f in found) and any("stopped at phase 'switch'" in f[4] for f in found)


def test_a_node_presenting_an_unlisted_or_foreign_certificate_is_an_enodessl_error() -> None:
    pem = node_certs.issue(CA, "node2")
    node = Node(name="node2", cert_digests=[node_certs.digest(pem)])
    assert verify_crypto.node_certificate(node, node_certs.inspect(pem).to_dict(), _now()) == []
    renewed_away = node_certs.issue(CA, "node2")
    found = verify_crypto.node_certificate(node, node_certs.inspect(renewed_away).to_dict(), _now())
    assert _codes(found) == [(True, "ENODESSL", "node2")] and "does not list" in found[0][4]
    assert _codes(verify_crypto.node_certificate(node, None, _now())) == [(True, "ENODESSL", "node2")]
    bad = {"digest": node.cert_digests[0], "not_after": 0.0, "problems": ["not signed by the cluster CA it names"]}
    assert _codes(verify_crypto.node_certificate(node, bad, _now())) == [(True, "ENODESSL", "node2")]


def _mip(present: bool | None) -> dict[str, object]:
    return {"address": "192.0.2.100", "netdev": "eth0", "present": present}


def test_the_master_ip_must_be_up_on_the_master() -> None:
    nodes = [MASTER, OTHER]
    assert verify_crypto.master_ip(nodes, {"node1": _mip(True), "node2": _mip(False)}, MASTER.uuid, False) == []
    down = verify_crypto.master_ip(nodes, {"node1": _mip(False), "node2": _mip(False)}, MASTER.uuid, False)
    assert _codes(down) == [(True, "ENODENET", "node1")] and "activate-master-ip" in down[0][4]


def test_the_master_ip_on_another_host_is_an_error_unless_the_nodes_share_one_stack() -> None:
    nodes = [MASTER, OTHER]
    both = {"node1": _mip(True), "node2": _mip(True)}
    assert _codes(verify_crypto.master_ip(nodes, both, MASTER.uuid, False)) == [(True, "ENODENET", "node2")]
    assert verify_crypto.master_ip(nodes, both, MASTER.uuid, True) == []  # a virtual cluster: one network stack


def test_no_master_netdev_or_an_external_script_is_not_judged_and_a_failed_check_is_named() -> None:
    nodes = [MASTER, OTHER]
    assert verify_crypto.master_ip(nodes, {}, MASTER.uuid, False) == []
    assert verify_crypto.master_ip(nodes, {"node1": _mip(None)}, MASTER.uuid, False) == []
    failed = verify_crypto.master_ip(nodes, {"node1": {"error": "master netdev eth9: not found"}}, MASTER.uuid, False)
    assert _codes(failed) == [(True, "ENODENET", "node1")] and "eth9" in failed[0][4]


def test_a_node_the_cluster_lists_no_certificate_of_is_an_enodessl_error_once_there_is_a_ca() -> None:
    pem = node_certs.issue(CA, "node2")
    unlisted = Node(name="node2")  # e.g. added with --no-node-setup before the master learnt certificates
    found = verify_crypto.node_certificate(unlisted, node_certs.inspect(pem).to_dict(), _now(), has_ca=True)
    assert _codes(found) == [(True, "ENODESSL", "node2")]
    assert "renew-crypto --new-node-certificates -n node2" in found[0][4]
    assert verify_crypto.node_certificate(unlisted, node_certs.inspect(pem).to_dict(), _now(), has_ca=False) == []


def test_a_cluster_without_a_ca_is_an_eclustercert_error_naming_the_upgrade() -> None:
    shared = certs.generate_pem("c")
    found = verify_crypto.cluster_files("c", {"ca": None, "node": shared}, "", _now())
    assert _codes(found) == [(True, "ECLUSTERCERT", "c")]
    assert "renew-crypto --new-cluster-certificate" in found[0][4]
