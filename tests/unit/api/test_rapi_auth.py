"""RAPI users file ({HA1}, {CLEARTEXT}, plain; refused when readable by others) and the RAPI's own key."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

import pytest

from gnt import certs, paths
from gnt.api.auth import UsersFile, authenticate, ha1, parse_users, read_users_file
from tests.unit.api.conftest import ADMIN, PLAIN, READER, RapiServer, write_users


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_ha1_is_md5_of_user_realm_password() -> None:
    # echo -n 'jack:Ganeti Remote API:abc123' | md5sum (the example of Ganeti's rapi documentation)
    assert ha1("jack", "abc123") == "54c12257ee9be413f2f3182435514aae"


def test_all_three_password_forms_authenticate() -> None:
    users = parse_users(
        f"jack {{HA1}}{ha1('jack', 'abc123')} write\n"
        f"jill {{ha1}}{ha1('jill', 'pw').upper()}\n"
        "fred {CLEARTEXT}{odd}pw write\n"
        "tom plainpw\n"
    )
    assert authenticate(_basic("jack", "abc123"), users).write  # type: ignore[union-attr]
    assert authenticate(_basic("jill", "pw"), users).write is False  # type: ignore[union-attr]
    assert authenticate(_basic("fred", "{odd}pw"), users) is not None
    assert authenticate(_basic("tom", "plainpw"), users) is not None
    # the stored hash is not a password
    assert authenticate(_basic("jack", ha1("jack", "abc123")), users) is None
    assert authenticate(_basic("jack", "wrong"), users) is None
    assert authenticate("Basic !!!", users) is None


def test_unknown_scheme_or_malformed_hash_ignores_the_user(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        users = parse_users("a {SHA}abc write\nb {HA1}nothex write\n")
    assert users == {}
    assert "unknown password scheme" in caplog.text and "not an MD5 hex digest" in caplog.text


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_users_file_readable_by_others_is_refused(
    tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "users")
    write_users(path, mode)
    with caplog.at_level(logging.ERROR):
        assert read_users_file(path) == {}
    assert "refusing every RAPI login" in caplog.text and "chmod 600" in caplog.text


def test_users_file_is_reread_when_its_mode_changes(tmp_path: Path) -> None:
    path = str(tmp_path / "users")
    write_users(path, 0o644)
    users = UsersFile(path)
    assert users.current() == {}
    os.chmod(path, 0o600)  # no content change: only the inode's ctime moves
    assert set(users.current()) == {ADMIN[0], READER[0], PLAIN[0]}


def test_rapi_refuses_logins_while_the_users_file_is_world_readable(rapi_server: RapiServer) -> None:
    try:
        os.chmod(paths.rapi_users(), 0o644)
        assert rapi_server.call("GET", "/2/info", user=ADMIN)[0] == 401
    finally:
        os.chmod(paths.rapi_users(), 0o600)
    assert rapi_server.call("GET", "/2/info", user=ADMIN)[0] == 200
    assert rapi_server.call("GET", "/2/info", user=PLAIN)[0] == 200


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    """A TLS handshake over memory buffers; raises ssl.SSLError if either side refuses."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    for _ in range(20):
        for index, (end, out, peer_in) in enumerate(((client, c_out, s_in), (server, s_out, c_in))):
            if not done[index]:
                try:
                    end.do_handshake()
                    done[index] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done):
            # TLS 1.3: the server verifies the client certificate after its own handshake ends
            client.write(b"x")
            s_in.write(c_out.read())
            server.read(1)
            return
    raise AssertionError("handshake did not finish")


def test_node_daemons_do_not_accept_the_rapi_certificate(tmp_path: Path) -> None:
    cluster, rapi = str(tmp_path / "server.pem"), str(tmp_path / "rapi.pem")
    certs.write_pem(cluster, certs.generate_pem("cluster"))
    certs.write_pem(rapi, certs.generate_pem("cluster"))
    _handshake(certs.server_context(cluster), certs.client_context(cluster))  # the cluster cert works
    impostor = certs.client_context(cluster)
    impostor.load_cert_chain(rapi)  # present the RAPI's key pair as the client
    with pytest.raises(ssl.SSLError):
        _handshake(certs.server_context(cluster), impostor)


def test_init_makes_a_separate_rapi_pem_with_mode_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gnt.cluster import bootstrap

    monkeypatch.setenv(paths.ENV_ROOTDIR, str(tmp_path / "node1"))
    monkeypatch.setenv(paths.ENV_HOSTNAME, "node1")
    monkeypatch.setattr(bootstrap.netutil, "resolve", lambda name: "127.0.0.1")
    monkeypatch.setattr(bootstrap, "start_masterd", lambda: None)
    bootstrap.init_cluster("cluster.example.com", {})
    with open(paths.rapi_cert(), "rb") as handle:
        rapi_pem = handle.read()
    with open(paths.cluster_cert(), "rb") as handle:
        cluster_pem = handle.read()
    assert b"PRIVATE KEY" in rapi_pem and rapi_pem != cluster_pem
    assert os.stat(paths.rapi_cert()).st_mode & 0o777 == 0o600
    assert certs.ensure_rapi_pem(paths.rapi_cert(), "cluster.example.com") is False  # kept as it is
