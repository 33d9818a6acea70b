"""renew-crypto --new-ssh-keys against a real sshd: the new key opens the node, the old one no longer does,
and a node that refuses the new key leaves everything as it was."""

from __future__ import annotations

import asyncio
import shutil
import stat
from pathlib import Path

import pytest

from gnt import paths
from gnt.errors import OpExecError
from gnt.node import ssh, ssh_roll
from tests.system.test_ssh_join import _free_port, pytestmark, sshd  # noqa: F401 - the sshd fixture

__all__ = ["pytestmark"]


@pytest.fixture
def master_key(sshd: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """The master's cluster key is the one the test sshd authorizes."""
    monkeypatch.setenv("GNT_ROOTDIR", str(tmp_path / "master"))
    monkeypatch.setenv("GNT_HOSTNAME", "master")
    key = Path(paths.ssh_key())
    key.parent.mkdir(parents=True)
    shutil.copy(str(sshd["key"]), key)
    shutil.copy(str(sshd["key"]) + ".pub", str(key) + ".pub")
    key.chmod(0o600)
    return key


def _ops(sshd: dict[str, object], ports: dict[str, int]) -> ssh_roll.SshKeyOps:  # noqa: F811
    config = str(Path(str(sshd["key"])).parent / "sshd_config")  # never the machine's own sshd_config
    return ssh_roll.SshKeyOps(ports, user=str(sshd["user"]), known_hosts=str(sshd["known"]), sshd_config=config)


def _opens(sshd: dict[str, object], key_file: str) -> bool:  # noqa: F811
    settings = ssh.SshSettings(port=int(sshd["port"]), user=str(sshd["user"]), timeout=10, key_filename=key_file)
    settings.known_hosts = (str(sshd["known"]),)
    try:
        ssh.connect("node9", "127.0.0.1", settings).close()
    except ssh.SshFailure:
        return False
    return True


def test_new_ssh_key_replaces_the_old_one_on_the_node(
    sshd: dict[str, object],  # noqa: F811
    master_key: Path,
    tmp_path: Path,
) -> None:
    old_copy = tmp_path / "old_key"
    shutil.copy(master_key, old_copy)
    old_copy.chmod(0o600)
    lines: list[str] = []
    ops = _ops(sshd, {"node9": int(sshd["port"])})
    public = asyncio.run(ssh_roll.roll_ssh_key([("node9", "127.0.0.1")], "ed25519", 0, ops, lines.append))
    authorized = (Path(str(sshd["key"])).parent / "authorized_keys").read_text()
    old_public = " ".join(Path(str(sshd["key"]) + ".pub").read_text().split()[:2])
    assert public in authorized and old_public not in authorized
    assert " ".join(Path(str(master_key) + ".pub").read_text().split()[:2]) == public
    assert stat.S_IMODE(master_key.stat().st_mode) == 0o600
    assert not Path(str(master_key) + ".new").exists()
    assert _opens(sshd, str(master_key)) and not _opens(sshd, str(old_copy))
    assert not any("WARNING" in line for line in lines)


def test_a_node_refusing_the_new_key_changes_nothing(
    sshd: dict[str, object],  # noqa: F811
    master_key: Path,
) -> None:
    before_key = master_key.read_bytes()
    authorized_path = Path(str(sshd["key"])).parent / "authorized_keys"
    before_authorized = authorized_path.read_text()
    dead = _free_port()
    ops = _ops(sshd, {"node9": int(sshd["port"]), "node8": dead})
    nodes = [("node9", "127.0.0.1"), ("node8", "127.0.0.1")]
    with pytest.raises(OpExecError, match="Could not authorize the new SSH key on node8.*nothing was changed"):
        asyncio.run(ssh_roll.roll_ssh_key(nodes, "ed25519", 0, ops, lambda _: None))
    assert master_key.read_bytes() == before_key
    assert authorized_path.read_text() == before_authorized
    assert not Path(str(master_key) + ".new").exists()
    assert _opens(sshd, str(master_key))


@pytest.mark.parametrize(
    ("kind", "bits", "prefix"), [("rsa", 2048, "ssh-rsa "), ("ecdsa", 384, "ecdsa-sha2-nistp384 ")]
)
def test_key_types_and_sizes(kind: str, bits: int, prefix: str) -> None:
    private, public = ssh_roll.generate_key_pair(kind, bits)
    assert public.startswith(prefix) and b"OPENSSH PRIVATE KEY" in private
