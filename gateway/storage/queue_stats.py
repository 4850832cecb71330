"""SQL behind the queue gauges of /metrics (depth and oldest item of each work queue, the
deliveries by state) and the scheduler's round (when each kind of its work is next due).
Read-only; one round trip per queue, on the indexed state columns."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, func, select

from gateway.core.letter import State
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.outbound import MAILS
from gateway.storage.seal_queue import SEALS
from gateway.storage.sms_queue import SMS
from gateway.storage.times import utc


@dataclass(frozen=True)
class QueueStat:
    name: str  # seal | pdf | mail | sms | webhook
    depth: int
    oldest: datetime | None  # when the oldest waiting item was queued


def queue_stats(engine: Engine) -> list[QueueStat]:
    """The five durable work queues, as the database holds them now."""
    queries = {
        "seal": select(func.count(), func.min(t.evidence.c.event_time)).select_from(
            t.seal_queue.join(t.evidence, t.evidence.c.id == t.seal_queue.c.evidence_id)
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
    with reading(engine) as db:
        for name, query in queries.items():
            depth, oldest = db.execute(query).one()
            stats.append(QueueStat(name, int(depth), None if oldest is None else utc(oldest)))
    return stats


def deliveries_by_state(engine: Engine) -> dict[str, int]:
    query = select(t.deliveries.c.state, func.count()).group_by(t.deliveries.c.state)
    with reading(engine) as db:
        return {state: int(n) for state, n in db.execute(query).all()}


def due_times(engine: Engine) -> dict[str, datetime | None]:
    """When the scheduler's mail round next has work, per kind (one statement, read at every
    round): the earliest time a seal, a mail or an SMS can be claimed (queue.py,
    `Queue.next_due`) and the earliest deadline of a notified delivery; None where there is
    none. PDF jobs are not here: their loop of their own is woken by the seals that queue
    them, and polls."""
    with reading(engine) as db:
        row = db.execute(_due_times()).one()
    return {name: None if x is None else utc(x) for name, x in row._mapping.items()}


@functools.cache
def _due_times() -> Select[Any]:
    """`due_times`' SELECT: each kind's earliest time as a scalar subquery of its own."""
    deadline = select(func.min(t.deliveries.c.deadline)).where(
        t.deliveries.c.state == State.NOTIFIED.value
    )
    kinds = {
        "seal": SEALS.next_due_query(),
        "mail": MAILS.next_due_query(),
        "sms": SMS.next_due_query(),
        "deadline": deadline,
    }
    return select(*(query.scalar_subquery().label(name) for name, query in kinds.items()))
