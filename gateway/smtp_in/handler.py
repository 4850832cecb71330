"""The submission handler: aiosmtpd hooks that turn an authenticated SMTP session into a deposit.

Policy, in the order a session meets it: TLS before AUTH (PLAIN or LOGIN, checked without
blocking the loop); AUTH before MAIL; the envelope sender is the account's address; at most
`max_recipients` recipients; at most `max_message_size` bytes; no bare CR, bare LF or NUL;
headers, parts and nesting within the `[mime]` limits (a bounded pre-scan before any full
parse); a From: header with the account's address. The 250 reply to DATA is sent only once
the depositor has stored the letter and its deposit evidence.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from base64 import b64decode
from binascii import Error as Base64Error
from collections.abc import Coroutine
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Protocol

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session, TLSSetupException

from gateway.core.address import is_mailbox, same_address
from gateway.core.sender import Account
from gateway.errors import ContentRefused, DepositRefused, SmtpReply
from gateway.mime.limits import MimeLimits
from gateway.mime.submission import read_submission
from gateway.services.deposit import Deposit
from gateway.services.work import off_loop
from gateway.smtp_in import replies
from gateway.smtp_in.session import HookNames, peer_of, tls_of
from gateway.smtp_in.throttle import LoginThrottle
from gateway.storage.full import is_storage_full

log = logging.getLogger(__name__)

AUTH_FAILURE_WINDOW = 900.0  # seconds over which failed logins from one address are counted

_SIZE_OPTION: Final = re.compile(r"SIZE=(\d+)", re.IGNORECASE)


class Depositor(Protocol):
    async def deposit(self, deposit: Deposit) -> str:
        """Store the letter and its deposit evidence durably; return the letter reference.

        May raise `DepositRefused`; anything else becomes a generic 451 4.3.0.
        """
        ...


class Accounts(Protocol):
    async def authenticate(self, email: str, password: str) -> Account | None:
        """The account when the password is right, else None (may be slow, e.g. scrypt)."""
        ...


@dataclass(frozen=True)
class _Login:
    """What a successful AUTH leaves in `Session.auth_data`."""

    account: Account
    authentication: str


class SubmissionHandler(HookNames):
    """aiosmtpd handler for the submission ports (587 with STARTTLS, 465 with implicit TLS).

    It does not trust the server's flags alone: every hook checks TLS and authentication
    itself, so the implicit-TLS listener (where aiosmtpd cannot require AUTH, see server.py)
    is as strict as the STARTTLS one.
    """

    def __init__(
        self,
        depositor: Depositor,
        accounts: Accounts,
        *,
        max_recipients: int,
        max_message_size: int,
        executor: Executor | None = None,
        default_region: str = "MA",
        max_auth_failures: int = 10,
        mime_limits: MimeLimits | None = None,
    ) -> None:
        self._mime_limits = mime_limits or MimeLimits()
        self._throttle = LoginThrottle(max_auth_failures, AUTH_FAILURE_WINDOW)
        self._depositor = depositor
        self._accounts = accounts
        self._max_recipients = max_recipients
        self.max_message_size = max_message_size
        self._executor = executor
        self._region = default_region
        self._deposits: set[asyncio.Task[str]] = set()

    # --- AUTH: aiosmtpd looks up auth_<MECHANISM> on the handler and awaits it ---------------

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 4616: [authzid] NUL authcid NUL passwd, inline or after an empty challenge."""
        blob = _b64(args[1]) if len(args) > 1 else await server.challenge_auth("")
        if not isinstance(blob, bytes):
            return _auth_failed(blob)
        try:
            authzid, login, password = blob.split(b"\x00")
        except ValueError:
            return _auth_failed(None)
        if authzid and authzid != login:  # acting for another account is not offered
            return AuthResult(success=False, handled=False, message=replies.BAD_CREDENTIALS.line())
        return await self._authenticate(server, "PLAIN", login, password)

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        """The de-facto LOGIN mechanism: base64 user name, then base64 password."""
        login = (
            _b64(args[1])
            if len(args) > 1
            else await server.challenge_auth(server.AuthLoginUsernameChallenge)
        )
        if not isinstance(login, bytes):
            return _auth_failed(login)
        password = await server.challenge_auth(server.AuthLoginPasswordChallenge)
        if not isinstance(password, bytes):
            return _auth_failed(password)
        return await self._authenticate(server, "LOGIN", login, password)

    async def _authenticate(
        self, server: SMTP, mechanism: str, login: bytes, password: bytes
    ) -> AuthResult:
        tls = tls_of(server)
        if tls is None:  # aiosmtpd refuses AUTH before TLS too; never accept a password in clear
            return AuthResult(success=False, handled=False, message=replies.TLS_REQUIRED.line())
        peer = peer_of(server.session)
        if self._throttle.blocked(peer, time.monotonic()):
            log.warning("%s AUTH refused: too many failed logins", peer)
            return AuthResult(success=False, handled=False, message=replies.AUTH_THROTTLED.line())
        try:
            email, secret = login.decode(), password.decode()
        except UnicodeDecodeError:
            account = None
        else:
            account = await self._accounts.authenticate(email, secret)
        if account is None:
            log.info("%s failed AUTH %s", peer, mechanism)
            self._throttle.failed(peer, time.monotonic())
            return AuthResult(success=False, handled=False, message=replies.BAD_CREDENTIALS.line())
        self._throttle.succeeded(peer)
        if account.disabled:
            log.info("%s AUTH refused: account %s is disabled", peer, account.email)
            return AuthResult(success=False, handled=False, message=replies.ACCOUNT_DISABLED.line())
        return AuthResult(
            success=True, auth_data=_Login(account, f"SMTP AUTH {mechanism} over {tls}")
        )

    # --- the transaction -------------------------------------------------------------------

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        login = _login(server, session)
        if isinstance(login, SmtpReply):
            return login.line()
        size = _declared_size(mail_options)
        if size is not None and size > self.max_message_size:
            return replies.too_big(self.max_message_size).line()
        if not same_address(address, login.account.email):
            return replies.SENDER_MISMATCH.line()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return replies.SENDER_OK.line()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        login = _login(server, session)
        if isinstance(login, SmtpReply):
            return login.line()
        if not is_mailbox(address):
            return replies.BAD_RECIPIENT.line()
        if any(same_address(address, known) for known in envelope.rcpt_tos):
            return replies.RECIPIENT_REPEATED.line()
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return replies.too_many_recipients(self._max_recipients).line()
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies.RECIPIENT_OK.line()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Every outcome is returned (never raised) so that aiosmtpd resets the envelope.
        try:
            return (await self._deposit(server, session, envelope)).line()
        except ContentRefused as refusal:
            return replies.content_refused(refusal).line()
        except DepositRefused as refusal:
            return replies.deposit_refused(refusal).line()
        except Exception as err:
            log.exception("%s deposit failed", peer_of(session))
            return (replies.STORAGE_FULL if is_storage_full(err) else replies.TRY_LATER).line()

    async def _deposit(self, server: SMTP, session: Session, envelope: Envelope) -> SmtpReply:
        login = _login(server, session)
        if isinstance(login, SmtpReply):
            return login
        content = envelope.original_content or b""
        if len(content) > self.max_message_size:
            return replies.too_big(self.max_message_size)
        read = partial(
            read_submission, content, tuple(envelope.rcpt_tos), self._region,
            limits=self._mime_limits,
        )  # fmt: skip
        parsed, phones, languages = await off_loop(read, size=len(content), executor=self._executor)
        if not all(same_address(sender, login.account.email) for sender in parsed.from_addresses):
            return replies.FROM_MISMATCH
        deposit = Deposit(
            account=login.account,
            mail_from=envelope.mail_from or "",  # aiosmtpd runs DATA only after MAIL
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=content,
            parsed=parsed,
            authentication=login.authentication,
            peer=peer_of(session),
            phones=phones,
            languages=languages,
        )
        reference = await self._shielded(self._depositor.deposit(deposit))
        return replies.accepted(reference)  # logged by the deposit service

    async def _shielded(self, deposit: Coroutine[Any, Any, str]) -> str:
        """Run the deposit to its end even if the client hangs up meanwhile (no half letter)."""
        task = asyncio.create_task(deposit)
        self._deposits.add(task)
        task.add_done_callback(self._deposits.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_report_orphan)
            raise

    async def drain(self, grace: float) -> None:
        """Wait (at most `grace` seconds) for deposits still running; used at shutdown."""
        if self._deposits:
            await asyncio.wait(set(self._deposits), timeout=grace)

    # --- the rest ----------------------------------------------------------------------------

    async def handle_VRFY(
        self, server: SMTP, session: Session, envelope: Envelope, address: str
    ) -> str:
        return replies.CANNOT_VRFY.line()

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd's default is a permanent 500 quoting the exception: say 451, log the rest;
        a TLS handshake that failed (a client without a protocol or cipher in common, a scanner,
        one that left) is the client's doing: one line, no traceback (aiosmtpd then closes the
        connection without a reply)."""
        if isinstance(error, TLSSetupException):
            log.info("TLS handshake after STARTTLS failed: %r", error.__cause__)
            return replies.TRY_LATER.line()
        log.error("unexpected error in an SMTP session", exc_info=error)
        return replies.TRY_LATER.line()


def _report_orphan(task: asyncio.Task[str]) -> None:
    """The client left before the 250: it may send the letter again (RFC 1047 duplicate)."""
    if task.cancelled():
        log.error("deposit cancelled after the client left")
    elif task.exception() is not None:
        log.error("deposit failed after the client left", exc_info=task.exception())
    else:
        log.warning("letter %s deposited but the client left before the reply", task.result())


def _login(server: SMTP, session: Session) -> _Login | SmtpReply:
    """The session's login, or the refusal for a session without one."""
    auth_data: object = session.auth_data
    if isinstance(auth_data, _Login) and session.authenticated:
        return auth_data
    return replies.AUTH_REQUIRED if tls_of(server) else replies.TLS_REQUIRED


def _declared_size(mail_options: list[str]) -> int | None:
    for option in mail_options:
        match = _SIZE_OPTION.fullmatch(option)
        if match:
            return int(match[1])
    return None


def _b64(text: str) -> bytes | None:
    try:
        return b64decode(text.encode("ascii"), validate=True)
    except (Base64Error, UnicodeEncodeError):
        return None


def _auth_failed(answer: object) -> AuthResult:
    """AUTH syntax failure. MISSING means challenge_auth has already sent its 501 ('*', base64)."""
    if answer is MISSING:
        return AuthResult(success=False, handled=True)
    return AuthResult(success=False, handled=False, message=replies.AUTH_MALFORMED.line())
