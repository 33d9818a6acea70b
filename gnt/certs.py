"""The cluster certificate and the RAPI certificate: self-signed key pairs made at `gnt-cluster init`.

Every node daemon presents the cluster certificate (server.pem) and requires it from its peers
(mutual TLS), as Ganeti's server.pem does; a peer with another certificate fails the handshake.
The RAPI serves HTTPS with a key pair of its own (rapi.pem, as in Ganeti): the RAPI's key sits
where HTTPS clients are served, and a leak of it must not open the node daemons, which never
trust it. EC P-256 keys keep `gnt-cluster init` fast (an RSA-2048 key takes ~100 ms to generate).
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl

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
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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


def server_context(pem_path: str) -> ssl.SSLContext:
    """TLS server side: present the cluster cert, require a client with the same cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_path)
    ctx.load_verify_locations(pem_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(pem_path: str) -> ssl.SSLContext:
    """TLS client side: present the cluster cert, accept only a server with the same cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_path)
    ctx.load_verify_locations(pem_path)
    ctx.check_hostname = False  # nodes are addressed by IP; the pinned cert is the identity
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def plain_server_context(pem_path: str) -> ssl.SSLContext:
    """TLS for the RAPI: server cert only (rapi.pem), clients authenticate with HTTP basic auth."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pem_path)
    return ctx


def ensure_rapi_pem(path: str, common_name: str) -> bool:
    """Make the RAPI key pair if this node has none (e.g. it just became master); True if made."""
    if os.path.exists(path):
        return False
    write_pem(path, generate_pem(common_name))
    log.warning("no RAPI certificate on this node: generated a new one at %s", path)
    return True
