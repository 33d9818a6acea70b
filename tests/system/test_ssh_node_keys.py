"""gnt-node add and remove on a real node over SSH (gnt.node.join, gnt.node.hostkey): a real sshd on
loopback whose AuthorizedKeysFile is not ~/.ssh/authorized_keys, per-test host, admin and cluster keys."""

from __future__ import annotations

import asyncio
import getpass
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt import PROTOCOL_VERSION, __version__
from gnt.errors import OpPrereqError
from gnt.node import hostkey
from gnt.node.join import SshTransport
from gnt.node.ssh import SshSettings, connect
from tests.system.test_ssh_join import _free_port, pytestmark, running_sshd

__all__ = ["pytestmark"]


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


@pytest.fixture
def node(tmp_path: Path) -> Iterator[dict[str, object]]:
    """An sshd on 127.0.0.1 that reads keys from {tmp}/cluster_keys/%u first, then {tmp}/admin_keys."""
    host_pub = keygen(tmp_path / "host")
    admin_pub = keygen(tmp_path / "admin")
    cluster_pub = keygen(tmp_path / "cluster")
    (tmp_path / "admin_keys").write_text(admin_pub + " admin\n")
    (tmp_path / "admin_keys").chmod(0o600)
    port = _free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'host'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {tmp_path}/cluster_keys/%u {tmp_path}/admin_keys\nPasswordAuthentication no\n"
        "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
    )
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    version = tmp_path / "gnt-version"
    version.write_text(
        f"#!/bin/sh\necho 'Software version: {__version__}'\necho 'Internode protocol: {PROTOCOL_VERSION}'\n"
    )
    version.chmod(0o755)
    with running_sshd(config, port):
        yield {
            "port": port, "dir": tmp_path, "config": str(config), "known": str(known), "host_pub": host_pub,
            "admin": str(tmp_path / "admin"), "cluster": str(tmp_path / "cluster"), "cluster_pub": cluster_pub,
            "version": str(version), "user": getpass.getuser(),
        }  # fmt: skip


def transport(node: dict[str, object], key: str = "admin") -> SshTransport:
    made = SshTransport(
        port=int(node["port"]), user=str(node["user"]), timeout=5, key_filename=str(node[key]),
        known_hosts=str(node["known"]), remote_path=str(Path(str(node["dir"])) / "remote/var/lib/gnt/server.pem"),
        sshd_config=str(node["config"]), pid_file=str(Path(str(node["dir"])) / "remote/gnt-noded.pid"),
    )  # fmt: skip
    made.version_command = str(node["version"])
    return made


def cluster_key_works(node: dict[str, object]) -> bool:
    """Whether the cluster's key alone logs in (root's own keys and agent kept out of it)."""
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(str(node["known"]))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            "127.0.0.1", port=int(node["port"]), username=str(node["user"]), key_filename=str(node["cluster"]),
            allow_agent=False, look_for_keys=False, timeout=5,
        )  # fmt: skip
        return True
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()


def join(node: dict[str, object], made: SshTransport) -> None:
    async def steps() -> None:
        await made.check_version("node9", "127.0.0.1")
        await made.install_cert("node9", "127.0.0.1", b"PEM\n")
        await made.install_storage_paths("node9", "127.0.0.1", "/srv/gnt\n")
        await made.install_ssh_key("node9", "127.0.0.1", str(node["cluster_pub"]))

    try:
        asyncio.run(steps())
    finally:
        made.close()


def test_join_installs_the_cluster_key_where_sshd_reads_keys(node: dict[str, object]) -> None:
    assert not cluster_key_works(node)
    made = transport(node)
    join(node, made)
    keys = Path(str(node["dir"])) / "cluster_keys" / str(node["user"])  # AuthorizedKeysFile's %u, not ~/.ssh
    assert keys.read_text() == f"{node['cluster_pub']} gnt-cluster\n" and keys.stat().st_mode & 0o777 == 0o600
    assert (Path(str(node["dir"])) / "admin_keys").read_text().endswith(" admin\n")  # the admin's file untouched
    assert cluster_key_works(node)
    join(node, transport(node, key="cluster"))  # again, now with the cluster's own key: no second line
    assert keys.read_text().count("gnt-cluster") == 1
    remote = Path(str(node["dir"])) / "remote/var/lib/gnt"
    assert (remote / "server.pem").read_bytes() == b"PEM\n" and (remote / "server.pem").stat().st_mode & 0o777 == 0o600


def test_join_to_a_node_with_another_gnt_version_changes_nothing(node: dict[str, object]) -> None:
    Path(str(node["version"])).write_text("#!/bin/sh\necho 'Software version: 0.0.1'\necho 'Internode protocol: 1'\n")
    with pytest.raises(OpPrereqError, match=rf"Node node9 runs gnt 0.0.1 \(protocol 1\), the master gnt {__version__}"):
        join(node, transport(node))
    assert not (Path(str(node["dir"])) / "remote").exists() and not (Path(str(node["dir"])) / "cluster_keys").exists()


def test_join_without_gnt_on_the_node_is_a_clear_error(node: dict[str, object]) -> None:
    made = transport(node)
    made.version_command = "gnt-no-such-command version"
    with pytest.raises(OpPrereqError, match=f"Cannot run gnt-cluster on node node9 .*install gnt {__version__}"):
        join(node, made)


def test_join_refused_by_sshd_changes_nothing(
    node: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    made = transport(node)
    made.settings.key_filename = str(stranger)
    made.settings.known_hosts = (str(node["known"]),)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    if any((Path.home() / ".ssh" / name).exists() for name in ("id_rsa", "id_ecdsa", "id_ed25519")):
        pytest.skip("root's own keys would be tried too")  # never on the test machines: no ~/.ssh keys
    with pytest.raises(OpPrereqError, match="Cannot set up node node9 over SSH"):
        join(node, made)
    assert not (Path(str(node["dir"])) / "remote").exists()


def test_leave_stops_the_daemon_and_removes_files_and_the_key(node: dict[str, object]) -> None:
    join(node, transport(node))
    data = Path(str(node["dir"])) / "remote/var/lib/gnt"
    # what a master candidate whose daemon could not be told (node_leave) still holds
    for name in ("cluster-ca.pem", "rapi.pem", "ssh/id_ed25519", "config.db", "queue.db-wal", "ssconf_node_certs"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("x")
    daemon = subprocess.Popen(["sleep", "300"])
    try:
        (Path(str(node["dir"])) / "remote/gnt-noded.pid").write_text(f"{daemon.pid}\n")
        made = transport(node, key="cluster")
        try:
            asyncio.run(made.leave("node9", "127.0.0.1", str(node["cluster_pub"])))
        finally:
            made.close()
        assert daemon.wait(timeout=10) == -signal.SIGTERM
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    remote = Path(str(node["dir"])) / "remote"
    left = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file())
    assert left == [] and not (remote / "gnt-noded.pid").exists()
    assert "gnt-cluster" not in (Path(str(node["dir"])) / "cluster_keys" / str(node["user"])).read_text()
    assert not cluster_key_works(node)


def test_join_starts_the_node_daemon_with_the_nodes_own_install(node: dict[str, object]) -> None:
    """The master runs the node's `gnt-daemon-util start gnt-noded` (here a script standing in for
    it, recording its arguments) and reports its answer; a failing start is a clear error."""
    record = Path(str(node["dir"])) / "started"
    starter = Path(str(node["dir"])) / "daemon-util"
    starter.write_text(f'#!/bin/sh\necho "$@" >> {record}\necho "gnt-noded: started (pid 4242)"\n')
    starter.chmod(0o755)
    made = transport(node)
    made.start_command = f"{starter} start gnt-noded"
    try:
        said = asyncio.run(made.start_node_daemon("node9", "127.0.0.1"))
    finally:
        made.close()
    assert said == "gnt-noded: started (pid 4242)"
    assert record.read_text() == "start gnt-noded\n"

    starter.write_text("#!/bin/sh\necho 'gnt-daemon-util: gnt-noded exited at once with status 1' >&2\nexit 1\n")
    made = transport(node)
    made.start_command = f"{starter} start gnt-noded"
    try:
        with pytest.raises(OpPrereqError, match="Cannot start gnt-noded on node node9: .* exited at once"):
            asyncio.run(made.start_node_daemon("node9", "127.0.0.1"))
    finally:
        made.close()


def settings(node: dict[str, object], known: str) -> SshSettings:
    return SshSettings(port=int(node["port"]), timeout=5, known_hosts=(known,))


def test_host_key_confirmation(node: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GNT_ROOTDIR", raising=False)
    port = int(node["port"])
    empty = tmp_path / "empty"
    empty.write_text("")
    unknown = settings(node, str(empty))
    asked: list[str] = []

    def answer(reply: bool):  # type: ignore[no-untyped-def]
        return lambda question: asked.append(question) or reply

    # known and the same: nothing to confirm
    assert hostkey.confirm_host_key("node9", "127.0.0.1", port, settings=settings(node, str(node["known"]))) is None
    # unknown: the admin sees the fingerprint; yes gives the key for the job, no changes nothing
    key = hostkey.confirm_host_key("node9", "127.0.0.1", port, ask=answer(True), settings=unknown)
    assert key == node["host_pub"] and "can't be established" in asked[-1] and "SHA256:" in asked[-1]
    with pytest.raises(OpPrereqError, match="not confirmed; nothing was changed"):
        hostkey.confirm_host_key("node9", "127.0.0.1", port, ask=answer(False), settings=unknown)
    assert empty.read_text() == ""
    # --no-ssh-key-check: accepted without asking
    count = len(asked)
    assert hostkey.confirm_host_key("node9", "127.0.0.1", port, no_check=True, settings=unknown) == node["host_pub"]
    assert len(asked) == count
    # changed: refused, unless --readd, which asks
    wrong = tmp_path / "wrong"
    wrong.write_text(f"[127.0.0.1]:{port} {keygen(tmp_path / 'old')}\n")
    with pytest.raises(OpPrereqError, match="has changed .* --readd"):
        hostkey.confirm_host_key("node9", "127.0.0.1", port, no_check=True, settings=settings(node, str(wrong)))
    readd = hostkey.confirm_host_key(
        "node9", "127.0.0.1", port, readd=True, ask=answer(True), settings=settings(node, str(wrong))
    )
    assert readd == node["host_pub"] and "has changed" in asked[-1]
    # the confirmed key is what the job trusts, and only it
    confirmed = SshSettings(port=port, user=str(node["user"]), timeout=5, key_filename=str(node["admin"]),
                            known_hosts=(str(empty),), confirmed_host_key=key)  # fmt: skip
    connect("node9", "127.0.0.1", confirmed).close()
    # a node that is not there
    with pytest.raises(OpPrereqError, match="Cannot reach node node9 over SSH"):
        hostkey.confirm_host_key("node9", "127.0.0.1", _free_port(), settings=unknown)


class Master:
    """Stands in for the master daemon: the cluster's ndparams, and the jobs submitted."""

    def __init__(self, port: int) -> None:
        self.port, self.submitted = port, []  # type: ignore[var-annotated]

    def get(self, path: str, **query: object) -> object:
        return {"ndparams": {"ssh_port": self.port}} if path == "/2/info" else {}

    def submit(self, ops: list[dict[str, object]]) -> int:
        self.submitted.append(ops)
        return 7


def test_gnt_node_add_puts_the_confirmed_key_in_the_opcode(
    node: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gnt.node import cli as node_cli

    monkeypatch.delenv("GNT_ROOTDIR", raising=False)
    master = Master(int(node["port"]))
    monkeypatch.setattr(node_cli, "client", lambda: master)
    argv = ["add", "--submit", "--primary-ip", "127.0.0.1", "node9"]
    refused = CliRunner().invoke(node_cli.main, argv)  # not a terminal, key not known: nothing submitted
    assert refused.exit_code == 1 and master.submitted == []
    assert "is not known" in refused.stderr and "--no-ssh-key-check" in refused.stderr
    accepted = CliRunner().invoke(node_cli.main, [*argv[:-1], "--no-ssh-key-check", "node9"])
    assert accepted.exit_code == 0, accepted.output
    assert master.submitted[0][0]["ssh_host_key"] == node["host_pub"]
