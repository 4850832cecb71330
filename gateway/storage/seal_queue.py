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
        """Store several seals in one transaction (one commit), each compare-and-set.

        An evidence sealed meanwhile by another process keeps its seal (False at its index) and
        queues nothing.
        """
        with self.engine.begin() as db:
            return [self._store(db, seal, now) for seal in seals]

    @staticmethod
    def _store(db: Any, seal: NewSeal, now: datetime) -> bool:
        done = SEALS.finish_row(
            db, seal.evidence_id, where=SEALS.waiting, p7s=seal.p7s, sealed_at=now
        )
        if done:
            # the public evidence log appends it later (gateway.evidence.log_sequencer)
            db.execute(insert(t.log_queue).values(evidence_id=seal.evidence_id, queued_at=now))
            insert_mails(db, seal.mails, now)
            if seal.pdf_for is not None:
                db.execute(
                    insert(t.proof_pdfs).values(
                        evidence_id=seal.evidence_id,
                        delivery_id=seal.pdf_for,
                        state="pending",
                        attempts=0,
                        next_attempt_at=now,
                    )
                )
        return done

    def failed(self, evidence_id: str, error: str, *, retry_at: datetime) -> None:
        SEALS.retry(self.engine, evidence_id, error, retry_at=retry_at)
