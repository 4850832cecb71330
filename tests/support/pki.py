"""A development PKI and the evidence signers built from it, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from gateway.evidence.cms import Sealer
from gateway.evidence.pki import (
    PkiPaths,
    anchors_pem,
    ensure_dev_pki,
    load_certificate,
    load_certificates,
    load_private_key,
)
from gateway.evidence.tsa import TimestampAuthority

DOMAIN = "lre.localhost"
ISSUED = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EvidencePki:
    """Paths, trust anchors, sealer and TSA of a freshly created development PKI."""

    paths: PkiPaths
    anchors_file: Path
    anchors: list[x509.Certificate]
    sealer: Sealer
    authority: TimestampAuthority


def make_pki(data_dir: Path, *, now: datetime = ISSUED) -> EvidencePki:
    """Create the development PKI under `data_dir` and load what evidence tests need."""
    paths = ensure_dev_pki(data_dir, DOMAIN, now=now)
    pem = anchors_pem(paths)
    anchors_file = data_dir / "anchors.pem"
    anchors_file.write_bytes(pem)
    return EvidencePki(
        paths=paths,
        anchors_file=anchors_file,
        anchors=load_certificates(pem),
        sealer=Sealer.from_files(paths.seal_cert, paths.seal_key),
        authority=TimestampAuthority.from_files(paths.tsa_cert, paths.tsa_key),
    )


def reissue_tsa_certificate(paths: PkiPaths, *, lifetime: timedelta) -> x509.Certificate:
    """Replace the TSA certificate by one from the same root and key that expires in `lifetime`.

    Keeps every extension of the current certificate (EKU, CRL distribution point...), so only
    its validity changes: what a TSA certificate near its end looks like.
    """
    current = load_certificate(paths.tsa_cert)
    root_key = load_private_key(paths.root_key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(current.subject)
        .issuer_name(current.issuer)
        .public_key(load_private_key(paths.tsa_key).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + lifetime)
    )
    for extension in current.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    cert = builder.sign(root_key, hashes.SHA256())
    paths.tsa_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert
