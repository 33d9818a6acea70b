"""gnt.node_certs on the cryptography release of Debian 12's hosts (38), which lacks the `_utc`
validity properties and `verify_directly_issued_by`: `gnt-cluster init` failed there with an
AttributeError. The old API is simulated by hiding those attributes behind a proxy."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509

from gnt import certs, node_certs

HIDDEN = {"not_valid_after_utc", "not_valid_before_utc", "verify_directly_issued_by"}


class OldCertificate:
    """A certificate as cryptography 38 shows it: the newer attributes do not exist."""

    def __init__(self, cert: x509.Certificate) -> None:
        self._cert = cert

    def __getattr__(self, name: str) -> Any:
        if name in HIDDEN:
            raise AttributeError(name)
        if name in ("not_valid_after", "not_valid_before"):  # naive UTC, as the old release gives them
            return getattr(self._cert, name + "_utc").replace(tzinfo=None)
        return getattr(self._cert, name)


END = b"-----END CERTIFICATE-----\n"


def _load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(certs.public_part(pem).split(END)[0] + END)


@pytest.fixture
def old_api(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = x509.load_pem_x509_certificate
    monkeypatch.setattr(x509, "load_pem_x509_certificate", lambda data: OldCertificate(loader(data)))


def test_validity_is_read_from_the_naive_properties_as_utc() -> None:
    cert = _load(certs.generate_pem("cluster1"))
    old = OldCertificate(cert)
    assert node_certs.valid_until(old) == cert.not_valid_after_utc  # type: ignore[arg-type]
    assert node_certs.valid_from(old) == cert.not_valid_before_utc  # type: ignore[arg-type]
    assert node_certs.valid_until(old).tzinfo is datetime.UTC  # type: ignore[arg-type]


def test_issue_and_inspect_work_and_a_foreign_signature_is_caught(old_api: None) -> None:
    ca = certs.generate_pem("cluster1")
    pem = node_certs.issue(ca, "node1")
    assert node_certs.inspect(pem).problems == []
    # same CA name, another key: only the signature check can tell
    forged = certs.public_part(node_certs.issue(certs.generate_pem("cluster1"), "node1"))
    chain = forged.split(END)[0] + END + certs.public_part(ca)
    problems = node_certs.inspect(chain).problems
    assert len(problems) == 1 and problems[0].startswith("not signed by the cluster CA"), problems
