"""What a sender and a recipient do, over real SMTP and HTTP, and what they find in the outbox."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, TypeVar

import aiosmtplib

from gateway.app import Running
from gateway.smtp_out.transport import OutboxTransport

T = TypeVar("T")


def letter_bytes(
    sender: str,
    to: list[str],
    subject: str,
    body: str,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Maître Dupont <{sender}>"
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(domain="cabinet-dupont.ma")
    message["Date"] = email.utils.formatdate(localtime=False)
    message.set_content(body)
    for name, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes(policy=email.policy.SMTP)


async def submit(
    gateway: Running,
    sender: str,
    password: str,
    to: list[str],
    data: bytes,
    *,
    mail_from: str | None = None,
) -> tuple[int, str]:
    """Submit over STARTTLS + AUTH on the submission port; returns DATA's reply."""
    host, port = gateway.smtp["submission"]
    client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=True, validate_certs=False)
    await client.connect()
    try:
        await client.login(sender, password)
        await client.mail(mail_from or sender)
        for recipient in to:
            await client.rcpt(recipient)
        reply = await client.data(data)
        return reply.code, reply.message
    finally:
        client.close()


def outbox(gateway: Running) -> list[email.message.EmailMessage]:
    transport = OutboxTransport(gateway.settings.gateway.data_dir / "outbox")
    return [_parse(transport.read(entry.name)) for entry in transport.list()]


def _parse(data: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


async def wait_for(probe: Callable[[], T], *, within: float = 60.0, what: str = "condition") -> T:
    """Poll probe until it returns something truthy (the gateway works in the background)."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def mails_to(gateway: Running, address: str) -> list[email.message.EmailMessage]:
    return [m for m in outbox(gateway) if address.lower() in str(m["To"]).lower()]


def notification_for(gateway: Running, recipient: str) -> list[email.message.EmailMessage]:
    return [
        m for m in mails_to(gateway, recipient) if not attachments_of(m) and not _is_code_mail(m)
    ]


def code_mails_for(gateway: Running, recipient: str) -> list[email.message.EmailMessage]:
    """The one-time code mails received by recipient, newest first."""
    return [m for m in mails_to(gateway, recipient) if _is_code_mail(m)]


def _is_code_mail(message: email.message.EmailMessage) -> bool:
    subject = str(message["Subject"])
    return any(s in subject for s in ("code de confirmation", "confirmation code", "رمز التأكيد"))


def code_in(text: str) -> str:
    """The 6-digit one-time code in a code mail or SMS (a word of its own: the letter's
    reference, e.g. LRE-20261130-ND463666, may hold six digits in a row too)."""
    codes = re.findall(r"(?<![0-9A-Za-z])\d{6}(?![0-9A-Za-z])", text)
    assert len(codes) == 1, f"expected one code in {text!r}"
    return str(codes[0])


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def request_code(session: Any, link: str) -> int:
    """Press "Send me a code" on the letter page; returns the HTTP status."""
    async with session.get(link) as page:
        html = await page.text()
    fields = {**csrf_field(html, "/code"), "send": "code"}  # the pressed button's name=value
    async with session.post(f"{link}/code", data=fields, allow_redirects=False) as response:
        await response.read()
        return int(response.status)


async def decide(session: Any, link: str, action: str, code: str | None) -> tuple[int, str]:
    """Enter code on the letter page and press Accept or Refuse; (status, page text)."""
    async with session.get(link) as page:
        html = await page.text()
    fields = csrf_field(html, "/accept")
    if code is not None:
        fields["code"] = code
    async with session.post(f"{link}/{action}", data=fields, allow_redirects=False) as response:
        return int(response.status), await response.text()


async def email_code(gateway: Running, session: Any, link: str, recipient: str) -> str:
    """Ask for a code on the letter page and read it from the code mail (email channel)."""
    before = len(code_mails_for(gateway, recipient))
    assert await request_code(session, link) == 303

    def newer() -> list[email.message.EmailMessage] | None:
        mails = code_mails_for(gateway, recipient)
        return mails if len(mails) > before else None

    mails = await wait_for(newer, what="the code mail")
    assert mails
    return code_in(text_of(mails[0]))


def link_in(notification: email.message.EmailMessage) -> str:
    body = notification.get_body(("plain",))
    assert body is not None, "the notification has no text part"
    text: str = body.get_content()
    links: set[str] = set(re.findall(r"https?://\S+/l/[A-Za-z0-9_-]+", text))
    assert len(links) == 1, f"expected one link in the notification, found {links}"
    return links.pop()


@dataclass
class Proof:
    subject: str
    text: str
    xml: bytes
    p7s: bytes


def attachments_of(message: email.message.EmailMessage | bytes) -> dict[str, bytes]:
    """File name → decoded bytes of each attachment."""
    if isinstance(message, bytes):
        message = _parse(message)
    return {
        str(part.get_filename()): bytes(part.get_payload(decode=True))
        for part in message.walk()
        if not part.is_multipart() and part.get_filename()
    }


def signed_content(message: email.message.EmailMessage) -> email.message.EmailMessage:
    """The signed entity of an S/MIME multipart/signed mail (else the message itself)."""
    if message.get_content_type() == "multipart/signed":
        first = message.get_payload(0)
        assert isinstance(first, email.message.EmailMessage)
        return first
    return message


def proofs_for(gateway: Running, sender: str, event: str) -> list[Proof]:
    """Proof mails received by sender whose evidence.xml states event."""
    found = []
    for message in mails_to(gateway, sender):
        files = attachments_of(message)
        if "evidence.xml" not in files or f"/Event/{event}<".encode() not in files["evidence.xml"]:
            continue
        body = signed_content(message).get_body(("plain",))
        found.append(
            Proof(
                str(message["Subject"]),
                body.get_content() if body else "",
                files["evidence.xml"],
                files["evidence.xml.p7s"],
            )
        )
    return found


def csrf_field(html: str, action: str) -> dict[str, Any]:
    """The hidden fields of the form posting to action."""
    form = re.search(rf'<form[^>]*action="[^"]*{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S)
    assert form, f"no form posting to {action}"
    return dict(
        re.findall(
            r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(1)
        )
    )


async def login(gateway: Running, address: str, password: str) -> tuple[int, str]:
    """SMTP AUTH on the submission port after STARTTLS; the reply."""
    host, port = gateway.smtp["submission"]
    client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=True, validate_certs=False)
    await client.connect()
    try:
        reply = await client.login(address, password)
        return reply.code, reply.message
    except aiosmtplib.SMTPAuthenticationError as err:
        return err.code, err.message
    finally:
        client.close()
