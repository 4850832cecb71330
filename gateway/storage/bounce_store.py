"""SQL of bounces: the hashed VERP token of each outbound mail, and the DSNs received for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.rows import insert_or_keep_rows
from gateway.storage.times import utc


@dataclass(frozen=True)
class BouncedMail:
    """The outbound mail a VERP token names."""

    id: str
    kind: str
    delivery_id: str
    state: str  # pending | sent | failed
    rcpt: str


@dataclass(frozen=True)
class DsnRecord:
    id: str
    outbound_id: str
    action: str
    status: str
    diagnostic: str
    reporting_mta: str
    received_at: datetime


def remember_bounce_tokens(db: Any, tokens: Sequence[tuple[str, str]]) -> None:
    """Store (token hash, mail id) pairs in the caller's transaction; a pair stored already
    (a resend, or another process) is kept as it is (ON CONFLICT DO NOTHING)."""
    insert_or_keep_rows(
        db,
        t.bounce_tokens,
        [{"token_hash": hashed, "outbound_id": mail_id} for hashed, mail_id in tokens],
    )


class BounceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def mail_by_bounce_token(self, token_hash: str) -> BouncedMail | None:
        query = select(
            t.outbound.c.id,
            t.outbound.c.kind,
            t.outbound.c.delivery_id,
            t.outbound.c.state,
            t.outbound.c.rcpt,
        ).join_from(t.bounce_tokens, t.outbound, t.bounce_tokens.c.outbound_id == t.outbound.c.id)
        with reading(self.engine) as db:
            row = db.execute(query.where(t.bounce_tokens.c.token_hash == token_hash)).first()
        return (
            None
            if row is None
            else BouncedMail(row.id, row.kind, row.delivery_id, row.state, row.rcpt)
        )

    def record_dsn(self, reports: Sequence[DsnRecord]) -> None:
        with self.engine.begin() as db:
            for report in reports:
                db.execute(insert(t.dsn_reports).values(**report.__dict__))

    def dsn_reports(self, mail_id: str) -> list[DsnRecord]:
        with reading(self.engine) as db:
            rows = db.execute(
                select(t.dsn_reports)
                .where(t.dsn_reports.c.outbound_id == mail_id)
                .order_by(t.dsn_reports.c.received_at)
            ).all()
        return [
            DsnRecord(
                r.id,
                r.outbound_id,
                r.action,
                r.status,
                r.diagnostic,
                r.reporting_mta,
                utc(r.received_at),
            )
            for r in rows
        ]
