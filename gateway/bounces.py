"""Bounces become proofs: VERP return paths out, delivery status notifications in.

Every mail the gateway sends goes out with the return path `bounce+<token>@<domain>`, the token
(128 bits) derived with HMAC from the outbound mail's id and kept in the database only hashed.
A DSN sent back to that address names the mail without any guessing: when it reports a
permanent failure of a notification that had been handed over, the delivery gets
NotificationForAcceptanceFailure quoting the reporting server's diagnostic; any other report
(delayed, delivered, or about a proof mail) is recorded, never turned into a proof.
"""

from __future__ import annotations

import logging
from typing import Final

from gateway.core.evidence import EvidenceType
from gateway.core.letter import State
from gateway.errors import IllegalTransition, Rejected, SmtpReply
from gateway.mime.dsn import parse_dsn
from gateway.registry import Registry, new_id
from gateway.storage.bounce_store import BouncedMail, BounceStore, DsnRecord
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault, token_hash

log = logging.getLogger(__name__)

PREFIX: Final = "bounce+"
NOT_A_DSN: Final = SmtpReply(
    550,
    "5.6.0",
    "Only delivery status notifications (RFC 3464 multipart/report) are accepted at this address",
)
UNKNOWN: Final = SmtpReply(550, "5.1.1", "No such bounce address here")
RECORDED: Final = SmtpReply(250, "2.0.0", "Delivery status notification recorded")


class Bounces:
    def __init__(
        self, *, registry: Registry, store: LetterStore, vault: Vault, domain: str
    ) -> None:
        self._registry = registry
        self._store = store
        self._bounces = BounceStore(store.engine)
        self._vault = vault
        self._domain = domain.lower()

    def verp(self, mail_id: str) -> tuple[str, str]:
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
        return await self._registry.io(self._bounces.mail_by_bounce_token, token_hash(token))

    async def receive(self, address: str, content: bytes) -> SmtpReply:
        """Record the DSN sent to address; a permanent failure of a notification is a proof."""
        mail = await self.mail_for(address)
        if mail is None:
            raise Rejected(UNKNOWN)
        dsn = parse_dsn(content)
        if dsn is None:
            raise Rejected(NOT_A_DSN)
        now = self._registry.now()
        await self._registry.io(
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
        if failed and mail.kind == "notification" and mail.state == "sent":
            first = failed[0]
            reason = (
                f"delivery status notification from {dsn.reporting_mta or 'the recipient side'}: "
                f"Status {first.status}; Diagnostic-Code: {first.diagnostic or 'none given'}"
            )
            await self._fail(mail, reason)
        return RECORDED

    async def _fail(self, mail: BouncedMail, reason: str) -> None:
        letter, delivery = await self._registry.io(self._store.delivery, mail.delivery_id)
        if delivery.state is not State.NOTIFIED:
            log.info("DSN for %s after %s: recorded only", letter.reference, delivery.state.value)
            return
        try:
            await self._registry.outcomes.apply(
                letter,
                delivery,
                EvidenceType.NotificationForAcceptanceFailure,
                reason=reason,
                finish_mail=(mail.id, "failed", reason),
            )
        except IllegalTransition:  # decided meanwhile: the decision stands
            log.info("DSN for %s arrived after a decision: recorded only", letter.reference)
