"""renew-crypto --new-ssh-keys against a real sshd: the new key opens the node, the old one no longer does,
and a node that refuses the new key leaves everything as it was."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt import paths
from gnt.errors import OpExecError
from gnt.node import ssh, ssh_roll
from tests.system.test_ssh_join import _free_port, pytestmark, running_sshd, sshd  # noqa: F401 - the sshd fixture

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
    known = Path(str(sshd["known"]))
    host_key = known.read_text().split()[1:3]
    with known.open("a") as handle:  # node8 was joined over SSH (its host key is recorded), and is down now
        handle.write(f"[127.0.0.1]:{dead} {host_key[0]} {host_key[1]}\n")
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


@contextlib.contextmanager
def _node_set_up_by_hand(tmp_path: Path, authorized: str) -> Iterator[tuple[int, Path]]:
    """A second node's sshd whose host key no known_hosts lists (gnt-node add --no-node-setup), whose admin
    authorized `authorized` (the cluster's key) by hand: (its port, its authorized_keys file)."""
    home = tmp_path / "byhand"
    home.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host")], check=True)
    keys = home / "authorized_keys"
    keys.write_text(authorized)
    keys.chmod(0o600)
    port = _free_port()
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host'}\nPidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys}\nPasswordAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
    )
    with running_sshd(config, port):
        yield port, keys


def test_a_node_whose_host_key_was_never_recorded_is_left_out_and_named(
    sshd: dict[str, object],  # noqa: F811
    master_key: Path,
    tmp_path: Path,
) -> None:
    """A --no-node-setup node: the master never confirmed its host key, so it must not log in there (strict
    host keys), nor may that node stop the others' renewal; the warning says what to do by hand."""
    old_public = " ".join(Path(str(sshd["key"]) + ".pub").read_text().split()[:2])
    with _node_set_up_by_hand(tmp_path, old_public + "\n") as (port, by_hand_keys):
        lines: list[str] = []
        ops = _ops(sshd, {"node9": int(sshd["port"]), "node7": port})
        nodes = [("node9", "127.0.0.1"), ("node7", "127.0.0.1")]
        public = asyncio.run(ssh_roll.roll_ssh_key(nodes, "ed25519", 0, ops, lines.append))
        assert by_hand_keys.read_text() == old_public + "\n"  # never logged in to
    authorized = (Path(str(sshd["key"])).parent / "authorized_keys").read_text()
    assert public in authorized and old_public not in authorized  # node9 rolled all the same
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 2 and all("node7" in line for line in warnings)
    assert "known_hosts holds no SSH host key" in warnings[0] and "--no-node-setup" in warnings[0]
    assert f"{master_key}.pub" in warnings[1] and "gnt-node add --readd node7" in warnings[1]
    assert not any("node9" in line for line in warnings)


def test_without_host_key_checks_an_unreachable_node_changes_nothing(
    sshd: dict[str, object],  # noqa: F811
    master_key: Path,
) -> None:
    """--no-ssh-key-check reads each node's host key first: a node that cannot be reached then is a failed
    node like any other (the new key taken back from the others), not an error that leaves them half-rolled."""
    before_key = master_key.read_bytes()
    authorized_path = Path(str(sshd["key"])).parent / "authorized_keys"
    before_authorized = authorized_path.read_text()
    config = str(Path(str(sshd["key"])).parent / "sshd_config")
    ports = {"node9": int(sshd["port"]), "node8": _free_port()}
    ops = ssh_roll.SshKeyOps(ports, verify=False, user=str(sshd["user"]), sshd_config=config)
    nodes = [("node9", "127.0.0.1"), ("node8", "127.0.0.1")]
    with pytest.raises(OpExecError, match="Could not authorize the new SSH key on node8.*nothing was changed"):
        asyncio.run(ssh_roll.roll_ssh_key(nodes, "ed25519", 0, ops, lambda _: None))
    assert master_key.read_bytes() == before_key
    assert authorized_path.read_text() == before_authorized
