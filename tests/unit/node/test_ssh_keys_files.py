"""Where a node's sshd reads root's keys (gnt.node.sshkeys: AuthorizedKeysFile honoured, Ganeti #1195),
the key line added and removed, and the cluster's known_hosts kept by gnt.node.join."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnt.node import join, sshkeys

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnt"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther"


@pytest.mark.parametrize(
    ("config", "from_sshd_t", "expected"),
    [
        ("", True, ["/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys2"]),
        ("port 22\nauthorizedkeysfile /etc/ssh/keys/%u .ssh/mine\n", True, ["/etc/ssh/keys/root", "/root/.ssh/mine"]),
        ("AuthorizedKeysFile=/keys/%U/%%x %h/k\n", False, ["/keys/0/%x", "/root/k"]),
        ("# AuthorizedKeysFile /no\nAuthorizedKeysFile\t/yes/%u\n", False, ["/yes/root"]),
        (
            "Match User admin\n  AuthorizedKeysFile /admins\n",
            False,
            ["/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys2"],
        ),
        ("authorizedkeysfile none\n", True, []),
    ],
)
def test_authorized_keys_files(config: str, from_sshd_t: bool, expected: list[str]) -> None:
    assert sshkeys.authorized_keys_files(config, "root", "/root", 0, from_sshd_t) == expected


def test_key_added_once_and_removed_leaving_other_lines() -> None:
    text = f'command="x" {OTHER} admin\n'
    added = sshkeys.add_key(text, KEY + " whatever")
    assert added == f'command="x" {OTHER} admin\n{KEY} gnt-cluster\n'
    assert sshkeys.add_key(added, KEY) is None
    assert sshkeys.add_key("no newline at end", KEY) == f"no newline at end\n{KEY} gnt-cluster\n"
    assert sshkeys.remove_key(added, KEY) == text
    assert sshkeys.remove_key(text, KEY) is None
    with pytest.raises(ValueError):
        sshkeys.add_key("", "not a key")


@pytest.mark.parametrize(
    ("key_type", "bits", "prefix", "loader"),
    [
        ("rsa", 2048, "ssh-rsa ", "RSAKey"),
        ("ecdsa", 384, "ecdsa-sha2-nistp384 ", "ECDSAKey"),
        ("ed25519", 256, "ssh-ed25519 ", "Ed25519Key"),
    ],
)
def test_cluster_key_is_made_once_of_the_clusters_type_private_and_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_type: str, bits: int, prefix: str, loader: str
) -> None:
    """The first node add makes the key with the cluster's ssh_key_type/ssh_key_bits; later calls reuse it."""
    import paramiko

    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    assert sshkeys.cluster_public_key() is None
    public = sshkeys.ensure_cluster_key(key_type, bits)
    assert public.startswith(prefix) and sshkeys.ensure_cluster_key("ed25519", 256) == public
    private = tmp_path / "node1/var/lib/gnt/ssh/id_ed25519"
    assert private.stat().st_mode & 0o777 == 0o600
    loaded = getattr(paramiko, loader).from_private_key_file(str(private))
    assert f"{loaded.get_name()} {loaded.get_base64()}" == public == sshkeys.cluster_public_key()
    if key_type == "rsa":
        assert loaded.get_bits() == bits


def test_known_hosts_remembers_and_forgets_a_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "node1"))
    known = tmp_path / "node1/var/lib/gnt/known_hosts"
    join.remember_host_key("node2", "192.0.2.2", 22, OTHER)
    join.remember_host_key("node3", "192.0.2.3", 2222, KEY)
    join.remember_host_key("node2", "192.0.2.2", 22, KEY)  # re-added: the new key replaces the old
    assert known.read_text() == f"[node3]:2222,[192.0.2.3]:2222 {KEY}\nnode2,192.0.2.2 {KEY}\n"
    join.forget_host_key("node3", "192.0.2.3", 2222)
    assert known.read_text() == f"node2,192.0.2.2 {KEY}\n"
