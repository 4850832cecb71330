"""The seal queue: evidence waiting for its .p7s, claimed by the scheduler, sealed, stored.

Each evidence has a row in `seal_queue` (tables.py) from the commit that inserts it
(`queued_for_seal`) to the one that stores its seal, which deletes it: the lease, the tries and
the last error live there, so the evidence itself is only read and written by key. Storing a
seal is a compare-and-set on the evidence's `p7s IS NULL`, in one transaction with what the
seal releases: the evidence log's queue entry, the mails it carries, its PDF job.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, select, update

from gateway.core.evidence import EvidenceType
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.outbound import NewOutbound, mail_tables
from gateway.storage.queue import Queue, picked_by_key
from gateway.storage.rows import insert_tables

SEALS = Queue(t.seal_queue, key="evidence_id")


def queued_for_seal(evidence_ids: Iterable[str], now: datetime) -> list[dict[str, Any]]:
    """The seal_queue rows of new evidence (inserted in the same transaction): due now."""
    return [{"evidence_id": key, "attempts": 0, "next_attempt_at": now} for key in evidence_ids]


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
        if not rows:
            return []
        with reading(self.engine) as db:  # leased to us: read by key, outside the claim's lock
            found = {
                e.id: e for e in db.execute(_CLAIMED, {"keys": [r.evidence_id for r in rows]}).all()
            }
        return [
            PendingEvidence(e.id, e.delivery_id, EvidenceType(e.type), e.xml, r.attempts, e.channel)
            for r in rows
            if (e := found.get(r.evidence_id)) is not None
        ]

    def store(self, seals: Sequence[NewSeal], *, now: datetime) -> list[bool]:
        """Store several seals in one transaction (one commit): one UPDATE of the evidence,
        each a compare-and-set on `p7s IS NULL`, and one DELETE of their queue rows.

        An evidence sealed meanwhile by another process keeps its seal (False at its index) and
        queues nothing; an evidence named twice is sealed by its first. What the stored seals
        release is inserted one statement per table.
        """
        if not seals:
            return []
        params: dict[str, Any] = {"sealed_at": now}
        for i, seal in enumerate(seals):
            params[f"key_{i}"] = seal.evidence_id
            params[f"p7s_{i}"] = seal.p7s
        with self.engine.begin() as db:
            changed = set(db.execute(_sealing(len(seals)), params).scalars())
            done = []
            for seal in seals:
                done.append(seal.evidence_id in changed)
                changed.discard(seal.evidence_id)  # a second seal of the same evidence: False
            db.execute(_DEQUEUED, {"keys": [seal.evidence_id for seal in seals]})
            stored = [seal for seal, ok in zip(seals, done, strict=True) if ok]
            if stored:
                # the public evidence log appends them later (gateway.evidence.log_sequencer)
                logged = [{"evidence_id": s.evidence_id, "queued_at": now} for s in stored]
                mails = mail_tables([mail for seal in stored for mail in seal.mails], now)
                jobs = [
                    _pdf_job(seal.evidence_id, seal.pdf_for, now) for seal in stored if seal.pdf_for
                ]
                insert_tables(db, [(t.log_queue, logged), *mails, (t.proof_pdfs, jobs)])
        return done

    def failed(self, evidence_id: str, error: str, *, retry_at: datetime) -> None:
        SEALS.retry(self.engine, evidence_id, error, retry_at=retry_at)


@functools.lru_cache(maxsize=64)
def _sealing(count: int) -> Any:
    """The UPDATE that stores `count` seals (each picked by its evidence's key: a CASE), only
    onto evidence not sealed yet, returning the keys it sealed. Made once per count."""
    key = t.evidence.c.id
    keys = [bindparam(f"key_{i}", type_=key.type) for i in range(count)]
    return (
        update(t.evidence)
        .where(key.in_(keys), t.evidence.c.p7s.is_(None))
        .values(
            p7s=picked_by_key(key, keys, "p7s", t.evidence.c.p7s),
            sealed_at=bindparam("sealed_at"),
        )
        .returning(key)
    )


_CLAIMED = select(
    t.evidence.c.id,
    t.evidence.c.delivery_id,
    t.evidence.c.type,
    t.evidence.c.channel,
    t.evidence.c.xml,
).where(t.evidence.c.id.in_(bindparam("keys", expanding=True)))
_DEQUEUED = delete(t.seal_queue).where(
    t.seal_queue.c.evidence_id.in_(bindparam("keys", expanding=True))
)


def _pdf_job(evidence_id: str, delivery_id: str, now: datetime) -> dict[str, Any]:
    return {
        "evidence_id": evidence_id,
        "delivery_id": delivery_id,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }
