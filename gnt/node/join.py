"""Getting the cluster certificate onto a new node, before any TLS RPC to it can work.

Two transports behind one method: in a virtual cluster the node's root directory is on this
machine, so the certificate is written there; on a real cluster it goes over SSH (paramiko),
as Ganeti's node setup does.
"""

from __future__ import annotations

import asyncio
import os
from typing import Protocol

from gnt import paths
from gnt.certs import write_pem
from gnt.errors import ECODE_ENVIRON, OpPrereqError

REMOTE_CERT_PATH = "/var/lib/gnt/server.pem"


class JoinTransport(Protocol):
    async def install_cert(self, node_name: str, address: str, pem: bytes) -> None: ...


class LocalTransport:
    """Virtual cluster: write into DIR/<node>/var/lib/gnt/server.pem."""

    async def install_cert(self, node_name: str, address: str, pem: bytes) -> None:
        root = paths.node_root(node_name)
        if not root or not os.path.isdir(root):
            raise OpPrereqError(
                f"Node {node_name} is not a virtual node of this cluster (no directory {root or '?'});"
                " create it with tools/vcluster-setup",
                ECODE_ENVIRON,
            )
        target = root + REMOTE_CERT_PATH
        await asyncio.to_thread(write_pem, target, pem)


class SshTransport:
    """Real cluster: root SSH to the node (keys from the usual places), then SFTP the file."""

    def __init__(self, port: int = 22, user: str = "root", timeout: float = 15.0) -> None:
        self.port, self.user, self.timeout = port, user, timeout

    async def install_cert(self, node_name: str, address: str, pem: bytes) -> None:
        await asyncio.to_thread(self._install, node_name, address, pem)

    def _install(self, node_name: str, address: str, pem: bytes) -> None:
        import paramiko

        client = paramiko.SSHClient()
        client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(address, port=self.port, username=self.user, timeout=self.timeout)
            sftp = client.open_sftp()
            _, stdout, _ = client.exec_command(f"mkdir -p {os.path.dirname(REMOTE_CERT_PATH)}")
            stdout.channel.recv_exit_status()
            tmp = REMOTE_CERT_PATH + ".tmp"
            with sftp.file(tmp, "wb") as handle:
                handle.write(pem)
            sftp.chmod(tmp, 0o600)
            sftp.posix_rename(tmp, REMOTE_CERT_PATH)
        except (OSError, paramiko.SSHException) as err:
            raise OpPrereqError(f"Cannot set up node {node_name} over SSH ({address}): {err}", ECODE_ENVIRON) from err
        finally:
            client.close()


def default_transport(port: int = 22) -> JoinTransport:
    return LocalTransport() if paths.is_virtual() else SshTransport(port=port)
