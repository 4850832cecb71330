"""PdfSealer: PAdES-B-LTA at issue, archive timestamps, and when the next one is due."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fpdf import FPDF
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.ades.report import AdESStatus
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.dss import DocumentSecurityStore

from gateway.errors import EvidenceError
from gateway.evidence.cms import signer_names
from gateway.evidence.crl import CrlPublisher
from gateway.evidence.pki import (
    PkiPaths,
    anchors_pem,
    ensure_dev_pki,
    load_certificate,
    load_certificates,
    load_private_key,
)
from gateway.evidence.tsa import LocalTimestamper, TimestampAuthority
from gateway.pdf import expiry
from gateway.pdf.expiry import latest_signature, renewal_due
from gateway.pdf.seal import PdfSealer, _GatewayTimeStamper
from gateway.verification.pdf import long_term_spec, timing

PYHANKO = str(Path(sys.executable).with_name("pyhanko"))
ISSUED = datetime.now(UTC)  # pyHanko stamps the signing time from the system clock


def _sealer(paths: PkiPaths, now: datetime) -> PdfSealer:
    crl = CrlPublisher(paths, lambda: now)
    return PdfSealer(
        key=load_private_key(paths.seal_key),
        cert=load_certificate(paths.seal_cert),
        chain=[],
        anchors=load_certificates(anchors_pem(paths)),
        timestamper=LocalTimestamper(
            TimestampAuthority.from_files(paths.tsa_cert, paths.tsa_key), lambda: now
        ),
        crls=lambda: [crl.current()],
        provider_name="LRE Gateway test",
        clock=lambda: now,
    )


def _page() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica")
    pdf.cell(text="Proof of deposit")
    return bytes(pdf.output())


def _roots(paths: PkiPaths) -> list[asn1_x509.Certificate]:
    """The gateway's published anchors: the root CA and the built-in TSA's certificate."""
    certs: list[x509.Certificate] = [
        load_certificate(paths.root_cert),
        load_certificate(paths.tsa_cert),
    ]
    return [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in certs]


def _valid_at(pdf: bytes, paths: PkiPaths, at: datetime) -> bool:
    (seal,) = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures
    result = asyncio.run(ades_lta_validation(seal, long_term_spec(_roots(paths)), timing(at)))
    status = result.api_status
    return result.ades_subindic.status == AdESStatus.PASSED and bool(status and status.bottom_line)


@pytest.fixture
def paths(tmp_path: Path) -> PkiPaths:
    return ensure_dev_pki(tmp_path, "lre.localhost", now=ISSUED)


def test_a_sealed_pdf_is_b_lta_and_due_for_renewal_when_its_tsa_certificate_expires(
    paths: PkiPaths,
) -> None:
    """seal() gives one signature, a DSS with CRLs, one document timestamp; renewal at TSA end."""
    pdf = asyncio.run(_sealer(paths, ISSUED).seal(_page(), reason="Proof of deposit"))
    reader = PdfFileReader(io.BytesIO(pdf))
    assert len(reader.embedded_regular_signatures) == 1
    assert len(reader.embedded_timestamp_signatures) == 1
    assert DocumentSecurityStore.read_dss(reader).crls
    assert renewal_due(pdf) == load_certificate(paths.tsa_cert).not_valid_after_utc


def test_the_pdf_stays_valid_until_its_tsa_certificate_expires_and_not_after(
    paths: PkiPaths,
) -> None:
    """Valid for pyHanko's AdES-LTA at +1 day, +1 year, +9 years; not a day after TSA expiry."""
    pdf = asyncio.run(_sealer(paths, ISSUED).seal(_page(), reason="Proof of deposit"))
    for days in (1, 366, 9 * 366):
        assert _valid_at(pdf, paths, ISSUED + timedelta(days=days)), days
    expiry = load_certificate(paths.tsa_cert).not_valid_after_utc
    assert not _valid_at(pdf, paths, expiry + timedelta(days=1))


def test_an_archive_timestamp_from_a_renewed_tsa_keeps_it_valid_past_the_old_expiry(
    paths: PkiPaths, tmp_path: Path
) -> None:
    """Archived before the TSA certificate expires, by a new one, the PDF outlives the old."""
    pdf = asyncio.run(_sealer(paths, ISSUED).seal(_page(), reason="Proof of deposit"))
    old_expiry = load_certificate(paths.tsa_cert).not_valid_after_utc
    renewal = old_expiry - timedelta(days=90)
    paths.tsa_cert.unlink()  # a new TSA certificate from the same root, issued at renewal
    paths.tsa_key.unlink()
    ensure_dev_pki(paths.root_cert.parents[1], "lre.localhost", now=renewal)
    archived = asyncio.run(_sealer(paths, renewal).archive(pdf))
    assert len(PdfFileReader(io.BytesIO(archived)).embedded_timestamp_signatures) == 2
    assert renewal_due(archived) == load_certificate(paths.tsa_cert).not_valid_after_utc
    # pyHanko's past validation starts from the real clock: move the whole process there
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(paths.root_cert.read_bytes() + paths.tsa_cert.read_bytes())
    after = old_expiry + timedelta(days=1)
    for name, data, verdict in (("renewed", archived, "VALID"), ("unrenewed", pdf, "INVALID")):
        (tmp_path / f"{name}.pdf").write_bytes(data)
        clock = _faketime(after)
        trust = ("--trust", str(anchors), "--trust-replace", "--pretty-print")
        checked = subprocess.run(
            [*clock, PYHANKO, "sign", "adesverify", *trust, str(tmp_path / f"{name}.pdf")],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "TZ": "UTC"},
        )
        assert f"judged {verdict}" in checked.stdout, (name, checked.stdout, checked.stderr)


def _pyhanko_b_lt(paths: PkiPaths, now: datetime) -> bytes:
    """A PAdES-B-LT proof as the gateway made them before B-LTA, signed by pyHanko's own signer."""
    sealer = _sealer(paths, now)
    signer = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(paths.seal_key), str(paths.seal_cert), ca_chain_files=(str(paths.root_cert),)
    )
    meta = signers.PdfSignatureMetadata(
        field_name="GatewaySeal",
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        embed_validation_info=True,
        validation_context=sealer.validation_context(),
    )
    authority = TimestampAuthority.from_files(paths.tsa_cert, paths.tsa_key)
    stamper = _GatewayTimeStamper(LocalTimestamper(authority, lambda: now))  # the same TSA
    out = signers.PdfSigner(meta, signer=signer, timestamper=stamper).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(_page()))
    )
    return bytes(out.getvalue())


def test_an_old_b_lt_proof_gets_a_fresh_crl_and_a_document_timestamp_when_archived(
    paths: PkiPaths, tmp_path: Path
) -> None:
    """A B-LT proof archived a year on is valid a year later for pyHanko, offline."""
    old = _pyhanko_b_lt(paths, ISSUED)
    assert not PdfFileReader(io.BytesIO(old)).embedded_timestamp_signatures
    archive_at = ISSUED + timedelta(days=366)
    archived = asyncio.run(_sealer(paths, archive_at).archive(old))
    assert len(PdfFileReader(io.BytesIO(archived)).embedded_timestamp_signatures) == 1
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(paths.root_cert.read_bytes() + paths.tsa_cert.read_bytes())
    later = archive_at + timedelta(days=366)
    for name, data, verdict in (("archived", archived, "VALID"), ("old", old, "INVALID")):
        (tmp_path / f"{name}.pdf").write_bytes(data)
        trust = ("--trust", str(anchors), "--trust-replace", "--pretty-print")
        checked = subprocess.run(
            [
                *_faketime(later),
                PYHANKO,
                "sign",
                "adesverify",
                *trust,
                str(tmp_path / f"{name}.pdf"),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "TZ": "UTC"},
        )
        assert f"judged {verdict}" in checked.stdout, (name, checked.stdout, checked.stderr)


def _faketime(at: datetime) -> tuple[str, str]:
    return ("faketime", f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}")


def _renewal_due_by_pyhanko(pdf: bytes) -> datetime:
    """renewal_due as pyHanko's reader sees the latest signature (the independent reading)."""
    latest = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[-1]
    expiries = [latest.signer_cert.not_valid_after]
    for attr in latest.signer_info["unsigned_attrs"] or ():
        if attr["type"].native == "signature_time_stamp_token":
            token = attr["values"][0]["content"]
            expiries += [c.chosen.not_valid_after for c in token["certificates"] if not c.chosen.ca]
    earliest: datetime = min(expiries)
    return earliest.astimezone(UTC)


def test_the_renewal_date_read_from_the_bytes_is_the_one_pyhanko_reads(
    paths: PkiPaths, tmp_path: Path
) -> None:
    """B-LTA by the gateway or by pyHanko, archived, or B-LT: the latest signature's expiry."""
    sealer = _sealer(paths, ISSUED)
    later = ISSUED + timedelta(days=30)
    b_lt = _pyhanko_b_lt(paths, ISSUED)
    shapes = {
        "gateway": asyncio.run(sealer.seal(_page(), reason="Proof of deposit")),
        "pyhanko": asyncio.run(sealer.seal_with_pyhanko(_page(), reason="Proof of deposit")),
        "b-lt": b_lt,
        "b-lt archived": asyncio.run(_sealer(paths, later).archive(b_lt)),
    }
    shapes["archived twice"] = asyncio.run(_sealer(paths, later).archive(shapes["gateway"]))
    expiry._DUE.clear()
    for _ in range(2):  # read, then remembered by what the signature says of its signer
        for name, pdf in shapes.items():
            assert renewal_due(pdf) == _renewal_due_by_pyhanko(pdf), name
    # the gateway's and pyHanko's document timestamps name the same TSA; the B-LT signature
    # is the seal's, with a signature timestamp
    assert len({signer_names(latest_signature(pdf)) for pdf in shapes.values()}) == 2
    assert len(expiry._DUE) == 2
    seal_cert = load_certificate(paths.seal_cert).not_valid_after_utc
    tsa_cert = load_certificate(paths.tsa_cert).not_valid_after_utc
    assert renewal_due(b_lt) == min(seal_cert, tsa_cert)
    assert renewal_due(shapes["gateway"]) == tsa_cert
    with pytest.raises(EvidenceError, match="not signed"):
        renewal_due(_page())
