"""The cluster certificate and the RAPI certificate: self-signed key pairs made at `gnt-cluster init`.

Every node daemon presents the cluster certificate (server.pem) and requires it from its peers
(mutual TLS), as Ganeti's server.pem does; a peer with another certificate fails the handshake.
The RAPI serves HTTPS with a key pair of its own (rapi.pem, as in Ganeti): the RAPI's key sits
where HTTPS clients are served, and a leak of it must not open the node daemons, which never
trust it. EC P-256 keys keep `gnt-cluster init` fast (an RSA-2048 key takes ~100 ms to generate).

Since doc/design/020 each node's server.pem holds a key and certificate of its own followed by the
cluster CA's certificate (gnt.node_certs); a node trusts the CA, not its own certificate.

Renewing the cluster certificate while jobs run (gnt-cluster renew-crypto, doc/design/013) needs a
moment where old and new are both accepted: beside server.pem a node may hold server-trust.pem,
extra certificates (public halves only) it trusts as well. Both sides' contexts are rebuilt when
either file changes (`ReloadingContext`), so a node daemon never closes its listener to switch.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import ssl
from collections.abc import Callable

from gnt import durable

VALIDITY_DAYS = 5 * 365
log = logging.getLogger(__name__)


def generate_pem(common_name: str) -> bytes:
    """A new self-signed certificate and its key, concatenated as PEM."""
    # imported here: node daemons only need the ssl contexts below, and cryptography costs ~8 MB
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    # a subject of its own per certificate: during a renewal old and new are trusted side by side, and
    # OpenSSL picks a trusted certificate by subject name; two with the same name make one fail to verify
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, format(serial, "x")),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def write_pem(path: str, pem: bytes) -> None:
    """Write atomically with mode 0600: a half-written key must never be read."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    durable.write_file(path, pem, 0o600)


_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", re.S)


def trust_path(pem_path: str) -> str:
    """Where the certificates trusted besides `pem_path`'s own live (server.pem -> server-trust.pem)."""
    base = pem_path[:-4] if pem_path.endswith(".pem") else pem_path
    return base + "-trust.pem"


def cert_blocks(pem: bytes) -> list[bytes]:
    """Each certificate block of a PEM in order (keys left out), each ending in one newline."""
    return [m.group(0).rstrip(b"\n") + b"\n" for m in _CERT_BLOCK.finditer(pem)]


def public_part(pem: bytes) -> bytes:
    """The certificate blocks of a PEM, without its key: what may be handed out to be trusted."""
    return b"".join(cert_blocks(pem))


def first_der(pem: bytes) -> bytes:
    """The DER of the first certificate in `pem` (ValueError if it holds none)."""
    blocks = cert_blocks(pem)
    if not blocks:
        raise ValueError("no PEM certificate")
    return ssl.PEM_cert_to_DER_cert(blocks[0].decode())


def check_key_pair(pem: bytes, what: str) -> None:
    """Raise ValueError (one line) unless `pem` holds a private key and a certificate of that key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = public_part(pem)
    if not certs:
        raise ValueError(f"{what} holds no PEM certificate")
    if b"PRIVATE KEY-----" not in pem:
        raise ValueError(f"{what} holds no PEM private key")
    try:
        cert = x509.load_pem_x509_certificate(certs)
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{what} cannot be read: {str(err).splitlines()[0] if str(err) else 'bad PEM'}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, public) != cert.public_key().public_bytes(enc, public):
        raise ValueError(f"{what}: the private key does not belong to the certificate")


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the first certificate in `pem` (hex, colon-separated), to name a certificate in messages."""
    import hashlib

    digest = hashlib.sha256(first_der(pem)).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 16, 2))


def trusted_part(pem: bytes) -> bytes:
    """The certificates a node's identity file makes it trust: the CA after its own (a per-node certificate),
    or the one certificate itself (the shared cluster certificate of clusters made before per-node ones)."""
    blocks = _CERT_BLOCK.findall(pem)
    chain = blocks[1:] if len(blocks) > 1 else blocks
    return b"".join(b.rstrip(b"\n") + b"\n" for b in chain)


def _load_trust(ctx: ssl.SSLContext, pem_path: str) -> None:
    with open(pem_path, "rb") as handle:
        own = trusted_part(handle.read())
    ctx.load_verify_locations(cadata=own.decode())
    extra = trust_path(pem_path)
    if os.path.exists(extra) and os.path.getsize(extra) > 0:
        ctx.load_verify_locations(extra)


def server_context(pem_path: str) -> ssl.SSLContext:
    """TLS server side: present the cluster cert, require a client with it (or one in the trust file)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_path)
    _load_trust(ctx, pem_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(pem_path: str) -> ssl.SSLContext:
    """TLS client side: present the cluster cert, accept only a server with it (or one in the trust file)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_path)
    _load_trust(ctx, pem_path)
    ctx.check_hostname = False  # nodes are addressed by IP; the pinned cert is the identity
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def file_identity(path: str) -> tuple[int, int, int] | None:
    """What changes when a file is replaced or rewritten (inode, size, mtime); None if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def files_identity(pem_path: str) -> tuple[tuple[int, int, int] | None, ...]:
    """What changes when the key pair or the trust file is replaced (inode, size, mtime of each)."""
    return tuple(file_identity(path) for path in (pem_path, trust_path(pem_path)))


class ReloadingContext:
    """A server context that picks up a replaced key pair or trust file at each new handshake.

    The listening socket keeps one context; its SNI callback (OpenSSL calls it for every
    ClientHello, SNI or not) hands the connection the context built from the files as they are
    now. Connections already open keep theirs. A file caught half-replaced keeps the last good one.
    """

    def __init__(self, pem_path: str, build: Callable[[str], ssl.SSLContext] = server_context) -> None:
        self.pem_path = pem_path
        self._build = build
        self._identity = files_identity(pem_path)
        self._current = build(pem_path)
        self.context = build(pem_path)
        self.context.sni_callback = self._pick

    def current(self) -> ssl.SSLContext:
        identity = files_identity(self.pem_path)
        if identity != self._identity:
            try:
                self._current = self._build(self.pem_path)
                self._identity = identity
            except (OSError, ssl.SSLError) as err:
                log.error("cannot load %s: %s; keeping the previous certificate", self.pem_path, err)
        return self._current

    def _pick(self, conn: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        conn.context = self.current()


def plain_server_context(pem_path: str) -> ssl.SSLContext:
    """TLS for the RAPI: server cert only (rapi.pem), clients authenticate with HTTP basic auth."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_path)
    return ctx


def reloading_rapi_context(pem_path: str) -> ssl.SSLContext:
    """The RAPI's context, serving a renewed rapi.pem from the next connection on (no restart)."""
    return ReloadingContext(pem_path, plain_server_context).context


def ensure_rapi_pem(path: str, common_name: str) -> bool:
    """Make the RAPI key pair if this node has none (e.g. it just became master); True if made."""
    if os.path.exists(path):
        return False
    write_pem(path, generate_pem(common_name))
    log.warning("no RAPI certificate on this node: generated a new one at %s", path)
    return True
