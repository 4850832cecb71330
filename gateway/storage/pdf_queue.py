"""The PDF certificate queue (table proof_pdfs): SQL of the PDF and archive jobs.

Kept beside store.py (same conventions: synchronous, leases, compare-and-set) so the PDF work
reads as one unit. A proof mail is inserted in the same transaction that stores its PDF, with its
bytes (composed and signed in the certificate process) and its return path's token: a proof mail
never leaves without its certificate, and a deposit never waits for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from gateway.storage import tables as t
from gateway.storage.bounce_store import remember_bounce_tokens
from gateway.storage.database import reading
from gateway.storage.leases import leased_at_birth
from gateway.storage.outbound import NewOutbound, insert_mails
from gateway.storage.queue import Queue
from gateway.storage.times import utc

# made once (pending → done), then renewed (archive timestamps) through renew_at: the same
# rows as two queues, each with its claim's statements made once (the archive jobs are looked
# for after every round of certificates)
PDFS = Queue(t.proof_pdfs, waiting=t.proof_pdfs.c.state == "pending", key="evidence_id")
ARCHIVES = Queue(
    t.proof_pdfs, waiting=t.proof_pdfs.c.state == "done", key="evidence_id", due="renew_at"
)


@dataclass(frozen=True)
class PdfJob:
    evidence_id: str
    delivery_id: str
    attempts: int
    pdf: bytes | None  # the current PDF, for archive jobs


@dataclass(frozen=True)
class MadePdf:
    """A sealed certificate to store, with the proof mail that carries it."""

    evidence_id: str
    pdf: bytes
    mail: NewOutbound  # with its bytes fixed (signed) when the certificate process made them
    renew_at: datetime
    bounce_token: str | None = None  # the hash of the mail's return path token, if it has one


class PdfQueue:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim_pending(self, now: datetime, lease: timedelta, limit: int = 10) -> list[PdfJob]:
        rows = PDFS.claim(self.engine, now=now, lease=lease, limit=limit)
        return [PdfJob(r.evidence_id, r.delivery_id, r.attempts, r.pdf) for r in rows]

    def claim_renewals(self, now: datetime, lease: timedelta, limit: int = 10) -> list[PdfJob]:
        rows = ARCHIVES.claim(self.engine, now=now, lease=lease, limit=limit)
        return [PdfJob(r.evidence_id, r.delivery_id, r.attempts, r.pdf) for r in rows]

    def store_pdfs(
        self, made: Sequence[MadePdf], *, now: datetime, mail_lease: timedelta | None = None
    ) -> list[bool]:
        """Store several PDFs (one UPDATE, each a compare-and-set: Queue.finish_each) and queue
        their proof mails in one transaction, each once; with `mail_lease`, the mails leased to
        this process for that long (it hands them over itself: PdfWorker.hand_over)."""
        leased = None if mail_lease is None else leased_at_birth(self.engine, now + mail_lease)
        with self.engine.begin() as db:
            stored = PDFS.finish_each(
                db,
                [(item.evidence_id, {"pdf": item.pdf, "renew_at": item.renew_at}) for item in made],
                where=PDFS.waiting,
                state="done",
                made_at=now,
            )
            kept = [item for item, done in zip(made, stored, strict=True) if done]
            insert_mails(db, [item.mail for item in kept], now, leased=leased)
            tokens = [(i.bounce_token, i.mail.id) for i in kept if i.bounce_token is not None]
            if tokens:
                remember_bounce_tokens(db, tokens)
        return stored

    def store_archived(
        self, evidence_id: str, pdf: bytes, *, renew_at: datetime, now: datetime
    ) -> None:
        with self.engine.begin() as db:
            PDFS.finish_row(db, evidence_id, pdf=pdf, archived_at=now, renew_at=renew_at)

    def failed(self, evidence_id: str, error: str, *, retry_at: datetime, renewal: bool) -> None:
        with self.engine.begin() as db:
            due = "renew_at" if renewal else "next_attempt_at"
            PDFS.retry_row(db, evidence_id, error, retry_at=retry_at, due=due)

    def pdf(self, evidence_id: str) -> bytes | None:
        """The latest PDF of an evidence, or None when not (yet) made."""
        with reading(self.engine) as db:
            value = db.execute(
                select(t.proof_pdfs.c.pdf).where(t.proof_pdfs.c.evidence_id == evidence_id)
            ).scalar()
        return None if value is None else bytes(value)

    def status(self, evidence_id: str) -> tuple[str, datetime | None, datetime | None] | None:
        """(state, made_at, archived_at) of an evidence's PDF, or None."""
        with reading(self.engine) as db:
            row = db.execute(
                select(
                    t.proof_pdfs.c.state, t.proof_pdfs.c.made_at, t.proof_pdfs.c.archived_at
                ).where(t.proof_pdfs.c.evidence_id == evidence_id)
            ).first()
        if row is None:
            return None
        return (
            row.state,
            None if row.made_at is None else utc(row.made_at),
            None if row.archived_at is None else utc(row.archived_at),
        )
