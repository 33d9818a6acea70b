"""The master's SSH login reads its key file with the key's own paramiko class (`ssh.load_private_key`).

Handing paramiko a `key_filename` makes it read the file as every key class in turn; Debian 12's
paramiko (2.12) misreads an RSA key as DSA once the server refuses the RSA login and raises
ValueError, which ended `gnt-node add` of a new node on the test bed (the cluster key is not on
that node yet, root's own key is)."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gnt.node import ssh
from gnt.node.ssh_roll import generate_key_pair


@pytest.mark.parametrize(
    ("kind", "bits", "cls"),
    [("rsa", 2048, paramiko.RSAKey), ("ecdsa", 384, paramiko.ECDSAKey), ("ed25519", 0, paramiko.Ed25519Key)],
)
def test_each_kind_of_cluster_key_is_read_as_its_own_class(tmp_path: Path, kind: str, bits: int, cls: type) -> None:
    private, public = generate_key_pair(kind, bits)
    path = tmp_path / "id"
    path.write_bytes(private)
    key = ssh.load_private_key(str(path))
    assert type(key) is cls
    assert f"{key.get_name()} {key.get_base64()}" == public


def test_a_pem_rsa_key_is_read_too(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    path = tmp_path / "id_rsa"
    path.write_bytes(pem)
    assert type(ssh.load_private_key(str(path))) is paramiko.RSAKey


def test_a_file_that_is_no_key_is_a_one_line_failure(tmp_path: Path) -> None:
    path = tmp_path / "id"
    path.write_text("not a key\n")
    with pytest.raises(ssh.SshFailure, match=r"^cannot read the SSH key .*/id: ") as err:
        ssh.load_private_key(str(path))
    assert "\n" not in str(err.value)


def test_connect_hands_paramiko_the_loaded_key_not_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private, _ = generate_key_pair("rsa", 2048)
    path = tmp_path / "id"
    path.write_bytes(private)
    seen: dict[str, object] = {}

    def fake_connect(self: paramiko.SSHClient, hostname: str, **kwargs: object) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(paramiko.SSHClient, "connect", fake_connect)
    settings = ssh.SshSettings(key_filename=str(path), known_hosts=())
    ssh.connect("node9", "127.0.0.1", settings).close()
    assert type(seen["pkey"]) is paramiko.RSAKey and seen.get("key_filename") is None
    assert seen["look_for_keys"] is True  # root's own keys are still tried after the cluster's
