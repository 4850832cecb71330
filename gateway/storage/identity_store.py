"""SQL of the recipient's identity check: one-time codes (see store.py's rules).

Codes are stored as an HMAC (the key never enters the database); the clear code is kept only
until its SMS or mail is handed over. Every change is a compare-and-set, so two requests or two
gateway processes never spend the same try twice. The SMS that carry codes are queued in
storage/sms_queue.py, in the transaction that stores the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from gateway.errors import CodeRequired
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.outbound import NewOutbound, insert_mails
from gateway.storage.sms_queue import NewSms as NewSms  # re-exported: identity.py imports it here
from gateway.storage.sms_queue import insert_sms
from gateway.storage.times import utc


@dataclass(frozen=True)
class NewCode:
    id: str
    delivery_id: str
    channel: str
    destination: str
    code_hash: str
    code: str
    language: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class CodeRecord:
    id: str
    delivery_id: str
    channel: str
    destination: str
    code_hash: str
    attempts: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    sms_state: str | None  # pending | sent | failed for a code sent by SMS


def use_code(db: Any, *, code_id: str, now: datetime) -> None:
    """Mark a code used inside the caller's transaction; CodeRequired if it already was.

    Raising rolls the caller's transaction back: the decision it records is not made.
    """
    c = t.recipient_codes.c
    done = db.execute(
        update(t.recipient_codes)
        .where(c.id == code_id, c.used_at.is_(None))
        .values(used_at=now, pending_code=None)
    ).rowcount
    if done != 1:
        raise CodeRequired("the code was already used")


class IdentityStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # codes ------------------------------------------------------------------------------

    def add_code(
        self, code: NewCode, *, sms: NewSms | None = None, mail: NewOutbound | None = None
    ) -> None:
        """Store a code with the SMS or mail that carries it, in one transaction."""
        with self.engine.begin() as db:
            db.execute(
                insert(t.recipient_codes).values(
                    id=code.id,
                    delivery_id=code.delivery_id,
                    channel=code.channel,
                    destination=code.destination,
                    code_hash=code.code_hash,
                    pending_code=code.code,
                    language=code.language,
                    attempts=0,
                    created_at=code.created_at,
                    expires_at=code.expires_at,
                )
            )
            if sms is not None:
                insert_sms(db, [sms], code.created_at)
            if mail is not None:
                insert_mails(db, [mail], code.created_at)

    def code_times(self, delivery_id: str, since: datetime) -> list[datetime]:
        """When the delivery's codes were created, from since on."""
        c = t.recipient_codes.c
        query = select(c.created_at).where(c.delivery_id == delivery_id, c.created_at >= since)
        with reading(self.engine) as db:
            return [utc(x) for x in db.execute(query).scalars()]

    def latest_code(self, delivery_id: str) -> CodeRecord | None:
        c = t.recipient_codes.c
        query = (
            select(t.recipient_codes, t.sms_outbound.c.state.label("sms_state"))
            .join_from(
                t.recipient_codes,
                t.sms_outbound,
                t.sms_outbound.c.id == c.id,
                isouter=True,
            )
            .where(c.delivery_id == delivery_id)
            .order_by(c.created_at.desc(), c.id)
            .limit(1)
        )
        with reading(self.engine) as db:
            row = db.execute(query).first()
        if row is None:
            return None
        return CodeRecord(
            id=row.id,
            delivery_id=row.delivery_id,
            channel=row.channel,
            destination=row.destination,
            code_hash=row.code_hash,
            attempts=row.attempts,
            created_at=utc(row.created_at),
            expires_at=utc(row.expires_at),
            used_at=utc(row.used_at) if row.used_at is not None else None,
            sms_state=row.sms_state,
        )

    def reserve_try(self, code_id: str, max_tries: int, now: datetime) -> bool:
        """Count one try against the code; False when it is used, expired or out of tries."""
        c = t.recipient_codes.c
        with self.engine.begin() as db:
            done = db.execute(
                update(t.recipient_codes)
                .where(
                    c.id == code_id,
                    c.attempts < max_tries,
                    c.used_at.is_(None),
                    c.expires_at > now,
                )
                .values(attempts=c.attempts + 1)
            ).rowcount
        return bool(done)

    def mark_used(self, code_id: str, now: datetime) -> bool:
        c = t.recipient_codes.c
        with self.engine.begin() as db:
            done = db.execute(
                update(t.recipient_codes)
                .where(c.id == code_id, c.used_at.is_(None))
                .values(used_at=now, pending_code=None)
            ).rowcount
        return bool(done)

    def pending_code(self, code_id: str) -> tuple[str, str, str] | None:
        """(clear code, language, destination) of a code whose mail is not yet handed over."""
        c = t.recipient_codes.c
        query = select(c.pending_code, c.language, c.destination).where(c.id == code_id)
        with reading(self.engine) as db:
            row = db.execute(query).first()
        if row is None or row.pending_code is None:
            return None
        return row.pending_code, row.language, row.destination

    def forget_code(self, code_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                update(t.recipient_codes)
                .where(t.recipient_codes.c.id == code_id)
                .values(pending_code=None)
            )
