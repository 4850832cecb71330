"""The submission listeners on real sockets, spoken to by aiosmtplib, swaks and raw streams."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import ssl
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import trustme

from gateway.errors import Rejected, SmtpReply
from gateway.settings import SmtpSettings
from gateway.smtp_in.handler import Account, Submission, SubmissionHandler
from gateway.smtp_in.server import serve

ALICE = Account(id="acc-1", email="alice@example.org", name="Alice Martin")
PASSWORD = "correct horse battery staple"
BOB = "bob@example.com"
MAX_SIZE = 20_000
MAX_RECIPIENTS = 100

LETTER = (
    b"From: Alice Martin <alice@example.org>\r\n"
    b"To: bob@example.com\r\n"
    b"Subject: Mise en demeure\r\n"
    b"Message-ID: <letter-1@example.org>\r\n"
    b"\r\n"
    b"Dear Bob,\r\n"
    b".a line that starts with a dot\r\n"
    b"..two dots\r\n"
    b"\r\n"
    b"Regards\r\n"
)


class RecordingDepositor:
    """Records submissions and answers references LRE-1, LRE-2...; can be told to fail."""

    def __init__(self) -> None:
        self.submissions: list[Submission] = []
        self.fail_with: BaseException | None = None
        self.gate: asyncio.Event | None = None

    async def deposit(self, submission: Submission) -> str:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.submissions.append(submission)
        return f"LRE-{len(self.submissions)}"


class StaticAccounts:
    """One account, ALICE; the address 'explode@example.org' makes authenticate() crash."""

    async def authenticate(self, email: str, password: str) -> Account | None:
        await asyncio.sleep(0)
        if email == "explode@example.org":
            raise RuntimeError("database password is hunter2")
        if email.casefold() == ALICE.email and password == PASSWORD:
            return ALICE
        return None


class CountingExecutor(Executor):
    """A thread pool that counts the work handed to it."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.calls = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls += 1
        return self.pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


@dataclass
class Gateway:
    submission: int
    submissions: int
    depositor: RecordingDepositor
    executor: CountingExecutor
    client_tls: ssl.SSLContext

    def client(self, *, implicit: bool = False, **kwargs: Any) -> aiosmtplib.SMTP:
        if implicit:
            return aiosmtplib.SMTP(
                hostname="127.0.0.1",
                port=self.submissions,
                use_tls=True,
                tls_context=self.client_tls,
                **kwargs,
            )
        kwargs.setdefault("start_tls", True)
        return aiosmtplib.SMTP(
            hostname="127.0.0.1", port=self.submission, tls_context=self.client_tls, **kwargs
        )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def executor() -> Iterator[CountingExecutor]:
    executor = CountingExecutor()
    yield executor
    executor.shutdown()


@pytest.fixture
async def gateway(ca: trustme.CA, executor: CountingExecutor) -> AsyncIterator[Gateway]:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    depositor = RecordingDepositor()
    handler = SubmissionHandler(
        depositor,
        StaticAccounts(),
        max_recipients=MAX_RECIPIENTS,
        max_message_size=MAX_SIZE,
        executor=executor,
    )
    settings = SmtpSettings(
        submission=("127.0.0.1", 0),
        submissions=("127.0.0.1", 0),
        inbound=None,
        max_message_size=MAX_SIZE,
        max_recipients=MAX_RECIPIENTS,
    )
    async with serve(settings, handler, server_tls, hostname="lre.localhost") as bound:
        yield Gateway(
            submission=bound["submission"][1],
            submissions=bound["submissions"][1],
            depositor=depositor,
            executor=executor,
            client_tls=client_tls,
        )


async def authenticate(client: aiosmtplib.SMTP, method: Any, user: str, password: str) -> None:
    """EHLO (again, after STARTTLS), then the given aiosmtplib auth_* method."""
    await client.ehlo()
    await method(user, password)


def plain(user: str, password: str) -> bytes:
    return base64.b64encode(f"\0{user}\0{password}".encode())


class RawSession:
    """An SMTP session over implicit TLS where the test writes exact bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, gateway: Gateway) -> RawSession:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gateway.submissions, ssl=gateway.client_tls
        )
        session = cls(reader, writer)
        await session.reply()  # greeting
        return session

    async def reply(self) -> str:
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 5)).decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    async def command(self, line: bytes) -> str:
        self.writer.write(line + b"\r\n")
        return await self.reply()

    async def login_and_start(self, recipients: int = 1) -> None:
        assert (await self.command(b"EHLO client.test")).startswith("250")
        assert (await self.command(b"AUTH PLAIN " + plain(ALICE.email, PASSWORD))).startswith("235")
        assert (await self.command(b"MAIL FROM:<alice@example.org>")).startswith("250")
        for n in range(recipients):
            assert (await self.command(f"RCPT TO:<r{n}@example.com>".encode())).startswith("250")
        assert (await self.command(b"DATA")).startswith("354")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def test_deposit_with_starttls_and_plain(gateway: Gateway) -> None:
    """A letter sent with STARTTLS and AUTH PLAIN is deposited and the reference returned."""
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        errors, reply = await client.sendmail(ALICE.email, [BOB, "carol@example.net"], LETTER)
    assert errors == {}
    assert reply == "2.0.0 Registered letter LRE-1 deposited; the proof of deposit follows by email"
    [submission] = gateway.depositor.submissions
    assert submission.account == ALICE
    assert submission.mail_from == ALICE.email
    assert submission.rcpt_tos == (BOB, "carol@example.net")
    assert submission.authentication.startswith("SMTP AUTH PLAIN over STARTTLS (TLSv1.")
    assert submission.peer == "127.0.0.1"
    assert submission.parsed.subject == "Mise en demeure"
    assert submission.parsed.from_display == "Alice Martin"
    assert gateway.executor.calls == 1


async def test_deposit_with_login_mechanism(gateway: Gateway) -> None:
    """AUTH LOGIN works as well as PLAIN, and the evidence says which one was used."""
    async with gateway.client() as client:
        await authenticate(client, client.auth_login, ALICE.email, PASSWORD)
        await client.sendmail(ALICE.email, [BOB], LETTER)
    [submission] = gateway.depositor.submissions
    assert submission.authentication.startswith("SMTP AUTH LOGIN over STARTTLS (TLSv1.")


async def test_deposit_over_implicit_tls(gateway: Gateway) -> None:
    """The submissions port (TLS from the first byte) offers AUTH and deposits letters."""
    async with gateway.client(implicit=True) as client:
        await client.ehlo()
        assert client.supports_extension("auth")
        assert not client.supports_extension("starttls")
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        _, reply = await client.sendmail(ALICE.email, [BOB], LETTER)
    assert reply.startswith("2.0.0 Registered letter LRE-1")
    [submission] = gateway.depositor.submissions
    assert submission.authentication.startswith("SMTP AUTH PLAIN over implicit TLS (TLSv1.")


async def test_content_is_byte_exact_after_dot_unstuffing(gateway: Gateway) -> None:
    """The depositor receives the DATA bytes exactly as sent: CRLF kept, dot-stuffing undone."""
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        await client.sendmail(ALICE.email, [BOB], LETTER)
    assert gateway.depositor.submissions[0].content == LETTER


async def test_auth_before_starttls_is_refused(gateway: Gateway) -> None:
    """AUTH on the clear-text submission port is refused with 530 5.7.0, password unread."""
    async with gateway.client(start_tls=False) as client:
        ehlo = await client.ehlo()
        assert "AUTH" not in ehlo.message
        assert "STARTTLS" in ehlo.message
        response = await client.execute_command(b"AUTH", b"PLAIN", plain(ALICE.email, PASSWORD))
        mail = await client.execute_command(b"MAIL", b"FROM:<alice@example.org>")
    assert (response.code, response.message) == (530, "5.7.0 Must issue a STARTTLS command first")
    assert (mail.code, mail.message) == (530, "5.7.0 Must issue a STARTTLS command first")


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
async def test_mail_without_auth_is_refused(gateway: Gateway, implicit: bool) -> None:
    """MAIL FROM before AUTH gets 530 5.7.0 on both ports."""
    async with gateway.client(implicit=implicit) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.sendmail(ALICE.email, [BOB], LETTER)
    assert refused.value.code == 530
    assert refused.value.message.startswith("5.7.0 Authentication required")
    assert gateway.depositor.submissions == []


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
async def test_wrong_password_is_refused(gateway: Gateway, implicit: bool) -> None:
    """A wrong password gets 535 5.7.8 and leaves the session unauthenticated."""
    async with gateway.client(implicit=implicit) as client:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
            await authenticate(client, client.auth_plain, ALICE.email, "wrong")
        assert refused.value.code == 535
        assert refused.value.message.startswith("5.7.8 ")
        mail = await client.execute_command(b"MAIL", b"FROM:<alice@example.org>")
    assert mail.code == 530


async def test_authzid_for_another_account_is_refused(gateway: Gateway) -> None:
    """AUTH PLAIN acting for another identity (authzid) is refused with 535 5.7.8."""
    blob = base64.b64encode(f"mallory@example.org\0{ALICE.email}\0{PASSWORD}".encode())
    async with gateway.client() as client:
        await client.ehlo()
        response = await client.execute_command(b"AUTH", b"PLAIN", blob)
    assert response.code == 535


async def test_envelope_sender_mismatch_is_refused(gateway: Gateway) -> None:
    """MAIL FROM another address than the account's gets 550 5.7.1."""
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.sendmail("mallory@example.org", [BOB], LETTER)
    assert refused.value.code == 550
    assert refused.value.message.startswith("5.7.1 The envelope sender")


async def test_envelope_sender_compares_case_insensitively(gateway: Gateway) -> None:
    """ALICE@Example.ORG is the account's address too."""
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        await client.sendmail("ALICE@Example.ORG", [BOB], LETTER)
    assert gateway.depositor.submissions[0].mail_from == "ALICE@Example.ORG"


async def test_header_from_mismatch_is_refused(gateway: Gateway) -> None:
    """A From: header with another address than the account's gets 550 5.7.1, nothing kept."""
    forged = LETTER.replace(b"<alice@example.org>", b"<ceo@bank.example>")
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.sendmail(ALICE.email, [BOB], forged)
    assert refused.value.code == 550
    assert refused.value.message.startswith("5.7.1 The From: header")
    assert gateway.depositor.submissions == []


async def test_missing_from_header_is_refused(gateway: Gateway) -> None:
    """A message without From: gets 550 5.6.0."""
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.sendmail(ALICE.email, [BOB], b"Subject: x\r\n\r\nbody\r\n")
    assert (refused.value.code, refused.value.message[:5]) == (550, "5.6.0")


async def test_recipient_cap(gateway: Gateway) -> None:
    """The 101st recipient gets 452 4.5.3; the first 100 each become a delivery."""
    recipients = [f"r{n}@example.com" for n in range(MAX_RECIPIENTS + 1)]
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        await client.mail(ALICE.email)
        for address in recipients[:-1]:
            await client.rcpt(address)
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt(recipients[-1])
        await client.data(LETTER)
    assert refused.value.code == 452
    assert refused.value.message.startswith("4.5.3 Too many recipients")
    assert gateway.depositor.submissions[0].rcpt_tos == tuple(recipients[:-1])


async def test_unparseable_recipient_is_refused(gateway: Gateway) -> None:
    """A recipient that is not an address gets a 5.1.3 refusal."""
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        await client.mail(ALICE.email)
        response = await client.execute_command(b"RCPT", b"TO:<no-domain>")
        malformed = await client.execute_command(b"RCPT", b"TO:<a@@b>")
    assert (response.code, response.message[:5]) == (550, "5.1.3")
    assert malformed.message.startswith("5.1.3")


async def test_declared_size_too_big(gateway: Gateway) -> None:
    """MAIL FROM with SIZE= over the limit gets 552 5.3.4 and a sentence naming the limit."""
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        response = await client.execute_command(
            b"MAIL", b"FROM:<alice@example.org>", f"SIZE={MAX_SIZE + 1}".encode()
        )
    assert (response.code, response.message) == (
        552,
        "5.3.4 The message is too big: this gateway accepts at most 20 kB",
    )


async def test_data_too_big(gateway: Gateway) -> None:
    """DATA over the limit (no SIZE declared) gets 552 5.3.4, not aiosmtpd's bare 552."""
    big = LETTER + b"x" * 998 + b"\r\n" + (b"y" * 998 + b"\r\n") * (MAX_SIZE // 1000)
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        await client.mail(ALICE.email)
        await client.rcpt(BOB)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(big)
        # the session goes on: the next letter is accepted
        await client.sendmail(ALICE.email, [BOB], LETTER)
    assert (refused.value.code, refused.value.message) == (
        552,
        "5.3.4 The message is too big: this gateway accepts at most 20 kB",
    )
    assert len(gateway.depositor.submissions) == 1


async def test_bare_lf_in_body_is_refused(gateway: Gateway) -> None:
    """A bare LF in DATA gets 550 5.6.0 and nothing is deposited."""
    session = await RawSession.open(gateway)
    await session.login_and_start()
    session.writer.write(LETTER + b"a bare\nline feed\r\n.\r\n")
    reply = await session.reply()
    await session.close()
    assert reply.startswith("550 5.6.0 ")
    assert gateway.depositor.submissions == []


@pytest.mark.parametrize("bad", [b"bare\rcarriage return", b"nul\x00byte"], ids=["cr", "nul"])
async def test_bare_cr_or_nul_is_refused(gateway: Gateway, bad: bytes) -> None:
    """A bare CR or a NUL in DATA gets 550 5.6.0."""
    session = await RawSession.open(gateway)
    await session.login_and_start()
    session.writer.write(LETTER + bad + b"\r\n.\r\n")
    reply = await session.reply()
    await session.close()
    assert reply.startswith("550 5.6.0 ")


async def test_smtp_smuggling_with_bare_lf_dot(gateway: Gateway) -> None:
    """SMTP smuggling: '<LF>.<CRLF>' ends nothing; the smuggled MAIL stays message text, refused."""
    session = await RawSession.open(gateway)
    await session.login_and_start()
    smuggled = (
        b"\n.\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
        b"From: alice@example.org\r\n\r\nsmuggled\r\n"
    )
    session.writer.write(LETTER + smuggled + b".\r\n")
    reply = await session.reply()
    noop = await session.command(b"NOOP")
    await session.close()
    assert reply.startswith("550 5.6.0 ")
    assert noop.startswith("250")
    assert gateway.depositor.submissions == []


async def test_unexpected_depositor_error_is_a_generic_451(gateway: Gateway) -> None:
    """A crash in the depositor gets 451 4.3.0 without its text; the session goes on."""
    gateway.depositor.fail_with = RuntimeError("disk /var/secret full")
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.sendmail(ALICE.email, [BOB], LETTER)
        gateway.depositor.fail_with = None
        _, reply = await client.sendmail(ALICE.email, [BOB], LETTER)
    assert refused.value.code == 451
    assert refused.value.message.startswith("4.3.0 ")
    assert "secret" not in refused.value.message
    assert "RuntimeError" not in refused.value.message
    assert reply.startswith("2.0.0 Registered letter LRE-1")


async def test_unexpected_error_outside_data_is_a_generic_451(gateway: Gateway) -> None:
    """handle_exception answers 451 4.3.0, not aiosmtpd's 500 quoting the exception."""
    async with gateway.client() as client:
        await client.ehlo()
        response = await client.execute_command(
            b"AUTH", b"PLAIN", plain("explode@example.org", "x")
        )
    assert response.code == 451
    assert response.message.startswith("4.3.0 ")
    assert "hunter2" not in response.message


async def test_depositor_rejection_is_relayed(gateway: Gateway) -> None:
    """A Rejected raised by the depositor becomes the client's reply."""
    gateway.depositor.fail_with = Rejected(SmtpReply(554, "5.7.0", "Account suspended"))
    async with gateway.client() as client:
        await authenticate(client, client.auth_plain, ALICE.email, PASSWORD)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.sendmail(ALICE.email, [BOB], LETTER)
    assert (refused.value.code, refused.value.message) == (554, "5.7.0 Account suspended")


async def test_deposit_completes_when_the_client_hangs_up(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A client leaving during the deposit does not cut the deposit half-way."""
    gateway.depositor.gate = asyncio.Event()
    session = await RawSession.open(gateway)
    await session.login_and_start()
    session.writer.write(LETTER + b".\r\n")
    await session.writer.drain()
    await asyncio.sleep(0.1)
    session.writer.transport.abort()
    await asyncio.sleep(0.05)
    gateway.depositor.gate.set()
    for _ in range(100):
        if gateway.depositor.submissions:
            break
        await asyncio.sleep(0.01)
    assert len(gateway.depositor.submissions) == 1
    assert "letter LRE-1 deposited but the client left before the reply" in caplog.text


async def test_greeting_and_help_do_not_name_the_software(gateway: Gateway) -> None:
    """Neither the greeting, EHLO nor HELP reveals the product or its version."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", gateway.submissions, ssl=gateway.client_tls
    )
    raw = RawSession(reader, writer)
    greeting = await raw.reply()
    ehlo = await raw.command(b"EHLO client.test")
    await raw.command(b"AUTH PLAIN " + plain(ALICE.email, PASSWORD))
    help_ = await raw.command(b"HELP")
    await raw.close()
    assert greeting == "220 lre.localhost ESMTP"
    for text in (greeting, ehlo, help_):
        assert "python" not in text.lower()
        assert "aiosmtpd" not in text.lower()
        assert "1.4" not in text


async def test_sessions_are_closed_on_shutdown(ca: trustme.CA) -> None:
    """Leaving serve() closes the listeners and the idle sessions still open."""
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    handler = SubmissionHandler(
        RecordingDepositor(), StaticAccounts(), max_recipients=10, max_message_size=1000
    )
    settings = SmtpSettings(submission=("127.0.0.1", 0), submissions=None, inbound=None)
    async with serve(settings, handler, server_tls, hostname="lre.localhost") as bound:
        assert set(bound) == {"submission"}
        reader, writer = await asyncio.open_connection(*bound["submission"])
        assert (await reader.readline()).startswith(b"220 ")
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    await writer.wait_closed()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*bound["submission"])


# --- swaks, a client that is not Python ------------------------------------------------------

needs_swaks = pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")


async def swaks(port: int, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "swaks",
        "--server",
        f"127.0.0.1:{port}",
        "--from",
        ALICE.email,
        "--to",
        BOB,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, output.decode(errors="replace")


@needs_swaks
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_swaks_deposit_with_starttls(
    gateway: Gateway, tmp_path: Path, mechanism: str
) -> None:
    """swaks with STARTTLS and AUTH deposits the letter byte for byte."""
    letter = tmp_path / "letter.eml"
    letter.write_bytes(LETTER)
    code, output = await swaks(
        gateway.submission,
        "--tls",
        "--auth",
        mechanism,
        "--auth-user",
        ALICE.email,
        "--auth-password",
        PASSWORD,
        "--data",
        f"@{letter}",
    )
    assert code == 0, output
    assert "250 2.0.0 Registered letter LRE-1 deposited" in output
    # swaks ends its DATA with an empty line before the final dot; the rest is byte-exact
    assert gateway.depositor.submissions[0].content in (LETTER, LETTER + b"\r\n")


@needs_swaks
async def test_swaks_deposit_over_implicit_tls(gateway: Gateway, tmp_path: Path) -> None:
    """swaks with TLS on connect deposits the letter."""
    letter = tmp_path / "letter.eml"
    letter.write_bytes(LETTER)
    code, output = await swaks(
        gateway.submissions,
        "--tls-on-connect",
        "--auth",
        "PLAIN",
        "--auth-user",
        ALICE.email,
        "--auth-password",
        PASSWORD,
        "--data",
        f"@{letter}",
    )
    assert code == 0, output
    assert "250 2.0.0 Registered letter LRE-1 deposited" in output


@needs_swaks
async def test_swaks_wrong_password(gateway: Gateway) -> None:
    """swaks sees 535 5.7.8 for a wrong password."""
    code, output = await swaks(
        gateway.submission,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        ALICE.email,
        "--auth-password",
        "nope",
    )
    assert code != 0
    assert "535 5.7.8 " in output


@needs_swaks
async def test_swaks_auth_without_tls_is_refused(gateway: Gateway) -> None:
    """swaks forcing AUTH on the clear-text port is refused before any password is sent."""
    code, output = await swaks(
        gateway.submission,
        "--auth",
        "PLAIN",
        "--auth-user",
        ALICE.email,
        "--auth-password",
        PASSWORD,
    )
    assert code != 0
    assert "AUTH PLAIN" not in output  # swaks gave up: AUTH is not offered before STARTTLS
    assert gateway.depositor.submissions == []
