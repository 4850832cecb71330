"""Verifying proofs after a real letter's life: `lre-gateway verify`, /verify, /pki/, archiving."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import func, select

from gateway import trust
from gateway.app import Running, running
from gateway.evidence.pki import load_certificates, pki_paths
from gateway.evidence.xml import from_xml
from gateway.registry import offline_registry
from gateway.startup import initialise
from gateway.storage import tables as t
from gateway.storage.pdf_queue import PdfQueue
from gateway.verification.pdf import verify_pdf
from tests.support.client import attachments_of, wait_for
from tests.support.gateway import PASSWORD, SENDER, make_settings
from tests.support.letters import BOB
from tests.support.pki import reissue_tsa_certificate
from tests.support.verifying import (
    PYHANKO,
    cli_verify,
    deposit_proof,
    pdftotext,
)

INVALID = {"fr": "Preuve NON valide", "en": "Proof NOT valid", "ar": "إثبات غير صحيح"}
MODIFIED = {
    "fr": "Le fichier a été modifié après avoir été scellé.",
    "en": "The file was changed after it was sealed.",
    "ar": "عُدِّل الملف بعد ختمه.",
}


def flip(data: bytes, marker: bytes, old: bytes, new: bytes) -> bytes:
    """`data` with the first `old` after `marker` replaced by `new` (same length)."""
    at = data.index(old, data.index(marker))
    return data[:at] + new + data[at + len(old) :]


def xor_after(data: bytes, marker: bytes) -> bytes:
    """`data` with one bit changed in the byte two places after `marker`."""
    changed = bytearray(data)
    changed[data.index(marker) + len(marker) + 2] ^= 0x01
    return bytes(changed)


async def upload(
    session: aiohttp.ClientSession, url: str, files: dict[str, bytes], lang: str = "en"
) -> tuple[int, str]:
    async with session.get(f"{url}/verify?lang={lang}") as page:
        html = await page.text()
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    form = aiohttp.FormData()
    for name, value in hidden.items():
        form.add_field(name, value)
    for name, data in files.items():
        form.add_field(
            "files", io.BytesIO(data), filename=name, content_type="application/octet-stream"
        )
    if not files:  # what a browser sends when no file is chosen
        form.add_field("files", b"", filename="", content_type="application/octet-stream")
    async with session.post(f"{url}/verify?lang={lang}", data=form) as response:
        return response.status, await response.text()


def row_counts(gateway: Running) -> dict[str, int]:
    with gateway.store.engine.connect() as db:
        return {
            table.name: db.execute(select(func.count()).select_from(table)).scalar_one()
            for table in t.metadata.sorted_tables
        }


async def test_a_proof_verifies_in_every_form_and_any_changed_byte_fails(
    gateway: Running, tmp_path: Path
) -> None:
    """PDF, mail and XML + .p7s verify on the command line and on the web; tampering fails."""
    reference, raw = await deposit_proof(gateway)
    files = attachments_of(raw)
    good = {
        "proof.eml": raw,
        "proof.pdf": files["proof.pdf"],
        "evidence.xml": files["evidence.xml"],
        "evidence.xml.p7s": files["evidence.xml.p7s"],
    }
    bad = {
        # the title's first letter, P (0050) made @ (0040): still a readable PDF, changed
        "proof.pdf": xor_after(good["proof.pdf"], b"/Title <feff"),
        "evidence.xml": flip(good["evidence.xml"], reference.encode(), b"LRE", b"LRF"),
        "proof.eml": flip(raw, b"This is a signed message", b"SHA-256", b"SHA-257"),
    }
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(trust.anchors(gateway.settings))
    for directory, contents in (("good", good), ("bad", {**good, **bad})):
        (tmp_path / directory).mkdir()
        for name, data in contents.items():
            (tmp_path / directory / name).write_bytes(data)

    # offline, on the command line: each form of the proof, then each tampered file alone
    code, out = await cli_verify(
        "--anchors", str(anchors), *(str(tmp_path / "good" / n) for n in good)
    )
    assert code == 0, out
    assert "INVALID" not in out
    assert out.count("Proof of deposit (SubmissionAcceptance)") == 4  # mail's xml + pdf, pdf, xml
    assert "S/MIME signature of the proof mail): VALID" in out
    assert "PDF certificate): VALID" in out
    assert f"letter reference: {reference}" in out
    assert "ERDSEventId:      http://uri.etsi.org/19522/Event/SubmissionAcceptance" in out
    assert "Message-ID:       <" in out
    assert "sealed by:        lre.localhost evidence seal" in out
    assert "by lre.localhost timestamping authority" in out
    results = await asyncio.gather(
        cli_verify("--anchors", str(anchors), str(tmp_path / "bad" / "proof.pdf")),
        cli_verify("--anchors", str(anchors), str(tmp_path / "bad" / "evidence.xml")),
        cli_verify("--anchors", str(anchors), str(tmp_path / "bad" / "proof.eml")),
    )
    (pdf_code, pdf_out), (xml_code, xml_out), (mail_code, mail_out) = results
    assert pdf_code == 1
    assert "proof.pdf was modified after sealing" in pdf_out, pdf_out
    assert xml_code == 1
    assert "evidence.xml was modified after sealing: its digest does not match" in xml_out
    assert mail_code == 1
    assert "proof.eml (S/MIME signature of the proof mail): INVALID" in mail_out
    assert "proof.eml was modified after sealing" in mail_out

    # on the web: the same verdicts, in words, with nothing stored
    before = row_counts(gateway)
    url = gateway.web_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        for name in ("proof.pdf", "proof.eml"):
            status, html = await upload(session, url, {name: good[name]})
            assert status == 200
            assert "Valid proof" in html
            assert "Proof of deposit" in html
            assert reference in html
            assert BOB in html
            assert "lre.localhost evidence seal" in html
        pair = {n: good[n] for n in ("evidence.xml", "evidence.xml.p7s")}
        status, html = await upload(session, url, pair, lang="fr")
        assert "Preuve valide" in html
        assert "Preuve de dépôt" in html
        assert "http://uri.etsi.org/19522/Event/SubmissionAcceptance" in html
        assert "Identifiant du message (Message-ID)" in html
        for name, lang in (("proof.pdf", "fr"), ("evidence.xml", "en"), ("proof.eml", "ar")):
            files_sent = {name: bad[name]}
            if name == "evidence.xml":
                files_sent["evidence.xml.p7s"] = good["evidence.xml.p7s"]
            status, html = await upload(session, url, files_sent, lang=lang)
            assert status == 200
            assert INVALID[lang] in html
            assert MODIFIED[lang] in html
            assert "was modified after sealing" in html  # the technical detail
        status, html = await upload(session, url, {"notes.txt": b"hello, not a proof"})
        assert "This file is not a proof we recognise" in html
    assert row_counts(gateway) == before


async def test_verify_page_refuses_forged_empty_and_oversized_uploads(gateway: Running) -> None:
    """No CSRF token → 403; nothing chosen → the form again; too large → a readable 413."""
    url = gateway.web_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        form = aiohttp.FormData()
        form.add_field("files", b"%PDF-1.7", filename="proof.pdf")
        async with session.post(f"{url}/verify?lang=en", data=form) as forged:
            assert forged.status == 403
            assert "Form expired" in await forged.text()
        status, html = await upload(session, url, {})
        assert status == 400
        assert "Choose at least one file to verify." in html
        status, html = await upload(session, url, {"big.pdf": b"%PDF-" + b"0" * (6 << 20)})
        assert status == 413
        assert "Files too large" in html
    async with aiohttp.ClientSession() as fresh, fresh.get(f"{url}/verify") as page:
        assert page.status == 200
        assert page.headers["Cache-Control"] == "no-store"
        assert "lre_csrf" in page.headers.get("Set-Cookie", "")


async def test_qr_code_leads_to_the_proofs_status_and_pki_lists_the_anchors(
    gateway: Running, tmp_path: Path
) -> None:
    """/verify/{id} shows type, reference, time and sealed, nothing else; /pki/ lists the files."""
    reference, raw = await deposit_proof(gateway)
    files = attachments_of(raw)
    record = from_xml(files["evidence.xml"])
    pdf = tmp_path / "proof.pdf"
    pdf.write_bytes(files["proof.pdf"])
    status_url = f"{gateway.settings.gateway.public_url}/verify/{record.evidence_id}"
    assert status_url in pdftotext(pdf)
    async with aiohttp.ClientSession(headers={"Accept-Language": "en"}) as session:
        async with session.get(status_url) as page:
            html = await page.text()
            assert page.status == 200
        assert "Proof of deposit" in html
        assert reference in html
        assert "Sealed" in html
        for private in (BOB, SENDER, "Mise en demeure", "contrat.pdf", record.message_sha256):
            assert private not in html
        async with session.post(status_url) as post:
            assert post.status == 405
        for unknown in ("0" * 32, "not-an-id"):
            async with session.get(f"{gateway.web_url}/verify/{unknown}") as missing:
                assert missing.status == 404
                assert "Unknown proof" in await missing.text()
        async with session.get(f"{gateway.web_url}/pki/") as index:
            html = await index.text()
            assert index.status == 200
        assert 'href="/pki/anchors.pem"' in html
        assert 'href="/pki/root-ca.crl"' in html
        assert "LRE Gateway Development Root CA" in html
        async with session.get(f"{gateway.web_url}/pki/anchors.pem") as pem:
            assert load_certificates(await pem.read())
        async with session.get(f"{gateway.web_url}/pki/root-ca.crl") as crl:
            assert crl.headers["Content-Type"] == "application/pkix-crl"


def pyhanko_adesverify(anchors: Path, pdf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            PYHANKO,
            "sign",
            "adesverify",
            "--pretty-print",
            "--trust",
            str(anchors),
            "--trust-replace",
            str(pdf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


async def test_archive_job_adds_a_document_timestamp_before_the_tsa_certificate_expires(
    tmp_path: Path, database_url: str
) -> None:
    """A TSA certificate expiring within `archive_before` makes the job add a PAdES-LTA stamp."""
    settings = make_settings(tmp_path, database_url)
    initialise(settings)
    paths = pki_paths(settings.gateway.data_dir)
    tsa = reissue_tsa_certificate(paths, lifetime=timedelta(days=30))  # archive_before is 90d
    assert tsa.not_valid_after_utc - datetime.now(UTC) < settings.evidence.archive_before.delta
    with offline_registry(settings) as registry:
        registry.senders.save_sender(SENDER, "Maître Dupont", PASSWORD)
    async with running(settings) as gateway:
        _, raw = await deposit_proof(gateway)
        evidence_id = from_xml(attachments_of(raw)["evidence.xml"]).evidence_id
        queue = PdfQueue(gateway.store.engine)
        await wait_for(
            lambda: (queue.status(evidence_id) or ("", None, None))[2],
            within=30,
            what="the archive timestamp",
        )
        archived = queue.pdf(evidence_id)
        with gateway.store.engine.connect() as db:
            renew_at: Any = db.execute(
                select(t.proof_pdfs.c.renew_at).where(t.proof_pdfs.c.evidence_id == evidence_id)
            ).scalar_one()
    assert archived is not None
    reader = PdfFileReader(io.BytesIO(archived))
    (seal,) = reader.embedded_regular_signatures
    stamps = reader.embedded_timestamp_signatures
    assert len(stamps) == 2  # the document timestamp of issue (B-LTA), then the archive one
    _, _, start, length = (int(n) for n in seal.byte_range)
    sealed_only = archived[: start + length]  # the revision the seal signed
    assert not PdfFileReader(io.BytesIO(sealed_only)).embedded_timestamp_signatures
    renew_at = renew_at.replace(tzinfo=renew_at.tzinfo or UTC)
    assert datetime.now(UTC) < renew_at < tsa.not_valid_after_utc  # renewed again before expiry
    anchors_file = tmp_path / "anchors.pem"
    anchors_file.write_bytes(trust.anchors(settings))
    pdf = tmp_path / "archived.pdf"
    pdf.write_bytes(archived)
    checked = await asyncio.to_thread(pyhanko_adesverify, anchors_file, pdf)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    anchors = load_certificates(anchors_file.read_bytes())
    verdict = await asyncio.to_thread(verify_pdf, archived, anchors, source="archived.pdf")
    assert verdict.valid, verdict.problems
    assert len(verdict.archived) == 2
