"""The sender named on proofs, notifications and pages is the account the gateway authenticated,
never the From: display name; notifications speak the recipient's language, or French and Arabic.

Attack: a sender registered as "Demo Sender" writes From: "Ministère de la Justice" <its address>.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import AsyncIterator
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import aiosmtplib
import dkim
import pytest

from gateway.app import Running, running
from gateway.evidence.xml import from_xml
from gateway.registry import offline_registry
from gateway.sms.providers import OutboxSmsProvider
from gateway.startup import initialise
from tests.support.client import (
    Proof,
    link_in,
    notification_for,
    proofs_for,
    submit,
    text_of,
    wait_for,
)
from tests.support.gateway import SENDER, make_settings
from tests.support.mx_world import (
    MX_ADDRESS,
    World,
    dns_server,
    parsed,
    proofs,
    publish_dkim_key,
    send_inbound,
    world,
)

__all__ = ["dns_server", "world"]

DEMO = "demo@cabinet-dupont.ma"
PASSWORD = "correct horse battery staple"
SPOOFED = "Ministère de la Justice"
BOB, CAROL = "bob@example.ma", "carol@example.ma"
FRENCH_INTRO = "Une lettre recommandée électronique vous attend."
ARABIC_INTRO = "رسالة مضمونة إلكترونية في انتظارك."


def spoofed_letter(sender: str, to: list[str], *headers: tuple[str, str]) -> bytes:
    message = EmailMessage()
    message["From"] = Address(SPOOFED, addr_spec=sender)
    message["To"] = ", ".join(to)
    message["Subject"] = "Convocation"
    for name, value in headers:
        message[name] = value
    message.set_content("Vous êtes convoqué.")
    return message.as_bytes(policy=email.policy.SMTP)


@pytest.fixture
async def demo(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    """A gateway revealing the sender in notifications, with the account "Demo Sender"."""
    settings = make_settings(tmp_path, database_url, letters={"reveal_sender": "in_notification"})
    initialise(settings)
    with offline_registry(settings) as registry:
        registry.senders.save_sender(DEMO, "Demo Sender", PASSWORD)
    async with running(settings) as gateway:
        yield gateway


def sms_to(gateway: Running, phone: str) -> list[str]:
    provider = OutboxSmsProvider(gateway.settings.gateway.data_dir / "sms")
    return [entry.text for entry in provider.list() if entry.to == phone]


def deposit_proofs(gateway: Running, count: int) -> list[Proof]:
    """The proofs of deposit DEMO received, once there are count of them."""
    found = proofs_for(gateway, DEMO, "SubmissionAcceptance")
    return found if len(found) == count else []


def sender_field(html: str) -> str:
    """The text of the page's "Expéditeur" field."""
    match = re.search(r"<dt>Expéditeur</dt><dd><bdi>([^<]*)</bdi>", html)
    assert match, "the page names no sender"
    return match.group(1)


async def test_a_spoofed_display_name_never_reaches_a_proof(demo: Running) -> None:
    """Evidence, proof mail, notification, SMS and page name "Demo Sender"; the From: name is
    at most shown as what the sender declared."""
    data = spoofed_letter(
        DEMO,
        [BOB, CAROL],
        ("LRE-Recipient-Phone", f"{BOB} +212612345678"),
        ("LRE-Recipient-Language", f"{BOB} ar"),
    )
    code, _ = await submit(demo, DEMO, PASSWORD, [BOB, CAROL], data)
    assert code == 250

    [proof, _] = await wait_for(lambda: deposit_proofs(demo, 2), what="both proofs of deposit")
    record = from_xml(proof.xml)
    assert record.sender_name == "Demo Sender"
    assert record.sender_address == DEMO
    assert SPOOFED not in record.sender_name
    assert f"Expéditeur : Demo Sender <{DEMO}>" in proof.text.splitlines()
    assert f"Nom indiqué par l'expéditeur (non vérifié) : {SPOOFED}" in proof.text.splitlines()

    [to_bob] = await wait_for(lambda: notification_for(demo, BOB), what="Bob's notification")
    bob_text = text_of(to_bob)
    assert f"المرسِل: Demo Sender <{DEMO}>" in bob_text
    assert SPOOFED not in bob_text
    assert ARABIC_INTRO in bob_text
    assert FRENCH_INTRO not in bob_text
    [sms] = await wait_for(lambda: sms_to(demo, "+212612345678"), what="Bob's SMS")
    assert "من Demo Sender" in sms
    assert SPOOFED not in sms
    assert "(بتوقيت المغرب)" in sms

    [to_carol] = await wait_for(lambda: notification_for(demo, CAROL), what="Carol's notice")
    carol_text = text_of(to_carol)
    assert carol_text.index(FRENCH_INTRO) < carol_text.index(ARABIC_INTRO)  # fr, ar by default
    assert f"Expéditeur : Demo Sender <{DEMO}>" in carol_text
    assert SPOOFED not in carol_text
    assert 'dir="rtl"' in to_carol.get_body(("html",)).get_content()  # type: ignore[union-attr]

    async with (
        aiohttp.ClientSession(headers={"Accept-Language": "fr"}) as http,
        http.get(link_in(to_carol)) as response,
    ):
        page = await response.text()
    assert sender_field(page) == f"Demo Sender &lt;{DEMO}&gt;"
    declared = page.index("Nom indiqué par l&#39;expéditeur (non vérifié)")
    assert page.count(SPOOFED) == 1
    assert page.index(SPOOFED) > declared


async def test_a_spoofed_display_name_via_the_mx_address_never_reaches_a_proof(
    world: World,
) -> None:
    """Deposited through bob=example.ma@gateway with a DKIM signature: the registered name
    ("Maître Dupont") is the sender; the recipient language header names the MX address."""
    private = publish_dkim_key(world.dns, "s2026", "cabinet-dupont.ma")
    message = spoofed_letter(SENDER, [MX_ADDRESS], ("LRE-Recipient-Language", f"{MX_ADDRESS} ar"))
    signed = dkim.sign(message, b"s2026", b"cabinet-dupont.ma", private) + message
    code, text = await send_inbound(world, SENDER, MX_ADDRESS, signed)
    assert code == 250, text
    [proof] = await wait_for(
        lambda: proofs(world.sender_mx, "SubmissionAcceptance"), what="proof of deposit"
    )
    record = from_xml(proof.xml)
    assert record.sender_name == "Maître Dupont"
    assert SPOOFED not in record.sender_name
    [notice] = await wait_for(lambda: world.recipient_mx.messages, what="notification")
    notice_text = text_of(parsed(notice.data))
    assert ARABIC_INTRO in notice_text
    assert FRENCH_INTRO not in notice_text
    assert SPOOFED not in notice_text


async def test_an_unknown_recipient_language_refuses_the_letter(demo: Running) -> None:
    """LRE-Recipient-Language with a language the gateway does not speak: 550, nothing kept."""
    data = spoofed_letter(DEMO, [BOB], ("LRE-Recipient-Language", f"{BOB} de"))
    try:
        code, text = await submit(demo, DEMO, PASSWORD, [BOB], data)
    except aiosmtplib.SMTPResponseException as refused:
        code, text = refused.code, refused.message
    assert code == 550
    assert "5.6.0" in text
    assert "LRE-Recipient-Language" in text
    assert notification_for(demo, BOB) == []


async def test_raw_utf8_headers_are_read_as_utf8_and_the_name_stays_declared(
    demo: Running,
) -> None:
    """Headers in raw UTF-8 (as swaks or an SMTPUTF8 client writes them, no RFC 2047): the
    letter is deposited (it was a 451 once: surrogates reached the database), the subject and
    declared name read as written, a byte that is not UTF-8 shown as U+FFFD."""
    data = (
        f'From: "{SPOOFED}" <{DEMO}>\r\n'
        f'To: "Bob Martín (+212 6 12 34 56 78)" <{BOB}>\r\n'
        "Subject: Mise en demeure n°7 — loyer d'été\r\n"
        "\r\n"
        "Vous êtes convoqué.\r\n"
    ).encode()
    data = data.replace("loyer d'été".encode(), b"loyer d'\xe9t\xc3\xa9")  # one Latin-1 byte
    code, _ = await submit(demo, DEMO, PASSWORD, [BOB], data)
    assert code == 250

    [proof] = await wait_for(lambda: deposit_proofs(demo, 1), what="the proof of deposit")
    record = from_xml(proof.xml)
    assert record.sender_name == "Demo Sender"
    assert record.subject == "Mise en demeure n°7 — loyer d'\ufffdté"
    assert f"Nom indiqué par l'expéditeur (non vérifié) : {SPOOFED}" in proof.text.splitlines()
    [sms] = await wait_for(lambda: sms_to(demo, "+212612345678"), what="Bob's SMS")
    assert SPOOFED not in sms
