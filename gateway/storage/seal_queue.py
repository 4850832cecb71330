"""The seal queue (evidence rows without a .p7s): claimed by the scheduler, sealed, stored.

Storing a seal is a compare-and-set on `p7s IS NULL`, in one transaction with what the seal
releases: the evidence log's queue entry, the mails it carries, its PDF job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from gateway.core.evidence import EvidenceType
from gateway.storage import tables as t
from gateway.storage.outbound import NewOutbound, insert_mails
from gateway.storage.queue import Queue

# sealed_at is set with p7s (`_store`): its index (ix_evidence_unsealed) finds the unsealed rows
# without a scan of every evidence ever made; p7s stays the compare-and-set's guard
SEALS = Queue(t.evidence, waiting=t.evidence.c.sealed_at.is_(None) & t.evidence.c.p7s.is_(None))


@dataclass(frozen=True)
class PendingEvidence:
    id: str
    delivery_id: str
    type: EvidenceType
    xml: bytes
    attempts: int
    channel: str | None = None


@dataclass(frozen=True)
class NewSeal:
    """A sealed evidence to store: its .p7s, the mails it queues, its PDF job's delivery."""

    evidence_id: str
    p7s: bytes
    mails: Sequence[NewOutbound] = ()
    pdf_for: str | None = None


class SealQueue:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, now: datetime, lease: timedelta, limit: int = 50) -> list[PendingEvidence]:
        rows = SEALS.claim(self.engine, now=now, lease=lease, limit=limit)
        return [
            PendingEvidence(r.id, r.delivery_id, EvidenceType(r.type), r.xml, r.attempts, r.channel)
            for r in rows
        ]

    def store(self, seals: Sequence[NewSeal], *, now: datetime) -> list[bool]:
        """Store several seals in one transaction (one commit) and one UPDATE, each
        compare-and-set (Queue.finish_each).

        An evidence sealed meanwhile by another process keeps its seal (False at its index) and
        queues nothing. What the stored seals release is inserted one statement per table.
        """
        with self.engine.begin() as db:
            done = SEALS.finish_each(
                db,
                [(seal.evidence_id, {"p7s": seal.p7s}) for seal in seals],
                where=SEALS.waiting,
                sealed_at=now,
            )
            stored = [seal for seal, ok in zip(seals, done, strict=True) if ok]
            if stored:
                # the public evidence log appends them later (gateway.evidence.log_sequencer)
                db.execute(
                    _LOG_QUEUE, [{"evidence_id": s.evidence_id, "queued_at": now} for s in stored]
                )
                insert_mails(db, [mail for seal in stored for mail in seal.mails], now)
                jobs = [
                    _pdf_job(seal.evidence_id, seal.pdf_for, now) for seal in stored if seal.pdf_for
                ]
                if jobs:
                    db.execute(_PDF_JOBS, jobs)
        return done

    def failed(self, evidence_id: str, error: str, *, retry_at: datetime) -> None:
        SEALS.retry(self.engine, evidence_id, error, retry_at=retry_at)


_LOG_QUEUE = insert(t.log_queue)
_PDF_JOBS = insert(t.proof_pdfs)


def _pdf_job(evidence_id: str, delivery_id: str, now: datetime) -> dict[str, Any]:
    return {
        "evidence_id": evidence_id,
        "delivery_id": delivery_id,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }
