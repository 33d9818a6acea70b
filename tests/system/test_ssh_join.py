"""Joining a real (non-virtual) node goes over SSH: a real sshd on loopback, a real paramiko client."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnt.errors import OpPrereqError
from gnt.node.join import SshTransport

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(
    not Path(SSHD).exists() or shutil.which("ssh-keygen") is None,
    reason="needs openssh-server and openssh-client (tools/install-deps.sh installs them as root)",
)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_sshd(config: Path, port: int) -> Iterator[None]:
    """Run sshd with `config` until the block ends; returns once it accepts connections on `port`."""
    import socket
    import time

    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory sshd insists on
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {proc.stderr.read() if proc.stderr else ''}") from None
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[dict[str, object]]:
    """An sshd on 127.0.0.1 that accepts only a key made for this test, for the current user."""
    import getpass

    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True)
    (tmp_path / "authorized_keys").write_text((tmp_path / "client.pub").read_text())
    (tmp_path / "authorized_keys").chmod(0o600)
    port = _free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'host'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\nPasswordAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
    )
    known = tmp_path / "known_hosts"
    host_pub = (tmp_path / "host.pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    with running_sshd(config, port):
        yield {"port": port, "key": str(tmp_path / "client"), "known": str(known), "user": getpass.getuser()}


def test_certificate_is_installed_over_ssh(sshd: dict[str, object], tmp_path: Path) -> None:
    target = tmp_path / "remote" / "var/lib/gnt/server.pem"
    transport = SshTransport(
        port=int(sshd["port"]),
        user=str(sshd["user"]),
        key_filename=str(sshd["key"]),
        known_hosts=str(sshd["known"]),
        remote_path=str(target),
    )
    asyncio.run(transport.install_cert("node9", "127.0.0.1", b"PEM DATA\n"))
    assert target.read_bytes() == b"PEM DATA\n"
    assert target.stat().st_mode & 0o777 == 0o600
    # the certificates the node may accept callers by go beside it, as its ssconf (design 020)
    asyncio.run(transport.install_cert_list("node9", "127.0.0.1", "ab candidate"))
    assert (target.parent / "ssconf_node_certs").read_text() == "ab candidate"


def test_unknown_host_key_is_refused(sshd: dict[str, object], tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    transport = SshTransport(
        port=int(sshd["port"]),
        user=str(sshd["user"]),
        key_filename=str(sshd["key"]),
        known_hosts=str(empty),
        remote_path=str(tmp_path / "x.pem"),
    )
    with pytest.raises(OpPrereqError, match="Cannot set up node node9 over SSH"):
        asyncio.run(transport.install_cert("node9", "127.0.0.1", b"PEM\n"))
    assert not (tmp_path / "x.pem").exists()


def test_unreachable_node_is_a_clear_error(tmp_path: Path) -> None:
    transport = SshTransport(port=_free_port(), timeout=3, remote_path=str(tmp_path / "x.pem"))
    with pytest.raises(OpPrereqError, match="Cannot set up node node9 over SSH"):
        asyncio.run(transport.install_cert("node9", "127.0.0.1", b"PEM\n"))
