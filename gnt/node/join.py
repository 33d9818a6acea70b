"""Getting the cluster certificate onto a new node, before any TLS RPC to it can work, and the
node's list of allowed storage directories (gnt.confine), which no RPC may change; on a real node
also checking its gnt version, installing the cluster's SSH key, and on removal taking all that away.

Two transports behind the same methods: in a virtual cluster the node's root directory is on this
machine, so the certificate is written there (and there is no sshd, no other install); on a real
cluster it goes over SSH (gnt.node.ssh: paramiko, strict host keys), as Ganeti's node setup does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from typing import Any, Protocol

from gnt import PROTOCOL_VERSION, __version__, durable, paths
from gnt.certs import write_pem
from gnt.errors import ECODE_ENVIRON, OpPrereqError
from gnt.node import ssh, sshkeys
from gnt.node.ssh import SshSettings

REMOTE_CERT_PATH = "/var/lib/gnt/server.pem"
REMOTE_STORAGE_PATHS = "/var/lib/gnt/file-storage-paths"
REMOTE_VOLUME_GROUPS = "/var/lib/gnt/lvm-volume-groups"
REMOTE_CERT_LIST = "/var/lib/gnt/ssconf_node_certs"


REMOTE_PID_FILE = "/var/run/gnt/gnt-noded.pid"
SSHD_CONFIG = "/etc/ssh/sshd_config"


class JoinTransport(Protocol):
    async def check_version(self, node_name: str, address: str) -> None: ...

    async def install_cert(self, node_name: str, address: str, pem: bytes) -> None: ...

    async def install_storage_paths(self, node_name: str, address: str, text: str) -> None: ...

    async def install_volume_groups(self, node_name: str, address: str, text: str) -> None: ...

    async def install_cert_list(self, node_name: str, address: str, text: str) -> None:
        """The node certificates the node may accept callers by (ssconf `node_certs`), before its daemon serves:
        a re-added node's old list names certificates the cluster no longer uses (gnt.node_certs)."""
        ...

    async def install_ssh_key(self, node_name: str, address: str, public_key: str) -> None: ...

    async def start_node_daemon(self, node_name: str, address: str) -> str: ...

    async def leave(self, node_name: str, address: str, public_key: str | None) -> None: ...

    def host_key(self, address: str) -> str | None:
        """The host key the node showed ("TYPE BASE64"), to remember in the cluster's known_hosts."""
        ...

    def close(self) -> None: ...


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

    async def install_cert_list(self, node_name: str, address: str, text: str) -> None:
        root = paths.node_root(node_name)
        if not root or not os.path.isdir(root):
            raise OpPrereqError(f"Node {node_name} is not a virtual node of this cluster", ECODE_ENVIRON)
        await asyncio.to_thread(durable.write_file, root + REMOTE_CERT_LIST, text)

    async def check_version(self, node_name: str, address: str) -> None:
        """A virtual node runs the master's own install."""

    async def install_ssh_key(self, node_name: str, address: str, public_key: str) -> None:
        """A virtual node has no sshd of its own."""

    async def start_node_daemon(self, node_name: str, address: str) -> str:
        """A virtual node's daemon runs already (the virtual cluster's start-all started it)."""
        return ""

    async def leave(self, node_name: str, address: str, public_key: str | None) -> None:
        """The node daemon's node_leave already forgot the cluster; it keeps running (vcluster's stop-all ends it)."""

    def host_key(self, address: str) -> str | None:
        return None

    def close(self) -> None:
        pass


class NoSetupTransport(LocalTransport):
    """`gnt-node add --no-node-setup`: the admin set the node up (certificate, storage lists); nothing is sent."""

    async def install_cert(self, node_name: str, address: str, pem: bytes) -> None:
        pass

    async def install_storage_paths(self, node_name: str, address: str, text: str) -> None:
        pass

    async def install_volume_groups(self, node_name: str, address: str, text: str) -> None:
        pass

    async def install_cert_list(self, node_name: str, address: str, text: str) -> None:
        pass


class SshTransport:
    """Real cluster: SSH to the node as root (gnt.node.ssh: the cluster's key, strict host keys), then SFTP.

    One connection per node serves every step of a join or removal; `close()` ends it.
    `remote_path` (the certificate's place) also places the node's other gnt files, so tests can
    point a whole join at a scratch directory.
    """

    def __init__(
        self,
        port: int = 22,
        user: str = "root",
        timeout: float = 15.0,
        key_filename: str | None = None,
        known_hosts: str | None = None,
        remote_path: str = REMOTE_CERT_PATH,
        confirmed_host_key: str | None = None,
        sshd_config: str = SSHD_CONFIG,
        pid_file: str = REMOTE_PID_FILE,
    ) -> None:
        self.settings = SshSettings(port=port, user=user, timeout=timeout, confirmed_host_key=confirmed_host_key)
        if key_filename:
            self.settings.key_filename = key_filename
        if known_hosts:
            self.settings.known_hosts = (known_hosts,)
        self.remote_path, self.sshd_config, self.pid_file = remote_path, sshd_config, pid_file
        self._clients: dict[str, Any] = {}
        #: how the node's gnt tells its version (the node's own install, on root's PATH)
        self.version_command = "gnt-cluster version"
        #: how the node's own install starts its node daemon (gnt.daemon_util)
        self.start_command = "gnt-daemon-util start gnt-noded"

    def _remote(self, default: str) -> str:
        return os.path.join(os.path.dirname(self.remote_path), os.path.basename(default))

    async def check_version(self, node_name: str, address: str) -> None:
        await self._step(node_name, address, self._check_version)

    async def install_cert(self, node_name: str, address: str, pem: bytes) -> None:
        await self._step(node_name, address, self._write, self.remote_path, pem, 0o600)

    async def install_storage_paths(self, node_name: str, address: str, text: str) -> None:
        await self._step(node_name, address, self._write, self._remote(REMOTE_STORAGE_PATHS), text.encode(), 0o644)

    async def install_volume_groups(self, node_name: str, address: str, text: str) -> None:
        await self._step(node_name, address, self._write, self._remote(REMOTE_VOLUME_GROUPS), text.encode(), 0o644)

    async def install_cert_list(self, node_name: str, address: str, text: str) -> None:
        await self._step(node_name, address, self._write, self._remote(REMOTE_CERT_LIST), text.encode(), 0o644)

    async def install_ssh_key(self, node_name: str, address: str, public_key: str) -> None:
        await self._step(node_name, address, self._change_authorized_keys, public_key, sshkeys.add_key)

    async def start_node_daemon(self, node_name: str, address: str) -> str:
        """`gnt-daemon-util start gnt-noded` on the node: systemd's unit when it has one, else detached."""
        said: list[str] = []
        await self._step(node_name, address, self._start_node_daemon, said)
        return said[0] if said else ""

    async def leave(self, node_name: str, address: str, public_key: str | None) -> None:
        await self._step(node_name, address, self._leave, public_key)

    async def remove_ssh_key(self, node_name: str, address: str, public_key: str) -> None:
        """Take `public_key` out of the node's authorized keys (renew-crypto --new-ssh-keys drops the old key)."""
        await self._step(node_name, address, self._change_authorized_keys, public_key, sshkeys.remove_key)

    def host_key(self, address: str) -> str | None:
        client = self._clients.get(address)
        return ssh.key_text(client.get_transport().get_remote_server_key()) if client else None

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    async def _step(self, node_name: str, address: str, func: Any, *args: Any) -> None:
        await asyncio.to_thread(self._run_step, node_name, address, func, *args)

    def _run_step(self, node_name: str, address: str, func: Any, *args: Any) -> None:
        import paramiko

        try:
            client = self._clients.get(address)
            if client is None:
                client = self._clients[address] = ssh.connect(node_name, address, self.settings)
            func(node_name, client, *args)
        except (ssh.SshFailure, OSError, paramiko.SSHException) as err:
            raise OpPrereqError(f"Cannot set up node {node_name} over SSH ({address}): {err}", ECODE_ENVIRON) from err

    def _write(self, node_name: str, client: Any, target: str, data: bytes, mode: int) -> None:
        ssh.sftp_makedirs(client, os.path.dirname(target))
        ssh.put_file(client, target, data, mode)
        ssh.sync(client)

    def _check_version(self, node_name: str, client: Any) -> None:
        try:
            out = ssh.check_output(client, self.version_command)
        except OSError as err:
            raise OpPrereqError(
                f"Cannot run gnt-cluster on node {node_name} ({err}); install gnt {__version__} there first",
                ECODE_ENVIRON,
            ) from None
        found = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        theirs = (found.get("Software version", "?").strip(), found.get("Internode protocol", "?").strip())
        if theirs != (__version__, str(PROTOCOL_VERSION)):
            raise OpPrereqError(
                f"Node {node_name} runs gnt {theirs[0]} (protocol {theirs[1]}), the master gnt {__version__}"
                f" (protocol {PROTOCOL_VERSION}); install the master's version on the node",
                ECODE_ENVIRON,
            )

    def _start_node_daemon(self, node_name: str, client: Any, said: list[str]) -> None:
        try:
            out = ssh.check_output(client, self.start_command)
        except OSError as err:
            raise OpPrereqError(f"Cannot start gnt-noded on node {node_name}: {err}", ECODE_ENVIRON) from None
        said.append(out.strip().splitlines()[-1] if out.strip() else "")

    def _authorized_keys_file(self, node_name: str, client: Any) -> str:
        """The first file the node's sshd reads root's keys from (its AuthorizedKeysFile, Ganeti #1195)."""
        with client.open_sftp() as sftp:
            home = sftp.normalize(".")
            uid = sftp.stat(".").st_uid or 0
        user = self.settings.user
        try:
            config = ssh.check_output(
                client,
                f'PATH="$PATH:/usr/sbin:/sbin" sshd -T -f {shlex.quote(self.sshd_config)}'
                f" -C user={shlex.quote(user)},host=gnt-master,addr=127.0.0.1",
            )
            from_sshd_t = True
        except OSError:
            config = (ssh.read_file(client, self.sshd_config) or b"").decode(errors="replace")
            from_sshd_t = False
        files = sshkeys.authorized_keys_files(config, user, home, uid, from_sshd_t)
        if not files:
            raise OpPrereqError(
                f"The sshd of node {node_name} reads no authorized keys file (AuthorizedKeysFile none)", ECODE_ENVIRON
            )
        return files[0]

    def _change_authorized_keys(self, node_name: str, client: Any, public_key: str, change: Any) -> None:
        path = self._authorized_keys_file(node_name, client)
        old = ssh.read_file(client, path)
        new = change((old or b"").decode(errors="replace"), public_key)
        if new is None:
            return  # already as wanted
        mode = 0o600
        if old is None:
            ssh.sftp_makedirs(client, os.path.dirname(path), 0o700)
        else:
            with client.open_sftp() as sftp:
                mode = (sftp.stat(path).st_mode or 0o600) & 0o7777
        ssh.put_file(client, path, new.encode(), mode)
        ssh.sync(client)

    def _leave(self, node_name: str, client: Any, public_key: str | None) -> None:
        """Stop the node daemon, delete the cluster's files, and last the cluster's key (our way in)."""
        pid = shlex.quote(self.pid_file)
        stop = (
            "if [ -d /run/systemd/system ] && systemctl is-enabled --quiet gnt-noded 2>/dev/null;"
            " then systemctl disable --now gnt-noded;"
            f' elif [ -s {pid} ]; then kill "$(cat {pid})" 2>/dev/null; rm -f {pid}; fi; true'
        )
        ssh.check_output(client, stop)
        data = os.path.dirname(self.remote_path)
        files = [self.remote_path, self._remote(REMOTE_STORAGE_PATHS), self._remote(REMOTE_VOLUME_GROUPS)]
        files += [os.path.join(data, name) for name in _leftover_names()]
        with client.open_sftp() as sftp:
            with contextlib.suppress(FileNotFoundError):
                files += [os.path.join(data, n) for n in sftp.listdir(data) if n.startswith("ssconf_")]
            for path in files:
                with contextlib.suppress(FileNotFoundError):
                    sftp.remove(path)
        if public_key:
            self._change_authorized_keys(node_name, client, public_key, sshkeys.remove_key)


def _leftover_names() -> list[str]:
    """What else a node may hold of the cluster, relative to its data directory: the candidate-only keys (the
    CA's, the SSH key, the RAPI's) and the config and queue copies. The node daemon's node_leave removes them;
    over SSH they go too, for a node whose daemon could not be told (gnt-node remove of a dead daemon)."""
    from gnt.candidate_files import FILES

    data = paths.data_dir()
    names = [os.path.relpath(entry.path(), data) for entry in FILES.values()]
    for db in (paths.config_db(), paths.jobs_db()):
        names += [os.path.relpath(db, data) + suffix for suffix in ("", "-wal", "-shm")]
    return names


def default_transport(port: int = 22, confirmed_host_key: str | None = None) -> JoinTransport:
    return LocalTransport() if paths.is_virtual() else SshTransport(port=port, confirmed_host_key=confirmed_host_key)


def remember_host_key(node_name: str, address: str, port: int, key: str) -> None:
    """Put the node's host key in the cluster's known_hosts (replacing an older one of the node)."""
    from gnt import durable

    kind, data = key.split()[:2]
    hosts = f"{ssh.host_pattern(node_name, port)},{ssh.host_pattern(address, port)}"
    lines = [line for line in _known_lines() if not _names_node(line, node_name, address, port)]
    lines.append(f"{hosts} {kind} {data}\n")
    path = paths.ssh_known_hosts()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    durable.write_file(path, "".join(lines), 0o644)


def forget_host_key(node_name: str, address: str, port: int) -> None:
    """Take a removed node's host key out of the cluster's known_hosts (a re-add confirms it again)."""
    from gnt import durable

    lines = _known_lines()
    kept = [line for line in lines if not _names_node(line, node_name, address, port)]
    if len(kept) != len(lines):
        durable.write_file(paths.ssh_known_hosts(), "".join(kept), 0o644)


def _known_lines() -> list[str]:
    try:
        with open(paths.ssh_known_hosts()) as handle:
            return handle.readlines()
    except FileNotFoundError:
        return []


def _names_node(line: str, node_name: str, address: str, port: int) -> bool:
    hosts = line.split()[0].split(",") if line.strip() and not line.startswith("#") else []
    return bool({ssh.host_pattern(node_name, port), ssh.host_pattern(address, port)} & set(hosts))
