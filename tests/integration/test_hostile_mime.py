"""Hostile MIME over real SMTP: refused at DATA with a readable reply, and never in anyone's way.

Every hostile letter here once cost CPython's email package seconds to minutes (or a
RecursionError, or hundreds of MB); the gateway's bounded pre-scan answers each at DATA, and
the next ordinary letter is accepted as usual. What is refused leaves nothing behind; what is
accepted never lets an encoded word or a file name add a header or a recipient to a mail the
gateway sends. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from sqlalchemy import select

from gateway.app import Running
from gateway.settings import Settings
from gateway.storage import tables as t
from tests.support.client import (
    csrf_field,
    link_in,
    outbox,
    proofs_for,
    submit,
    text_of,
    wait_for,
)
from tests.support.gateway import PASSWORD, SENDER, make_settings, start
from tests.support.letters import assert_nothing_kept, kept
from tests.support.mime_strategies import Generated, letters

BOB = "bob@example.com"
ATTACKER = EVIL = "evil@attacker.example"
HEAD = f"From: Me Dupont <{SENDER}>\r\nTo: {BOB}\r\nSubject: hostile\r\n".encode()
_REPLY = re.compile(r"(\d\.\d{1,3}\.\d{1,3}) (.*)", re.S)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Default limits; the notification names the sender and subject (so both reach a mail)."""
    return make_settings(tmp_path, database_url, letters={"reveal_sender": "in_notification"})


def ordinary(subject: str = "Mise en demeure") -> bytes:
    message = EmailMessage()
    message["From"] = f"Me Dupont <{SENDER}>"
    message["To"] = BOB
    message["Subject"] = subject
    message.set_content("Dear Bob,\n\nPlease find the formal notice.\n")
    return message.as_bytes(policy=email.policy.SMTP)


def multipart(parts: list[bytes]) -> bytes:
    body = b"".join(b"--zz\r\n" + part for part in parts)
    return HEAD + b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n" + body + b"--zz--\r\n"


def nested(depth: int) -> bytes:
    content = HEAD
    for level in range(depth):
        content += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level)
    return content + b"\r\ninnermost\r\n"


HOSTILE: dict[str, tuple[bytes, int, str, str]] = {
    # name: (DATA, code, enhanced code, words the reply must hold)
    "80 kB Content-Type of parameters": (
        HEAD + b"Content-Type: text/plain" + b";\r\n a=b" * 11_500 + b"\r\n\r\nx\r\n",
        552,
        "5.3.4",
        "Content-Type: header is longer than 64 kB",
    ),
    "200 kB folded Subject": (
        f"From: Me Dupont <{SENDER}>\r\nTo: {BOB}\r\n".encode()
        + b"Subject: "
        + b"word word\r\n " * 20_000
        + b"end\r\n\r\nx\r\n",
        552,
        "5.3.4",
        "Subject: header is longer than 64 kB",
    ),
    "100,000 flat parts": (
        multipart([b"\r\nx\r\n"] * 100_000),
        552,
        "5.3.4",
        "more than 1000 MIME parts",
    ),
    "nesting depth 1,000": (nested(1000), 554, "5.6.0", "nested more than 32 levels"),
    "header block over the limit": (
        HEAD + (b"X-Filler: " + b"y" * 900 + b"\r\n") * 600 + b"\r\nx\r\n",
        552,
        "5.3.4",
        "total more than 512 kB",
    ),
    "2,000 addresses in To": (
        f"From: Me Dupont <{SENDER}>\r\nSubject: many\r\n".encode()
        + b"To: "
        + b"a@example.com,\r\n " * 2000
        + b"b@example.com\r\n\r\nx\r\n",
        552,
        "5.3.4",
        "To: header holds more than 1000 addresses",
    ),
}


async def send(gateway: Running, data: bytes) -> tuple[int, str]:
    """Submit data from SENDER to BOB over STARTTLS + AUTH; DATA's reply, refusals included."""
    try:
        return await submit(gateway, SENDER, PASSWORD, [BOB], data)
    except aiosmtplib.SMTPResponseException as refused:
        return refused.code, refused.message


def split(message: str) -> tuple[str, str]:
    found = _REPLY.fullmatch(message)
    assert found, f"no enhanced status code in {message!r}"
    return found[1], found[2]


async def test_each_hostile_letter_is_refused_and_the_next_letter_is_accepted(
    gateway: Running,
) -> None:
    """Each hostile letter gets its 552 5.3.4 / 554 5.6.0 at DATA; an ordinary one then gets 250."""
    for name, (data, code, enhanced, words) in HOSTILE.items():
        reply_code, message = await send(gateway, data)
        assert reply_code == code, f"{name}: {reply_code} {message}"
        assert split(message)[0] == enhanced, name
        assert words in message, f"{name}: {message}"
        assert "nothing was kept" in message, name
    await assert_nothing_kept(gateway)
    code, message = await send(gateway, ordinary())
    assert code == 250, message
    assert len(await kept(gateway)) == 1


async def test_an_ordinary_letter_is_accepted_while_hostile_ones_are_being_refused(
    gateway: Running,
) -> None:
    """Four hostile senders at once do not keep an ordinary sender from its 250."""
    hostile = [
        send(gateway, HOSTILE[name][0])
        for name in ("100,000 flat parts", "nesting depth 1,000", "200 kB folded Subject")
        for _ in range(2)
    ]
    replies = await asyncio.gather(*hostile, send(gateway, ordinary()))
    assert [code for code, _ in replies[:-1]] == [552, 552, 554, 554, 552, 552]
    assert replies[-1][0] == 250, replies[-1][1]
    assert [k.content for k in await kept(gateway)] == [ordinary()]


def injected_letter() -> bytes:
    """A letter whose encoded-word subject and file names hide CRLF + Bcc:."""
    return (
        f"From: =?utf-8?q?Me_Dupont?= <{SENDER}>\r\n".encode()
        + f"To: {BOB}\r\n".encode()
        + f"Subject: =?utf-8?q?Notice=0D=0ABcc:_{ATTACKER}=0D=0A?=\r\n".encode()
        + b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain\r\n\r\nDear Bob\r\n"
        b"--zz\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        + f'Content-Disposition: attachment; filename="=?utf-8?q?a.pdf=0D=0ABcc:_{EVIL}?="'.encode()
        + b"\r\n\r\nJVBERi0=\r\n"
        b"--zz\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        + f"Content-Disposition: attachment; filename*=utf-8''b.pdf%0D%0ABcc%3A%20{EVIL}".encode()
        + b"\r\n\r\nJVBERi0=\r\n"
        b"--zz--\r\n"
    )


async def test_header_injection_never_adds_a_header_or_a_recipient(gateway: Running) -> None:
    """CRLF + "Bcc:" in encoded words and file names reaches no header or envelope the sink sees."""
    hidden_in_name = f"From: =?utf-8?q?Me=0D=0ABcc=3A_{ATTACKER}?= <{SENDER}>\r\n"
    code, message = await send(
        gateway, hidden_in_name.encode() + injected_letter().split(b"\r\n", 1)[1]
    )
    assert (code, split(message)[0]) == (550, "5.6.0")  # a sender name hiding CR/LF: refused
    code, message = await send(gateway, injected_letter())
    assert code == 250, message
    await wait_for(lambda: proofs_for(gateway, SENDER, "SubmissionAcceptance"), what="the proof")
    await wait_for(lambda: [m for m in outbox(gateway) if BOB in str(m["Delivered-To"])])
    mails = outbox(gateway)
    assert {str(m["Delivered-To"]) for m in mails} == {BOB, SENDER}
    for mail in mails:
        assert mail["Bcc"] is None
        for name, value in mail.items():
            assert ATTACKER not in str(value), f"{name}: {value}"
    notification = next(m for m in mails if BOB in str(m["Delivered-To"]))
    assert f"Notice Bcc: {ATTACKER}" in text_of(notification)  # shown, as text on one line
    proof = proofs_for(gateway, SENDER, "SubmissionAcceptance")[0]
    assert b"a.pdf Bcc: " + ATTACKER.encode() in proof.xml  # the name, on one line
    assert "\r" not in proof.text.replace("\r\n", "")


# --- the released page: read once at deposit, served from what was stored ---------------------


async def accept_and_read(gateway: Running, reference: str) -> tuple[str, bytes, bytes]:
    """Accept the letter `reference` as BOB (no identity check); its page, original, 1st file."""

    def notice() -> list[EmailMessage]:
        return [
            m for m in outbox(gateway) if reference in str(m["Subject"]) and BOB in str(m["To"])
        ]

    link = link_in((await wait_for(notice, what=reference, within=60))[0])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(link) as page:
            fields = csrf_field(await page.text(), "/accept")
        async with session.post(f"{link}/accept", data=fields, allow_redirects=False) as accepted:
            assert accepted.status == 303
        async with session.get(link, headers={"Accept-Language": "en"}) as page:
            html = await page.text()
        async with session.get(f"{link}/letter.eml") as original:
            assert original.status == 200
            data = await original.read()
        async with session.get(f"{link}/attachments/0") as attachment:
            first = await attachment.read() if attachment.status == 200 else b""
    return html, data, first


def reference_of(message: str) -> str:
    found = re.search(r"LRE-\d{8}-[A-Z2-7]{8}", message)
    assert found, message
    return found[0]


def stored_pages(gateway: Running) -> list[bytes | None]:
    with gateway.store.engine.connect() as db:
        return list(db.scalars(select(t.letters.c.page)))


async def test_the_released_page_is_served_from_what_was_stored(
    tmp_path: Path, database_url: str
) -> None:
    """The page shows the text read at deposit (kept encrypted); the original stays byte-exact."""
    settings = make_settings(tmp_path, database_url, letters={"recipient_verification": "none"})
    async with start(settings) as gateway:
        data = injected_letter().replace(b"Dear Bob", b"Dear Bob, the rent is 12 000 dirhams")
        code, message = await send(gateway, data)
        assert code == 250, message
        html, original, first = await accept_and_read(gateway, reference_of(message))
        assert original == data
        assert first == b"%PDF-"
        assert "12 000 dirhams" in html
        assert (
            f"a.pdf Bcc_ {EVIL}" in html
        )  # the file name, on one line (":" is no file-name character)
        pages = await asyncio.to_thread(stored_pages, gateway)
        assert len(pages) == 1
        assert pages[0]
        assert b"dirhams" not in pages[0]  # encrypted like the content


def test_the_released_original_is_always_byte_exact(tmp_path: Path, database_url: str) -> None:
    """For generated letters (text, HTML, attachments), the accepted .eml equals the DATA bytes."""
    settings = make_settings(tmp_path, database_url, letters={"recipient_verification": "none"})
    with asyncio.Runner() as runner:
        context = start(settings)
        gateway = runner.run(context.__aenter__())
        try:

            @given(letters())
            @hypothesis_settings(max_examples=8, deadline=None, database=None)
            def released(letter: Generated) -> None:
                code, message = runner.run(send(gateway, letter.content))
                assert code == 250, message
                _, original, first = runner.run(accept_and_read(gateway, reference_of(message)))
                assert original == letter.content
                if letter.attachments:
                    assert first == letter.attachments[0][1]

            released()
        finally:
            runner.run(context.__aexit__(None, None, None))
