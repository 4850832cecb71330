"""Events applied to deliveries: the one place a delivery changes state and gets its evidence.

Every change runs the core's transition (`advance`), builds the evidence record, and commits
both with the new state in one transaction; the callers are the deposit's doors (decisions,
downloads), the scheduler (hand-over of notifications and SMS, expiry) and the bounces.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from gateway.core.evidence import EvidenceType, Provider
from gateway.core.identity import Identification
from gateway.core.letter import Delivery, Letter, State
from gateway.core.lifecycle import advance, advance_sms, is_expired
from gateway.core.records import evidence_record
from gateway.errors import IllegalTransition
from gateway.evidence.xml import to_xml
from gateway.metrics import Metrics
from gateway.services.work import Work, new_id
from gateway.storage.outbound import OutboundQueue, PendingMail
from gateway.storage.sms_queue import PendingSms, SmsQueue, finish_sms
from gateway.storage.store import LetterStore, NewEvidence, NewTransition

log = logging.getLogger(__name__)

OUTCOME_RETRIES = 5  # re-reads when a decision changes the delivery while an outcome is recorded


@dataclass(frozen=True)
class MailOutcome:
    """A mail handed over (failure None) or failed for good, to record (`mail_outcomes`);
    `seen`: a notification's letter and delivery as read to compose it."""

    mail: PendingMail
    failure: str | None
    seen: tuple[Letter, Delivery] | None = None


def _notification_event(failure: str | None) -> EvidenceType:
    if failure is None:
        return EvidenceType.NotificationForAcceptance
    return EvidenceType.NotificationForAcceptanceFailure


class Outcomes:
    def __init__(
        self,
        *,
        store: LetterStore,
        work: Work,
        clock: Callable[[], datetime],
        provider: Provider,
        metrics: Metrics,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._work = work
        self._clock = clock
        self.provider = provider
        self._metrics = metrics
        self._wake = wake

    def evidence(
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
        """The evidence of one event, as XML ready to store (pure but for its new id)."""
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
        new = self.evidence(
            letter, delivery, event, now, reason, channel=channel, identification=identification
        )
        done = await self._work.io(
            self._store.transition,
            delivery,
            new_state,
            new,
            now=now,
            finish_mail=finish_mail,
            also=also,
        )
        if done:
            self._applied(letter, delivery, event, new_state)
            self._wake()
        return done

    def _applied(
        self, letter: Letter, delivery: Delivery, event: EvidenceType, new_state: State
    ) -> None:
        log.info(
            "letter %s to %s: %s",
            letter.reference,
            delivery.recipient,
            event.value,
            extra={"letter": letter.reference},
        )
        self._metrics.event(event.value, delivery.state.value, new_state.value)

    async def expire(self, delivery_id: str) -> bool:
        """Issue AcceptanceRejectionExpiry if the delivery is still awaiting past its deadline."""
        found = await self._work.io(self._store.by_delivery, delivery_id)
        if found is None:
            return False
        letter, delivery = found
        if delivery.state is not State.NOTIFIED or not is_expired(delivery.deadline, self._clock()):
            return False
        return await self.apply(letter, delivery, EvidenceType.AcceptanceRejectionExpiry)

    async def expire_due(self) -> int:
        due = await self._work.io(self._store.due_deadlines, self._clock())
        return sum([await self.expire(delivery_id) for delivery_id in due])

    async def mail_outcomes(self, outcomes: Sequence[MailOutcome]) -> list[bool]:
        """Record several mails' outcomes in one commit (GroupCommit: those that came in while
        the previous commit ran); True at an outcome's index when it is recorded.

        A notification's transition is a compare-and-set on the delivery as it was read to
        compose it (`seen`); when it was not read (a resend after a restart) or has changed
        since, its outcome is not recorded here (False) and the caller records it alone
        (`notification_outcome`, which reads the delivery again)."""
        now = self._clock()
        changes: list[tuple[int, Letter, Delivery, EvidenceType, NewTransition]] = []
        closed: list[tuple[str, str, str | None]] = []
        recorded = [False] * len(outcomes)
        for index, outcome in enumerate(outcomes):
            mail, failure = outcome.mail, outcome.failure
            finish = (mail.id, "sent" if failure is None else "failed", failure)
            if mail.kind != "notification":
                closed.append(finish)
                recorded[index] = True
                continue
            if outcome.seen is None:
                continue
            letter, delivery = outcome.seen
            event = _notification_event(failure)
            try:
                new_state = advance(delivery.state, event)
            except IllegalTransition:
                continue  # an old guess: the delivery as it is now decides (alone)
            new = self.evidence(letter, delivery, event, now, failure)
            changes.append(
                (index, letter, delivery, event, NewTransition(delivery, new_state, new, finish))
            )
        if not changes and not closed:
            return recorded
        done = await self._work.io(
            self._store.outcomes, [change for *_, change in changes], closed, now=now
        )
        for (index, letter, delivery, event, change), ok in zip(changes, done, strict=True):
            if ok:
                recorded[index] = True
                self._applied(letter, delivery, event, change.new_state)
        if any(done):
            self._wake()
        return recorded

    async def notification_outcome(
        self,
        mail: PendingMail,
        *,
        failure: str | None,
        seen: tuple[Letter, Delivery] | None = None,
    ) -> None:
        """Record the hand-over (or the permanent failure) of a notification, closing its mail.

        `seen`: the letter and delivery as read before the hand-over, tried first (the
        transition is a compare-and-set: when the delivery changed since, it is read again)."""
        event = _notification_event(failure)
        finish = (mail.id, "sent" if failure is None else "failed", failure)
        guess = seen
        for _ in range(OUTCOME_RETRIES):  # the state may change under us (a decision): re-read
            if guess is not None:
                (letter, delivery), guess, guessed = guess, None, True
            else:
                letter, delivery = await self._work.io(self._store.delivery, mail.delivery_id)
                guessed = False
            try:
                if await self.apply(letter, delivery, event, reason=failure, finish_mail=finish):
                    return
            except IllegalTransition:
                if guessed:
                    continue  # an old guess: the delivery as it is now decides
                log.warning(
                    "letter %s to %s: %s not recorded in state %s",
                    letter.reference,
                    delivery.recipient,
                    event.value,
                    delivery.state.value,
                )
                break
        mails = OutboundQueue(self._store.engine)
        await self._work.io(mails.finish, *finish, now=self._clock())

    async def sms_outcome(self, sms: PendingSms, *, failure: str | None) -> None:
        """Record the hand-over (or permanent failure) of a notice SMS, closing it (SMS channel)."""
        event = _notification_event(failure)
        state = "sent" if failure is None else "failed"
        for _ in range(OUTCOME_RETRIES):  # the state may change under us (a decision): re-read
            letter, delivery = await self._work.io(self._store.delivery, sms.delivery_id)
            close = partial(
                finish_sms, sms_id=sms.id, state=state, error=failure, now=self._clock()
            )
            if await self.apply(letter, delivery, event, reason=failure, channel="sms", also=close):
                return
        queue = SmsQueue(self._store.engine)
        await self._work.io(queue.finish, sms.id, state, failure, now=self._clock())
