"""The hand-written PAdES-B-LTA seal (gateway.pdf.pades) against pyHanko's own, and tampering.

pyHanko (library and CLI), openssl and `lre-gateway verify`'s `verify_pdf` are the judges; the
seal pyHanko itself makes of the same page (`PdfSealer.seal_with_pyhanko`) is the reference.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fpdf import FPDF
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus as SignatureStatus
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from gateway.errors import SignatureError
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
from gateway.pdf.pades import Unsupported, pdf_text, read_document
from gateway.pdf.seal import PdfSealer
from gateway.verification.pdf import verify_pdf
from tests.support.certificates import CertificateKit, certificate_kit
from tests.support.openssl import run as openssl

NOW = datetime.now(UTC)


def _sealer(paths: PkiPaths, crls: list[bytes] | None = None, now: datetime = NOW) -> PdfSealer:
    crl = CrlPublisher(paths, lambda: NOW)
    return PdfSealer(
        key=load_private_key(paths.seal_key),
        cert=load_certificate(paths.seal_cert),
        chain=[],
        anchors=load_certificates(anchors_pem(paths)),
        timestamper=LocalTimestamper(
            TimestampAuthority.from_files(paths.tsa_cert, paths.tsa_key), lambda: NOW
        ),
        crls=(lambda: crls) if crls is not None else (lambda: [crl.current()]),
        provider_name="LRE Gateway (test) \\ é",
        clock=lambda: now,
    )


def _page() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica")
    pdf.cell(text="Proof of deposit")
    return bytes(pdf.output())


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> PkiPaths:
    return ensure_dev_pki(tmp_path_factory.mktemp("pki"), "lre.localhost", now=NOW)


@pytest.fixture(scope="module")
def ours(paths: PkiPaths) -> bytes:
    return asyncio.run(_sealer(paths).seal(_page(), reason="Preuve de dépôt (test)"))


@pytest.fixture(scope="module")
def theirs(paths: PkiPaths) -> bytes:
    return asyncio.run(_sealer(paths).seal_with_pyhanko(_page(), reason="Preuve de dépôt (test)"))


def _context(paths: PkiPaths) -> ValidationContext:
    return _sealer(paths).validation_context()


def _seal(pdf: bytes) -> EmbeddedPdfSignature:
    (seal,) = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures
    found: EmbeddedPdfSignature = seal
    return found


def _seal_status(pdf: bytes, paths: PkiPaths) -> SignatureStatus:
    context = _context(paths)
    return validate_pdf_signature(
        _seal(pdf), signer_validation_context=context, ts_validation_context=context
    )


def _signer_info(pdf: bytes) -> cms.SignerInfo:
    return _seal(pdf).signer_info


def test_the_seal_is_written_by_the_gateway_not_by_pyhanko(ours: bytes, theirs: bytes) -> None:
    """Three updates (seal, DSS, document timestamp), the gateway's field names, no producer."""
    assert ours.count(b"%%EOF") == 4  # fpdf2's, then one per update
    assert b"/T (GatewayTimestamp)" in ours
    assert b"pyHanko" not in ours
    assert b"pyHanko" in theirs  # the reference really is pyHanko's


def test_pyhanko_judges_the_seal_intact_trusted_and_covering_all_but_archive_updates(
    ours: bytes, paths: PkiPaths
) -> None:
    """Intact, valid, trusted, PAdES; later revisions are only DSS and timestamp updates."""
    status = _seal_status(ours, paths)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert status.modification_level == ModificationLevel.LTA_UPDATES
    assert status.docmdp_ok
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact
    assert status.timestamp_validity.trusted
    assert _seal(ours).sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert status.signer_reported_dt == NOW.replace(microsecond=0)  # /M, the injected clock
    (stamp,) = PdfFileReader(io.BytesIO(ours)).embedded_timestamp_signatures
    assert stamp.sig_object["/SubFilter"] == "/ETSI.RFC3161"
    stamp_status = validate_pdf_timestamp(stamp, validation_context=_context(paths))
    assert stamp_status.intact
    assert stamp_status.valid
    assert stamp_status.trusted
    assert stamp_status.coverage == SignatureCoverageLevel.ENTIRE_FILE


def test_the_signed_attributes_are_pyhankos_pades_set_without_signing_time(
    ours: bytes, theirs: bytes
) -> None:
    """content-type, message-digest, signing-certificate-v2; the signature timestamp unsigned."""
    mine, reference = _signer_info(ours), _signer_info(theirs)
    names = [a["type"].native for a in mine["signed_attrs"]]
    assert sorted(names) == sorted(a["type"].native for a in reference["signed_attrs"])
    assert set(names) == {"content_type", "message_digest", "signing_certificate_v2"}
    assert [a["type"].native for a in mine["unsigned_attrs"]] == ["signature_time_stamp_token"]
    assert mine["digest_algorithm"]["algorithm"].native == "sha256"
    assert (
        mine["signature_algorithm"]["algorithm"].native
        == reference["signature_algorithm"]["algorithm"].native
    )
    sealed_by = {c.chosen.sha256 for c in _seal(ours).signed_data["certificates"]}
    assert sealed_by == {c.chosen.sha256 for c in _seal(theirs).signed_data["certificates"]}


def test_the_byte_range_covers_the_revision_but_the_contents_hex_string(ours: bytes) -> None:
    """[0 a b c]: bytes a..b are exactly `<hex>`, b+c is the end of the first update."""
    seal = _seal(ours)
    start, first, second, rest = seal.sig_object["/ByteRange"]
    assert start == 0
    gap = ours[first:second]
    assert re.fullmatch(rb"<[0-9A-F]+>", gap)
    assert ours[first - len(b"/Contents ") : first] == b"/Contents "
    end = second + rest
    assert ours[:end].endswith(b"%%EOF\n")
    assert ours[:end].count(b"%%EOF") == 2  # the original and the seal's update
    der = bytes.fromhex(gap[1:-1].decode()).rstrip(b"\0")
    assert cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native


def test_the_dss_carries_what_pyhankos_carries(ours: bytes, theirs: bytes) -> None:
    """Every certificate pyHanko embeds (seal, root, TSA), and the same CRL."""

    def dss(pdf: bytes) -> tuple[set[bytes], list[bytes]]:
        store = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf)))
        crls = [bytes(ref.get_object().data) for ref in store.crls]
        return {c.sha256 for c in store.load_certs()}, crls

    our_certs, our_crls = dss(ours)
    their_certs, their_crls = dss(theirs)
    assert their_certs <= our_certs
    assert our_crls == their_crls
    assert len(our_crls) == 1


def test_openssl_verifies_the_seal_over_its_byte_range(
    ours: bytes, paths: PkiPaths, tmp_path: Path
) -> None:
    """`openssl cms -verify` of /Contents over the signed bytes, chained to the root."""
    start, first, second, rest = _seal(ours).sig_object["/ByteRange"]
    (tmp_path / "signed.bin").write_bytes(ours[start:first] + ours[second : second + rest])
    der = bytes.fromhex(ours[first + 1 : second - 1].decode()).rstrip(b"\0")
    (tmp_path / "seal.p7s").write_bytes(der)
    (tmp_path / "root.pem").write_bytes(paths.root_cert.read_bytes())
    common: list[str | Path] = [
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        tmp_path / "seal.p7s",
    ]
    trust: list[str | Path] = [
        "-CAfile",
        tmp_path / "root.pem",
        "-purpose",
        "any",
        "-out",
        tmp_path / "out",
    ]
    checked = openssl(*common, "-content", tmp_path / "signed.bin", *trust)
    assert checked.returncode == 0, checked.stderr
    (tmp_path / "tampered.bin").write_bytes(b"X" + ours[1:first] + ours[second : second + rest])
    refused = openssl(*common, "-content", tmp_path / "tampered.bin", *trust)
    assert refused.returncode != 0


@pytest.mark.parametrize("where", ["page", "dss", "after the timestamp"])
def test_a_tampered_byte_makes_it_invalid(ours: bytes, paths: PkiPaths, where: str) -> None:
    """One changed byte in the signed page, in the DSS, or appended: pyHanko says no."""
    data = bytearray(ours)
    if where == "page":
        at = data.index(b"/MediaBox [0 0 595.28")
        data[at + len(b"/MediaBox [0 0 595.2")] = ord("9")
        status = _seal_status(bytes(data), paths)
        assert not status.intact
    elif where == "dss":
        at = data.index(b"/Certs [")
        data[at + 1] = ord("c")  # /certs: no longer the DSS's certificates
        (stamp,) = PdfFileReader(io.BytesIO(bytes(data))).embedded_timestamp_signatures
        stamp_status = validate_pdf_timestamp(stamp, validation_context=_context(paths))
        assert not stamp_status.intact
    else:
        data += b"1 0 obj\n<</Type /Catalog>>\nendobj\n"
        (stamp,) = PdfFileReader(io.BytesIO(bytes(data))).embedded_timestamp_signatures
        stamp_status = validate_pdf_timestamp(stamp, validation_context=_context(paths))
        assert stamp_status.coverage != SignatureCoverageLevel.ENTIRE_FILE


def test_a_revoked_or_expired_seal_certificate_is_not_used(paths: PkiPaths) -> None:
    """The CA's CRL listing the seal certificate, or a clock past its end: no seal."""
    seal_cert = load_certificate(paths.seal_cert)
    root_key = load_private_key(paths.root_key)
    revoked = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(load_certificate(paths.root_cert).subject)
        .last_update(NOW - timedelta(minutes=5))
        .next_update(NOW + timedelta(days=7))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(seal_cert.serial_number)
            .revocation_date(NOW - timedelta(minutes=1))
            .build()
        )
        .sign(root_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(SignatureError, match="revoked"):
        asyncio.run(_sealer(paths, [revoked]).seal(_page(), reason="test"))
    late = _sealer(paths, now=seal_cert.not_valid_after_utc + timedelta(days=1))
    with pytest.raises(SignatureError, match="not valid at"):
        asyncio.run(late.seal(_page(), reason="test"))


def test_a_document_the_writer_does_not_take_is_sealed_by_pyhanko(
    ours: bytes, paths: PkiPaths
) -> None:
    """A cross-reference stream (qpdf's object streams) goes to pyHanko: sealed and valid."""
    with pytest.raises(Unsupported, match="form"):
        read_document(ours)  # already signed
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(_page())) as pdf:
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    streamed = out.getvalue()
    with pytest.raises(Unsupported, match="xref stream"):
        read_document(streamed)
    sealed = asyncio.run(_sealer(paths).seal(streamed, reason="test"))
    assert b"pyHanko" in sealed
    status = _seal_status(sealed, paths)
    assert status.intact
    assert status.valid
    assert status.trusted


def test_pdf_text_strings() -> None:
    """ASCII literal with escapes; anything else UTF-16BE with its byte order mark."""
    assert pdf_text("a(b)\\c") == b"(a\\(b\\)\\\\c)"
    assert pdf_text("é") == b"<FEFF00E9>"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> CertificateKit:
    return certificate_kit(tmp_path_factory.mktemp("kit"), lambda: datetime.now(UTC))


def test_lre_gateway_verify_agrees_with_pyhanko_on_a_real_certificate(kit: CertificateKit) -> None:
    """verify_pdf: a sealed certificate is valid, and invalid with one changed signed byte."""
    pdf = kit.sealed(kit.facts("fr"))
    assert b"/T (GatewayTimestamp)" in pdf  # sealed by the gateway's writer
    verdict = verify_pdf(pdf, kit.anchors, source="proof.pdf")
    assert verdict.valid, verdict.problems
    assert verdict.archived  # the document timestamp
    data = bytearray(pdf)
    at = data.index(b"/Lang (fr)")
    data[at + 7] = ord("e")  # /Lang (en): a signed byte
    tampered = verify_pdf(bytes(data), kit.anchors, source="proof.pdf")
    assert not tampered.valid
    assert any("modified" in problem for problem in tampered.problems), tampered.problems


def test_a_page_with_annotations_keeps_them_beside_the_seal_widget(paths: PkiPaths) -> None:
    """A page's /Annots array of references (qpdf's writing) is extended; pyHanko agrees."""
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(_page())) as pdf:
        link = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Link,
                Rect=[0, 0, 10, 10],
                F=4,
                A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("https://x/")),
            )
        )
        pdf.pages[0].obj.Annots = pikepdf.Array([link])
        pdf.save(out)
    sealed = asyncio.run(_sealer(paths).seal(out.getvalue(), reason="test"))
    assert b"/T (GatewayTimestamp)" in sealed  # the gateway's writer took it
    with pikepdf.open(io.BytesIO(sealed)) as reopened:
        annotations = list(reopened.pages[0].obj.Annots)
    assert [str(a.Subtype) for a in annotations] == ["/Link", "/Widget", "/Widget"]
    status = _seal_status(sealed, paths)
    assert status.intact
    assert status.trusted
    assert status.modification_level == ModificationLevel.LTA_UPDATES


def test_links_written_inside_the_page_go_to_pyhanko() -> None:
    """fpdf2 writes a link's annotation dictionary in the page's /Annots: not extended."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica")
    pdf.cell(text="Proof", link="https://lre.localhost/")
    page = bytes(pdf.output())
    assert b"/Annots [<<" in page
    with pytest.raises(Unsupported, match="array of references"):
        read_document(page)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ((b"/Size", b"/XRefStm 9 /Size"), "hybrid"),  # in the trailer: no offset moves
        ((b"/Resources 6 0 R", b"/Annots 6 0 R   "), "array of references"),
        ((b"/PageLayout /OneColumn", b"/AcroForm <<>>        "), "form"),
        ((b"xref\n0 ", b"xref\nX "), "unreadable"),
    ],
)
def test_documents_the_writer_does_not_take_are_recognised(
    change: tuple[bytes, bytes], reason: str
) -> None:
    """A hybrid xref, an indirect /Annots, an existing form: `Unsupported`."""
    page = _page()
    read_document(page)  # the unchanged page is taken
    with pytest.raises(Unsupported, match=reason):
        read_document(page.replace(*change, 1))
