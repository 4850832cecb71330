"""The submission listeners of a real gateway, spoken to by aiosmtplib, swaks and raw streams.

Every test runs against `gateway.app.running` on SQLite and on PostgreSQL. What was deposited is
read back from the database the gateway wrote (letter, deliveries, decrypted content); a refusal
means nothing was stored and nothing was mailed. Failures are real database faults.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from gateway.app import Running
from gateway.evidence.pki import pki_paths
from gateway.services.senders import ACCOUNT_HELD
from gateway.storage.account_store import AccountStore
from tests.support.client import letter_bytes, login, submit, wait_for
from tests.support.faults import letters_locked, table_missing
from tests.support.gateway import PASSWORD, SENDER, Clock, free_port, make_settings, start
from tests.support.letters import assert_nothing_kept, kept

BOB = "bob@example.com"
CAROL = "carol@example.net"
MAX_SIZE = 20_000  # smtp.max_message_size = "20KB" below
MAX_RECIPIENTS = 100  # the default smtp.max_recipients
REFERENCE = re.compile(r"LRE-\d{8}-[A-Z2-7]{8}")

# The From: display name differs from the account's name ("Maître Dupont") on purpose: the
# stored sender name shows the header was read.
LETTER = (
    b"From: Me Dupont <maitre.dupont@cabinet-dupont.ma>\r\n"
    b"To: bob@example.com\r\n"
    b"Subject: Mise en demeure\r\n"
    b"Message-ID: <letter-1@cabinet-dupont.ma>\r\n"
    b"\r\n"
    b"Dear Bob,\r\n"
    b".a line that starts with a dot\r\n"
    b"..two dots\r\n"
    b"\r\n"
    b"Regards\r\n"
)


# --- the gateway and what it kept -------------------------------------------------------------


@pytest.fixture
async def gateway(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    """The real gateway with the sender account SENDER / PASSWORD and a 20 kB message limit."""
    settings = make_settings(tmp_path, database_url, smtp={"max_message_size": "20KB"})
    async with start(settings) as running:
        yield running


def client_tls(gateway: Running) -> ssl.SSLContext:
    """A client context trusting only the gateway's development root CA (the cert is checked)."""
    root = pki_paths(gateway.settings.gateway.data_dir).root_cert
    return ssl.create_default_context(cafile=str(root))


def client(gateway: Running, *, implicit: bool = False, **kwargs: Any) -> aiosmtplib.SMTP:
    """aiosmtplib on the submissions port (implicit TLS) or the submission port (STARTTLS)."""
    name = "submissions" if implicit else "submission"
    host, port = gateway.smtp[name]
    if implicit:
        kwargs["use_tls"] = True
    else:
        kwargs.setdefault("start_tls", True)
    return aiosmtplib.SMTP(hostname=host, port=port, tls_context=client_tls(gateway), **kwargs)


async def authenticate(smtp: aiosmtplib.SMTP, method: Any, user: str, password: str) -> None:
    """EHLO (again, after STARTTLS), then the given aiosmtplib auth_* method."""
    await smtp.ehlo()
    await method(user, password)


def plain(user: str, password: str) -> bytes:
    return base64.b64encode(f"\0{user}\0{password}".encode())


def reference_in(reply: str) -> str:
    found = REFERENCE.search(reply)
    assert found, f"no letter reference in {reply!r}"
    return found.group(0)


def sender_account_id(gateway: Running) -> str:
    record = AccountStore(gateway.store.engine).account(SENDER)
    assert record is not None
    return record.id


def dot_stuffed(data: bytes) -> bytes:
    """DATA as it goes on the wire (RFC 5321 4.5.2): a line starting with '.' gets another."""
    return b"\r\n".join(
        b"." + line if line.startswith(b".") else line for line in data.split(b"\r\n")
    )


class RawSession:
    """An SMTP session over implicit TLS (or, `clear`, on the submission port before STARTTLS)
    where the test writes exact bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.greeting = ""

    @classmethod
    async def open(cls, gateway: Running, *, clear: bool = False) -> RawSession:
        host, port = gateway.smtp["submission" if clear else "submissions"]
        tls = None if clear else client_tls(gateway)
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        session = cls(reader, writer)
        session.greeting = await session.reply()
        return session

    async def reply(self) -> str:
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 10)).decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    async def command(self, line: bytes) -> str:
        self.writer.write(line + b"\r\n")
        return await self.reply()

    async def login_and_start(self) -> None:
        """EHLO, AUTH PLAIN, MAIL, one RCPT and DATA, each answered positively."""
        assert (await self.command(b"EHLO client.test")).startswith("250")
        assert (await self.command(b"AUTH PLAIN " + plain(SENDER, PASSWORD))).startswith("235")
        assert (await self.command(f"MAIL FROM:<{SENDER}>".encode())).startswith("250")
        assert (await self.command(f"RCPT TO:<{BOB}>".encode())).startswith("250")
        assert (await self.command(b"DATA")).startswith("354")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


# --- deposits ---------------------------------------------------------------------------------


async def test_the_ehlo_reply_is_written_and_counted_as_one_reply(
    tmp_path: Path, database_url: str
) -> None:
    """EHLO's reply, a line per extension, comes whole and is one reply in the metrics (its
    lines are written together: one segment, one TLS record after STARTTLS)."""
    settings = make_settings(
        tmp_path, database_url, web={"admin_listen": f"127.0.0.1:{free_port()}"}
    )
    async with start(settings) as running:
        assert running.admin_url is not None
        host, port = running.smtp["submission"]
        reader, writer = await asyncio.open_connection(host, port)
        try:
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"220 ")
            writer.write(b"EHLO client.test\r\n")
            lines: list[str] = []
            while not lines or lines[-1][3:4] == "-":
                lines.append((await asyncio.wait_for(reader.readline(), 10)).decode().strip())
            writer.write(b"QUIT\r\n")
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"221 ")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        assert all(line.startswith("250-") for line in lines[:-1])
        assert len(lines) > 4
        assert lines[-1].startswith("250 ")
        assert "250-STARTTLS" in lines
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{running.admin_url}/metrics") as response,
        ):
            exposition = await response.text()
        counted = {
            code: float(value)
            for code, value in re.findall(
                r'lre_smtp_replies_total\{code="(\d+)",listener="submission"\} (\S+)', exposition
            )
        }
        assert counted == {"220": 1.0, "250": 1.0, "221": 1.0}


# STARTTLS is made by the event loop (loop.start_tls): asyncio's in the main process (processes
# = 0), uvloop's in the SMTP processes of their own (2, the default)
WHERE_SERVED = pytest.mark.parametrize("processes", [0, 2], ids=["main process", "smtp processes"])


@pytest.fixture
async def served(tmp_path: Path, database_url: str, processes: int) -> AsyncIterator[Running]:
    settings = make_settings(tmp_path, database_url, smtp={"processes": processes})
    async with start(settings) as running:
        yield running


@WHERE_SERVED
async def test_commands_sent_in_clear_after_starttls_never_run_inside_tls(
    served: Running,
) -> None:
    """RFC 3207 §4.2: what follows STARTTLS before the handshake (an attacker's injected
    command) is thrown away; the client's first command inside TLS gets the first reply, and
    a letter then deposited names TLS in its sender's authentication."""
    session = await RawSession.open(served, clear=True)
    try:
        assert session.greeting.startswith("220 ")
        assert "250-STARTTLS" in await session.command(b"EHLO client.test")
        session.writer.write(b"STARTTLS\r\nMAIL FROM:<" + SENDER.encode() + b">\r\n")
        assert (await session.reply()).startswith("220 ")
        await session.writer.start_tls(client_tls(served))
        assert (await session.command(b"NOOP")).startswith("250 ")  # NOOP's, not a refused MAIL's
        ehlo = await session.command(b"EHLO client.test")
        assert "STARTTLS" not in ehlo
        assert "AUTH" in ehlo
        # RFC 3207: not offered again, refused if asked
        refused = await session.command(b"STARTTLS")
        assert refused == "503 5.5.1 This session is already protected by TLS"
        assert (await session.command(b"AUTH PLAIN " + plain(SENDER, PASSWORD))).startswith("235 ")
        session.writer.write(
            b"MAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<" + BOB.encode() + b">\r\n"
        )
        assert (await session.reply()).startswith("250 ")
        assert (await session.reply()).startswith("250 ")
        assert (await session.command(b"DATA")).startswith("354 ")
        deposited = await session.command(LETTER.replace(b"\r\n.", b"\r\n..") + b".")
        assert deposited.startswith("250 "), deposited
        assert (await session.command(b"QUIT")).startswith("221 ")
    finally:
        await session.close()
    [stored] = await kept(served)
    assert stored.letter.reference == reference_in(deposited)
    assert stored.letter.sender_authentication.startswith("SMTP AUTH PLAIN over STARTTLS (TLSv1.")


@WHERE_SERVED
async def test_a_failed_tls_handshake_closes_that_connection_only(
    served: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that answers STARTTLS's 220 with something else than TLS is disconnected,
    without an error in the log (its doing: one line; an SMTP process logs it to its own
    stderr); the next one is served."""
    caplog.set_level(logging.INFO, logger="gateway.smtp_in.handler")
    session = await RawSession.open(served, clear=True)
    try:
        assert session.greeting.startswith("220 ")
        session.writer.write(b"EHLO client.test\r\nSTARTTLS\r\n")
        await session.reply()
        assert (await session.reply()).startswith("220 ")
        session.writer.write(b"GET / HTTP/1.1\r\nHost: not.tls\r\n\r\n" * 4)
        # a TLS alert at most, then the end of the connection
        assert len(await asyncio.wait_for(session.reader.read(), 10)) < 100
    finally:
        await session.close()
    code, message = await submit(served, SENDER, PASSWORD, [BOB], LETTER)
    assert code == 250, message
    assert [stored.letter.reference for stored in await kept(served)] == [reference_in(message)]
    handler = [r for r in caplog.records if r.name == "gateway.smtp_in.handler"]
    assert not [r for r in handler if r.levelno >= logging.WARNING]
    if served.settings.smtp.processes == 0:  # logged here, not in a process of its own
        assert [r.getMessage()[:36] for r in handler] == ["TLS handshake after STARTTLS failed:"]


async def test_deposit_with_starttls_and_plain(gateway: Running) -> None:
    """STARTTLS + AUTH PLAIN: the 250 names the stored letter, one delivery per recipient."""
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        errors, reply = await smtp.sendmail(SENDER, [BOB, CAROL], LETTER)
    assert errors == {}
    reference = reference_in(reply)
    assert reply == (
        f"2.0.0 Registered letter {reference} deposited; the proof of deposit follows by email"
    )
    [stored] = await kept(gateway)
    assert stored.letter.reference == reference
    assert stored.letter.sender_account == sender_account_id(gateway)
    assert stored.letter.sender_address == SENDER
    assert stored.recipients == [BOB, CAROL]
    assert stored.letter.sender_authentication.startswith("SMTP AUTH PLAIN over STARTTLS (TLSv1.")
    assert stored.letter.subject == "Mise en demeure"
    assert stored.letter.sender_name == "Maître Dupont"  # the registered name, not From:'s
    assert stored.letter.sender_declared_name == "Me Dupont"
    assert stored.letter.message_size == len(LETTER)


async def test_deposit_with_login_mechanism(gateway: Running) -> None:
    """AUTH LOGIN works as well as PLAIN, and the stored letter says which one was used."""
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_login, SENDER, PASSWORD)
        _, reply = await smtp.sendmail(SENDER, [BOB], LETTER)
    [stored] = await kept(gateway)
    assert stored.letter.reference == reference_in(reply)
    assert stored.letter.sender_authentication.startswith("SMTP AUTH LOGIN over STARTTLS (TLSv1.")


async def test_a_login_logs_no_deprecation_warning(
    gateway: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A successful AUTH leaves no warning of aiosmtpd's (its deprecated login_data) in the log."""
    caplog.set_level(logging.WARNING, logger="mail.log")
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        errors, _ = await smtp.sendmail(SENDER, [BOB], LETTER)
    assert errors == {}
    assert [r.getMessage() for r in caplog.records if r.name == "mail.log"] == []


async def test_deposit_over_implicit_tls(gateway: Running) -> None:
    """The submissions port (TLS from the first byte) offers AUTH, not STARTTLS, and deposits."""
    async with client(gateway, implicit=True) as smtp:
        await smtp.ehlo()
        assert smtp.supports_extension("auth")
        assert not smtp.supports_extension("starttls")
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        _, reply = await smtp.sendmail(SENDER, [BOB], LETTER)
    assert reply.startswith("2.0.0 Registered letter LRE-")
    [stored] = await kept(gateway)
    assert stored.letter.reference == reference_in(reply)
    assert stored.letter.sender_authentication.startswith(
        "SMTP AUTH PLAIN over implicit TLS (TLSv1."
    )


async def test_content_is_byte_exact_after_dot_unstuffing(gateway: Running) -> None:
    """The stored content is the DATA bytes exactly as sent: CRLF kept, dot-stuffing undone."""
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        await smtp.sendmail(SENDER, [BOB], LETTER)
    [stored] = await kept(gateway)
    assert stored.content == LETTER


async def test_envelope_sender_compares_case_insensitively(gateway: Running) -> None:
    """MAITRE.Dupont@Cabinet-Dupont.MA is the account's address too, and is kept as written."""
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        await smtp.sendmail("MAITRE.Dupont@Cabinet-Dupont.MA", [BOB], LETTER)
    [stored] = await kept(gateway)
    assert stored.letter.sender_address == "MAITRE.Dupont@Cabinet-Dupont.MA"


async def test_recipient_cap(gateway: Running) -> None:
    """The 101st recipient gets 452 4.5.3; the first 100 each become a stored delivery."""
    recipients = [f"r{n:03}@example.com" for n in range(MAX_RECIPIENTS + 1)]
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        await smtp.mail(SENDER)
        for address in recipients[:-1]:
            await smtp.rcpt(address)
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await smtp.rcpt(recipients[-1])
        await smtp.data(LETTER)
    assert refused.value.code == 452
    assert refused.value.message.startswith("4.5.3 Too many recipients")
    [stored] = await kept(gateway)
    assert stored.recipients == recipients[:-1]


# --- refusals before DATA ---------------------------------------------------------------------


async def test_auth_before_starttls_is_refused(gateway: Running) -> None:
    """AUTH on the clear-text submission port is refused with 530 5.7.0, and so is MAIL."""
    async with client(gateway, start_tls=False) as smtp:
        ehlo = await smtp.ehlo()
        assert "AUTH" not in ehlo.message
        assert "STARTTLS" in ehlo.message
        response = await smtp.execute_command(b"AUTH", b"PLAIN", plain(SENDER, PASSWORD))
        mail = await smtp.execute_command(b"MAIL", f"FROM:<{SENDER}>".encode())
    assert (response.code, response.message) == (530, "5.7.0 Must issue a STARTTLS command first")
    assert (mail.code, mail.message) == (530, "5.7.0 Must issue a STARTTLS command first")
    await assert_nothing_kept(gateway)


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
async def test_mail_without_auth_is_refused(gateway: Running, implicit: bool) -> None:
    """MAIL FROM before AUTH gets 530 5.7.0 on both ports; nothing is kept."""
    async with client(gateway, implicit=implicit) as smtp:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await smtp.sendmail(SENDER, [BOB], LETTER)
    assert refused.value.code == 530
    assert refused.value.message.startswith("5.7.0 Authentication required")
    await assert_nothing_kept(gateway)


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
async def test_wrong_password_is_refused(gateway: Running, implicit: bool) -> None:
    """A wrong password gets 535 5.7.8 and leaves the session unauthenticated."""
    async with client(gateway, implicit=implicit) as smtp:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
            await authenticate(smtp, smtp.auth_plain, SENDER, "wrong")
        assert refused.value.code == 535
        assert refused.value.message.startswith("5.7.8 ")
        mail = await smtp.execute_command(b"MAIL", f"FROM:<{SENDER}>".encode())
    assert mail.code == 530


async def test_password_guessing_is_throttled(gateway: Running) -> None:
    """Brute force: after 10 failed logins from one address, even the right password gets
    454 4.7.0 for a while, and no letter can be sent from that address meanwhile."""
    for _ in range(10):
        async with client(gateway) as smtp:
            with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
                await authenticate(smtp, smtp.auth_plain, SENDER, "guess")
            assert refused.value.code == 535
    async with client(gateway) as smtp:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as throttled:
            await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
    assert throttled.value.code == 454
    assert throttled.value.message.startswith("4.7.0 Too many failed logins")


async def test_authzid_for_another_account_is_refused(gateway: Running) -> None:
    """AUTH PLAIN acting for another identity (authzid) gets 535 5.7.8, even with the password."""
    blob = base64.b64encode(f"mallory@example.org\0{SENDER}\0{PASSWORD}".encode())
    async with client(gateway) as smtp:
        await smtp.ehlo()
        response = await smtp.execute_command(b"AUTH", b"PLAIN", blob)
        mail = await smtp.execute_command(b"MAIL", f"FROM:<{SENDER}>".encode())
    assert (response.code, response.message[:5]) == (535, "5.7.8")
    assert mail.code == 530


async def test_envelope_sender_mismatch_is_refused(gateway: Running) -> None:
    """MAIL FROM another address than the account's gets 550 5.7.1; nothing is kept."""
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await smtp.sendmail("mallory@example.org", [BOB], LETTER)
    assert refused.value.code == 550
    assert refused.value.message.startswith("5.7.1 The envelope sender")
    await assert_nothing_kept(gateway)


async def test_unparseable_recipient_is_refused(gateway: Running) -> None:
    """A recipient that is not an address gets 550 5.1.3."""
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        await smtp.mail(SENDER)
        no_domain = await smtp.execute_command(b"RCPT", b"TO:<no-domain>")
        malformed = await smtp.execute_command(b"RCPT", b"TO:<a@@b>")
    assert (no_domain.code, no_domain.message[:5]) == (550, "5.1.3")
    assert (malformed.code, malformed.message[:5]) == (553, "5.1.3")  # aiosmtpd's own parser
    assert "name@domain" in malformed.message


async def test_a_control_character_in_an_address_or_login_is_refused(gateway: Running) -> None:
    """A NUL in RCPT TO gets 550 5.1.3 and the letter to the other recipient is deposited; a NUL
    in an AUTH LOGIN name gets 535. (On PostgreSQL, which refuses a NUL in text, the RCPT was
    accepted and the DATA answered 451, and the login 451.)"""
    session = await RawSession.open(gateway)
    try:
        assert (await session.command(b"EHLO client.test")).startswith("250")
        login = b"AUTH LOGIN " + base64.b64encode(f"{SENDER}\0".encode())
        assert (await session.command(login)).startswith("334")
        assert (await session.command(base64.b64encode(PASSWORD.encode()))).startswith("535 5.7.8")
        assert (await session.command(b"AUTH PLAIN " + plain(SENDER, PASSWORD))).startswith("235")
        assert (await session.command(f"MAIL FROM:<{SENDER}>".encode())).startswith("250")
        assert (await session.command(b"RCPT TO:<b\0b@example.ma>")).startswith("550 5.1.3")
        assert (await session.command(f"RCPT TO:<{BOB}>".encode())).startswith("250")
        assert (await session.command(b"DATA")).startswith("354")
        reply = await session.command(dot_stuffed(LETTER) + b"\r\n.")
        assert reply.startswith("250 2.0.0"), reply
    finally:
        await session.close()
    [stored] = await kept(gateway)
    assert stored.recipients == [BOB]


async def test_declared_size_too_big(gateway: Running) -> None:
    """MAIL FROM with SIZE= over the limit gets 552 5.3.4 and a sentence naming the limit."""
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        response = await smtp.execute_command(
            b"MAIL", f"FROM:<{SENDER}>".encode(), f"SIZE={MAX_SIZE + 1}".encode()
        )
    assert (response.code, response.message) == (
        552,
        "5.3.4 The message is too big: this gateway accepts at most 20 kB",
    )


# --- refusals of the message itself -----------------------------------------------------------


async def test_header_from_mismatch_is_refused(gateway: Running) -> None:
    """A From: header with another address than the account's gets 550 5.7.1; nothing is kept."""
    forged = LETTER.replace(b"<maitre.dupont@cabinet-dupont.ma>", b"<ceo@bank.example>")
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await smtp.sendmail(SENDER, [BOB], forged)
    assert refused.value.code == 550
    assert refused.value.message.startswith("5.7.1 The From: header")
    await assert_nothing_kept(gateway)


async def test_missing_from_header_is_refused(gateway: Running) -> None:
    """A message without From: gets 550 5.6.0; nothing is kept."""
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await smtp.sendmail(SENDER, [BOB], b"Subject: x\r\n\r\nbody\r\n")
    assert (refused.value.code, refused.value.message[:5]) == (550, "5.6.0")
    await assert_nothing_kept(gateway)


async def test_a_message_id_the_email_package_chokes_on_is_kept_as_written(
    gateway: Running,
) -> None:
    """Python 3.11.2's header parser fails with UnboundLocalError on a Message-ID that ends in
    an unclosed domain literal ("<note@["): the letter is deposited all the same (250), with
    the Message-ID as the sender wrote it."""
    odd = LETTER.replace(b"<letter-1@cabinet-dupont.ma>", b"<note@[")
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        _, reply = await smtp.sendmail(SENDER, [BOB], odd)
    [stored] = await kept(gateway)
    assert (stored.letter.reference, stored.content) == (reference_in(reply), odd)
    assert stored.letter.message_id == "<note@["


async def test_data_too_big(gateway: Running) -> None:
    """DATA over the limit (no SIZE declared) gets 552 5.3.4; the session goes on."""
    big = LETTER + b"x" * 998 + b"\r\n" + (b"y" * 998 + b"\r\n") * (MAX_SIZE // 1000)
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        await smtp.mail(SENDER)
        await smtp.rcpt(BOB)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await smtp.data(big)
        await assert_nothing_kept(gateway)
        _, reply = await smtp.sendmail(SENDER, [BOB], LETTER)
    assert (refused.value.code, refused.value.message) == (
        552,
        "5.3.4 The message is too big: this gateway accepts at most 20 kB",
    )
    [stored] = await kept(gateway)
    assert (stored.letter.reference, stored.content) == (reference_in(reply), LETTER)


async def test_bare_lf_in_body_is_refused(gateway: Running) -> None:
    """A bare LF in DATA gets 550 5.6.0 and nothing is kept."""
    session = await RawSession.open(gateway)
    await session.login_and_start()
    session.writer.write(LETTER + b"a bare\nline feed\r\n.\r\n")
    reply = await session.reply()
    await session.close()
    assert reply.startswith("550 5.6.0 ")
    await assert_nothing_kept(gateway)


@pytest.mark.parametrize("bad", [b"bare\rcarriage return", b"nul\x00byte"], ids=["cr", "nul"])
async def test_bare_cr_or_nul_is_refused(gateway: Running, bad: bytes) -> None:
    """A bare CR or a NUL in DATA gets 550 5.6.0 and nothing is kept."""
    session = await RawSession.open(gateway)
    await session.login_and_start()
    session.writer.write(LETTER + bad + b"\r\n.\r\n")
    reply = await session.reply()
    await session.close()
    assert reply.startswith("550 5.6.0 ")
    await assert_nothing_kept(gateway)


async def test_smtp_smuggling_with_bare_lf_dot(gateway: Running) -> None:
    """SMTP smuggling: '<LF>.<CRLF>' ends nothing; the smuggled MAIL stays message text, refused."""
    session = await RawSession.open(gateway)
    await session.login_and_start()
    smuggled = (
        f"\n.\r\nMAIL FROM:<{SENDER}>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
        f"From: {SENDER}\r\n\r\nsmuggled\r\n"
    ).encode()
    session.writer.write(LETTER + smuggled + b".\r\n")
    reply = await session.reply()
    noop = await session.command(b"NOOP")
    await session.close()
    assert reply.startswith("550 5.6.0 ")
    assert noop.startswith("250")
    await assert_nothing_kept(gateway)


# --- faults -----------------------------------------------------------------------------------


async def test_database_failure_during_deposit_is_a_generic_451(gateway: Running) -> None:
    """The letters table gone: DATA gets 451 4.3.0 without the error's text, nothing half-kept;
    once the table is back the same session deposits the letter."""
    url = gateway.settings.database.url
    async with client(gateway) as smtp:
        await authenticate(smtp, smtp.auth_plain, SENDER, PASSWORD)
        with (
            table_missing(url, "letters") as away,
            pytest.raises(aiosmtplib.SMTPDataError) as refused,
        ):
            await smtp.sendmail(SENDER, [BOB], LETTER)
        await assert_nothing_kept(gateway)
        _, reply = await smtp.sendmail(SENDER, [BOB], LETTER)
    assert refused.value.code == 451
    assert refused.value.message == (
        "4.3.0 Temporary problem on our side; nothing was kept, please try again later"
    )
    assert away not in refused.value.message
    [stored] = await kept(gateway)
    assert (stored.letter.reference, stored.recipients) == (reference_in(reply), [BOB])


async def test_database_failure_during_auth_is_a_generic_451(gateway: Running) -> None:
    """The accounts table gone: AUTH gets 451 4.3.0 (not aiosmtpd's 500 quoting the exception);
    once the table is back the same session logs in."""
    url = gateway.settings.database.url
    async with client(gateway) as smtp:
        await smtp.ehlo()
        with table_missing(url, "accounts") as away:
            failed = await smtp.execute_command(b"AUTH", b"PLAIN", plain(SENDER, PASSWORD))
        retried = await smtp.execute_command(b"AUTH", b"PLAIN", plain(SENDER, PASSWORD))
    assert (failed.code, failed.message) == (
        451,
        "4.3.0 Temporary problem on our side; nothing was kept, please try again later",
    )
    assert away not in failed.message
    assert retried.code == 235


async def test_deposit_completes_when_the_client_hangs_up(
    gateway: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A client leaving while the deposit waits for the database does not cut it half-way."""
    session = await RawSession.open(gateway)
    await session.login_and_start()
    assert not deposit_running()
    with letters_locked(gateway.settings.database.url):
        session.writer.write(dot_stuffed(LETTER) + b".\r\n")
        await session.writer.drain()
        await wait_for(deposit_running, what="the deposit to start")  # it waits for the lock
        session.writer.transport.abort()
    await wait_for(
        lambda: "deposited but the client left before the reply" in caplog.text,
        within=10,
        what="the deposit to finish",
    )
    [stored] = await kept(gateway)
    assert (stored.recipients, stored.content) == ([BOB], LETTER)
    assert f"letter {stored.letter.reference} deposited but the client left" in caplog.text


def deposit_running() -> bool:
    """True once a deposit runs in this loop (the letter was read and parsed, it is being kept)."""
    return any(
        getattr(task.get_coro(), "__qualname__", "").endswith(".deposit")
        for task in asyncio.all_tasks()
    )


# --- what the server shows and how it stops ---------------------------------------------------


async def test_greeting_and_help_do_not_name_the_software(gateway: Running) -> None:
    """Neither the greeting, EHLO nor HELP reveals the product or its version."""
    session = await RawSession.open(gateway)
    ehlo = await session.command(b"EHLO client.test")
    await session.command(b"AUTH PLAIN " + plain(SENDER, PASSWORD))
    help_ = await session.command(b"HELP")
    await session.close()
    assert session.greeting == "220 lre.localhost ESMTP"
    for text in (session.greeting, ehlo, help_):
        assert "python" not in text.lower()
        assert "aiosmtpd" not in text.lower()
        assert "1.4" not in text


async def test_sessions_are_closed_on_shutdown(tmp_path: Path, database_url: str) -> None:
    """Stopping the gateway closes the listeners and the idle sessions still open; a disabled
    listener ("submissions" = "") is not started at all."""
    settings = make_settings(tmp_path, database_url, smtp={"submissions": ""})
    async with start(settings) as running:
        assert set(running.smtp) == {"submission"}
        address = running.smtp["submission"]
        reader, writer = await asyncio.open_connection(*address)
        assert (await reader.readline()).startswith(b"220 ")
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    await writer.wait_closed()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*address)


# --- swaks, a client that is not Python -------------------------------------------------------


async def swaks(gateway: Running, listener: str, *args: str) -> tuple[int, str]:
    host, port = gateway.smtp[listener]
    process = await asyncio.create_subprocess_exec(
        "swaks",
        "--server",
        f"{host}:{port}",
        "--from",
        SENDER,
        "--to",
        BOB,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_swaks_deposit_with_starttls(
    gateway: Running, tmp_path: Path, mechanism: str
) -> None:
    """swaks with STARTTLS and AUTH deposits the letter byte for byte."""
    letter = tmp_path / "letter.eml"
    letter.write_bytes(LETTER)
    code, output = await swaks(
        gateway,
        "submission",
        "--tls",
        "--auth",
        mechanism,
        "--auth-user",
        SENDER,
        "--auth-password",
        PASSWORD,
        "--data",
        f"@{letter}",
    )
    assert code == 0, output
    assert "250 2.0.0 Registered letter LRE-" in output
    [stored] = await kept(gateway)
    assert stored.letter.reference == reference_in(output)
    assert stored.letter.sender_authentication.startswith(f"SMTP AUTH {mechanism} over STARTTLS")
    # swaks ends its DATA with an empty line before the final dot; the rest is byte-exact
    assert stored.content in (LETTER, LETTER + b"\r\n")


async def test_swaks_deposit_over_implicit_tls(gateway: Running, tmp_path: Path) -> None:
    """swaks with TLS on connect deposits the letter."""
    letter = tmp_path / "letter.eml"
    letter.write_bytes(LETTER)
    code, output = await swaks(
        gateway,
        "submissions",
        "--tls-on-connect",
        "--auth",
        "PLAIN",
        "--auth-user",
        SENDER,
        "--auth-password",
        PASSWORD,
        "--data",
        f"@{letter}",
    )
    assert code == 0, output
    assert "250 2.0.0 Registered letter LRE-" in output
    [stored] = await kept(gateway)
    assert stored.letter.reference == reference_in(output)


async def test_swaks_wrong_password(gateway: Running) -> None:
    """swaks sees 535 5.7.8 for a wrong password; nothing is kept."""
    code, output = await swaks(
        gateway,
        "submission",
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        SENDER,
        "--auth-password",
        "nope",
    )
    assert code != 0
    assert "535 5.7.8 " in output
    await assert_nothing_kept(gateway)


async def test_swaks_auth_without_tls_is_refused(gateway: Running) -> None:
    """swaks forcing AUTH on the clear-text port gives up before any password is sent."""
    code, output = await swaks(
        gateway,
        "submission",
        "--auth",
        "PLAIN",
        "--auth-user",
        SENDER,
        "--auth-password",
        PASSWORD,
    )
    assert code != 0
    assert "AUTH PLAIN" not in output  # swaks gave up: AUTH is not offered before STARTTLS
    await assert_nothing_kept(gateway)


async def test_a_login_reads_the_account_at_most_once_a_second_and_nothing_slips_through(
    tmp_path: Path, database_url: str
) -> None:
    """A login reads its account (password hash, disabled) from the database and the logins of
    the same address within ACCOUNT_HELD use that read (time passes here only when the test
    says so): after a password change the old password still gets 235 within it, the new one
    235 at once (a password that does not match reads the account again), and from then on the
    old one 535. Disabled: a login within the hold gets 235, but its letter 550 5.7.13 with
    nothing kept; past the hold, 525 even with the remembered password; enabled again, 235."""
    clock = Clock(still=True)
    async with start(make_settings(tmp_path, database_url), clock) as gateway:
        senders = gateway.registry.senders
        assert (await login(gateway, SENDER, PASSWORD))[0] == 235  # read, held, remembered
        await asyncio.to_thread(senders.save_sender, SENDER, "Alice", "new pass 987")
        assert (await login(gateway, SENDER, PASSWORD))[0] == 235  # the account as held
        assert (await login(gateway, SENDER, "new pass 987"))[0] == 235
        assert (await login(gateway, SENDER, PASSWORD))[0] == 535
        accounts = AccountStore(gateway.store.engine)
        assert accounts.set_disabled(SENDER, gateway.registry.now())
        assert (await login(gateway, SENDER, "new pass 987"))[0] == 235  # held: not disabled
        letter = letter_bytes(SENDER, [BOB], "Mise en demeure", "Madame, ...")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await submit(gateway, SENDER, "new pass 987", [BOB], letter)
        assert refused.value.code == 550
        assert "5.7.13" in refused.value.message
        await assert_nothing_kept(gateway)
        clock.advance(ACCOUNT_HELD)
        assert (await login(gateway, SENDER, "new pass 987"))[0] == 525
        assert accounts.set_disabled(SENDER, None)
        clock.advance(ACCOUNT_HELD)
        assert (await login(gateway, SENDER, "new pass 987"))[0] == 235
