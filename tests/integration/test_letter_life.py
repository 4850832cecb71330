"""The whole life of a registered letter through real SMTP, HTTP and openssl."""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import re
import sys
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from gateway.app import Running
from gateway.core.letter import State
from gateway.evidence.xml import from_xml
from gateway.storage import tables as t
from tests.support.client import (
    code_mails_for,
    csrf_field,
    decide,
    email_code,
    link_in,
    notification_for,
    proofs_for,
    submit,
    wait_for,
)
from tests.support.evidence import GATEWAY, content_digests, texts
from tests.support.gateway import PASSWORD, SENDER, make_settings, start
from tests.support.letters import (
    BOB,
    BODY,
    CONTRACT,
    anchors,
    delivery_state,
    deposit,
    open_link,
    post,
)
from tests.support.openssl import assert_proof_verifies


async def test_accepted_letter_is_released_byte_exact_and_sender_gets_receipts(
    gateway: Running, tmp_path: Path
) -> None:
    """Deposit → proof of deposit → notification → accept → acceptance receipt and exact release."""
    data, reference = await deposit(gateway)

    deposit_proof = (
        await wait_for(
            lambda: proofs_for(gateway, SENDER, "SubmissionAcceptance"), what="proof of deposit"
        )
    )[0]
    assert reference in deposit_proof.subject + deposit_proof.text
    assert content_digests(deposit_proof.xml) == [
        hashlib.sha256(data).hexdigest(),
        hashlib.sha256(CONTRACT).hexdigest(),
    ]
    message_id = re.search(rb"^Message-ID: *(<[^>\r\n]+>)", data, re.M | re.I)
    assert message_id is not None
    assert texts(deposit_proof.xml, "etsi:UserContentInfo/etsi:AppLayerIdentifier") == [
        message_id.group(1).decode()
    ]
    assert texts(deposit_proof.xml, "etsi:SenderDetails/etsi:Identifier") == [SENDER]
    assert texts(deposit_proof.xml, "etsi:EventReasons") == []
    # where it was sent from
    assert texts(deposit_proof.xml, f"{GATEWAY}/lre:Sender/lre:IPAddress") == ["127.0.0.1"]
    assert_proof_verifies(deposit_proof.xml, deposit_proof.p7s, anchors(gateway), tmp_path / "dep")

    notice = (await wait_for(lambda: notification_for(gateway, BOB), what="notification"))[0]
    notice_text = notice.as_string()
    assert BODY not in notice_text
    assert "contrat.pdf" not in notice_text
    assert "Mise en demeure" not in notice_text  # the subject travels with the sender's name only
    assert notice["DKIM-Signature"]
    link = link_in(notice)

    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept-Language": "en"}
    ) as session:
        for _ in range(2):  # a mail scanner pre-fetching the link changes nothing
            async with session.get(link) as page:
                html = await page.text()
                assert page.status == 200
                assert "Accept" in html
                assert "Refuse" in html
                assert BODY not in html
                assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
            refuse_fields = csrf_field(html, "/accept")  # one form: Accept, or Refuse's formaction
        async with session.get(f"{link}/letter.eml") as early:
            assert early.status == 403

        code = await email_code(gateway, session, link, BOB)  # no phone: the code comes by email
        status, _ = await decide(session, link, "accept", code)
        assert status == 303

        async with session.get(link) as page:
            html = await page.text()
            assert "12 000 dirhams" in html
            assert "contrat.pdf" in html
        async with session.get(f"{link}/letter.eml") as original:
            assert original.status == 200
            assert original.headers["Content-Type"].startswith("message/rfc822")
            assert await original.read() == data
        async with session.get(f"{link}/attachments/0") as attachment:
            assert attachment.status == 200
            assert await attachment.read() == CONTRACT
            assert "attachment" in attachment.headers["Content-Disposition"]

        again = await session.post(f"{link}/refuse", data=refuse_fields, allow_redirects=False)
        assert again.status == 409

    receipt = (
        await wait_for(
            lambda: proofs_for(gateway, SENDER, "ConsignmentAcceptance"), what="acceptance receipt"
        )
    )[0]
    assert_proof_verifies(receipt.xml, receipt.p7s, anchors(gateway), tmp_path / "acc")
    identified = from_xml(receipt.xml)
    assert ("RecipientIdentification.Channel", "email") in identified.extensions
    assert ("RecipientIdentification.Destination", "b••••••••n@example.ma") in (
        identified.extensions
    )
    assert "one-time code sent by email" in identified.recipient_identification
    assert_chained(gateway)
    assert not proofs_for(gateway, SENDER, "ConsignmentRejection")
    await wait_for(lambda: delivery_state(gateway) == State.HANDED_OVER, what="content hand-over")


def assert_chained(gateway: Running) -> None:
    """Each evidence of the delivery names the SHA-256 of the one before it."""
    from gateway.evidence.xml import from_xml

    (delivery_id,) = {e.delivery_id for e in all_evidence(gateway)}
    chain = gateway.store.evidence_of(delivery_id)
    assert [e.type.value for e in chain][:3] == [
        "SubmissionAcceptance",
        "NotificationForAcceptance",
        "ConsignmentAcceptance",
    ]
    previous = None
    for item in chain:
        assert from_xml(item.xml).previous_evidence_sha256 == previous
        previous = hashlib.sha256(item.xml).hexdigest()


def all_evidence(gateway: Running) -> list[Any]:
    from sqlalchemy import select

    from gateway.storage import tables as t

    with gateway.store.engine.connect() as db:
        return list(db.execute(select(t.evidence.c.delivery_id)))


async def test_refused_letter_is_never_shown_and_second_decision_is_409(
    gateway: Running, tmp_path: Path
) -> None:
    """Refuse → proof of refusal; the content stays sealed; a later accept gets 409, no proof."""
    data, _ = await deposit(gateway)
    link = await open_link(gateway)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept-Language": "fr"}
    ) as session:
        async with session.get(link) as page:
            html = await page.text()
            assert "Accepter" in html
            assert "Refuser" in html
            fields = csrf_field(html, "/accept")
        code = await email_code(gateway, session, link, BOB)
        refused, _ = await decide(session, link, "refuse", code)
        assert refused == 303
        fields["code"] = code
        accept_again = await session.post(f"{link}/accept", data=fields, allow_redirects=False)
        assert accept_again.status == 409
        assert "<html" in (await accept_again.text()).lower()
        async with session.get(f"{link}/letter.eml") as original:
            assert original.status == 403
        async with session.get(link) as page:
            assert BODY not in await page.text()

    proof = (
        await wait_for(
            lambda: proofs_for(gateway, SENDER, "ConsignmentRejection"), what="proof of refusal"
        )
    )[0]
    assert_proof_verifies(proof.xml, proof.p7s, anchors(gateway), tmp_path / "ref")
    assert content_digests(proof.xml)[0] == hashlib.sha256(data).hexdigest()
    reason = "etsi:EventReasons/etsi:EventReason"
    assert texts(proof.xml, f"{reason}/etsi:Code") == [
        "urn:lre-gateway:event-reason:recipient-refused"
    ]
    assert texts(proof.xml, f"{reason}/etsi:Details") == ["The recipient refused the letter."]
    await gateway.scheduler.tick()
    assert not proofs_for(gateway, SENDER, "ConsignmentAcceptance")
    assert len(proofs_for(gateway, SENDER, "ConsignmentRejection")) == 1


async def test_forged_post_without_csrf_token_changes_nothing(gateway: Running) -> None:
    """Cross-site request forgery: a POST without the form's token is refused, decides nothing."""
    await deposit(gateway)
    link = await open_link(gateway)
    async with aiohttp.ClientSession() as session:
        forged = await session.post(f"{link}/accept", data={}, allow_redirects=False)
        assert forged.status == 403
    assert delivery_state(gateway) in (State.DEPOSITED, State.NOTIFIED)


async def test_unknown_link_gets_a_readable_404(gateway: Running) -> None:
    """A mistyped or forged link gets a page in words, not a stack trace."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gateway.web_url}/l/{'A' * 43}") as page,
    ):
        assert page.status == 404
        html = await page.text()
        assert "<html" in html.lower()
        assert "Traceback" not in html


async def test_tampered_evidence_fails_lre_gateway_verify(gateway: Running, tmp_path: Path) -> None:
    """`lre-gateway verify` accepts a genuine proof and rejects one with a single changed byte;
    it starts without the database layer, which only the commands on an installation need, and
    an evidence.xml is verified without loading pyHanko, which only a PDF needs."""
    await deposit(gateway)
    proof = (
        await wait_for(
            lambda: proofs_for(gateway, SENDER, "SubmissionAcceptance"), what="proof of deposit"
        )
    )[0]
    (tmp_path / "anchors.pem").write_bytes(anchors(gateway))
    (tmp_path / "evidence.xml").write_bytes(proof.xml)
    (tmp_path / "evidence.xml.p7s").write_bytes(proof.p7s)
    command = [
        sys.executable,
        "-m",
        "gateway",
        "verify",
        "--anchors",
        str(tmp_path / "anchors.pem"),
        str(tmp_path / "evidence.xml"),
        str(tmp_path / "evidence.xml.p7s"),
    ]
    # with the imports listed: a verifier's command loads no database layer (SQLAlchemy
    # alone took ~0.25 s of its ~1 s start)
    code, out = await run([command[0], "-X", "importtime", *command[1:]], tmp_path)
    assert code == 0, out
    assert "proof of deposit" in out.lower()
    assert " gateway.evidence.verify\n" in out  # the list is there
    assert "sqlalchemy" not in out
    assert "pyhanko" not in out  # no PDF among the files: pyHanko's validation is not loaded

    tampered = proof.xml.replace(b"Mise en demeure", b"Mise en demeurf")
    assert tampered != proof.xml
    (tmp_path / "evidence.xml").write_bytes(tampered)
    code, out = await run(command, tmp_path)
    assert code == 1
    assert "INVALID" in out
    assert "modified" in out


async def run(command: list[str], cwd: Path) -> tuple[int | None, str]:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    return process.returncode, out.decode()


@pytest.mark.parametrize("recipients", [[BOB, "carla@example.com"]])
async def test_each_recipient_is_one_delivery(gateway: Running, recipients: list[str]) -> None:
    """Every envelope recipient gets their own notification and the sender a proof for each."""
    await deposit(gateway, recipients)
    for recipient in recipients:
        await wait_for(partial(notification_for, gateway, recipient), what=f"to {recipient}")
    deposits = await wait_for(
        lambda: len(proofs_for(gateway, SENDER, "SubmissionAcceptance")) == 2 or None,
        what="two proofs of deposit",
    )
    assert deposits


async def test_without_identity_check_the_buttons_decide_at_once(
    tmp_path: Path, database_url: str
) -> None:
    """letters.recipient_verification = none: Accept decides directly (no code is asked)."""
    settings = make_settings(tmp_path, database_url, letters={"recipient_verification": "none"})
    async with start(settings) as gateway:
        await deposit(gateway)
        link = await open_link(gateway)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(link) as page:
                assert 'name="code"' not in await page.text()
            accepted = await post(session, link, "accept")
            assert accepted.status == 303
        receipt = (
            await wait_for(
                lambda: proofs_for(gateway, SENDER, "ConsignmentAcceptance"), what="receipt"
            )
        )[0]
        assert "one-time code" not in from_xml(receipt.xml).recipient_identification
        assert not code_mails_for(gateway, BOB)


@pytest.mark.parametrize("transfer_encoding", ["8bit", "quoted-printable"])
async def test_a_text_letter_is_stored_once_and_its_page_shows_the_text(
    gateway: Running, transfer_encoding: str
) -> None:
    """A letter whose text is written as is in the message (8bit UTF-8) keeps it once: the
    page data says where it lies, not the text again; quoted-printable keeps the decoded text
    beside it. Either way the accepted letter's page shows the text, accents and Arabic."""
    line = "Madame, Monsieur, vous trouverez ma réclamation — السيد المحترم، تحية طيبة.\n"
    body = "".join(f"{number:03d} {line}" for number in range(200))
    message = EmailMessage()
    message["From"] = f"Maître Dupont <{SENDER}>"
    message["To"] = BOB
    message["Subject"] = "Réclamation"
    message.set_content(body, cte=transfer_encoding)
    data = message.as_bytes(policy=email.policy.SMTP)
    code, _ = await submit(gateway, SENDER, PASSWORD, [BOB], data)
    assert code == 250

    with gateway.store.engine.connect() as db:
        (page,) = db.execute(select(t.letters.c.page)).scalars()
    if transfer_encoding == "8bit":
        assert len(page) < 200  # the attachments' places and where the text lies
    else:
        assert len(page) > len(body.encode())

    link = await open_link(gateway)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        code_given = await email_code(gateway, session, link, BOB)
        status, _ = await decide(session, link, "accept", code_given)
        assert status == 303
        async with session.get(link) as shown:
            html = await shown.text()
    assert "000 Madame, Monsieur, vous trouverez ma réclamation" in html
    assert "199 Madame, Monsieur" in html
    assert "السيد المحترم، تحية طيبة" in html
