"""The registry: applies core events to stored letters (deposit, decisions, hand-over, expiry).

It implements the SMTP side's Depositor and Accounts and the web's RecipientService. Blocking
work (SQL, encryption, password hashing, MIME parsing) runs in executors, never on the loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from gateway.content_access import ContentAccess, Opener
from gateway.core.evidence import Attachment, EvidenceType, Provider
from gateway.core.identity import Identification
from gateway.core.letter import Delivery, Letter, LetterView, State
from gateway.core.lifecycle import acceptance_deadline, advance, advance_sms, is_expired
from gateway.core.policy import letter_url, sender_revealed
from gateway.core.records import evidence_record
from gateway.core.sender import declared_name
from gateway.errors import (
    AlreadyDecided,
    DeadlineExpired,
    IdentityError,
    IllegalTransition,
    NotReleased,
    Rejected,
    SessionRequired,
    UnknownLink,
)
from gateway.evidence.xml import to_xml
from gateway.identity import CodeStatus, RecipientIdentity
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.smtp_in import replies
from gateway.smtp_in.handler import Account
from gateway.smtp_in.message import (
    ParsedMessage,
    attachment_bytes,
    attachment_in_span,
    parse_message,
)
from gateway.storage.group_commit import GroupCommit
from gateway.storage.identity_store import (
    IdentityStore,
    PendingSms,
    finish_sms,
    insert_sms,
    use_code,
)
from gateway.storage.passwords import check_password, hash_password
from gateway.storage.session_store import SessionStore
from gateway.storage.store import (
    AccountRecord,
    LetterStore,
    NewEvidence,
    NewOutbound,
    PendingMail,
)
from gateway.storage.vault import Sealed, Vault, token_hash

log = logging.getLogger(__name__)
T = TypeVar("T")

AUTH_CACHE_SECONDS = 300.0
PAGE = b"page"  # the label binding a letter's stored page data to its purpose
DECISION_RETRIES = 5  # re-reads when a notification's hand-over is recorded during a decision
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def new_id() -> str:
    return secrets.token_hex(16)


def new_reference(now: datetime) -> str:
    """A letter reference people can read out: LRE-YYYYMMDD-XXXXXXXX (40 random bits)."""
    code = base64.b32encode(secrets.token_bytes(5)).decode()
    return f"LRE-{now:%Y%m%d}-{code}"


class DepositInput(Protocol):
    """What a door hands to `Registry.deposit`: the SMTP `Submission`, or the API's deposit."""

    @property
    def account(self) -> Account: ...
    @property
    def mail_from(self) -> str: ...
    @property
    def rcpt_tos(self) -> tuple[str, ...]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def parsed(self) -> ParsedMessage: ...
    @property
    def authentication(self) -> str: ...
    @property
    def peer(self) -> str: ...
    @property
    def phones(self) -> dict[str, str]: ...
    @property
    def languages(self) -> dict[str, tuple[str, ...]]: ...


class Registry:
    def __init__(
        self,
        *,
        settings: Settings,
        store: LetterStore,
        vault: Vault,
        db_executor: Executor,
        clock: Callable[[], datetime],
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._vault = vault
        self._db = db_executor
        self._deposits = GroupCommit(store.engine, db_executor)
        self._clock = clock
        self.wake = wake
        gateway = settings.gateway
        self.provider = Provider(gateway.provider_name, gateway.domain, gateway.policy_id)
        self._auth_cache: dict[tuple[str, str], float] = {}
        self.metrics = Metrics()  # the process's counters; the composition root serves them
        self.identity = RecipientIdentity(
            settings=settings,
            store=IdentityStore(store.engine),
            io=self.io,
            clock=clock,
            secret=vault.web_secret,
            new_id=new_id,
            bounce_address=self.bounce_address,
            wake=lambda: self.wake(),
        )
        self.content_access = ContentAccess(
            store=SessionStore(store.engine), io=self.io, clock=clock, new_id=new_id
        )

    def now(self) -> datetime:
        return self._clock()

    def account_record(self, email: str) -> AccountRecord | None:
        """The sender account of this address (blocking; run through io())."""
        return self._store.account(email)

    async def io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._db, partial(fn, *args, **kwargs)
        )

    @staticmethod
    async def _cpu(fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    # accounts ---------------------------------------------------------------------------

    def save_sender(self, email: str, name: str, password: str, language: str = "fr") -> str:
        """Create or update a sender account (synchronous: used by the command line)."""
        record = self._store.save_account(
            id=new_id(),
            email=email,
            name=name,
            password_hash=hash_password(password),
            language=language,
            now=self._clock(),
        )
        return record.id

    async def authenticate(self, email: str, password: str) -> Account | None:
        record = await self.io(self._store.account, email)
        stored = record.password_hash if record else _DUMMY_HASH
        key = (stored, hashlib.sha256(password.encode()).hexdigest())
        cached = self._auth_cache.get(key)
        if cached is not None and cached > time.monotonic():
            ok = True
        else:
            ok = await self._cpu(check_password, password, stored)
            if ok:
                self._auth_cache[key] = time.monotonic() + AUTH_CACHE_SECONDS
        if not ok or record is None:
            return None
        return Account(id=record.id, email=record.email, name=record.name, disabled=record.disabled)

    # deposit ----------------------------------------------------------------------------

    async def deposit(
        self, submission: DepositInput, *, also: Callable[[Any, str], None] | None = None
    ) -> str:
        """Store the letter, its deliveries and deposit evidence; return once committed.

        `submission` is what any door (SMTP, the REST API) hands over; also(connection,
        reference) runs in the deposit's transaction (e.g. the API's Idempotency-Key)."""
        account = await self.io(self._store.account, submission.account.email)
        if account is None or account.disabled:  # disabled (or removed) since the login
            raise Rejected(replies.ACCOUNT_DISABLED_NOW)
        letter_id = new_id()
        digest, content, page = await self._cpu(
            self._seal_content, submission.content, submission.parsed, letter_id
        )
        now = self._clock()
        letters = self._settings.letters
        parsed = submission.parsed
        letter = Letter(
            id=letter_id,
            reference=new_reference(now),
            sender_account=submission.account.id,
            sender_address=submission.mail_from,
            sender_name=submission.account.name,  # who the gateway identified, never From:
            sender_declared_name=declared_name(parsed.from_display, submission.account.name),
            sender_authentication=submission.authentication,
            sender_ip=submission.peer or None,
            subject=parsed.subject,
            message_id=parsed.message_id,
            message_size=len(submission.content),
            message_sha256=digest,
            attachments=parsed.attachments,
            deposited_at=now,
        )
        deadline = acceptance_deadline(
            now,
            letters.negligence_after.delta,
            self._settings.gateway.zone,
            whole_days=letters.negligence_after.whole_days,
        )
        deliveries, evidence, mails, sms = [], [], [], []
        for recipient in _unique(submission.rcpt_tos):
            phone = submission.phones.get(recipient)
            if phone is None and letters.recipient_verification == "sms_required":
                raise Rejected(replies.phone_required(recipient))
            delivery = Delivery(
                id=new_id(),
                letter_id=letter.id,
                recipient=recipient,
                phone=phone,
                languages=submission.languages.get(recipient, ()),
                state=State.DEPOSITED,
                deadline=deadline,
                updated_at=now,
            )
            new = self._evidence(letter, delivery, EvidenceType.SubmissionAcceptance, now)
            delivery = replace(delivery, last_evidence_sha256=new.xml_sha256)
            deliveries.append((delivery, token_hash(self._vault.link_token(delivery.id))))
            evidence.append(new)
            mails.append(
                NewOutbound(
                    id=new_id(),
                    kind="notification",
                    delivery_id=delivery.id,
                    mail_from=self.bounce_address,
                    rcpt=recipient,
                )
            )
            notice = self.identity.notice_sms(letter, delivery, self.letter_url(delivery.id))
            sms.extend([notice] if notice else [])
        retain_until = now + letters.retention.delta
        queue_sms = partial(insert_sms, sms=sms, now=now) if sms else None

        def within(db: Any) -> None:
            if queue_sms is not None:
                queue_sms(db)
            if also is not None:
                also(db, letter.reference)

        # shares its transaction (lock wait, fsync) with deposits ready meanwhile; returns after
        # the commit that contains this letter
        await self._deposits.commit(
            partial(
                self._store.insert_deposit,
                letter=letter,
                content=content,
                retain_until=retain_until,
                deliveries=deliveries,
                evidence=evidence,
                mails=mails,
                also=within if (sms or also) else None,
                page=page,
            )
        )
        log.info(
            "letter %s deposited by %s for %d recipient(s)",
            letter.reference,
            submission.account.email,
            len(deliveries),
            extra={"letter": letter.reference},
        )
        self.metrics.deposited(submission.authentication, len(deliveries))
        self.wake()
        return letter.reference

    @property
    def web_secret(self) -> bytes:
        return self._vault.web_secret

    def _seal_content(
        self, content: bytes, parsed: ParsedMessage, letter_id: str
    ) -> tuple[str, Sealed, bytes]:
        """SHA-256 of the exact DATA bytes, those bytes encrypted for storage, and the released
        page's data encrypted beside them: the text read at deposit and where each attachment
        lies, so that a page view never parses and a download reads only its part."""
        text, spans = parsed.text, [list(span) for span in parsed.attachment_spans]
        sealed = self._vault.encrypt(content, aad=letter_id.encode())
        page = json.dumps({"text": text, "spans": spans}, ensure_ascii=False).encode()
        beside = self._vault.encrypt_beside(sealed, page, aad=letter_id.encode(), label=PAGE)
        return hashlib.sha256(content).hexdigest(), sealed, beside

    def link_token(self, delivery_id: str) -> str:
        return self._vault.link_token(delivery_id)

    def letter_url(self, delivery_id: str) -> str:
        """The recipient's personal link (in the notification mail and SMS)."""
        return letter_url(self._settings.gateway.public_url, self.link_token(delivery_id))

    @property
    def bounce_address(self) -> str:
        return f"bounces@{self._settings.gateway.domain}"

    def _evidence(
        self,
        letter: Letter,
        delivery: Delivery,
        event: EvidenceType,
        at: datetime,
        reason: str | None = None,
        *,
        channel: str | None = None,
        identification: Identification | None = None,
    ) -> NewEvidence:
        record = evidence_record(
            letter,
            delivery,
            event,
            evidence_id=new_id(),
            at=at,
            provider=self.provider,
            reason=reason,
            identification=identification,
            extensions=(("NotificationChannel", channel),) if channel else (),
        )
        xml = to_xml(record)
        return NewEvidence(
            record.evidence_id,
            letter.id,
            delivery.id,
            event,
            at,
            xml,
            hashlib.sha256(xml).hexdigest(),
            channel,
        )

    async def apply(
        self,
        letter: Letter,
        delivery: Delivery,
        event: EvidenceType,
        *,
        reason: str | None = None,
        finish_mail: tuple[str, str, str | None] | None = None,
        channel: str | None = None,
        identification: Identification | None = None,
        also: Callable[[Any], None] | None = None,
    ) -> bool:
        """Apply event to the delivery as seen; False when its state changed meanwhile."""
        if channel == "sms":
            new_state = advance_sms(delivery.state, event)
        else:
            new_state = advance(delivery.state, event)
        now = self._clock()
        new = self._evidence(
            letter, delivery, event, now, reason, channel=channel, identification=identification
        )
        done = await self.io(
            self._store.transition,
            delivery,
            new_state,
            new,
            now=now,
            finish_mail=finish_mail,
            also=also,
        )
        if done:
            log.info(
                "letter %s to %s: %s",
                letter.reference,
                delivery.recipient,
                event.value,
                extra={"letter": letter.reference},
            )
            self.metrics.event(event.value, delivery.state.value, new_state.value)
            self.wake()
        return done

    # the recipient ----------------------------------------------------------------------

    async def _find(self, token: str) -> tuple[Letter, Delivery]:
        found = await self.io(self._store.by_token, token_hash(token))
        if found is None:
            raise UnknownLink("no letter has this link")
        return found

    async def open(self, token: str, session: str | None = None) -> LetterView:
        """The letter as its page shows it; the content only to a live session of its own."""
        letter, delivery = await self._find(token)
        opened = delivery.state.released and (
            await self.content_access.session(delivery.id, session) is not None
        )
        return await self._view(letter, delivery, opened=opened)

    async def accept(self, token: str, code: str | None = None) -> LetterView:
        await self._decide(token, EvidenceType.ConsignmentAcceptance, code)
        return await self.open(token)

    async def accept_opening(self, token: str, code: str | None = None) -> str:
        """Accept, and open a content session for this browser; returns the session token."""
        delivery = await self._decide(token, EvidenceType.ConsignmentAcceptance, code)
        opener: Opener = "no_code" if self.identity.channel(delivery) is None else "acceptance"
        return await self.content_access.open(delivery.id, opener)

    async def refuse(self, token: str, code: str | None = None) -> LetterView:
        await self._decide(token, EvidenceType.ConsignmentRejection, code)
        return await self.open(token)

    async def open_with_code(self, token: str, code: str | None = None) -> str:
        """A new content session for an accepted letter, with a new one-time code (no decision).

        Raises NotReleased before acceptance and IdentityError for a wrong or missing code.
        """
        _, delivery = await self._find(token)
        if not delivery.state.released:
            raise NotReleased("the content is released only after acceptance")
        identification = await self.identity.check(delivery, code)
        opener: Opener = "no_code" if identification is None else "code"
        return await self.content_access.open(delivery.id, opener)

    async def code_status(self, token: str) -> CodeStatus:
        _, delivery = await self._find(token)
        return await self.identity.status(delivery)

    async def send_code(self, token: str, language: str) -> None:
        """Send the recipient a one-time code: to decide, or to open an accepted letter."""
        letter, delivery = await self._find(token)
        if not delivery.state.released:
            letter, delivery = await self._undecided(token)
        await self.identity.send_code(letter, delivery, language)

    async def _undecided(self, token: str) -> tuple[Letter, Delivery]:
        letter, delivery = await self._find(token)
        if delivery.state.decided:
            raise AlreadyDecided(delivery.state.value)
        if is_expired(delivery.deadline, self._clock()):
            await self.expire(delivery.id)
            raise DeadlineExpired("the acceptance period has ended")
        return letter, delivery

    async def _decide(self, token: str, event: EvidenceType, code: str | None) -> Delivery:
        """Record the decision; the code is consumed in the decision's own transaction.

        Of two decisions posted at the same moment exactly one is recorded; the other gets
        AlreadyDecided (409) whatever step it lost at (the code's use, or the state's change).
        """
        letter, delivery = await self._undecided(token)
        try:
            checked = await self.identity.verify(delivery, code)
        except IdentityError:
            await self._decided_meanwhile(token)
            raise
        identification = checked[0] if checked else None
        use = partial(use_code, code_id=checked[1], now=checked[0].checked_at) if checked else None
        for _ in range(DECISION_RETRIES):
            try:
                done = await self.apply(
                    letter, delivery, event, identification=identification, also=use
                )
            except IdentityError:
                await self._decided_meanwhile(token)
                raise
            if done:
                break
            # the delivery moved meanwhile: a decision, or only the hand-over of a notification
            # (mail or SMS) recorded at the same moment, which must not turn the decision away
            letter, delivery = await self._find(token)
            if delivery.state.decided:
                raise AlreadyDecided(delivery.state.value)
        else:
            raise AlreadyDecided(delivery.state.value)
        return delivery

    async def _decided_meanwhile(self, token: str) -> None:
        """AlreadyDecided when another request decided while this one checked its code."""
        _, delivery = await self._find(token)
        if delivery.state.decided:
            raise AlreadyDecided(delivery.state.value)

    async def original(self, token: str, session: str | None = None) -> bytes:
        """The exact .eml to a live session; recorded (the first time also as ContentHandover)."""
        letter, delivery = await self._find(token)
        session_id = await self._session_for(delivery, session)
        content = await self.content(letter)
        await self._hand_over(letter, delivery, session_id, "letter.eml")
        return content

    async def attachment(
        self, token: str, index: int, session: str | None = None
    ) -> tuple[Attachment, bytes]:
        letter, delivery = await self._find(token)
        session_id = await self._session_for(delivery, session)
        content = await self.content(letter)
        spans = ((await self._page(letter)) or {}).get("spans") or []
        data = None
        if 0 <= index < min(len(spans), len(letter.attachments)):
            expected, span = letter.attachments[index], (spans[index][0], spans[index][1])
            read = partial(attachment_in_span, limits=self._settings.mime)
            data = await self._cpu(read, content, span, index, expected)
        if data is not None:
            found = (letter.attachments[index], data)
        else:  # letters deposited before spans were kept, or parts read differently
            found = await self._cpu(attachment_bytes, content, index, self._settings.mime)
        await self._hand_over(letter, delivery, session_id, f"attachment:{index}")
        return found

    async def _session_for(self, delivery: Delivery, session: str | None) -> str:
        """The live content session's id; NotReleased or SessionRequired otherwise."""
        if not delivery.state.released:
            raise NotReleased("the content is released only after acceptance")
        session_id = await self.content_access.session(delivery.id, session)
        if session_id is None:
            raise SessionRequired("give a new one-time code to open the letter in this browser")
        return session_id

    async def content(self, letter: Letter) -> bytes:
        sealed = await self.io(self._store.content, letter.id)
        return await self._cpu(partial(self._vault.decrypt, sealed, aad=letter.id.encode()))

    async def _page_text(self, letter: Letter) -> str:
        """The letter's text as read at deposit (letters older than migration 0006: read now)."""
        page = await self._page(letter)
        if page is None:
            content = await self.content(letter)
            return (await self._cpu(parse_message, content, self._settings.mime)).text
        return str(page["text"])

    async def _page(self, letter: Letter) -> dict[str, Any] | None:
        """What was read at deposit for the page: {"text": …, "spans": [[start, end], …]}."""
        key, page = await self.io(self._store.page, letter.id)
        if page is None:
            return None
        data = await self._cpu(
            partial(self._vault.decrypt_beside, key, page, aad=letter.id.encode(), label=PAGE)
        )
        stored: dict[str, Any] = json.loads(data)
        return stored

    async def _hand_over(
        self, letter: Letter, delivery: Delivery, session_id: str, what: str
    ) -> None:
        """Record a download; the first one of the content is also ContentHandover.

        Only a live session reaches here: the person who gave the code in this browser, so
        the content was actually handed over to the identified recipient.
        """
        await self.content_access.record(delivery.id, session_id, what)
        if delivery.state is State.ACCEPTED:
            await self.apply(letter, delivery, EvidenceType.ContentHandover)

    async def _view(self, letter: Letter, delivery: Delivery, *, opened: bool) -> LetterView:
        state = delivery.state
        if not state.decided and is_expired(delivery.deadline, self._clock()):
            state = State.NEGLECTED  # shown as expired; the scheduler issues the proof
        revealed = sender_revealed(self._settings.letters.reveal_sender, released=state.released)
        text: str | None = None
        attachments: tuple[Attachment, ...] = ()
        if state.released and opened:
            text, attachments = await self._page_text(letter), letter.attachments
        return LetterView(
            reference=letter.reference,
            recipient=delivery.recipient,
            state=state,
            deposited_at=letter.deposited_at,
            deadline=delivery.deadline,
            decided_at=delivery.decided_at,
            sender_name=letter.sender_name if revealed else None,
            sender_address=letter.sender_address if revealed else None,
            sender_declared_name=letter.sender_declared_name if revealed else None,
            subject=letter.subject if revealed else None,
            text=text,
            attachments=attachments,
            message_size=letter.message_size,
            opened=state.released and opened,
        )

    # the scheduler's events -------------------------------------------------------------

    async def expire(self, delivery_id: str) -> bool:
        """Issue AcceptanceRejectionExpiry if the delivery is still awaiting past its deadline."""
        found = await self.io(self._store.by_delivery, delivery_id)
        if found is None:
            return False
        letter, delivery = found
        if delivery.state is not State.NOTIFIED or not is_expired(delivery.deadline, self._clock()):
            return False
        return await self.apply(letter, delivery, EvidenceType.AcceptanceRejectionExpiry)

    async def expire_due(self) -> int:
        due = await self.io(self._store.due_deadlines, self._clock())
        return sum([await self.expire(delivery_id) for delivery_id in due])

    async def notification_outcome(self, mail: PendingMail, *, failure: str | None) -> None:
        """Record the hand-over (or the permanent failure) of a notification, closing its mail."""
        event = (
            EvidenceType.NotificationForAcceptance
            if failure is None
            else EvidenceType.NotificationForAcceptanceFailure
        )
        finish = (mail.id, "sent" if failure is None else "failed", failure)
        for _ in range(5):  # the state may change under us (a decision); re-read and retry
            letter, delivery = await self.io(self._store.delivery, mail.delivery_id)
            try:
                if await self.apply(letter, delivery, event, reason=failure, finish_mail=finish):
                    return
            except IllegalTransition:
                log.warning(
                    "letter %s to %s: %s not recorded in state %s",
                    letter.reference,
                    delivery.recipient,
                    event.value,
                    delivery.state.value,
                )
                break
        await self.io(self._store.finish_mail, *finish, now=self._clock())

    async def sms_outcome(self, sms: PendingSms, *, failure: str | None) -> None:
        """Record the hand-over (or permanent failure) of a notice SMS, closing it (SMS channel)."""
        event = (
            EvidenceType.NotificationForAcceptance
            if failure is None
            else EvidenceType.NotificationForAcceptanceFailure
        )
        state = "sent" if failure is None else "failed"
        for _ in range(5):  # the state may change under us (a decision); re-read and retry
            letter, delivery = await self.io(self._store.delivery, sms.delivery_id)
            close = partial(
                finish_sms, sms_id=sms.id, state=state, error=failure, now=self._clock()
            )
            if await self.apply(letter, delivery, event, reason=failure, channel="sms", also=close):
                return
        await self.io(self.identity_store.finish_sms, sms.id, state, failure, now=self._clock())

    @property
    def identity_store(self) -> IdentityStore:
        return IdentityStore(self._store.engine)


def _unique(addresses: tuple[str, ...]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return list(seen.values())
