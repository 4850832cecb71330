"""The PDF jobs, run by the scheduler: make each proof's certificate, keep archived ones valid.

Rendering and sealing run in the certificate processes (gateway.pdf.maker, one per core, all
busy at once), never on the loop that serves SMTP and the web nor under its GIL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.core.backoff import next_attempt
from gateway.errors import EvidenceError, TimestampError
from gateway.evidence.xml import from_xml
from gateway.pdf.maker import CertificateMaker
from gateway.pdf.render import CertificateFacts
from gateway.pdf.text import text
from gateway.registry import Registry
from gateway.storage.pdf_queue import MadePdf, PdfJob, PdfQueue
from gateway.storage.store import LetterStore, NewOutbound

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
CLAIM_PER_PROCESS = 5  # certificates claimed per tick for each certificate process


class PdfWorker:
    def __init__(
        self,
        *,
        registry: Registry,
        store: LetterStore,
        queue: PdfQueue,
        maker: CertificateMaker,
        provider_name: str,
        public_url: str,
        zone: ZoneInfo,
        archive_before: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._registry = registry
        self._store = store
        self._queue = queue
        self._maker = maker
        self._provider_name = provider_name
        self._public_url = public_url
        self._zone = zone
        self._archive_before = archive_before
        self._clock = clock

    async def tick(self) -> int:
        made = await self.make_pending()
        archived = await self.archive_due()
        return made + archived

    async def make_pending(self) -> int:
        """Make the claimed certificates, then store them and queue their mails with one commit."""
        jobs = await self._registry.io(
            self._queue.claim_pending,
            self._clock(),
            LEASE,
            limit=CLAIM_PER_PROCESS * self._maker.processes,
        )
        # every certificate process works at once; each outcome is handled on its own
        outcomes = await asyncio.gather(*(self._make(job) for job in jobs), return_exceptions=True)
        made = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, MadePdf):
                made.append(outcome)
                continue
            if not isinstance(outcome, Exception):  # CancelledError, KeyboardInterrupt
                raise outcome
            if not isinstance(outcome, (EvidenceError, TimestampError)):
                # a bug must not lose the proof: retry later
                log.error("PDF for evidence %s failed", job.evidence_id, exc_info=outcome)
            await self._failed(job, outcome, renewal=False)
        if made:
            await self._registry.io(self._queue.store_pdfs, made, now=self._clock())
            for item in made:
                log.info("PDF certificate for evidence %s made", item.evidence_id)
        return len(jobs)

    async def _make(self, job: PdfJob) -> MadePdf:
        sources = await self._registry.io(self._store.proof_sources, job.evidence_id)
        language = sources.language
        record = from_xml(sources.xml)
        facts = CertificateFacts(
            record=record,
            xml=sources.xml,
            p7s=sources.p7s,
            provider_name=self._provider_name,
            public_url=self._public_url,
            zone=self._zone,
            language=language,
        )
        reason = text(language, f"evidence.{record.event.value}")
        made = await self._maker.make(facts, reason)
        mail = NewOutbound(
            id=job.evidence_id,
            kind="proof",
            delivery_id=job.delivery_id,
            evidence_id=job.evidence_id,
            mail_from=self._registry.bounce_address,
            rcpt=sources.sender_address,
        )
        return MadePdf(job.evidence_id, made.pdf, mail, made.renewal_due - self._archive_before)

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
