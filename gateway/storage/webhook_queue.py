"""The webhook queue (WEBHOOKS); events are queued in the transaction that records the
evidence (no event is lost).

Imported by LetterStore; it knows only the tables and the Queue, so that it imports nothing of
the store. The posting order is the Queue's (`in_order`: one event at a time per endpoint and
letter); claiming and the endpoint's failures are ApiStore's (api_store.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from gateway.storage import tables as t
from gateway.storage.queue import Queue
from gateway.storage.rows import insert_rows

_ENABLED = select(t.webhook_endpoints.c.id).where(t.webhook_endpoints.c.disabled_at.is_(None))
# waiting: pending, for an endpoint that is enabled (a disabled one's events wait for it);
# in order: the events of one letter to one endpoint are posted one at a time, by seq
WEBHOOKS = Queue(
    t.webhook_deliveries,
    waiting=(t.webhook_deliveries.c.state == "pending")
    & t.webhook_deliveries.c.endpoint_id.in_(_ENABLED),
    in_order=("endpoint_id", "letter_id"),
)


def enqueue_webhooks(db: Any, evidence: Iterable[Any], now: datetime) -> None:
    """Queue each new evidence for every endpoint of its letter's sender (same transaction).

    A disabled endpoint's events are queued too: they wait (due_webhooks skips the endpoint)
    and go out in order once the sender enables it again, as the "disabled" mail promises.

    `evidence` holds NewEvidence-like objects (id, letter_id); the order of a letter's events is
    the order they are committed in (`seq`).
    """
    items = list(evidence)
    if not items:
        return
    letter_ids = sorted({e.letter_id for e in items})
    hooks, letters = t.webhook_endpoints, t.letters
    query = (
        select(letters.c.id, hooks.c.id)
        .join(hooks, hooks.c.account_id == letters.c.account_id)
        .where(letters.c.id.in_(letter_ids))
        .order_by(hooks.c.id)
    )
    endpoints: dict[str, list[str]] = {}
    for letter_id, endpoint_id in db.execute(query):
        endpoints.setdefault(letter_id, []).append(endpoint_id)
    if not endpoints:
        return
    next_seq: dict[tuple[str, str], int] = {}
    rows = []
    for e in items:
        for endpoint_id in endpoints.get(e.letter_id, []):
            key = (endpoint_id, e.letter_id)
            if key not in next_seq:
                last = db.execute(
                    select(func.max(t.webhook_deliveries.c.seq)).where(
                        t.webhook_deliveries.c.endpoint_id == endpoint_id,
                        t.webhook_deliveries.c.letter_id == e.letter_id,
                    )
                ).scalar()
                next_seq[key] = (last or 0) + 1
            rows.append(
                {
                    "id": f"{e.id[:16]}{endpoint_id[:16]}",
                    "endpoint_id": endpoint_id,
                    "letter_id": e.letter_id,
                    "evidence_id": e.id,
                    "seq": next_seq[key],
                    "state": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                }
            )
            next_seq[key] += 1
    insert_rows(db, t.webhook_deliveries, rows)
