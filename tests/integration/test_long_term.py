"""A proof validates offline for its whole retention period: pyHanko and `lre-gateway verify --at`.

The same proof.pdf (and its evidence.xml + .p7s) is validated at simulated later dates, long
after the CRL it embeds went stale, by pyHanko (the plain `adesverify` command run under
faketime, and its library with a validation time and the anchors' validity enforced) and by
`lre-gateway verify --at`; they must agree.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESStatus
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
    FreshnessReqType,
)
from pyhanko_certvalidator.registry import SimpleTrustManager

from gateway import trust
from gateway.app import Running
from gateway.evidence.pki import load_certificate, pki_paths
from tests.support.client import attachments_of
from tests.support.verifying import PYHANKO, cli_verify, deposit_proof

LATER = {"+1 day": 1, "+30 days": 30, "+1 year": 366, "+9 years": 9 * 366}


def adesverify(anchors: Path, pdf: Path, at: datetime | None) -> subprocess.CompletedProcess[str]:
    """`pyhanko sign adesverify --trust anchors.pem --trust-replace` now, or with the clock at `at`.

    faketime moves the whole process to `at`: the plain command a user runs then, offline.
    """
    clock = ["faketime", f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"] if at else []
    trust = ["--trust", str(anchors), "--trust-replace"]
    return subprocess.run(
        [*clock, PYHANKO, "sign", "adesverify", "--pretty-print", *trust, str(pdf)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TZ": "UTC"},
    )


def pyhanko_valid_at(pdf: bytes, anchors: Path, at: datetime) -> bool:
    """pyHanko's library: AdES-LTA validation as of `at`, anchors valid only in their lifetime."""
    roots = [
        CertTrustAnchor(asn1_x509.Certificate.load(der), derive_default_quals_from_cert=True)
        for der in _pem_blocks(anchors.read_bytes())
    ]
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=roots),
        revinfo_policy=CertRevTrustPolicy(
            REQUIRE_REVINFO,
            freshness=None,
            freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION,
        ),
    )
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(cert_validation_policy=policy), diff_policy=DEFAULT_DIFF_POLICY
    )
    (seal,) = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures
    result = asyncio.run(
        ades_lta_validation(seal, spec, timing_info=ValidationTimingInfo(at, at, True))
    )
    status = result.api_status
    return result.ades_subindic.status == AdESStatus.PASSED and bool(status and status.bottom_line)


def _pem_blocks(pem: bytes) -> list[bytes]:
    return [der for _, _, der in asn1_pem.unarmor(pem, multiple=True)]


def issued_at(pdf: bytes) -> datetime:
    """The time of the seal's signature timestamp."""
    (seal,) = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures
    for attr in seal.signer_info["unsigned_attrs"]:
        if attr["type"].native == "signature_time_stamp_token":
            info = attr["values"][0]["content"]["encap_content_info"]["content"].parsed
            at: datetime = info["gen_time"].native
            return at
    raise AssertionError("the seal carries no signature timestamp")


@pytest.fixture
async def proof(gateway: Running, tmp_path: Path) -> tuple[Path, Path, Path]:
    """proof.pdf, evidence.xml (+ .p7s beside it) of a deposit, and the gateway's anchors."""
    _, raw = await deposit_proof(gateway)
    files = attachments_of(raw)
    for name in ("proof.pdf", "evidence.xml", "evidence.xml.p7s"):
        (tmp_path / name).write_bytes(files[name])
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(trust.anchors(gateway.settings))
    return tmp_path / "proof.pdf", tmp_path / "evidence.xml", anchors


async def test_proof_is_pades_b_lta_and_pyhanko_finds_it_valid_without_warnings(
    proof: tuple[Path, Path, Path],
) -> None:
    """At issue the PDF is seal + DSS + document timestamp, VALID for adesverify, no warnings."""
    pdf, _, anchors = proof
    reader = PdfFileReader(io.BytesIO(pdf.read_bytes()))
    assert len(reader.embedded_regular_signatures) == 1
    assert len(reader.embedded_timestamp_signatures) == 1  # the document timestamp (LTA)
    dss = DocumentSecurityStore.read_dss(reader)
    assert dss.crls  # the CA's CRL, for the seal's and the TSA's certificates
    checked = await asyncio.to_thread(adesverify, anchors, pdf, None)
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "The signature is judged VALID." in output
    assert "WARNING" not in output, output
    assert "No document timestamps after signature" not in output
    assert "Failed to get control time" not in output


async def test_the_same_pdf_is_valid_at_later_dates_for_pyhanko_and_lre_gateway_verify(
    proof: tuple[Path, Path, Path],
) -> None:
    """+1 day, +30 days, +1 year, +9 years: pyHanko (CLI, library) and verify --at say VALID."""
    pdf, _, anchors = proof
    issued = issued_at(pdf.read_bytes())
    for label, days in LATER.items():
        at = issued + timedelta(days=days)
        cli, ours = await asyncio.gather(
            asyncio.to_thread(adesverify, anchors, pdf, at),
            cli_verify("--anchors", str(anchors), "--at", at.isoformat(), str(pdf)),
        )
        assert cli.returncode == 0, f"{label}: {cli.stdout}{cli.stderr}"
        assert "The signature is judged VALID." in cli.stdout, label
        assert "No document timestamps after signature" not in cli.stderr, label
        assert await asyncio.to_thread(pyhanko_valid_at, pdf.read_bytes(), anchors, at), label
        code, out = ours
        assert code == 0, f"{label}: {out}"
        assert "PDF certificate): VALID" in out, label
        assert f"validating as of {at:%Y-%m-%d %H:%M:%S} UTC" in out


async def test_after_the_certificates_expire_without_renewal_both_say_invalid(
    gateway: Running, proof: tuple[Path, Path, Path]
) -> None:
    """A day after the seal and TSA certificates expire, unrenewed, the proof is not valid."""
    pdf, xml, anchors = proof
    tsa = load_certificate(pki_paths(gateway.settings.gateway.data_dir).tsa_cert)
    at = tsa.not_valid_after_utc + timedelta(days=1)
    assert not await asyncio.to_thread(pyhanko_valid_at, pdf.read_bytes(), anchors, at)
    code, out = await cli_verify("--anchors", str(anchors), "--at", at.isoformat(), str(pdf))
    assert code == 1, out
    assert "PDF certificate): INVALID" in out
    assert f"is not valid at {at:%Y-%m-%d}" in out
    code, out = await cli_verify("--anchors", str(anchors), "--at", at.isoformat(), str(xml))
    assert code == 1, out
    assert "sealed evidence): INVALID" in out
    assert "timestamp chain was not valid at" in out


async def test_without_its_document_timestamp_the_seal_fails_once_the_crl_is_stale(
    proof: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """The seal's own revision (B-T, no document timestamp) is invalid 30 days on, for both."""
    pdf, _, anchors = proof
    data = pdf.read_bytes()
    (seal,) = PdfFileReader(io.BytesIO(data)).embedded_regular_signatures
    _, _, start, length = (int(n) for n in seal.byte_range)
    bare = tmp_path / "bare.pdf"
    bare.write_bytes(data[: start + length])
    at = issued_at(data) + timedelta(days=30)
    cli = await asyncio.to_thread(adesverify, anchors, bare, at)
    assert cli.returncode != 0
    assert "judged INVALID" in cli.stdout
    code, out = await cli_verify("--anchors", str(anchors), "--at", at.isoformat(), str(bare))
    assert code == 1, out
    assert "PDF certificate): INVALID" in out


async def test_evidence_p7s_verifies_a_year_on_and_not_before_its_timestamp(
    proof: tuple[Path, Path, Path],
) -> None:
    """evidence.xml + .p7s: VALID a year on (CRL long stale); INVALID as of before it existed."""
    pdf, xml, anchors = proof
    issued = issued_at(pdf.read_bytes())
    year_on = (issued + timedelta(days=366)).isoformat()
    code, out = await cli_verify("--anchors", str(anchors), "--at", year_on, str(xml))
    assert code == 0, out
    assert "sealed evidence): VALID" in out
    before = (issued - timedelta(days=1)).date().isoformat()
    code, out = await cli_verify("--anchors", str(anchors), "--at", before, str(xml))
    assert code == 1, out
    assert "after the validation date" in out


async def test_verify_refuses_a_validation_date_it_cannot_read(
    proof: tuple[Path, Path, Path],
) -> None:
    """`--at next-year` is refused with the expected format, not silently ignored."""
    pdf, _, anchors = proof
    code, out = await cli_verify("--anchors", str(anchors), "--at", "next-year", str(pdf))
    assert code == 2
    assert "is not an ISO 8601 date" in out
