"""The master's SSH to real nodes (paramiko): one strict way to connect, run a command and write a file.

Used by `gnt-node add` (gnt.node.join) and by `gnt-cluster command` / `copyfile`
(gnt.cluster.remote_run). Everything here is blocking; callers run it in threads.

Host keys are checked strictly: a key must already be in the cluster's known_hosts (or root's, which
an admin who ran `ssh node` has confirmed) and an unknown one is refused, never added. Adding a key
is a separate, explicit step (`gnt-node add` after the admin confirmed it).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from gnt import paths

__all__ = [
    "SshFailure",
    "SshSettings",
    "check_output",
    "connect",
    "fetch_host_key",
    "fingerprint",
    "host_pattern",
    "known_keys",
    "parse_host_key",
    "put_file",
    "read_file",
    "run",
    "sftp_makedirs",
    "sync",
]

#: output kept per command (the rest is dropped, and the result says so)
MAX_OUTPUT = 1024 * 1024


class SshFailure(Exception):
    """The node could not be reached, refused us, or showed a host key we do not know."""


def _default_known_hosts() -> tuple[str, ...]:
    return (paths.ssh_known_hosts(), os.path.expanduser("~/.ssh/known_hosts"))


def _default_key() -> str | None:
    key = paths.ssh_key()
    return key if os.path.exists(key) else None


@dataclass
class SshSettings:
    """How the master reaches a node. Defaults: root, port 22, the cluster's key and known_hosts."""

    port: int = 22
    user: str = "root"
    #: seconds to connect (TCP, key exchange, authentication)
    timeout: float = 15.0
    #: the private key tried first (the cluster's if there is one); root's usual keys and agent after it
    key_filename: str | None = field(default_factory=_default_key)
    #: files of trusted host keys; an unknown key is refused
    known_hosts: tuple[str, ...] = field(default_factory=_default_known_hosts)
    #: one more trusted key for this connection ("TYPE BASE64"), as the admin confirmed it on gnt-node add
    confirmed_host_key: str | None = None


def host_pattern(address: str, port: int) -> str:
    """How known_hosts names a host: the address, or [address]:port off port 22 (OpenSSH's form)."""
    return address if port == 22 else f"[{address}]:{port}"


def parse_host_key(text: str) -> Any:
    """A paramiko PKey from "TYPE BASE64" (ValueError if it is not one)."""
    import paramiko

    parts = text.split()
    if len(parts) < 2:
        raise ValueError("a host key is 'TYPE BASE64'")
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except Exception as err:  # noqa: BLE001 - paramiko raises several kinds for a malformed key
        raise ValueError(f"not an SSH host key: {err}") from None


def key_text(key: Any) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def fingerprint(key: Any) -> str:
    """OpenSSH's SHA256 fingerprint, as `ssh` shows it when it asks."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def fetch_host_key(address: str, port: int, timeout: float = 15.0) -> Any:
    """The key the node's sshd shows (no authentication): what gnt-node add asks the admin to confirm."""
    import socket

    import paramiko

    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as err:
        raise SshFailure(f"cannot connect to {address} port {port}: {err.strerror or err}") from err
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as err:
        raise SshFailure(f"cannot read the SSH host key of {address} port {port}: {err}") from err
    finally:
        transport.close()


def known_keys(settings: SshSettings, address: str, port: int, names: tuple[str, ...] = ()) -> dict[str, Any]:
    """The trusted keys for this host by key type (empty if none) from the known_hosts files."""
    import paramiko

    keys = paramiko.HostKeys()
    for known in settings.known_hosts:
        if os.path.exists(known):
            keys.load(known)
    for name in (host_pattern(address, port), *(host_pattern(n, port) for n in names)):
        entry = keys.lookup(name)
        if entry:
            return dict(entry)
    return {}


def load_private_key(path: str) -> Any:
    """The OpenSSH private key at `path` as a paramiko key of its own type.

    Given a `key_filename`, paramiko reads the file as each key class in turn until the server takes
    one. Debian 12's paramiko (2.12) reads an RSA key as a DSA key once the RSA login is refused
    (the cluster key is not yet on a new node) and cryptography raises ValueError ("q must be
    exactly 160, 224, or 256 bits long"), which ends the whole login before root's own keys are
    tried. Read with its own class, a refused key is only a refused key."""
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    with open(path, "rb") as handle:
        data = handle.read()
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:  # PEM ("BEGIN RSA PRIVATE KEY", ...), as older ssh-keygen wrote them
            key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise SshFailure(f"cannot read the SSH key {path}: {err}") from None
    if isinstance(key, rsa.RSAPrivateKey):
        return paramiko.RSAKey.from_private_key_file(path)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return paramiko.ECDSAKey.from_private_key_file(path)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return paramiko.Ed25519Key.from_private_key_file(path)
    raise SshFailure(f"cannot use the SSH key {path}: {type(key).__name__} keys are not supported")


def connect(node_name: str, address: str, settings: SshSettings) -> Any:
    """An authenticated paramiko.SSHClient to the node; SshFailure with a one-line reason otherwise."""
    import paramiko

    pkey = load_private_key(settings.key_filename) if settings.key_filename else None
    client = paramiko.SSHClient()
    for known in settings.known_hosts:
        if os.path.exists(known):
            client.load_host_keys(known)
    if settings.confirmed_host_key:
        key = parse_host_key(settings.confirmed_host_key)
        client.get_host_keys().add(host_pattern(address, settings.port), key.get_name(), key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())  # an unknown host key is never trusted
    try:
        client.connect(
            address,
            port=settings.port,
            username=settings.user,
            timeout=settings.timeout,
            banner_timeout=settings.timeout,
            auth_timeout=settings.timeout,
            pkey=pkey,
            allow_agent=True,
            look_for_keys=True,  # root's own keys too: how the master first gets in to a new node
        )
    except paramiko.BadHostKeyException as err:
        client.close()
        raise SshFailure(
            f"the host key of {node_name} ({address}) is not the one known: {err.key.get_name()}"
            f" {err.key.fingerprint}; if the node was reinstalled, re-add it with `gnt-node add --readd`"
        ) from err
    except paramiko.SSHException as err:
        client.close()
        if "not found in known_hosts" in str(err):
            raise SshFailure(f"the host key of {node_name} ({address}) is not known; gnt-node add confirms it") from err
        raise SshFailure(f"cannot connect to {node_name} ({address}) over SSH: {err}") from err
    except OSError as err:
        client.close()
        raise SshFailure(f"cannot connect to {node_name} ({address}) over SSH: {err.strerror or err}") from err
    return client


def run(client: Any, command: str, timeout: float | None, max_output: int = MAX_OUTPUT) -> tuple[int | None, str]:
    """(exit code or None if it did not end within timeout, its stdout and stderr interleaved, capped).

    No terminal is asked for (as `ssh -T`), so the node's shell sees no tty and output has plain newlines.
    """

    channel = client.get_transport().open_session()
    try:
        channel.set_combine_stderr(True)
        channel.exec_command(command)
        channel.shutdown_write()
        deadline = None if timeout is None else time.monotonic() + timeout
        kept, produced = bytearray(), 0
        code: int | None = None
        try:
            while True:
                if deadline is not None:
                    channel.settimeout(max(deadline - time.monotonic(), 0.001))  # the whole run, not each read
                chunk = channel.recv(65536)
                if not chunk:
                    break
                produced += len(chunk)
                if len(kept) < max_output:
                    kept += chunk[: max_output - len(kept)]
            while not channel.exit_status_ready():  # the output has ended; the exit status follows
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError
                channel.status_event.wait(0.1)
            code = channel.recv_exit_status()
        except TimeoutError:
            code = None
        output = bytes(kept).decode(errors="replace")
        if produced > len(kept):
            output += f"\n(output cut at {max_output} bytes)"
        return code, output
    finally:
        channel.close()


def check_output(client: Any, command: str, timeout: float = 60.0) -> str:
    """The command's standard output; OSError with its standard error if it fails.

    For gnt's own fixed commands: a login shell's start-up noise on stderr does not mix into what is parsed.
    """
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    code = stdout.channel.recv_exit_status()
    if code != 0:
        last = (err.strip().splitlines() or [""])[-1]
        raise OSError(f"`{command.split()[0]}` exited {code}: {last}")
    return out


def read_file(client: Any, path: str) -> bytes | None:
    """A file's content over SFTP, None if it does not exist."""
    with client.open_sftp() as sftp:
        try:
            with sftp.file(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None


def put_file(client: Any, path: str, data: bytes, mode: int) -> None:
    """Write a whole file over SFTP: a temporary name, the mode set, then renamed over the old one."""
    with client.open_sftp() as sftp:
        tmp = f"{path}.gnt-{secrets.token_hex(6)}"  # its own name: two writers never share a temporary file
        try:
            with sftp.file(tmp, "wb") as handle:
                handle.write(data)
            sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                sftp.remove(tmp)
            raise


def sftp_makedirs(client: Any, path: str, mode: int = 0o755) -> None:
    """mkdir -p over SFTP (no remote shell involved)."""
    with client.open_sftp() as sftp:
        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            try:
                sftp.stat(current)
            except OSError:
                sftp.mkdir(current, mode)


def is_dir(client: Any, path: str) -> bool:
    """Whether the node has a directory there (over SFTP)."""
    import stat

    with client.open_sftp() as sftp:
        try:
            return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
        except OSError:
            return False


def sync(client: Any) -> None:
    """Put what was just written on the node's disk (gnt.durable says why a rename is not enough).

    SFTP itself cannot: paramiko lacks OpenSSH's fsync@openssh.com, so the node runs `sync`.
    """
    code, output = run(client, "sync", 60)
    if code != 0:
        raise OSError(f"sync on the node failed: {output.strip()}")
