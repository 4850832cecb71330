"""Proof certificates through a real letter's life: pyHanko, pdftotext, openssl smime, DKIM."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import aiohttp
import dkim
import pytest

from gateway import trust
from gateway.registry import Registry
from gateway.smtp_out.dkim import DkimSigner
from gateway.startup import initialise
from tests.support.client import attachments_of, decide, email_code, wait_for
from tests.support.gateway import PASSWORD, SENDER, make_settings
from tests.support.letters import BOB, deposit, open_link
from tests.support.verifying import pdftotext, pyhanko, raw_proofs

TITLES = {
    "fr": ("Preuve de dépôt", "Preuve de refus", "Référence de la lettre"),
    "en": ("Proof of deposit", "Proof of refusal", "Letter reference"),
    "ar": ("إثبات الإيداع", "إثبات الرفض", "مرجع الرسالة"),
}


def smime_verify(mail: Path, anchors: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl",
            "smime",
            "-verify",
            "-in",
            str(mail),
            "-CAfile",
            str(anchors),
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("language", ["fr", "en", "ar"])
async def test_every_proof_mail_carries_a_sealed_readable_pdf(
    tmp_path: Path, database_url: str, language: str
) -> None:
    settings = make_settings(tmp_path, database_url)
    initialise(settings)
    from gateway.registry import offline_registry

    with offline_registry(settings) as registry:
        assert isinstance(registry, Registry)
        registry.senders.save_sender(SENDER, "Maître Dupont", PASSWORD, language=language)
    from gateway.app import running

    async with running(settings) as gateway:
        _, reference = await deposit(gateway)
        link = await open_link(gateway)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            code = await email_code(gateway, session, link, BOB)  # identity check first
            refused, _ = await decide(session, link, "refuse", code)
            assert refused == 303
        proofs: dict[str, bytes] = await wait_for(
            lambda: both if len(both := raw_proofs(gateway)) >= 2 else {},
            within=30,
            what="proof of deposit and proof of refusal with their PDF",
        )
        anchors = tmp_path / "anchors.pem"
        anchors.write_bytes(trust.anchors(settings))
        dkim_signer = DkimSigner.from_file(
            settings.gateway.domain, "lre", settings.gateway.data_dir / "pki" / "dkim.key"
        )

        def dns(name: bytes, timeout: int = 5) -> bytes | None:
            return dkim_signer.dns_record().encode()

        for event, title in (
            ("SubmissionAcceptance", TITLES[language][0]),
            ("ConsignmentRejection", TITLES[language][1]),
        ):
            raw = proofs[event]
            mail = tmp_path / f"{event}.eml"
            mail.write_bytes(raw)
            # S/MIME: openssl verifies the seal's signature over the mail
            smime = smime_verify(mail, anchors)
            assert smime.returncode == 0, smime.stderr
            assert b"multipart/signed" in raw.split(b"\r\n\r\n", 1)[0]
            assert dkim.verify(raw, dnsfunc=dns)
            # the PDF: sealed, trusted, timestamped, valid offline with its embedded CRL
            pdf = tmp_path / f"{event}.pdf"
            pdf.write_bytes(attachments_of(raw)["proof.pdf"])
            # in a thread: pyHanko's legacy validator, with the CRL the PDF embeds
            online = await asyncio.to_thread(
                pyhanko,
                "validate",
                "--pretty-print",
                "--trust",
                str(anchors),
                "--trust-replace",
                str(pdf),
            )
            assert online.returncode == 0, online.stdout + online.stderr
            assert "The signer's certificate is trusted." in online.stdout
            assert "This timestamp is backed by a time stamping authority." in online.stdout
            offline = pyhanko(
                "adesverify", "--pretty-print", "--trust", str(anchors), "--trust-replace", str(pdf)
            )
            assert offline.returncode == 0, offline.stdout + offline.stderr
            text = pdftotext(pdf)
            assert title in text
            assert TITLES[language][2] in text
            assert reference in text
            assert BOB in text
            assert "SHA-256" in text
            # identification in the certificate's words, local time and zone (issue 8)
            flat = " ".join(text.split())
            assert "(Africa/Casablanca)" in flat
            assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", flat)
            if language != "en":
                for english in ("one-time code", "sent by", "given back", "over STARTTLS"):
                    assert english not in flat
            # tampering: one byte of the PDF, one byte of the mail
            data = bytearray(pdf.read_bytes())
            at = data.index(b"/Title") + 2
            data[at] ^= 0x01
            bad = tmp_path / f"{event}-bad.pdf"
            bad.write_bytes(bytes(data))
            assert (
                pyhanko(
                    "adesverify", "--trust", str(anchors), "--trust-replace", str(bad)
                ).returncode
                != 0
            )
            body_at = raw.index(b"This is a signed message")
            changed = raw[:body_at] + raw[body_at:].replace(b"SHA-256", b"SHA-257", 1)
            assert changed != raw
            mail.write_bytes(changed)
            tampered = smime_verify(mail, anchors)
            assert tampered.returncode != 0
