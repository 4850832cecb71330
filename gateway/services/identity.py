"""The recipient's identity check: one-time codes sent by SMS or email, checked before a decision.

Policy (`letters.recipient_verification`): sms_or_email (default: SMS when the sender gave a
mobile number, else email), email, sms_required, none. Limits and masking are in core.identity.
Codes are drawn with `secrets`, stored as an HMAC-SHA256 under a key derived from the gateway's
web secret (kept in data_dir/keys, never in the database) and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from gateway.compose.sms import sms_code, sms_notice
from gateway.core.identity import (
    CODE_DIGITS,
    CODE_VALIDITY,
    CODE_WINDOW,
    MAX_TRIES,
    Channel,
    Identification,
    channel_for,
    is_code,
    mask,
    next_code_allowed,
    normalise_code,
)
from gateway.core.letter import Delivery, Letter
from gateway.core.policy import sender_revealed
from gateway.errors import CodeExpired, CodeRequired, TooManyTries, WrongCode
from gateway.settings import Settings
from gateway.storage.identity_store import CodeRecord, IdentityStore, NewCode, NewSms
from gateway.storage.store import NewOutbound

log = logging.getLogger(__name__)
T = TypeVar("T")
Io = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, kw_only=True)
class CodeStatus:
    """What the recipient's page says about the code step."""

    required: bool
    channel: Channel | None = None
    masked: str = ""  # where codes go, masked
    sent_at: datetime | None = None  # the usable code's time, None when there is none
    expires_at: datetime | None = None
    tries_left: int = MAX_TRIES
    sms_failed: bool = False  # the usable code's SMS could not be delivered
    next_code_at: datetime | None = None  # when the limit of codes per hour is reached


class RecipientIdentity:
    def __init__(
        self,
        *,
        settings: Settings,
        store: IdentityStore,
        io: Io,
        clock: Callable[[], datetime],
        secret: bytes,
        new_id: Callable[[], str],
        bounce_address: str,
        wake: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._store = store
        self._io = io
        self._clock = clock
        self._key = hmac.new(secret, b"lre-gateway recipient codes v1", hashlib.sha256).digest()
        self._new_id = new_id
        self._bounce = bounce_address
        self._wake = wake
        self.sms_enabled = settings.sms.provider != "none"

    @property
    def mode(self) -> str:
        return self._settings.letters.recipient_verification

    def channel(self, delivery: Delivery) -> Channel | None:
        channel = channel_for(self.mode, delivery.phone, sms_enabled=self.sms_enabled)
        if channel == "sms" and not delivery.phone:  # a letter deposited before sms_required
            return "email"
        return channel

    def destination(self, delivery: Delivery, channel: Channel) -> str:
        return (delivery.phone or "") if channel == "sms" else delivery.recipient

    # the notice SMS ---------------------------------------------------------------------

    def notice_sms(self, letter: Letter, delivery: Delivery, link: str) -> NewSms | None:
        """The SMS that doubles the notification, when a phone is known and SMS are on."""
        if not delivery.phone or not self.sms_enabled:
            return None
        gateway = self._settings.gateway
        revealed = sender_revealed(self._settings.letters.reveal_sender)
        text = sms_notice(
            reference=letter.reference,
            link=link,
            deadline=delivery.deadline,
            zone=gateway.zone,
            sender=letter.sender_name if revealed else None,  # the registered name
            provider=gateway.provider_name,
            lang=(delivery.languages or self._settings.letters.notification_languages)[0],
        )
        return NewSms(self._new_id(), "notice", delivery.id, delivery.phone, text)

    # codes ------------------------------------------------------------------------------

    async def status(self, delivery: Delivery) -> CodeStatus:
        channel = self.channel(delivery)
        if channel is None:
            return CodeStatus(required=False)
        now = self._clock()
        latest = await self._io(self._store.latest_code, delivery.id)
        times = await self._io(self._store.code_times, delivery.id, now - CODE_WINDOW)
        status = CodeStatus(
            required=True,
            channel=channel,
            masked=mask(channel, self.destination(delivery, channel)),
            next_code_at=next_code_allowed(times, now),
        )
        if latest is None or not _usable(latest, now):
            return status
        return CodeStatus(
            required=True,
            channel=latest.channel,
            masked=mask(latest.channel, latest.destination),
            sent_at=latest.created_at,
            expires_at=latest.expires_at,
            tries_left=MAX_TRIES - latest.attempts,
            sms_failed=latest.sms_state == "failed",
            next_code_at=status.next_code_at,
        )

    async def send_code(self, letter: Letter, delivery: Delivery, language: str) -> None:
        """Send a new code (SMS or mail, durably queued); TooManyTries past 3 codes an hour."""
        channel = self.channel(delivery)
        if channel is None:
            return
        now = self._clock()
        times = await self._io(self._store.code_times, delivery.id, now - CODE_WINDOW)
        wait = next_code_allowed(times, now)
        if wait is not None:
            raise TooManyTries(wait)
        code_id = self._new_id()
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        destination = self.destination(delivery, channel)
        record = NewCode(
            id=code_id,
            delivery_id=delivery.id,
            channel=channel,
            destination=destination,
            code_hash=self._hash(code_id, code),
            code=code,
            language=language,
            created_at=now,
            expires_at=now + CODE_VALIDITY,
        )
        if channel == "sms":
            provider = self._settings.gateway.provider_name
            text = sms_code(code=code, provider=provider, lang=language)
            sms = NewSms(code_id, "code", delivery.id, destination, text)
            await self._io(self._store.add_code, record, sms=sms)
        else:
            mail = NewOutbound(code_id, "code", delivery.id, self._bounce, destination)
            await self._io(self._store.add_code, record, mail=mail)
        log.info("letter %s: one-time code sent by %s", letter.reference, channel)
        self._wake()

    async def check(self, delivery: Delivery, given: str | None) -> Identification | None:
        """The identification to record, or an IdentityError; None when no code is asked."""
        checked = await self.verify(delivery, given)
        if checked is None:
            return None
        identification, code_id = checked
        if not await self._io(self._store.mark_used, code_id, identification.checked_at):
            raise CodeRequired("the code was already used")
        return identification

    async def verify(
        self, delivery: Delivery, given: str | None
    ) -> tuple[Identification, str] | None:
        """Like check, but leaves the code unused: (identification, code id) to consume.

        A decision consumes the code in its own transaction (`use_code`), so that of two
        decisions posted at the same moment with the same code exactly one is recorded.
        """
        if self.channel(delivery) is None:
            return None
        now = self._clock()
        latest = await self._io(self._store.latest_code, delivery.id)
        if latest is None or latest.used_at is not None:
            raise CodeRequired("ask for a code first")
        code = normalise_code(given or "")
        if now >= latest.expires_at:
            raise CodeExpired("the code has expired")
        if latest.attempts >= MAX_TRIES:
            raise TooManyTries(await self._next_code_at(delivery, now))
        if not code:
            raise CodeRequired("enter the code")
        if not is_code(code):
            raise WrongCode(MAX_TRIES - latest.attempts)
        if not await self._io(self._store.reserve_try, latest.id, MAX_TRIES, now):
            raise TooManyTries(await self._next_code_at(delivery, now))
        if not hmac.compare_digest(self._hash(latest.id, code), latest.code_hash):
            left = MAX_TRIES - latest.attempts - 1
            if left <= 0:
                raise TooManyTries(await self._next_code_at(delivery, now))
            raise WrongCode(left)
        identification = Identification(
            channel=latest.channel,
            masked_destination=mask(latest.channel, latest.destination),
            checked_at=now,
        )
        return identification, latest.id

    async def _next_code_at(self, delivery: Delivery, now: datetime) -> datetime | None:
        times = await self._io(self._store.code_times, delivery.id, now - CODE_WINDOW)
        return next_code_allowed(times, now)

    def _hash(self, code_id: str, code: str) -> str:
        return hmac.new(self._key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()

    # the code mail ----------------------------------------------------------------------

    async def pending_code(self, code_id: str) -> tuple[str, str, str] | None:
        return await self._io(self._store.pending_code, code_id)  # type: ignore[no-any-return]

    async def forget(self, code_id: str) -> None:
        await self._io(self._store.forget_code, code_id)


def _usable(code: CodeRecord, now: datetime) -> bool:
    return code.used_at is None and now < code.expires_at and code.attempts < MAX_TRIES
