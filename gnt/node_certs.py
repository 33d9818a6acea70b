"""Per-node certificates signed by the cluster CA, and the list of them a node daemon trusts callers by.

Every node presents a certificate of its own (server.pem: its key, its certificate, then the CA's
certificate), issued by the cluster CA (cluster-ca.pem, on the master and its candidates only) at
`gnt-node add` and renewed by `gnt-cluster renew-crypto --new-node-certificates`. A TLS peer must
chain to the CA; that alone proves only "some node of this cluster". Which node, and whether it may
act as master, comes from the certificate digests the master lists in ssconf (`node_certs`: one
`DIGEST ROLE` line per accepted certificate, ROLE `candidate` or `node`), as Ganeti's
`candidate_certs` do: a plain node's key cannot call a master's procedures, and a renewed
certificate's predecessor, which still chains to the CA, is refused once it leaves the list.
See doc/design/020-node-certificates.md.
"""

from __future__ import annotations

import datetime
import hashlib
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gnt import certs

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "ROLE_CANDIDATE",
    "ROLE_NODE",
    "SSCONF_KEY",
    "CertFacts",
    "digest",
    "digest_der",
    "format_list",
    "inspect",
    "issue",
    "learn",
    "parse_list",
]

SSCONF_KEY = "node_certs"
ROLE_CANDIDATE = "candidate"
ROLE_NODE = "node"
VALIDITY_DAYS = certs.VALIDITY_DAYS


def valid_until(cert: x509.Certificate) -> datetime.datetime:
    """The certificate's end of validity, timezone-aware, on any cryptography release.

    `not_valid_after_utc` came with cryptography 42; Debian 12's hosts run 38, which only has the
    naive `not_valid_after` (in UTC). Found when `gnt-cluster init` failed on the test bed's hosts.
    """
    if hasattr(cert, "not_valid_after_utc"):
        return cert.not_valid_after_utc
    return cert.not_valid_after.replace(tzinfo=datetime.UTC)


def valid_from(cert: x509.Certificate) -> datetime.datetime:
    """The certificate's start of validity, timezone-aware (see valid_until)."""
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc
    return cert.not_valid_before.replace(tzinfo=datetime.UTC)


def _check_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raise unless `issuer` signed `cert` (cryptography 40's verify_directly_issued_by, or by hand before it).

    By hand covers the keys gnt makes (EC, from gnt.certs) and RSA with PKCS#1 v1.5, which is what
    an admin's own CA would most likely use; anything else is reported as not verifiable.
    """
    if hasattr(cert, "verify_directly_issued_by"):
        cert.verify_directly_issued_by(issuer)
        return
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if cert.issuer != issuer.subject:
        raise ValueError("issuer name differs")
    key = issuer.public_key()
    algorithm = cert.signature_hash_algorithm
    if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
    elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    else:
        raise TypeError(f"cannot check a signature by a {type(key).__name__}")


def digest_der(der: bytes) -> str:
    """The SHA-256 of a DER certificate, lower-case hex: what the lists name a certificate by."""
    return hashlib.sha256(der).hexdigest()


def digest(pem: bytes) -> str:
    """The digest of the first certificate in `pem` (a node's own, in its server.pem)."""
    return digest_der(certs.first_der(pem))


def issue(ca_pem: bytes, node_name: str) -> bytes:
    """A new key and certificate for `node_name`, signed by the CA in `ca_pem`: key, certificate, CA certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key = serialization.load_pem_private_key(ca_pem, password=None)
    ca_cert_pem = certs.public_part(ca_pem)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, node_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, format(serial, "x")),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=VALIDITY_DAYS), valid_until(ca_cert)))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM) + ca_cert_pem


def common_name(der: bytes) -> str:
    """The CN a DER certificate names (a node certificate names its node: `issue` puts it there)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def presented(address: str, port: int, pem_path: str, timeout: float = 5.0) -> bytes:
    """The certificate (DER) the node daemon at `address` presents, once TLS has checked it chains to our CA.

    Raises OSError (unreachable) or ssl.SSLError (not signed by a CA this node trusts).
    """
    ctx = certs.client_context(pem_path)
    with socket.create_connection((address, port), timeout) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise OSError("the node presented no certificate")
    return der


def learn(node_name: str, address: str, port: int, pem_path: str, others: dict[str, str]) -> str:
    """The digest of the certificate `node_name`'s daemon presents, to pin it in the config (ValueError if unfit).

    For a node whose certificate the master did not issue into place itself (`gnt-node add --no-node-setup`,
    where the admin installed it; a node listed by no digest yet): the CA has signed it (the TLS handshake
    checks that), it names this node, and no other node presents it (`others`: digest -> node name).
    """
    try:
        der = presented(address, port, pem_path)
    except ssl.SSLError as err:
        raise ValueError(f"node {node_name}'s certificate is not signed by the cluster CA ({err.reason})") from None
    except OSError as err:
        raise ValueError(f"cannot fetch node {node_name}'s certificate from {address}:{port}: {err}") from None
    name = common_name(der)
    if name != node_name:
        raise ValueError(f"node {node_name} presents a certificate issued to '{name}'")
    found = digest_der(der)
    if found in others and others[found] != node_name:
        raise ValueError(f"node {node_name} presents the certificate of node {others[found]}")
    return found


def format_list(entries: list[tuple[str, str]]) -> str:
    """The ssconf text of (digest, role) pairs, sorted so that an unchanged list writes the same file."""
    return "\n".join(f"{d} {r}" for d, r in sorted(set(entries)))


def parse_list(text: str) -> dict[str, str]:
    """digest -> role; a candidate listing wins over a node listing of the same digest; bad lines are skipped."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] in (ROLE_CANDIDATE, ROLE_NODE) and result.get(parts[0]) != ROLE_CANDIDATE:
            result[parts[0]] = parts[1]
    return result


@dataclass
class CertFacts:
    """What `gnt-cluster verify` checks of a node's certificate (no key material)."""

    digest: str
    subject: str
    not_after: float
    #: empty when the certificate is signed by the CA that follows it in the file (or is the CA itself)
    problems: list[str]

    def to_dict(self) -> dict[str, object]:
        return {"digest": self.digest, "subject": self.subject, "not_after": self.not_after, "problems": self.problems}


def inspect(pem: bytes, now: datetime.datetime | None = None) -> CertFacts:
    """The facts of the first certificate in `pem`: digest, expiry, and whether the next one signed it."""
    from cryptography import x509

    now = now or datetime.datetime.now(datetime.UTC)
    blocks = certs.cert_blocks(pem)
    if not blocks:
        return CertFacts("", "", 0.0, ["holds no certificate"])
    cert = x509.load_pem_x509_certificate(blocks[0])
    problems = []
    if valid_until(cert) <= now:
        problems.append(f"expired on {valid_until(cert):%Y-%m-%d}")
    elif valid_from(cert) > now:
        problems.append(f"not valid before {valid_from(cert):%Y-%m-%d %H:%M}")
    issuer = x509.load_pem_x509_certificate(blocks[1]) if len(blocks) > 1 else cert
    try:
        _check_issued_by(cert, issuer)
    except (ValueError, TypeError, Exception) as err:  # noqa: BLE001 - InvalidSignature has no common base
        problems.append(f"not signed by the cluster CA it names ({type(err).__name__})")
    subject = cert.subject.rfc4514_string()
    return CertFacts(digest_der(certs.first_der(pem)), subject, valid_until(cert).timestamp(), problems)
