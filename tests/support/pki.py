"""A development PKI and the evidence signers built from it, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from gateway.evidence.cms import Sealer
from gateway.evidence.pki import PkiPaths, anchors_pem, ensure_dev_pki, load_certificates
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
