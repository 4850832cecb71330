"""The PDF jobs, run by the scheduler: make each proof's certificate, keep archived ones valid.

Rendering and sealing run in the certificate processes (gateway.pdf.maker, one per core, all
busy at once), never on the loop that serves SMTP and the web nor under its GIL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.compose.parts import with_attachment
from gateway.core.backoff import next_attempt
from gateway.core.evidence import EvidenceType
from gateway.errors import EvidenceError, TimestampError
from gateway.pdf.facts import CertificateSources
from gateway.pdf.maker import GROUP, CertificateMaker, ProofMail
from gateway.pdf.text import text
from gateway.pdf.workers import DEPTH
from gateway.registry import Registry
from gateway.services.group_commit import GroupCommit
from gateway.storage.pdf_queue import MadePdf, PdfJob, PdfQueue
from gateway.storage.store import LetterStore, NewOutbound, PendingMail, ProofSources

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
# certificates in hand at most for each certificate process: the group it makes and the next
# (maker.GROUP each, workers.DEPTH groups written to a process)
CLAIM_PER_PROCESS = DEPTH * GROUP
ROUND = 30.0  # seconds a round of make_pending goes on claiming
# seconds a certificate made waits for others before their commit (GroupCommit's linger), while
# others are being made (the last of a burst waits for none: `_linger`):
# under load ~6 certificates a commit instead of ~1.4 (four statements and a commit each)
STORE_LINGER = 0.05


@dataclass(frozen=True)
class _Made:
    """A certificate made for `job`, to store: with its letter's reference and, for a proof
    of deposit, the deposit's time (Scheduler.expect)."""

    job: PdfJob
    pdf: MadePdf
    reference: str
    deposited_at: datetime | None
    whole: bytes | None = None  # the proof mail with its PDF, as handed over (SealedPdf.whole)


class PdfWorker:
    def __init__(
        self,
        *,
        registry: Registry,
        store: LetterStore,
        queue: PdfQueue,
        maker: CertificateMaker,
        provider_name: str,
        domain: str,
        public_url: str,
        zone: ZoneInfo,
        archive_before: timedelta,
        clock: Callable[[], datetime],
        verp: Callable[[str], tuple[str, str]] | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._queue = queue
        self._maker = maker
        self._provider_name = provider_name
        self._domain = domain
        self._public_url = public_url
        self._zone = zone
        self._archive_before = archive_before
        self._clock = clock
        self._verp = verp  # a proof mail's return path token, stored with its bytes
        self._stopping = False
        # PDFs made meanwhile share a commit
        self._stores = GroupCommit(self._store_made, linger=self._linger)
        self._in_hand = 0  # certificates being made (make_pending)
        # set by the composition root: the scheduler's hand-over of a proof mail, given the
        # mail with its bytes, its letter's reference and, for a proof of deposit, the deposit
        # time (Scheduler.hand_over), and the lease the mail is stored under for it (the
        # scheduler's). None: a proof mail is queued for the scheduler's mail loop to claim
        self.hand_over: Callable[[PendingMail, str, datetime | None], None] | None = None
        self.mail_lease = timedelta(0)

    def _linger(self) -> float:
        return STORE_LINGER if self._in_hand else 0.0

    async def tick(self) -> int:
        made = await self.make_pending()
        archived = await self.archive_due()
        return made + archived

    def stop(self) -> None:
        """Claim no more certificates: `make_pending` returns once those in hand are stored."""
        self._stopping = True

    async def make_pending(self) -> int:
        """Make the pending certificates, every certificate process busy, until none is left.

        Jobs are claimed (one commit for several) whenever no more are being made than a group
        for each process (maker.GROUP: certificates asked for together are made in groups), so
        each process holds its next group (workers.DEPTH: the one it runs and the next) and
        never runs dry while the claim's transaction and the read of the jobs' sources go on
        (claimed at one a process, the machine was 1.91-1.93 CPUs of 2 busy on the backlog
        after the last 250, at two 1.95-1.98: bench.cpu_parts, three alternating pairs; made in
        groups of five but claimed five a process, 1.69-1.71, then claimed two groups a
        process, 1.93-1.95); each
        certificate is stored with its proof mail once made, in one commit with those made
        within STORE_LINGER and while the previous commit ran (`store_pdfs`); a certificate
        waiting for that commit holds no process. A round claims for at most ROUND seconds
        (the archive jobs and `stop` get their turn), then finishes what it holds."""
        loop = asyncio.get_running_loop()
        processes = self._maker.processes
        until = loop.time() + ROUND
        making: set[asyncio.Task[_Made | None]] = set()
        storing: set[asyncio.Task[None]] = set()
        claimed = 0
        try:
            while True:
                if len(making) <= GROUP * processes and loop.time() < until and not self._stopping:
                    jobs = await self._claim(CLAIM_PER_PROCESS * processes - len(making))
                    claimed += len(jobs)
                    making |= {asyncio.create_task(self._made(*job)) for job in jobs}
                    if not jobs:
                        until = 0.0  # none waiting: finish what is in hand
                if not making:
                    if storing:
                        await asyncio.wait(storing)
                    return claimed
                self._in_hand = len(making)
                made, making = await asyncio.wait(making, return_when=asyncio.FIRST_COMPLETED)
                self._in_hand = len(making)  # before the stores below ask how long to linger
                for task in made:
                    if (result := task.result()) is not None:
                        storing.add(asyncio.create_task(self._stored(result)))
                storing = {task for task in storing if not task.done()}
        finally:
            self._in_hand = 0
            for task in making:  # cancelled: the leases expire, the jobs are made again
                task.cancel()

    async def _claim(self, limit: int) -> list[tuple[PdfJob, ProofSources | None]]:
        """Claimed jobs, each with what its certificate is made of (one read for them all;
        None: the evidence is gone or not sealed, which `_make` reports)."""
        try:
            jobs = await self._registry.io(
                self._queue.claim_pending, self._clock(), LEASE, limit=limit
            )
        except Exception:  # the database away: finish what is in hand, claim next round
            log.warning("PDF jobs cannot be claimed", exc_info=True)
            return []
        if not jobs:
            return []
        try:
            found = await self._registry.io(
                self._store.proof_sources_of, [job.evidence_id for job in jobs]
            )
        except Exception:  # each job reads its own again, or fails and is retried
            log.warning("PDF jobs' evidence cannot be read", exc_info=True)
            found = {}
        return [(job, found.get(job.evidence_id)) for job in jobs]

    async def _made(self, job: PdfJob, sources: ProofSources | None = None) -> _Made | None:
        """One certificate made (`_make`), or None when it failed (recorded: `_failed`)."""
        try:
            return _Made(job, *await self._make(job, sources))
        except Exception as err:  # noqa: BLE001 - recorded
            await self._record_failure(job, err)
            return None

    async def _stored(self, made: _Made) -> None:
        """Store a certificate made, with the others of its commit (`_stores`)."""
        try:
            stored_at = await self._stores.submit(made.pdf)
        except Exception as err:  # noqa: BLE001 - recorded
            await self._record_failure(made.job, err)
            return
        if stored_at is None:  # made and stored by another process meanwhile
            return
        log.info("PDF certificate for evidence %s made", made.job.evidence_id)
        mail = made.pdf.mail
        # leased to us with its bytes and its PDF: handed over from here (a mail without its
        # bytes, which the certificate processes always sign, would wait for its lease's end
        # and be composed by the scheduler's mail loop)
        if self.hand_over is not None and mail.message is not None:
            self.hand_over(
                PendingMail(
                    mail.id,
                    mail.kind,
                    mail.delivery_id,
                    mail.evidence_id,
                    mail.mail_from,
                    mail.rcpt,
                    0,
                    stored_at,
                    made.whole or with_attachment(mail.message, made.pdf.pdf),
                ),
                made.reference,
                made.deposited_at,
            )

    async def _record_failure(self, job: PdfJob, err: Exception) -> None:
        """A certificate not made or not stored: retried later (a bug logged), never lost."""
        if not isinstance(err, (EvidenceError, TimestampError)):
            log.error("PDF for evidence %s failed", job.evidence_id, exc_info=err)
        try:
            await self._failed(job, err, renewal=False)
        except Exception:  # the database away: the lease expires, the job is made again
            log.warning("PDF for evidence %s: retry not recorded", job.evidence_id, exc_info=True)

    async def _store_made(self, made: Sequence[MadePdf]) -> list[datetime | None]:
        """Store the certificates and queue their proof mails (leased to this process when it
        hands them over itself); for each, when it was stored, or None when it was not (made
        by another process meanwhile)."""
        now = self._clock()
        lease = self.mail_lease if self.hand_over is not None else None
        stored = await self._registry.io(self._queue.store_pdfs, made, now=now, mail_lease=lease)
        return [now if ok else None for ok in stored]

    async def _make(
        self, job: PdfJob, sources: ProofSources | None = None
    ) -> tuple[MadePdf, str, datetime | None, bytes | None]:
        """The certificate and its proof mail (bytes fixed, signed), made in a certificate
        process from `sources` (read here when not given); with the letter's reference, for a
        proof of deposit its deposit time, and the proof mail whole as it is handed over (None:
        made whole from its stored bytes at the hand-over)."""
        if sources is None:  # LookupError when the evidence is gone or not sealed
            sources = await self._registry.io(self._store.proof_sources, job.evidence_id)
        language = sources.language
        event = sources.event
        certificate = CertificateSources(
            xml=sources.xml,
            p7s=sources.p7s,
            provider_name=self._provider_name,
            public_url=self._public_url,
            zone=self._zone,
            language=language,
        )
        reason = text(language, f"evidence.{event.value}")
        mail_id = job.evidence_id  # a proof mail's id is its evidence's
        proof_mail = ProofMail(
            to=sources.sender_address,
            message_id=f"<{mail_id}@{self._domain}>",
            date=self._clock(),
        )
        made = await self._maker.make(certificate, reason, proof_mail)
        mail = NewOutbound(
            id=mail_id,
            kind="proof",
            delivery_id=job.delivery_id,
            evidence_id=job.evidence_id,
            mail_from=self._registry.bounce_address,
            rcpt=sources.sender_address,
            message=made.message,
        )
        stored = MadePdf(
            job.evidence_id,
            made.pdf,
            mail,
            made.renewal_due - self._archive_before,
            bounce_token=self._verp(mail_id)[1] if self._verp else None,
        )
        deposited = event == EvidenceType.SubmissionAcceptance
        deposited_at = sources.deposited_at if deposited else None
        return stored, sources.reference, deposited_at, made.whole

    async def archive_due(self) -> int:
        """Add a PAdES-LTA document timestamp to PDFs whose last timestamp expires soon."""
        jobs = await self._registry.io(self._queue.claim_renewals, self._clock(), LEASE)
        for job in jobs:
            if job.pdf is None:
                continue
            try:
                archived = await self._maker.archive(job.pdf)
                renew_at = archived.renewal_due - self._archive_before
                await self._registry.io(
                    self._queue.store_archived,
                    job.evidence_id,
                    archived.pdf,
                    renew_at=max(renew_at, self._clock() + timedelta(days=1)),
                    now=self._clock(),
                )
                log.info("archive timestamp added to the PDF of %s", job.evidence_id)
            except Exception as err:  # noqa: BLE001 - retried later, never lost
                log.warning("archive timestamp of %s failed: %s", job.evidence_id, err)
                await self._failed(job, err, renewal=True)
        return len(jobs)

    async def _failed(self, job: PdfJob, err: Exception, *, renewal: bool) -> None:
        retry = next_attempt(
            job.attempts + 1, self._clock(), base=timedelta(seconds=5), maximum=timedelta(hours=1)
        )
        await self._registry.io(
            self._queue.failed,
            job.evidence_id,
            f"{type(err).__name__}: {err}",
            retry_at=retry,
            renewal=renewal,
        )
