"""Independent verification of proofs with the openssl command line (no project code)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from asn1crypto import cms

SIGNATURE_TIMESTAMP = "1.2.840.113549.1.9.16.2.14"  # id-aa-signatureTimeStampToken


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def verify_cms(
    xml: bytes, p7s: bytes, anchors_pem: bytes, workdir: Path
) -> subprocess.CompletedProcess[str]:
    """`openssl cms -verify` of the detached signature, as DESIGN.md tells a third party."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "evidence.xml").write_bytes(xml)
    (workdir / "evidence.xml.p7s").write_bytes(p7s)
    (workdir / "anchors.pem").write_bytes(anchors_pem)
    return run(
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        workdir / "evidence.xml.p7s",
        "-content",
        workdir / "evidence.xml",
        "-CAfile",
        workdir / "anchors.pem",
        "-purpose",
        "any",
        "-out",
        workdir / "verified.xml",
    )


def verify_timestamp(
    p7s: bytes, anchors_pem: bytes, workdir: Path
) -> subprocess.CompletedProcess[str]:
    """`openssl ts -verify` of the signature timestamp token over the CMS signature value."""
    workdir.mkdir(parents=True, exist_ok=True)
    signer = cms.ContentInfo.load(p7s)["content"]["signer_infos"][0]
    tokens = [
        a["values"][0] for a in signer["unsigned_attrs"] if a["type"].dotted == SIGNATURE_TIMESTAMP
    ]
    assert len(tokens) == 1, "the signature carries no signature timestamp token"
    (workdir / "token.der").write_bytes(tokens[0].dump())
    (workdir / "signature.bin").write_bytes(signer["signature"].native)
    (workdir / "anchors.pem").write_bytes(anchors_pem)
    return run(
        "ts",
        "-verify",
        "-in",
        workdir / "token.der",
        "-token_in",
        "-data",
        workdir / "signature.bin",
        "-CAfile",
        workdir / "anchors.pem",
    )


def assert_proof_verifies(xml: bytes, p7s: bytes, anchors_pem: bytes, workdir: Path) -> None:
    signed = verify_cms(xml, p7s, anchors_pem, workdir)
    assert signed.returncode == 0, signed.stderr
    assert (workdir / "verified.xml").read_bytes() == xml
    stamped = verify_timestamp(p7s, anchors_pem, workdir)
    assert stamped.returncode == 0, stamped.stderr + stamped.stdout
    assert "Verification: OK" in stamped.stdout
