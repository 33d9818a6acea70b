"""gnt-cluster renew-crypto on a running virtual cluster: jobs keep running, the old certificate is refused after."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import sys
import threading
from pathlib import Path

import pytest

from gnt import certs
from tests.integration.vcluster import VCluster, wait_for

NODES = ("node1", "node2", "node3")
NODED_PORT = 1811


def _pem(vc: VCluster, node: str, name: str = "server.pem") -> Path:
    return vc.dir / node / "var/lib/gnt" / name


def _ca(pem: bytes) -> bytes:
    """The cluster CA certificate a node's server.pem carries after its own (gnt.node_certs)."""
    return certs.trusted_part(pem)


def _handshake(address: str, port: int, ctx: ssl.SSLContext) -> bytes:
    """Complete a TLS handshake and return the server's certificate (DER); raises ssl.SSLError if refused."""
    with socket.create_connection((address, port), timeout=10) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(b"POST /version HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        tls.recv(1)  # TLS 1.3: the server's verdict on our certificate arrives with the first read
        return tls.getpeercert(binary_form=True) or b""


class JobLoop:
    """Until stopped: a no-op job, then a node list with live data (RPC to every node); keeps every failure.

    Neither takes node locks, so they run alongside renew-crypto (which holds them shared).
    """

    def __init__(self, vc: VCluster) -> None:
        self.vc = vc
        self.done = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            result = self.vc.run("gnt-debug", "delay", "0")
            if result.rc != 0:
                self.failures.append(result.text)
            listed = self.vc.run("gnt-node", "list", "--no-headers", "-o", "name,mfree")
            if listed.rc != 0 or "?" in listed.out:
                self.failures.append(listed.text)
            self.done += 1

    def wait_for_more(self, count: int) -> None:
        target = self.done + count
        wait_for(lambda: self.done >= target, 120)


def _submit_lock_free_rpc_job(vc: VCluster) -> int:
    """A job calling node2 and node3 over RPC 80 times in a row, holding no lock (as the LU allows)."""
    op = {"OP_ID": "OP_TEST_DELAY", "duration": 0.05, "repeat": 79, "on_master": False}
    op |= {"on_nodes": ["node2", "node3"], "no_locks": True}
    code = f"from gnt.cli.client import Client; print(Client().submit([{op!r}]))"
    return int(vc.ok(sys.executable, "-c", code.replace("True", "True")).strip())


def test_renew_cluster_certificate_while_jobs_run_then_old_one_refused(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    old_pem = _pem(vc, "node1").read_bytes()
    old_copy = vc.dir / "old-server.pem"
    certs.write_pem(str(old_copy), old_pem)
    long_job = _submit_lock_free_rpc_job(vc)
    wait_for(lambda: vc.job_status(long_job) == "running", 30)
    loop = JobLoop(vc)
    loop.thread.start()
    try:
        loop.wait_for_more(2)
        out = vc.ok("gnt-cluster", "renew-crypto", "--new-cluster-certificate", "--new-node-certificates", "-f")
        loop.wait_for_more(2)
    finally:
        loop.stop.set()
        loop.thread.join(120)
    assert loop.failures == []
    assert vc.wait_job(long_job, timeout=120) == "success"
    assert "phase drop-old" in out and "renewed" in out
    new_pem = _pem(vc, "node1").read_bytes()
    assert certs.trusted_part(new_pem) != certs.trusted_part(old_pem)
    own = set()
    for node in NODES:  # every node: a certificate of its own, signed by the one new CA
        path = _pem(vc, node)
        assert _ca(path.read_bytes()) == _ca(new_pem)
        own.add(certs.public_part(path.read_bytes()))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not _pem(vc, node, "server-trust.pem").exists()
        assert not (vc.dir / node / "var/lib/gnt/renew-crypto.json").exists()
    assert len(own) == len(NODES)
    # a client holding only the old certificate is refused by every node daemon
    for node in NODES:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _handshake(vc.address(node), NODED_PORT, certs.client_context(str(old_copy)))
    # ... and a node daemon holding only the old one is refused by the master: the new pem serves
    assert _handshake(vc.address("node2"), NODED_PORT, certs.client_context(str(_pem(vc, "node1")))) != b""
    vc.ok("gnt-cluster", "verify")
    vc.ok("gnt-debug", "delay", "-n", "node2", "-n", "node3", "0")
    # no key reached the job's log or the daemons' logs
    jobs = vc.ok("gnt-job", "list", "--no-headers", "-o", "id").split()
    for job in jobs[-3:]:
        assert "PRIVATE KEY" not in vc.ok("gnt-job", "info", job)
    for node in NODES:
        for log in (vc.dir / node / "var/log/gnt").iterdir():
            assert b"PRIVATE KEY" not in log.read_bytes(), log


def test_a_node_daemon_with_the_old_certificate_is_refused_after_the_roll(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    old_pem = _pem(vc, "node3").read_bytes()
    vc.ok("gnt-cluster", "renew-crypto", "--new-cluster-certificate", "-f")
    vc.kill_daemon("node3", "gnt-noded")
    certs.write_pem(str(_pem(vc, "node3")), old_pem)  # node3 comes back holding only the old certificate
    vc.start_noded("node3")
    wait_for(lambda: _listening(vc.address("node3")), 20)
    result = vc.run("gnt-debug", "delay", "-n", "node3", "0")
    assert result.rc == 1 and "TLS handshake with node node3" in result.err


def _listening(address: str) -> bool:
    try:
        with socket.create_connection((address, NODED_PORT), timeout=2):
            return True
    except OSError:
        return False


def test_renew_rapi_certificate_is_served_to_the_next_client(fresh_cluster: VCluster, tmp_path: Path) -> None:
    vc = fresh_cluster
    rapi_port = 5080
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    before = _handshake(vc.address("node1"), rapi_port, client)
    vc.ok("gnt-cluster", "renew-crypto", "--new-rapi-certificate", "-f")
    after = _handshake(vc.address("node1"), rapi_port, client)
    assert after != before
    rapi = _pem(vc, "node1", "rapi.pem")
    assert after == ssl.PEM_cert_to_DER_cert(certs.public_part(rapi.read_bytes()).decode())
    assert stat.S_IMODE(rapi.stat().st_mode) == 0o600
    # an admin's own key pair, given as a file
    mine = tmp_path / "mine.pem"
    certs.write_pem(str(mine), certs.generate_pem("rapi.example.com"))
    vc.ok("gnt-cluster", "renew-crypto", "--rapi-certificate", str(mine), "-f")
    served = _handshake(vc.address("node1"), rapi_port, client)
    assert served == ssl.PEM_cert_to_DER_cert(certs.public_part(mine.read_bytes()).decode())
    last_job = vc.ok("gnt-job", "list", "--no-headers", "-o", "id").split()[-1]
    assert "PRIVATE KEY" not in vc.ok("gnt-job", "info", last_job)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "Nothing to renew"),
        (["--new-confd-hmac-key"], "--new-confd-hmac-key does not apply"),
        (["--new-cluster-domain-secret"], "--new-cluster-domain-secret does not apply"),
        (["--new-rapi-certificate", "--rapi-certificate", "/x.pem"], "Only one of"),
        (["--rapi-certificate", "/nonexistent.pem"], "does not exist"),
        (["--ssh-key-bits", "1024"], "go with --new-ssh-keys"),
        (["--new-ssh-keys", "--ssh-key-type", "dsa"], "must be ed25519, rsa or ecdsa"),
        (["--new-ssh-keys", "--ssh-key-type", "rsa", "--ssh-key-bits", "1024"], "not valid for rsa keys"),
    ],
)
def test_renew_crypto_bad_input_is_one_line_and_changes_nothing(
    cluster: VCluster, argv: list[str], message: str
) -> None:
    before = _pem(cluster, "node1").read_bytes()
    result = cluster.run("gnt-cluster", "renew-crypto", "-f", *argv)
    assert result.rc != 0 and message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert _pem(cluster, "node1").read_bytes() == before


def test_a_node_down_stops_the_roll_cleanly_and_the_next_run_finishes_it(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    old_pem = _pem(vc, "node1").read_bytes()
    vc.kill_daemon("node3", "gnt-noded")
    failed = vc.run("gnt-cluster", "renew-crypto", "--new-cluster-certificate", "-f")
    assert failed.rc == 1 and "Traceback" not in failed.err
    assert "stopped at phase 'trust-new'" in failed.err and "node3" in failed.err
    assert (vc.dir / "node1/var/lib/gnt/renew-crypto.json").exists()
    assert stat.S_IMODE((vc.dir / "node1/var/lib/gnt/renew-crypto.json").stat().st_mode) == 0o600
    assert _pem(vc, "node1").read_bytes() == old_pem  # nothing switched yet
    vc.ok("gnt-debug", "delay", "-n", "node2", "0")  # the rest of the cluster works meanwhile
    # mid-roll, a reachable node accepts a peer holding the old certificate and one holding the new one
    saved = json.loads((vc.dir / "node1/var/lib/gnt/renew-crypto.json").read_text())
    new_copy, old_copy = vc.dir / "new.pem", vc.dir / "old.pem"
    certs.write_pem(str(new_copy), saved["new_pem"].encode())
    certs.write_pem(str(old_copy), old_pem)
    certs.write_pem(certs.trust_path(str(new_copy)), certs.public_part(old_pem))  # node2 still presents the old
    for holder in (old_copy, new_copy):
        assert _handshake(vc.address("node2"), NODED_PORT, certs.client_context(str(holder)))
    vc.start_noded("node3")
    wait_for(lambda: _listening(vc.address("node3")), 20)
    out = vc.ok("gnt-cluster", "renew-crypto", "--new-cluster-certificate", "-f")
    assert "resuming the certificate roll stopped at phase 'trust-new'" in out
    new_pem = _pem(vc, "node1").read_bytes()
    assert _ca(new_pem) != _ca(old_pem) and all(_ca(_pem(vc, n).read_bytes()) == _ca(new_pem) for n in NODES)
    assert not (vc.dir / "node1/var/lib/gnt/renew-crypto.json").exists()
    vc.ok("gnt-debug", "delay", "-n", "node2", "-n", "node3", "0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(vc.address("node2"), NODED_PORT, certs.client_context(str(old_copy)))


def test_an_offline_node_is_named_and_rejoins_with_readd(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok("gnt-node", "modify", "-O", "yes", "node3")
    out = vc.ok("gnt-cluster", "renew-crypto", "--new-cluster-certificate", "-f")
    assert "node node3 is offline" in out and "gnt-node add --readd node3" in out
    assert _ca(_pem(vc, "node3").read_bytes()) != _ca(_pem(vc, "node1").read_bytes())
    vc.ok("gnt-node", "add", "--readd", "node3")
    assert _ca(_pem(vc, "node3").read_bytes()) == _ca(_pem(vc, "node1").read_bytes())
    vc.ok("gnt-debug", "delay", "-n", "node3", "0")


def test_the_cluster_key_pair_is_refused_as_the_rapi_certificate(cluster: VCluster) -> None:
    rapi_before = _pem(cluster, "node1", "rapi.pem").read_bytes()
    result = cluster.run("gnt-cluster", "renew-crypto", "-f", "--rapi-certificate", str(_pem(cluster, "node1")))
    assert result.rc == 1 and "cannot serve the RAPI" in result.err
    assert _pem(cluster, "node1", "rapi.pem").read_bytes() == rapi_before


def test_new_ssh_keys_in_a_virtual_cluster_renews_the_masters_key_and_the_candidates_copies(cluster: VCluster) -> None:
    out = cluster.ok("gnt-cluster", "renew-crypto", "--new-ssh-keys", "--ssh-key-type", "ecdsa", "-f")
    assert "only the master's key pair is renewed" in out
    key = cluster.dir / "node1/var/lib/gnt/ssh/id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = (cluster.dir / "node1/var/lib/gnt/ssh/id_ed25519.pub").read_text()
    assert public.startswith("ecdsa-sha2-nistp384 ")  # Ganeti's ecdsa size: the cluster's type was rsa
    for node in ("node2", "node3"):
        assert (cluster.dir / node / "var/lib/gnt/ssh/id_ed25519").read_bytes() == key.read_bytes()
        assert (cluster.dir / node / "var/lib/gnt/ssh/id_ed25519.pub").read_text() == public


def _post(address: str, pem: Path, procedure: str, body: bytes = b"{}") -> dict[str, object]:
    """One RPC to a node daemon presenting the key pair in `pem`: the JSON answer (raises ssl.SSLError if refused)."""
    ctx = certs.client_context(str(pem))
    with socket.create_connection((address, NODED_PORT), timeout=10) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(f"POST /{procedure} HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def test_renewing_one_nodes_certificate_refuses_its_old_one(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    old_copy = vc.dir / "node2-old.pem"
    certs.write_pem(str(old_copy), _pem(vc, "node2").read_bytes())
    others = {n: _pem(vc, n).read_bytes() for n in ("node1", "node3")}
    out = vc.ok("gnt-cluster", "renew-crypto", "--new-node-certificates", "-n", "node2", "-f")
    assert "issuing new node certificates for 1 node(s)" in out
    new = _pem(vc, "node2").read_bytes()
    assert certs.public_part(new) != certs.public_part(old_copy.read_bytes())
    assert _ca(new) == _ca(old_copy.read_bytes())  # same CA: only node2's own certificate changed
    assert {n: _pem(vc, n).read_bytes() for n in ("node1", "node3")} == others
    answer = _post(vc.address("node3"), old_copy, "version")
    assert answer["ok"] is False and "not one of this cluster's node certificates" in str(answer["error"])
    assert _post(vc.address("node3"), _pem(vc, "node2"), "version")["ok"] is True
    vc.ok("gnt-cluster", "verify")
    vc.ok("gnt-debug", "delay", "-n", "node2", "-n", "node3", "0")
    # the master's own certificate too: the master keeps calling every node with its new one
    master_old = vc.dir / "node1-old.pem"
    certs.write_pem(str(master_old), _pem(vc, "node1").read_bytes())
    vc.ok("gnt-cluster", "renew-crypto", "--new-node-certificates", "-f")
    vc.ok("gnt-debug", "delay", "-n", "node2", "-n", "node3", "0")
    refused = _post(vc.address("node2"), master_old, "ssconf_write", b'{"values": {"cluster_name": "x"}}')
    assert refused["ok"] is False
    assert vc.ok("gnt-cluster", "getmaster").strip() == "node1"
    for job in vc.ok("gnt-job", "list", "--no-headers", "-o", "id").split()[-2:]:
        assert "PRIVATE KEY" not in vc.ok("gnt-job", "info", job)


def test_a_plain_nodes_certificate_cannot_call_master_procedures(fresh_cluster: VCluster) -> None:
    vc = fresh_cluster
    vc.ok("gnt-node", "modify", "-C", "no", "node3")
    plain = _pem(vc, "node3")
    denied = _post(vc.address("node2"), plain, "ssconf_write", b'{"values": {"master_node": "node3"}}')
    assert denied["ok"] is False and "only the master or a master candidate" in str(denied["error"])
    assert (vc.dir / "node2/var/lib/gnt/ssconf_master_node").read_text().strip() == "node1"
    assert _post(vc.address("node2"), plain, "version")["ok"] is True
    vc.ok("gnt-node", "modify", "-C", "yes", "node3")  # promoted: its certificate may act as master now
    assert _post(vc.address("node2"), plain, "node_info", b'{"hypervisors": ["fake"]}')["ok"] is True


def test_verify_names_a_node_presenting_a_certificate_the_cluster_does_not_list(fresh_cluster: VCluster) -> None:
    from gnt import node_certs

    vc = fresh_cluster
    vc.ok("gnt-cluster", "verify")
    ca = _pem(vc, "node1", "cluster-ca.pem")
    assert stat.S_IMODE(ca.stat().st_mode) == 0o600
    assert _pem(vc, "node3", "cluster-ca.pem").read_bytes() == ca.read_bytes()  # a candidate can issue as master
    certs.write_pem(str(_pem(vc, "node3")), node_certs.issue(ca.read_bytes(), "node3"))  # signed, but never listed
    vc.kill_daemon("node3", "gnt-noded")  # the master's pooled connections (made with the listed one) end
    vc.start_noded("node3")
    result = vc.run("gnt-cluster", "verify", "--error-codes")
    # the master does not even call it (it could be an impostor holding a stolen certificate)
    assert result.rc == 1 and ":node:node3:" in result.out + result.err
    assert "presents a certificate the cluster does not list for it" in result.out + result.err
    renew = vc.run("gnt-cluster", "renew-crypto", "--new-node-certificates", "-n", "node3", "-f")
    assert renew.rc != 0 and "node3" in renew.text  # no new key pair is sent to it over TLS
    vc.ok("gnt-node", "add", "--readd", "node3")  # set up again (over SSH on real hosts)
    vc.ok("gnt-cluster", "verify")
