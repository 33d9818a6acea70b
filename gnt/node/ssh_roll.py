"""Renewing the cluster's SSH key (`gnt-cluster renew-crypto --new-ssh-keys`) without locking the master out.

The order keeps a way in at every step: the new public key is authorized on every node while the
old key still opens them; only when all nodes took it does the master switch its key files (and
send them to the candidates); then the old key is removed from every node, logging in with the new
one. A node that refuses the new key stops the renewal before the switch, and the new key is taken
back from the nodes that got it: nothing changed. A node that cannot drop the old key afterwards is
named in a warning (the new key works there; running the renewal again removes the leftover).

A node whose SSH host key the cluster never recorded (added with `gnt-node add --no-node-setup`: its
admin set it up, the master never logged in) is left out, named in a warning with what to do by hand:
the master cannot tell its sshd from an impostor's, and its admin, not gnt, owns its SSH setup (as
Ganeti leaves the SSH setup of nodes it does not manage alone). Its host key is not learnt here:
nothing the master holds vouches for it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Protocol

from gnt import paths, ssh_key_spec
from gnt.errors import ECODE_ENVIRON, GntError, OpExecError, OpPrereqError

__all__ = ["KeyOps", "SshKeyOps", "generate_key_pair", "roll_ssh_key"]


class KeyOps(Protocol):
    """Changing one node's authorized keys, logged in with the private key at `key_file`."""

    async def authorize(self, node: str, address: str, public_key: str, key_file: str) -> None: ...

    async def revoke(self, node: str, address: str, public_key: str, key_file: str) -> None: ...

    def host_key_known(self, node: str, address: str) -> bool:
        """Whether the master can check this node's sshd (its host key is recorded) before logging in."""
        ...


class SshKeyOps:
    """KeyOps over SSH (gnt.node.join.SshTransport: the node's AuthorizedKeysFile, strict host keys).

    `verify` False (--no-ssh-key-check) trusts whatever host key the node shows, as Ganeti's option does.
    """

    def __init__(self, ports: dict[str, int], verify: bool = True, **transport_args: object) -> None:
        self.ports = ports
        self.verify = verify
        self.transport_args = transport_args

    async def _transport(self, node: str, address: str, key_file: str) -> object:
        from gnt.node import ssh
        from gnt.node.join import SshTransport

        port = self.ports.get(node, 22)
        confirmed = None
        if not self.verify:
            try:
                confirmed = ssh.key_text(await asyncio.to_thread(ssh.fetch_host_key, address, port))
            except ssh.SshFailure as err:
                raise OpPrereqError(f"Cannot reach node {node} over SSH ({address}): {err}", ECODE_ENVIRON) from None
        args = {"port": port, "key_filename": key_file, "confirmed_host_key": confirmed, **self.transport_args}
        return SshTransport(**args)  # type: ignore[arg-type]

    async def authorize(self, node: str, address: str, public_key: str, key_file: str) -> None:
        transport = await self._transport(node, address, key_file)
        try:
            await transport.install_ssh_key(node, address, public_key)  # type: ignore[attr-defined]
        finally:
            transport.close()  # type: ignore[attr-defined]

    async def revoke(self, node: str, address: str, public_key: str, key_file: str) -> None:
        transport = await self._transport(node, address, key_file)
        try:
            await transport.remove_ssh_key(node, address, public_key)  # type: ignore[attr-defined]
        finally:
            transport.close()  # type: ignore[attr-defined]

    def host_key_known(self, node: str, address: str) -> bool:
        """True when known_hosts (the cluster's, or root's) lists the node's host key, or keys are not checked.

        `gnt-node add` records the key it confirmed; a node added with --no-node-setup has none recorded.
        """
        from gnt.node import ssh

        if not self.verify:
            return True
        settings = ssh.SshSettings(port=self.ports.get(node, 22))
        known = self.transport_args.get("known_hosts")
        if known:
            settings.known_hosts = (str(known),)
        try:
            return bool(ssh.known_keys(settings, address, settings.port, names=(node,)))
        except OSError as err:
            raise OpPrereqError(f"Cannot read the cluster's known SSH host keys: {err}", ECODE_ENVIRON) from None


def generate_key_pair(key_type: str, bits: int) -> tuple[bytes, str]:
    """(private key in OpenSSH PEM, public key "TYPE BASE64") of a new key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    bits = bits or ssh_key_spec.DEFAULT_BITS[key_type]
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    elif key_type == "ecdsa":
        curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}[bits]
        key = ec.generate_private_key(curve)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def _write_private(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _read_public(path: str) -> str | None:
    try:
        with open(path) as handle:
            return " ".join(handle.read().split()[:2]) or None
    except FileNotFoundError:
        return None


async def _each(nodes: list[tuple[str, str]], step: Callable[[str, str], object]) -> dict[str, str]:
    """Run `step` on every node at once; the nodes it failed on, with why.

    Any failure is caught, not only gnt's own errors: one node's surprise must still let the roll take the
    new key back from the others (never a half-rolled key set).
    """

    async def one(name: str, address: str) -> str | None:
        try:
            await step(name, address)  # type: ignore[misc]
        except GntError as err:
            return str(err)
        except Exception as err:  # noqa: BLE001 - see above: the roll must go on to undo its steps
            return f"{type(err).__name__}: {err}"
        return None

    results = await asyncio.gather(*(one(n, a) for n, a in nodes))
    return {n: err for (n, _), err in zip(nodes, results, strict=True) if err is not None}


async def roll_ssh_key(
    nodes: list[tuple[str, str]], key_type: str, bits: int, ops: KeyOps, feedback: Callable[[str], None]
) -> str:
    """Replace the cluster's key pair on the master and on `nodes` ((name, address)); the new public key.

    Nodes whose host key the cluster never recorded are left as they are and named in warnings.
    """
    private_path = paths.ssh_key()
    old_public = _read_public(private_path + ".pub")
    known = await asyncio.to_thread(lambda: [ops.host_key_known(n, a) for n, a in nodes])
    by_hand = sorted(n for (n, _), ok in zip(nodes, known, strict=True) if not ok)
    nodes = [(n, a) for (n, a), ok in zip(nodes, known, strict=True) if ok]
    for name in by_hand:
        feedback(
            f"  - WARNING: node {name} is left out: the cluster's known_hosts holds no SSH host key for it (as for"
            " a node added with gnt-node add --no-node-setup), so the master cannot check whom it would log in to"
        )
    private, public = await asyncio.to_thread(generate_key_pair, key_type, bits)
    staged = private_path + ".new"
    await asyncio.to_thread(_write_private, staged, private)
    try:
        feedback(f"* authorizing the new {key_type} SSH key on {len(nodes)} node(s)")
        failed = await _each(nodes, lambda n, a: ops.authorize(n, a, public, private_path))
        if failed:
            got_it = [(n, a) for n, a in nodes if n not in failed]
            await _each(got_it, lambda n, a: ops.revoke(n, a, public, private_path))
            names = ", ".join(sorted(failed))
            raise OpExecError(
                f"Could not authorize the new SSH key on {names} ({failed[sorted(failed)[0]]}); nothing was changed"
            )
        os.replace(staged, private_path)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)
    with open(private_path + ".pub", "w") as handle:
        handle.write(f"{public} gnt-cluster\n")
    if old_public and old_public != public:
        feedback("* removing the old SSH key from the nodes")
        left = await _each(nodes, lambda n, a: ops.revoke(n, a, old_public, private_path))
        for name in sorted(left):
            feedback(
                f"  - WARNING: node {name} still accepts the old SSH key ({left[name]}); the new one works there:"
                f" remove the old key ({old_public[:40]}...) from its authorized keys by hand"
            )
    for name in by_hand:
        old = f" and remove the old one ({old_public[:40]}...) if it is there" if old_public else ""
        feedback(
            f"  - WARNING: node {name} was not changed: on it, add the new key ({private_path}.pub on the master)"
            f" to root's authorized keys{old}; or let the master set it up over SSH, its host key"
            f" confirmed: gnt-node add --readd {name}"
        )
    return public
