"""Bounces become proofs: VERP return paths out, delivery status notifications in.

Every mail the gateway sends goes out with the return path `bounce+<token>@<domain>`, the token
(128 bits) derived with HMAC from the outbound mail's id and kept in the database only hashed.
A DSN sent back to that address names the mail without any guessing: when it reports a
permanent failure of a notification that had been handed over, the delivery gets
NotificationForAcceptanceFailure quoting the reporting server's diagnostic; any other report
(delayed, delivered, or about a proof mail) is recorded, never turned into a proof.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from gateway.core.evidence import EvidenceType
from gateway.core.letter import State
from gateway.errors import IllegalTransition, NotADsn, UnknownBounceAddress
from gateway.mime.dsn import parse_dsn
from gateway.services.outcomes import Outcomes
from gateway.services.work import Work, new_id
from gateway.storage.bounce_store import BouncedMail, BounceStore, DsnRecord
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault, token_hash

VERP_MEMO: Final = 1024  # mails whose VERP address is remembered (the scheduler's batch)

log = logging.getLogger(__name__)

PREFIX: Final = "bounce+"


class DsnOutcome(StrEnum):
    """What a DSN did to the delivery of the mail it reports on."""

    RECORDED = "recorded"  # kept beside the mail only: delayed, delivered, a proof mail, too late
    UNDELIVERABLE = "undeliverable"  # the delivery got NotificationForAcceptanceFailure


@dataclass(frozen=True)
class DsnReceived:
    """One DSN taken: the mail it reports on, that mail's delivery, and what became of it."""

    mail_id: str
    delivery_id: str
    outcome: DsnOutcome


class Bounces:
    def __init__(
        self,
        *,
        work: Work,
        outcomes: Outcomes,
        store: LetterStore,
        vault: Vault,
        domain: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._work = work
        self._outcomes = outcomes
        self._store = store
        self._bounces = BounceStore(store.engine)
        self._vault = vault
        self._domain = domain.lower()
        self._clock = clock
        # pure, and asked up to three times a mail (its bytes fixed, stored, handed over)
        self.verp = functools.lru_cache(maxsize=VERP_MEMO)(self._verp)

    def _verp(self, mail_id: str) -> tuple[str, str]:
        """The VERP address of one outbound mail and its token's hash (what is remembered);
        pure: the scheduler stores the hash with the mail's bytes (OutboundQueue.fix_messages)."""
        token = self._vault.verp_token(mail_id)
        return f"{PREFIX}{token}@{self._domain}", token_hash(token)

    def is_bounce_address(self, address: str) -> bool:
        local, _, domain = address.rpartition("@")
        return domain.lower() == self._domain and local.lower().startswith(PREFIX)

    async def mail_for(self, address: str) -> BouncedMail | None:
        local = address.rpartition("@")[0].lower()
        token = local.removeprefix(PREFIX)
        if not token:
            return None
        return await self._work.io(self._bounces.mail_by_bounce_token, token_hash(token))

    async def receive(self, address: str, content: bytes) -> DsnReceived:
        """Record the DSN sent to address; a permanent failure of a notification is a proof.

        Raises UnknownBounceAddress or NotADsn, and then nothing is recorded.
        """
        mail = await self.mail_for(address)
        if mail is None:
            raise UnknownBounceAddress(address)
        dsn = parse_dsn(content)
        if dsn is None:
            raise NotADsn(address)
        now = self._clock()
        await self._work.io(
            self._bounces.record_dsn,
            [
                DsnRecord(
                    new_id(),
                    mail.id,
                    r.action,
                    r.status,
                    r.diagnostic,
                    dsn.reporting_mta,
                    now,
                )
                for r in dsn.recipients
            ],
        )
        failed = [r for r in dsn.recipients if r.permanent_failure]
        log.info("DSN for %s mail %s: %s", mail.kind, mail.id, [r.action for r in dsn.recipients])
        outcome = DsnOutcome.RECORDED
        if failed and mail.kind == "notification" and mail.state == "sent":
            first = failed[0]
            reason = (
                f"delivery status notification from {dsn.reporting_mta or 'the recipient side'}: "
                f"Status {first.status}; Diagnostic-Code: {first.diagnostic or 'none given'}"
            )
            outcome = await self._fail(mail, reason)
        return DsnReceived(mail.id, mail.delivery_id, outcome)

    async def _fail(self, mail: BouncedMail, reason: str) -> DsnOutcome:
        letter, delivery = await self._work.io(self._store.delivery, mail.delivery_id)
        if delivery.state is not State.NOTIFIED:
            log.info("DSN for %s after %s: recorded only", letter.reference, delivery.state.value)
            return DsnOutcome.RECORDED
        try:
            await self._outcomes.apply(
                letter,
                delivery,
                EvidenceType.NotificationForAcceptanceFailure,
                reason=reason,
                finish_mail=(mail.id, "failed", reason),
            )
        except IllegalTransition:  # decided meanwhile: the decision stands
            log.info("DSN for %s arrived after a decision: recorded only", letter.reference)
            return DsnOutcome.RECORDED
        return DsnOutcome.UNDELIVERABLE
