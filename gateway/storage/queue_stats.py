"""SQL behind the queue gauges of /metrics (depth and oldest item of each work queue, the
deliveries by state) and the scheduler's sleep (when the next queued work is due). Read-only;
one round trip per queue, on the indexed state columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from gateway.core.letter import State
from gateway.storage import tables as t
from gateway.storage.outbound import MAILS
from gateway.storage.pdf_queue import pdf_due
from gateway.storage.seal_queue import SEALS
from gateway.storage.times import utc


@dataclass(frozen=True)
class QueueStat:
    name: str  # seal | pdf | mail | sms | webhook
    depth: int
    oldest: datetime | None  # when the oldest waiting item was queued


def queue_stats(engine: Engine) -> list[QueueStat]:
    """The five durable work queues, as the database holds them now."""
    queries = {
        "seal": select(func.count(), func.min(t.evidence.c.event_time)).where(
            t.evidence.c.sealed_at.is_(None)
        ),
        "pdf": select(func.count(), func.min(t.evidence.c.event_time))
        .select_from(t.proof_pdfs.join(t.evidence, t.evidence.c.id == t.proof_pdfs.c.evidence_id))
        .where(t.proof_pdfs.c.state == "pending"),
        "mail": select(func.count(), func.min(t.outbound.c.created_at)).where(
            t.outbound.c.state == "pending"
        ),
        "sms": select(func.count(), func.min(t.sms_outbound.c.created_at)).where(
            t.sms_outbound.c.state == "pending"
        ),
        "webhook": select(func.count(), func.min(t.webhook_deliveries.c.created_at))
        .select_from(t.webhook_deliveries.join(t.webhook_endpoints))
        .where(
            t.webhook_deliveries.c.state == "pending",
            t.webhook_endpoints.c.disabled_at.is_(None),  # a disabled endpoint's events wait
        ),
    }
    stats = []
    with engine.connect() as db:
        for name, query in queries.items():
            depth, oldest = db.execute(query).one()
            stats.append(QueueStat(name, int(depth), None if oldest is None else utc(oldest)))
    return stats


def deliveries_by_state(engine: Engine) -> dict[str, int]:
    query = select(t.deliveries.c.state, func.count()).group_by(t.deliveries.c.state)
    with engine.connect() as db:
        return {state: int(n) for state, n in db.execute(query).all()}


def next_due(engine: Engine) -> datetime | None:
    """Earliest time at which some queued work becomes due (for the scheduler's sleep)."""
    with engine.connect() as db:
        times = [
            MAILS.next_due(db),
            SEALS.next_due(db),
            db.execute(
                select(func.min(t.deliveries.c.deadline)).where(
                    t.deliveries.c.state == State.NOTIFIED.value
                )
            ).scalar(),
            *pdf_due(db),
        ]
    present = [utc(x) for x in times if x is not None]
    return min(present) if present else None
