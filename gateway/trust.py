"""What the installation's keys and certificates are, read from its settings: the content keys'
directory, the trust anchors that verify its proofs, the evidence seal's signer.

Apart from `gateway.startup` (which makes them, and needs the database): `lre-gateway verify` and
the certificate processes read them without importing the database layer.
"""

from __future__ import annotations

from pathlib import Path

from gateway.evidence.cms import Sealer
from gateway.evidence.pki import anchors_pem, pki_paths
from gateway.settings import Settings


def keys_dir(settings: Settings) -> Path:
    return settings.gateway.data_dir / "keys"


def anchors(settings: Settings) -> bytes:
    """The root CA, the built-in TSA's certificate (a timestamping anchor), any extra anchors.

    The newest timestamp of a proof is checked as of the validation date, when the CRL the proof
    embeds has long gone stale: a trusted TSA certificate needs no revocation data (ETSI trusted
    lists trust timestamping units the same way). An external TSA's anchor goes in `anchors`.
    """
    paths = pki_paths(settings.gateway.data_dir)
    tsa = (paths.tsa_cert,) if not settings.evidence.tsa_url and paths.tsa_cert.exists() else ()
    return anchors_pem(paths, (*tsa, *settings.evidence.anchors))


def evidence_sealer(settings: Settings) -> Sealer:
    """The CMS signer of these settings (evidence seals, the proof mails' S/MIME signature)."""
    evidence, pki = settings.evidence, pki_paths(settings.gateway.data_dir)
    return Sealer.from_files(
        evidence.seal_cert or pki.seal_cert, evidence.seal_key or pki.seal_key, evidence.seal_chain
    )
