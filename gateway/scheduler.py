"""The single scheduler loop: seals evidence, sends queued mail, expires deadlines.

All of its work is read from the database, so a restart loses nothing and several gateway
processes can share one PostgreSQL: each piece of work is claimed with a lease first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from gateway.compose import NoticeFacts, compose_notification, compose_proof
from gateway.compose.smime import smime_sign
from gateway.compose.sms import compose_code_mail
from gateway.core.policy import letter_url, sender_revealed
from gateway.errors import RelayFailed, SmtpReply, TimestampError
from gateway.evidence.cms import Sealer
from gateway.evidence.tsa import Timestamper, seal
from gateway.evidence.xml import from_xml
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.sms.sender import SmsSender
from gateway.smtp_out.backoff import next_attempt, should_give_up
from gateway.smtp_out.dkim import DkimSigner
from gateway.smtp_out.transport import Outgoing, Transport
from gateway.storage.pdf_queue import PdfQueue
from gateway.storage.store import LetterStore, NewOutbound, NewSeal, PendingMail

if TYPE_CHECKING:
    from gateway.pdf.jobs import PdfWorker

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # a claimed item is retried by another process after this
IDLE = 1.0  # seconds between database polls when nothing is known to be due
CONCURRENCY = 20  # mails handed over at once


class Scheduler:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        store: LetterStore,
        sealer: Sealer,
        timestamper: Timestamper,
        transport: Transport,
        dkim: DkimSigner,
        clock: Callable[[], datetime],
        sms: SmsSender | None = None,
        pdfs: PdfWorker | None = None,
        pdf_queue: PdfQueue | None = None,
        return_path: Callable[[PendingMail], Awaitable[str]] | None = None,
    ) -> None:
        self._pdfs = pdfs  # when set, a proof mail waits for its PDF certificate
        self._pdf_queue = pdf_queue
        self._settings = settings
        self._sms = sms
        self._registry = registry
        self._store = store
        self._sealer = sealer
        self._timestamper = timestamper
        self._transport = transport
        self._dkim = dkim
        self._clock = clock
        self._return_path = return_path  # VERP (bounces.py); None: the mail's stored mail_from
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._slots = asyncio.Semaphore(CONCURRENCY)

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        """Finish the current round, then return from run(): no claimed work is left leased."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                busy = await self.tick()
            except Exception:  # a broken database must not end the loop
                log.exception("scheduler tick failed")
                busy = False
            if busy or self._stopping:
                continue
            timeout = await self._idle()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)

    async def _idle(self) -> float:
        due = await self._registry.io(self._store.next_due)
        if due is None:
            return IDLE
        return max(0.05, min(IDLE, (due - self._clock()).total_seconds()))

    async def tick(self) -> bool:
        """One round of every kind of work; True when there may be more to do at once."""
        expired = await self._registry.expire_due()
        sealed = await self.seal_pending()
        made = await self._pdfs.tick() if self._pdfs is not None else 0
        sent = await self.send_pending()
        texted = await self._sms.send_pending() if self._sms else 0
        return bool(expired or sealed or made or sent or texted)

    # sealing ----------------------------------------------------------------------------

    async def seal_pending(self) -> int:
        """Seal the claimed evidence, then store every seal with one commit (see store_seals)."""
        pending = await self._registry.io(self._store.claim_unsealed, self._clock(), LEASE)
        seals = []
        for item in pending:
            try:
                p7s = await seal(
                    self._sealer, self._timestamper, item.xml, signing_time=self._clock()
                )
            except TimestampError as err:
                retry = next_attempt(
                    item.attempts + 1,
                    self._clock(),
                    base=timedelta(seconds=5),
                    maximum=timedelta(minutes=10),
                )
                log.warning(
                    "evidence %s not timestamped yet (%s); retry at %s", item.id, err, retry
                )
                await self._registry.io(self._store.seal_failed, item.id, str(err), retry_at=retry)
                continue
            if item.type.yields_proof and item.channel is None and self._pdfs is not None:
                seals.append(NewSeal(item.id, p7s, pdf_for=item.delivery_id))
                continue
            mails = []
            if item.type.yields_proof and item.channel is None:  # SMS outcomes: recorded only
                letter, _ = await self._registry.io(self._store.delivery, item.delivery_id)
                mails.append(
                    NewOutbound(
                        id=item.id,
                        kind="proof",
                        delivery_id=item.delivery_id,
                        evidence_id=item.id,
                        mail_from=self._registry.bounce_address,
                        rcpt=letter.sender_address,
                    )
                )
            seals.append(NewSeal(item.id, p7s, mails))
        if seals:
            # until this commit the claimed evidence stays unsealed: after a crash its lease
            # expires and it is sealed again (a second seal of the same XML is as good)
            await self._registry.io(self._store.store_seals, seals, now=self._clock())
        return len(pending)

    # outbound mail ----------------------------------------------------------------------

    async def send_pending(self) -> int:
        """Hand the claimed mails over, then record their outcomes together (few commits).

        An outcome not yet recorded when the process stops leaves its mail claimed: the lease
        expires and the mail is sent again (at least once, as before batching).
        """
        pending = await self._registry.io(self._store.claim_mail, self._clock(), LEASE)
        results = await asyncio.gather(*(self._send(mail) for mail in pending))
        outcomes = [outcome for outcome in results if outcome is not None]
        notices = [(m, failure) for m, failure in outcomes if m.kind == "notification"]
        others = [(m, failure) for m, failure in outcomes if m.kind != "notification"]
        if notices:
            await self._registry.notification_outcomes(notices)
        if others:
            await self._registry.io(
                self._store.finish_mails,
                [(m.id, "sent" if f is None else "failed", f) for m, f in others],
                now=self._clock(),
            )
        for mail, _ in outcomes:
            if mail.kind == "code":
                await self._registry.identity.forget(mail.id)
        return len(pending)

    async def _send(self, mail: PendingMail) -> tuple[PendingMail, str | None] | None:
        """Hand one mail over: (mail, None) once sent, (mail, reply) once failed for good, the
        outcome to record; None when it is rescheduled (recorded here: retries are rare)."""
        async with self._slots:
            try:
                message = await self._compose(mail)
                signed = self._dkim.sign(message)
                mail_from = await self._return_path(mail) if self._return_path else mail.mail_from
                await self._transport.send(Outgoing(mail_from, mail.rcpt, signed, mail.id))
            except RelayFailed as err:
                return await self._failed(mail, err)
            except Exception as err:  # never lose the mail to a bug: retry later
                log.exception("mail %s could not be sent", mail.id)
                await self._retry(mail, f"internal error: {type(err).__name__}")
                return None
        log.info("%s %s handed over to %s", mail.kind, mail.id, mail.rcpt)
        return mail, None

    async def _failed(
        self, mail: PendingMail, err: RelayFailed
    ) -> tuple[PendingMail, str | None] | None:
        reply = err.reply.line()
        delivery = self._settings.delivery
        exhausted = mail.attempts + 1 >= delivery.max_attempts or should_give_up(
            mail.created_at, self._clock(), delivery.give_up_after.delta
        )
        if err.temporary and not exhausted:
            log.info("%s %s to %s deferred: %s", mail.kind, mail.id, mail.rcpt, reply)
            await self._retry(mail, reply)
            return None
        log.warning("%s %s to %s failed: %s", mail.kind, mail.id, mail.rcpt, reply)
        return mail, reply

    async def _retry(self, mail: PendingMail, error: str) -> None:
        delivery = self._settings.delivery
        retry = next_attempt(
            mail.attempts + 1,
            self._clock(),
            base=delivery.retry_base.delta,
            maximum=delivery.retry_max.delta,
        )
        await self._registry.io(self._store.retry_mail, mail.id, error, retry_at=retry)

    async def _compose(self, mail: PendingMail) -> bytes:
        letter, delivery = await self._registry.io(self._store.delivery, mail.delivery_id)
        gateway = self._settings.gateway
        message_id = f"<{mail.id}@{gateway.domain}>"
        if mail.kind == "code":
            found = await self._registry.identity.pending_code(mail.id)
            if found is None:
                raise RelayFailed(SmtpReply(550, "5.0.0", "the code was used or withdrawn"))
            code, language, _ = found
            return compose_code_mail(
                code=code,
                to=mail.rcpt,
                reference=letter.reference,
                provider_name=gateway.provider_name,
                domain=gateway.domain,
                lang=language,
                message_id=message_id,
                date=mail.created_at,
            )
        if mail.kind == "notification":
            revealed = sender_revealed(self._settings.letters.reveal_sender)
            token = self._registry.link_token(delivery.id)
            facts = NoticeFacts(
                reference=letter.reference,
                recipient=delivery.recipient,
                deposited_at=letter.deposited_at,
                deadline=delivery.deadline,
                sender_name=letter.sender_name if revealed else None,
                sender_address=letter.sender_address if revealed else None,
                subject=letter.subject if revealed else None,
                link=letter_url(gateway.public_url, token),
                provider_name=gateway.provider_name,
                domain=gateway.domain,
                zone=gateway.zone,
                languages=delivery.languages or self._settings.letters.notification_languages,
            )
            return compose_notification(facts, message_id=message_id, date=mail.created_at)
        xml, p7s = await self._registry.io(self._store.sealed_evidence, mail.evidence_id)
        language = await self._registry.io(self._store.account_language, letter.sender_account)
        pdf = None
        if self._pdf_queue is not None and mail.evidence_id is not None:
            pdf = await self._registry.io(self._pdf_queue.pdf, mail.evidence_id)
        composed = compose_proof(
            from_xml(xml),
            xml,
            p7s,
            to=mail.rcpt,
            provider_name=gateway.provider_name,
            domain=gateway.domain,
            public_url=gateway.public_url,
            zone=gateway.zone,
            language=language,
            message_id=message_id,
            date=mail.created_at,
            pdf=pdf,
        )
        return smime_sign(composed, self._sealer, signing_time=self._clock())
