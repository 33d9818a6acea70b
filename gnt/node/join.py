"""Getting the cluster certificate onto a new node, before any TLS RPC to it can work, and the
node's list of allowed storage directories (gnt.confine), which no RPC may change.

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
from gnt.node import ssh
from gnt.node.ssh import SshSettings

REMOTE_CERT_PATH = "/var/lib/gnt/server.pem"
REMOTE_STORAGE_PATHS = "/var/lib/gnt/file-storage-paths"
REMOTE_VOLUME_GROUPS = "/var/lib/gnt/lvm-volume-groups"


class JoinTransport(Protocol):
    async def install_cert(self, node_name: str, address: str, pem: bytes) -> None: ...

    async def install_storage_paths(self, node_name: str, address: str, text: str) -> None: ...

    async def install_volume_groups(self, node_name: str, address: str, text: str) -> None: ...


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

    async def install_storage_paths(self, node_name: str, address: str, text: str) -> None:
        from gnt.confine import parse_storage_paths, write_storage_paths

        root = paths.node_root(node_name)
        if not root or not os.path.isdir(root):
            raise OpPrereqError(f"Node {node_name} is not a virtual node of this cluster", ECODE_ENVIRON)
        await asyncio.to_thread(write_storage_paths, root + REMOTE_STORAGE_PATHS, parse_storage_paths(text))

    async def install_volume_groups(self, node_name: str, address: str, text: str) -> None:
        from gnt.confine import parse_volume_groups, write_volume_groups

        root = paths.node_root(node_name)
        if not root or not os.path.isdir(root):
            raise OpPrereqError(f"Node {node_name} is not a virtual node of this cluster", ECODE_ENVIRON)
        await asyncio.to_thread(write_volume_groups, root + REMOTE_VOLUME_GROUPS, parse_volume_groups(text))


class SshTransport:
    """Real cluster: SSH to the node as root (gnt.node.ssh: the cluster's key, strict host keys), then SFTP."""

    def __init__(
        self,
        port: int = 22,
        user: str = "root",
        timeout: float = 15.0,
        key_filename: str | None = None,
        known_hosts: str | None = None,
        remote_path: str = REMOTE_CERT_PATH,
    ) -> None:
        self.settings = SshSettings(port=port, user=user, timeout=timeout)
        if key_filename:
            self.settings.key_filename = key_filename
        if known_hosts:
            self.settings.known_hosts = (known_hosts,)
        self.remote_path = remote_path

    async def install_cert(self, node_name: str, address: str, pem: bytes) -> None:
        await asyncio.to_thread(self._install, node_name, address, pem)

    async def install_storage_paths(self, node_name: str, address: str, text: str) -> None:
        remote = os.path.join(os.path.dirname(self.remote_path), os.path.basename(REMOTE_STORAGE_PATHS))
        await asyncio.to_thread(self._install, node_name, address, text.encode(), remote, 0o644)

    async def install_volume_groups(self, node_name: str, address: str, text: str) -> None:
        remote = os.path.join(os.path.dirname(self.remote_path), os.path.basename(REMOTE_VOLUME_GROUPS))
        await asyncio.to_thread(self._install, node_name, address, text.encode(), remote, 0o644)

    def _install(
        self, node_name: str, address: str, pem: bytes, remote_path: str | None = None, mode: int = 0o600
    ) -> None:
        import paramiko

        target = remote_path or self.remote_path
        try:
            client = ssh.connect(node_name, address, self.settings)
        except ssh.SshFailure as err:
            raise OpPrereqError(f"Cannot set up node {node_name} over SSH ({address}): {err}", ECODE_ENVIRON) from err
        try:
            ssh.sftp_makedirs(client, os.path.dirname(target))
            ssh.put_file(client, target, pem, mode)
            ssh.sync(client)
        except (OSError, paramiko.SSHException) as err:
            raise OpPrereqError(f"Cannot set up node {node_name} over SSH ({address}): {err}", ECODE_ENVIRON) from err
        finally:
            client.close()


def default_transport(port: int = 22) -> JoinTransport:
    return LocalTransport() if paths.is_virtual() else SshTransport(port=port)
