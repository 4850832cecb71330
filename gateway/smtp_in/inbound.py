"""The inbound (MX) port: bounces for our VERP addresses, and letters sent to an MX address.

Accepted recipients, all in the gateway's own domain (it is never a relay):

- `bounce+<token>@<domain>`: delivery status notifications about a mail we sent (bounces.py);
- `bob=example.ma@<domain>`: a registered letter to bob@example.ma, deposited without SMTP
  AUTH by a registered sender whose mail proves its origin (DKIM, SPF + DMARC alignment, or a
  trusted relay's Authentication-Results: see mailauth.py).

One transaction carries one kind. STARTTLS is offered, never required (RFC 3207 §4 for MX).
"""

from __future__ import annotations

import asyncio
import logging
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import partial
from typing import Final

from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.core.address import is_mailbox
from gateway.core.sender import Account
from gateway.errors import (
    BounceRefused,
    ContentReason,
    ContentRefused,
    DepositRefused,
    NotADsn,
    SmtpReply,
    UnreadableMessage,
)
from gateway.mailauth import authenticate_sender
from gateway.mime.limits import MimeLimits, check_limits
from gateway.mime.submission import read_submission
from gateway.registry import Registry
from gateway.resolver import Resolver
from gateway.services.bounces import Bounces
from gateway.services.deposit import Deposit
from gateway.smtp_in import replies
from gateway.smtp_in.session import HookNames, peer_of, tls_of

log = logging.getLogger(__name__)

RELAY_DENIED: Final = SmtpReply(
    550, "5.7.1", "Relaying denied: this server only accepts mail for its own domain"
)
NO_MAILBOX: Final = SmtpReply(
    550,
    "5.1.1",
    "No such mailbox: to send a registered letter to bob@example.ma write to "
    "bob=example.ma@ this domain",
)
MIXED: Final = SmtpReply(
    452, "4.5.3", "Send bounces and letters in separate transactions; this recipient was not added"
)
DISABLED: Final = SmtpReply(
    550,
    "5.7.13",
    "This sender account is disabled by the gateway's operator; nothing was kept",
)
NOT_REGISTERED: Final = SmtpReply(
    550, "5.7.1", "The From: address is not a registered sender of this gateway; nothing was kept"
)
LETTER_ACCEPTED: Final = SmtpReply(250, "2.1.5", "Recipient accepted; it gets its own delivery")
BOUNCE_ACCEPTED: Final = SmtpReply(250, "2.1.5", "Bounce address accepted")
NO_SUCH_BOUNCE: Final = SmtpReply(550, "5.1.1", "No such bounce address here")
NOT_A_DSN: Final = SmtpReply(
    550,
    "5.6.0",
    "Only delivery status notifications (RFC 3464 multipart/report) are accepted at this address",
)
DSN_RECORDED: Final = SmtpReply(250, "2.0.0", "Delivery status notification recorded")


def unauthenticated(reasons: tuple[str, ...]) -> SmtpReply:
    return SmtpReply(
        550,
        "5.7.26",
        "The sender could not be authenticated (" + "; ".join(reasons) + "); nothing was kept",
    )


def bounce_refused(refusal: BounceRefused) -> SmtpReply:
    """The reply to a DSN the bounce service did not take (UnknownBounceAddress, NotADsn)."""
    return NOT_A_DSN if isinstance(refusal, NotADsn) else NO_SUCH_BOUNCE


def mx_recipient(local: str) -> str | None:
    """`bob=example.ma` → `bob@example.ma` (the last = stands for @), or None."""
    mailbox, sep, domain = local.rpartition("=")
    address = f"{mailbox}@{domain}"
    return address if sep and is_mailbox(address) else None


class InboundHandler(HookNames):
    def __init__(
        self,
        *,
        registry: Registry,
        bounces: Bounces,
        resolver: Resolver,
        domain: str,
        trusted_relays: tuple[str, ...],
        max_recipients: int,
        max_message_size: int,
        default_region: str = "MA",
        mime_limits: MimeLimits | None = None,
    ) -> None:
        self._mime_limits = mime_limits or MimeLimits()
        self._region = default_region
        self._registry = registry
        self._bounces = bounces
        self._resolver = resolver
        self._domain = domain.lower()
        self._trusted = trusted_relays
        self._max_recipients = max_recipients
        self.max_message_size = max_message_size
        self._deposits: set[asyncio.Task[str]] = set()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return replies.SENDER_OK.line()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        local, _, domain = address.rpartition("@")
        if domain.lower().rstrip(".") != self._domain:
            return RELAY_DENIED.line()
        bounce = self._bounces.is_bounce_address(address)
        kinds = {self._bounces.is_bounce_address(r) for r in envelope.rcpt_tos}
        if kinds and kinds != {bounce}:
            return MIXED.line()
        if bounce:
            if await self._bounces.mail_for(address) is None:
                return NO_SUCH_BOUNCE.line()
            reply = BOUNCE_ACCEPTED
        else:
            if mx_recipient(local) is None:
                return NO_MAILBOX.line()
            if len(envelope.rcpt_tos) >= self._max_recipients:
                return replies.too_many_recipients(self._max_recipients).line()
            reply = LETTER_ACCEPTED
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return reply.line()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        try:
            if len(content) > self.max_message_size:
                return replies.too_big(self.max_message_size).line()
            loop = asyncio.get_running_loop()  # bounded pre-scan before any parse (DSNs too)
            await loop.run_in_executor(None, check_limits, content, self._mime_limits)
            if all(self._bounces.is_bounce_address(r) for r in envelope.rcpt_tos):
                for rcpt in envelope.rcpt_tos:
                    await self._bounces.receive(rcpt, content)  # recorded (a proof if it failed)
                return DSN_RECORDED.line()
            return (await self._letter(server, session, envelope, content)).line()
        except ContentRefused as refusal:
            return replies.content_refused(refusal).line()
        except BounceRefused as refusal:
            return bounce_refused(refusal).line()
        except DepositRefused as refusal:
            return replies.deposit_refused(refusal).line()
        except Exception:
            log.exception("%s inbound DATA failed", peer_of(session))
            return replies.TRY_LATER.line()

    async def _letter(
        self, server: SMTP, session: Session, envelope: Envelope, content: bytes
    ) -> SmtpReply:
        recipients = tuple(
            mx_recipient(rcpt.rpartition("@")[0]) or rcpt for rcpt in envelope.rcpt_tos
        )
        aliases = dict(zip(envelope.rcpt_tos, recipients, strict=True))
        parsed, phones, languages = await asyncio.get_running_loop().run_in_executor(
            None,
            partial(read_submission, limits=self._mime_limits),
            content,
            recipients,
            self._region,
            aliases,
        )
        if len(parsed.from_addresses) != 1:
            raise UnreadableMessage(ContentReason.NO_FROM)
        sender = parsed.from_addresses[0]
        record = await self._registry.io(self._registry.senders.account_record, sender)
        if record is None:
            log.info("%s: letter from unregistered %s refused", peer_of(session), sender)
            return NOT_REGISTERED
        fields = _header_fields(content, "Authentication-Results")
        verdict = await authenticate_sender(
            self._resolver,
            content,
            from_domain=sender.rpartition("@")[2],
            mail_from=envelope.mail_from or "",
            peer=peer_of(session),
            trusted_relays=self._trusted,
            authentication_results=fields[0] if fields else None,
        )
        if verdict.method is None:
            log.info("%s: letter from %s not authenticated: %s", peer_of(session), sender, verdict)
            return unauthenticated(verdict.reasons)
        if record.disabled:
            log.info("%s: letter from disabled account %s refused", peer_of(session), sender)
            return DISABLED
        tls = tls_of(server)
        deposit = Deposit(
            account=Account(id=record.id, email=record.email, name=record.name),
            mail_from=record.email,
            rcpt_tos=recipients,
            content=content,
            parsed=parsed,
            authentication=f"MX address{' over ' + tls if tls else ''}: {verdict.method}",
            peer=peer_of(session),
            phones=phones,
            languages=languages,
        )
        # Run the deposit to its end even if the client hangs up meanwhile (no half letter).
        task = asyncio.create_task(self._registry.deposits.deposit(deposit))
        self._deposits.add(task)
        task.add_done_callback(self._deposits.discard)
        reference = await asyncio.shield(task)
        return replies.accepted(reference)


def _header_fields(content: bytes, name: str) -> list[str]:
    """Values of the header field `name`, topmost first, unfolded."""
    head = BytesHeaderParser(policy=compat32).parsebytes(content)
    return [" ".join(str(value).split()) for value in head.get_all(name) or []]
