"""The outbound mail queue's rows: what the deposit, seals, PDFs and codes add to it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from gateway.storage import tables as t


@dataclass(frozen=True)
class NewOutbound:
    id: str
    kind: str  # notification | proof
    delivery_id: str
    mail_from: str
    rcpt: str
    evidence_id: str | None = None


def insert_mails(db: Any, mails: Iterable[NewOutbound], now: datetime) -> None:
    """Queue mails (pending, due now) in the caller's transaction: one outbox for every mail."""
    rows = [
        {
            "id": m.id,
            "kind": m.kind,
            "delivery_id": m.delivery_id,
            "evidence_id": m.evidence_id,
            "mail_from": m.mail_from,
            "rcpt": m.rcpt,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for m in mails
    ]
    if rows:
        db.execute(insert(t.outbound), rows)
