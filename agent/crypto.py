"""The node's side of `gnt-cluster renew-crypto`: replace its trusted certificates and its key pair.

Both are called over mutual TLS by the master, so the caller already holds a certificate this node
trusts. Files are written whole and atomically with mode 0600 (certs.write_pem): the node daemon's
`certs.ReloadingContext` and the master's client pick them up at their next handshake. The trust
file is written before the key pair, so the node never presents a certificate its peers do not yet
accept while it still needs the old one. Errors never quote the PEM (it may hold the key).
"""

from __future__ import annotations

import os

from agent.handlers import handles
from gnt import certs, paths
from gnt.errors import RpcArgumentError
from gnt.rpc import procedures as proc


def _checked_certs(values: list[str]) -> bytes:
    """The certificates as one PEM; refused if one is not a bare certificate (a key must not be trusted here)."""
    blocks = []
    for i, value in enumerate(values):
        data = value.encode()
        if b"PRIVATE KEY" in data:
            raise RpcArgumentError(f"trusted certificate #{i + 1} holds a private key; only certificates are taken")
        public = certs.public_part(data)
        if not public:
            raise RpcArgumentError(f"trusted certificate #{i + 1} is not a PEM certificate")
        blocks.append(public)
    return b"".join(blocks)


def _write_trust(pem_path: str, values: list[str]) -> None:
    data = _checked_certs(values)
    trust = certs.trust_path(pem_path)
    if data:
        certs.write_pem(trust, data)
    elif os.path.exists(trust):
        os.unlink(trust)


def _own_fingerprint(pem_path: str) -> str:
    with open(pem_path, "rb") as handle:
        return certs.fingerprint(handle.read())


@handles(proc.CRYPTO_TRUST)
async def crypto_trust(args: proc.CryptoTrustArgs) -> str:
    pem_path = paths.cluster_cert()
    _write_trust(pem_path, list(args.certs))
    return _own_fingerprint(pem_path)


@handles(proc.CRYPTO_INSTALL)
async def crypto_install(args: proc.CryptoInstallArgs) -> str:
    pem = args.pem.encode()
    try:
        certs.check_key_pair(pem, "the new key pair")
    except ValueError as err:
        raise RpcArgumentError(str(err)) from None
    pem_path = paths.cluster_cert()
    _write_trust(pem_path, list(args.trust))
    certs.write_pem(pem_path, pem)
    return certs.fingerprint(pem)
