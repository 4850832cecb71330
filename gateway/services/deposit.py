"""The deposit: a sender's letter in, stored with its deliveries and deposit evidence.

Every door (SMTP submission, the MX address, the REST API) reads the message with
gateway.mime, then hands the service a `Deposit`; the service raises `DepositRefused`
(AccountDisabled, PhoneRequired) and the door words that in its own protocol.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from gateway.core.evidence import EvidenceType
from gateway.core.letter import Delivery, Letter, State
from gateway.core.lifecycle import acceptance_deadline
from gateway.core.sender import Account, declared_name
from gateway.errors import PhoneRequired, ReferenceTaken
from gateway.metrics import Metrics
from gateway.mime.message import ParsedMessage
from gateway.services.group_commit import GroupCommit
from gateway.services.identity import RecipientIdentity
from gateway.services.outcomes import Outcomes
from gateway.services.work import Work, new_id, new_reference
from gateway.settings import Settings
from gateway.storage.sms_queue import insert_sms
from gateway.storage.store import LetterStore, NewDeposit, NewOutbound
from gateway.storage.vault import Sealed, Vault, token_hash

log = logging.getLogger(__name__)

PAGE = b"page"  # the label binding a letter's stored page data to its purpose
REFERENCE_DRAWS = 3  # references a deposit draws at most (each taken with odds below 1e-6)


@dataclass(frozen=True)
class Deposit:
    """One letter as a door hands it over: who deposits what, for whom."""

    account: Account
    mail_from: str
    rcpt_tos: tuple[str, ...]  # one registered delivery each
    content: bytes  # the exact message bytes, CRLF line ends
    parsed: ParsedMessage
    authentication: str  # e.g. "SMTP AUTH PLAIN over STARTTLS (TLSv1.3)"
    peer: str  # the client's IP address
    phones: dict[str, str] = field(default_factory=dict)  # recipient → E.164 mobile number
    # recipient → languages the sender gave (LRE-Recipient-Language), e.g. ("ar",)
    languages: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Deposits:
    def __init__(
        self,
        *,
        settings: Settings,
        store: LetterStore,
        vault: Vault,
        work: Work,
        clock: Callable[[], datetime],
        outcomes: Outcomes,
        identity: RecipientIdentity,
        letter_url: Callable[[str], str],
        bounce_address: str,
        metrics: Metrics,
        wake: Callable[[], None],
        references: Callable[[datetime], str] = new_reference,
    ) -> None:
        self._settings = settings
        self._references = references  # a new letter's reference, drawn at random
        self._store = store
        self._vault = vault
        self._work = work
        self._clock = clock
        self._outcomes = outcomes
        self._identity = identity
        self._letter_url = letter_url
        self._bounce_address = bounce_address
        self._metrics = metrics
        self._wake = wake
        # one transaction for the letters whose sessions finished DATA while one commits
        self._commits: GroupCommit[NewDeposit, Exception | None] = GroupCommit(
            partial(work.io, store.deposit)
        )

    async def deposit(
        self, deposit: Deposit, *, also: Callable[[Any, str], None] | None = None
    ) -> str:
        """Store the letter, its deliveries and deposit evidence; return once committed (with the
        letters deposited meanwhile, services/group_commit.py).

        also(connection, reference) runs in the deposit's transaction (e.g. the API's
        Idempotency-Key). Raises PhoneRequired, or AccountDisabled (from the store's transaction:
        the account disabled or removed since the login); nothing is kept then."""
        letter_id = new_id()
        digest, content, page = await self._work.cpu(
            self._seal_content, deposit.content, deposit.parsed, letter_id,
            size=len(deposit.content),
        )  # fmt: skip
        now = self._clock()
        for draw in range(1, REFERENCE_DRAWS + 1):
            new = self._new_deposit(
                deposit, letter_id, self._references(now), now, digest, content, page, also
            )
            try:
                refused = await self._commits.submit(new)
            except ReferenceTaken as taken:  # committed alone: raised
                refused = taken
            if not isinstance(refused, ReferenceTaken) or draw == REFERENCE_DRAWS:
                break
            log.warning("%s; drawing another for the letter", refused)
        if refused is not None:  # this letter alone, rolled back (the others of its group kept)
            raise refused
        letter, deliveries = new.letter, new.deliveries
        log.info(  # the one line of a deposit, whichever door it came through
            "letter %s deposited by %s from %s for %d recipient(s)",
            letter.reference,
            deposit.account.email,
            deposit.peer or "?",
            len(deliveries),
            extra={"letter": letter.reference},
        )
        self._metrics.deposited(deposit.authentication, len(deliveries))
        self._wake()
        return letter.reference

    def _new_deposit(
        self,
        deposit: Deposit,
        letter_id: str,
        reference: str,
        now: datetime,
        digest: str,
        content: Sealed,
        page: bytes,
        also: Callable[[Any, str], None] | None,
    ) -> NewDeposit:
        """The rows of `deposit` as the letter `reference`, deposited `now`: the letter, its
        deliveries, their deposit evidence, notifications and SMS notices."""
        letters = self._settings.letters
        parsed = deposit.parsed
        letter = Letter(
            id=letter_id,
            reference=reference,
            sender_account=deposit.account.id,
            sender_address=deposit.mail_from,
            sender_name=deposit.account.name,  # who the gateway identified, never From:
            sender_declared_name=declared_name(parsed.from_display, deposit.account.name),
            sender_authentication=deposit.authentication,
            sender_ip=deposit.peer or None,
            subject=parsed.subject,
            message_id=parsed.message_id,
            message_size=len(deposit.content),
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
        for recipient in _unique(deposit.rcpt_tos):
            phone = deposit.phones.get(recipient)
            if phone is None and letters.recipient_verification == "sms_required":
                raise PhoneRequired(recipient)
            delivery = Delivery(
                id=new_id(),
                letter_id=letter.id,
                recipient=recipient,
                phone=phone,
                languages=deposit.languages.get(recipient, ()),
                state=State.DEPOSITED,
                deadline=deadline,
                updated_at=now,
            )
            new = self._outcomes.evidence(letter, delivery, EvidenceType.SubmissionAcceptance, now)
            delivery = replace(delivery, last_evidence_sha256=new.xml_sha256)
            deliveries.append((delivery, token_hash(self._vault.link_token(delivery.id))))
            evidence.append(new)
            mails.append(
                NewOutbound(
                    id=new_id(),
                    kind="notification",
                    delivery_id=delivery.id,
                    mail_from=self._bounce_address,
                    rcpt=recipient,
                )
            )
            notice = self._identity.notice_sms(letter, delivery, self._letter_url(delivery.id))
            sms.extend([notice] if notice else [])
        retain_until = now + letters.retention.delta
        queue_sms = partial(insert_sms, sms=sms, now=now) if sms else None

        def within(db: Any) -> None:
            if queue_sms is not None:
                queue_sms(db)
            if also is not None:
                also(db, letter.reference)

        return NewDeposit(letter, content, retain_until, deliveries, evidence, mails, within, page)

    def _seal_content(
        self, content: bytes, parsed: ParsedMessage, letter_id: str
    ) -> tuple[str, Sealed, bytes]:
        """SHA-256 of the exact DATA bytes, those bytes encrypted for storage, and the released
        page's data encrypted beside them: the text read at deposit (`page_text`) and where
        each attachment lies, so that a page view never parses and a download reads only its
        part."""
        spans = [list(span) for span in parsed.attachment_spans]
        sealed = self._vault.encrypt(content, aad=letter_id.encode())
        page = json.dumps({**page_text(content, parsed.text), "spans": spans}, ensure_ascii=False)
        beside = self._vault.encrypt_beside(
            sealed, page.encode(), aad=letter_id.encode(), label=PAGE
        )
        return hashlib.sha256(content).hexdigest(), sealed, beside


def page_text(content: bytes, text: str) -> dict[str, Any]:
    """The page data's text: where it lies in the message's bytes when it is there as written
    ({"text_at": [start, end]}: a text part sent as 7bit or 8bit UTF-8, most letters; the text
    is then stored once, in the message, and a page view decodes those bytes), else the text
    itself ({"text": …}: quoted-printable, base64, another charset, several parts, HTML), and
    when it is less than half the message (a page view would read the attachments' bytes)."""
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only the text itself says it
        return {"text": text}
    if encoded and len(encoded) * 2 >= len(content):  # in bytes, as the message is measured
        # a one-part letter's text is its body, the message's end: compared at memory speed,
        # where a search for a long text takes longer (100 KB: ~70 µs)
        start = len(content) - len(encoded)
        if not content.endswith(encoded):
            start = content.find(encoded)
        if start >= 0:
            return {"text_at": [start, start + len(encoded)]}
    return {"text": text}


def _unique(addresses: tuple[str, ...]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return list(seen.values())
