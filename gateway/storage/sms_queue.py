"""The SMS queue (table sms_outbound): notices and one-time codes waiting for the SMS provider.

A `storage/queue.Queue` like the seal, mail, PDF and webhook queues: claimed with a lease by the
SMS worker (gateway/sms/sender.py), finished as sent or failed, retried with the worker's
backoff. An SMS is queued in the transaction of what it announces (the deposit, the code), and
its id (the row's) is the Idempotency-Key of every try, so a resend after a crash is recognised.
Finishing one erases its text and, for a code, the code's clear copy (recipient_codes): once
handed over, neither is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update

from gateway.storage import tables as t
from gateway.storage.queue import MAX_ERROR, Queue
from gateway.storage.rows import insert_rows
from gateway.storage.times import utc

SMS = Queue(t.sms_outbound, waiting=t.sms_outbound.c.state == "pending")


@dataclass(frozen=True)
class NewSms:
    id: str
    kind: str  # notice | code
    delivery_id: str
    phone: str
    text: str


@dataclass(frozen=True)
class PendingSms:
    id: str
    kind: str
    delivery_id: str
    phone: str
    text: str
    attempts: int
    created_at: datetime


def insert_sms(db: Any, sms: Sequence[NewSms], now: datetime) -> None:
    """Queue SMS in the caller's transaction, due at once."""
    rows = [
        {
            "id": m.id,
            "kind": m.kind,
            "delivery_id": m.delivery_id,
            "phone": m.phone,
            "text": m.text,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for m in sms
    ]
    insert_rows(db, t.sms_outbound, rows)


def finish_sms(db: Any, sms_id: str, state: str, error: str | None, *, now: datetime) -> None:
    """Close an SMS (sent or failed) in the caller's transaction; erase its text and, for a
    code, the clear code."""
    if state == "sent":
        last_error = error[:MAX_ERROR] if error else None
        SMS.finish_row(
            db, sms_id, counted=True, state=state, sent_at=now, text=None, last_error=last_error
        )
    else:
        SMS.give_up_row(db, sms_id, error or None, state=state, text=None)
    db.execute(
        update(t.recipient_codes).where(t.recipient_codes.c.id == sms_id).values(pending_code=None)
    )


class SmsQueue:
    """The SMS worker's side of the queue: claim, finish, retry (each its own transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, now: datetime, lease: timedelta, limit: int = 50) -> list[PendingSms]:
        rows = SMS.claim(self.engine, now=now, lease=lease, limit=limit)
        return [
            PendingSms(
                r.id, r.kind, r.delivery_id, r.phone, r.text or "", r.attempts, utc(r.created_at)
            )
            for r in rows
        ]

    def finish(self, sms_id: str, state: str, error: str | None, *, now: datetime) -> None:
        with self.engine.begin() as db:
            finish_sms(db, sms_id, state, error, now=now)

    def retry(self, sms_id: str, error: str, *, retry_at: datetime) -> None:
        SMS.retry(self.engine, sms_id, error, retry_at=retry_at)
