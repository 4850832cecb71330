"""The recipient's side: the letter's page, the decision (accept or refuse), and downloads.

Each method takes the personal link's token (and the content session's token, the one-time
code) and raises a `RecipientError` that the web (and any other door) turns into its status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from gateway.core.evidence import Attachment, EvidenceType
from gateway.core.letter import Delivery, Letter, LetterView, State
from gateway.core.lifecycle import is_expired
from gateway.core.policy import sender_revealed
from gateway.errors import (
    AlreadyDecided,
    DeadlineExpired,
    IdentityError,
    NotReleased,
    SessionRequired,
    UnknownLink,
)
from gateway.mime.message import attachment_bytes, attachment_in_span, parse_message
from gateway.services.content_access import ContentAccess, Opener
from gateway.services.deposit import PAGE
from gateway.services.identity import CodeStatus, RecipientIdentity
from gateway.services.outcomes import Outcomes
from gateway.services.work import Work
from gateway.settings import Settings
from gateway.storage.identity_store import use_code
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault, token_hash

DECISION_RETRIES = 5  # re-reads when a notification's hand-over is recorded during a decision


class Decisions:
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
        content_access: ContentAccess,
    ) -> None:
        self._settings = settings
        self._store = store
        self._vault = vault
        self._work = work
        self._clock = clock
        self._outcomes = outcomes
        self._identity = identity
        self._access = content_access

    async def _find(self, token: str) -> tuple[Letter, Delivery]:
        found = await self._work.io(self._store.by_token, token_hash(token))
        if found is None:
            raise UnknownLink("no letter has this link")
        return found

    async def open(self, token: str, session: str | None = None) -> LetterView:
        """The letter as its page shows it; the content only to a live session of its own."""
        letter, delivery = await self._find(token)
        opened = delivery.state.released and (
            await self._access.session(delivery.id, session) is not None
        )
        return await self._view(letter, delivery, opened=opened)

    async def accept(self, token: str, code: str | None = None) -> LetterView:
        await self._decide(token, EvidenceType.ConsignmentAcceptance, code)
        return await self.open(token)

    async def accept_opening(self, token: str, code: str | None = None) -> str:
        """Accept, and open a content session for this browser; returns the session token."""
        delivery = await self._decide(token, EvidenceType.ConsignmentAcceptance, code)
        opener: Opener = "no_code" if self._identity.channel(delivery) is None else "acceptance"
        return await self._access.open(delivery.id, opener)

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
        identification = await self._identity.check(delivery, code)
        opener: Opener = "no_code" if identification is None else "code"
        return await self._access.open(delivery.id, opener)

    async def code_status(self, token: str) -> CodeStatus:
        _, delivery = await self._find(token)
        return await self._identity.status(delivery)

    async def send_code(self, token: str, language: str) -> None:
        """Send the recipient a one-time code: to decide, or to open an accepted letter."""
        letter, delivery = await self._find(token)
        if not delivery.state.released:
            letter, delivery = await self._undecided(token)
        await self._identity.send_code(letter, delivery, language)

    async def _undecided(self, token: str) -> tuple[Letter, Delivery]:
        letter, delivery = await self._find(token)
        if delivery.state.decided:
            raise AlreadyDecided(delivery.state.value)
        if is_expired(delivery.deadline, self._clock()):
            await self._outcomes.expire(delivery.id)
            raise DeadlineExpired("the acceptance period has ended")
        return letter, delivery

    async def _decide(self, token: str, event: EvidenceType, code: str | None) -> Delivery:
        """Record the decision; the code is consumed in the decision's own transaction.

        Of two decisions posted at the same moment exactly one is recorded; the other gets
        AlreadyDecided (409) whatever step it lost at (the code's use, or the state's change).
        """
        letter, delivery = await self._undecided(token)
        try:
            checked = await self._identity.verify(delivery, code)
        except IdentityError:
            await self._decided_meanwhile(token)
            raise
        identification = checked[0] if checked else None
        use = partial(use_code, code_id=checked[1], now=checked[0].checked_at) if checked else None
        for _ in range(DECISION_RETRIES):
            try:
                done = await self._outcomes.apply(
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
            data = await self._work.cpu(read, content, span, index, expected)
        if data is not None:
            found = (letter.attachments[index], data)
        else:  # letters deposited before spans were kept, or parts read differently
            found = await self._work.cpu(attachment_bytes, content, index, self._settings.mime)
        await self._hand_over(letter, delivery, session_id, f"attachment:{index}")
        return found

    async def _session_for(self, delivery: Delivery, session: str | None) -> str:
        """The live content session's id; NotReleased or SessionRequired otherwise."""
        if not delivery.state.released:
            raise NotReleased("the content is released only after acceptance")
        session_id = await self._access.session(delivery.id, session)
        if session_id is None:
            raise SessionRequired("give a new one-time code to open the letter in this browser")
        return session_id

    async def content(self, letter: Letter) -> bytes:
        """The letter's exact message bytes, decrypted."""
        sealed = await self._work.io(self._store.content, letter.id)
        return await self._work.cpu(partial(self._vault.decrypt, sealed, aad=letter.id.encode()))

    async def _page_text(self, letter: Letter) -> str:
        """The letter's text as read at deposit (letters older than migration 0006: read now);
        where the page data gives it as a span of the message's bytes, decoded from them."""
        page = await self._page(letter)
        if page is None:
            content = await self.content(letter)
            return (await self._work.cpu(parse_message, content, self._settings.mime)).text
        if "text_at" in page:
            start, end = page["text_at"]
            return (await self.content(letter))[start:end].decode("utf-8")
        return str(page["text"])

    async def _page(self, letter: Letter) -> dict[str, Any] | None:
        """What was read at deposit for the page (services.deposit.page_text):
        {"text": …, "spans": [[start, end], …]}, or "text_at": [start, end] for the text."""
        key, page = await self._work.io(self._store.page, letter.id)
        if page is None:
            return None
        data = await self._work.cpu(
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
        await self._access.record(delivery.id, session_id, what)
        if delivery.state is State.ACCEPTED:
            await self._outcomes.apply(letter, delivery, EvidenceType.ContentHandover)

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
