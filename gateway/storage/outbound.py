"""The outbound mail queue: notifications, proofs and codes, from queued to sent or failed.

Rows are added inside the transaction that makes them (a deposit, a seal, a PDF, a code:
`insert_mails`), leased by the scheduler (`OutboundQueue.claim`), and closed once (`finish`,
or `finish_mail_row` inside a delivery's transition) or put back for later (`retry`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, bindparam, delete, func, select

from gateway.compose.parts import with_attachment
from gateway.storage import tables as t
from gateway.storage.bounce_store import remember_bounce_tokens
from gateway.storage.database import reading
from gateway.storage.queue import Queue
from gateway.storage.rows import insert_or_keep_rows, insert_tables
from gateway.storage.times import utc

log = logging.getLogger(__name__)

MAILS = Queue(
    t.outbound,
    waiting=t.outbound.c.state == "pending",
    skip=lambda pattern: func.lower(t.outbound.c.rcpt).like(pattern, escape="\\"),
)


def domain_patterns(domains: Iterable[str]) -> list[str]:
    """LIKE patterns of the recipients at `domains` (lower case), as `MAILS.skip` matches
    them: the address ends with "@domain", or with "@domain." (its absolute form)."""
    patterns = []
    for domain in domains:
        escaped = domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        patterns += [f"%@{escaped}", f"%@{escaped}."]
    return patterns


@dataclass(frozen=True)
class NewOutbound:
    id: str
    kind: str  # notification | proof
    delivery_id: str
    mail_from: str
    rcpt: str
    evidence_id: str | None = None
    # its bytes, when fixed before it is queued: a proof mail, without its PDF (`_whole`)
    message: bytes | None = None


@dataclass(frozen=True)
class PendingMail:
    id: str
    kind: str
    delivery_id: str
    evidence_id: str | None
    mail_from: str
    rcpt: str
    attempts: int
    created_at: datetime
    message: bytes | None = None  # fixed at the first hand-over (`fix_messages`), then reused


def insert_mails(
    db: Any,
    mails: Iterable[NewOutbound],
    now: datetime,
    *,
    leased: dict[str, Any] | None = None,
) -> None:
    """Queue mails (pending, due now) in the caller's transaction: one outbox for every mail.
    `leased` (leases.leased_at_birth): the mails are leased to the process inserting them,
    which hands them over itself once committed (no claim, no read of their bytes)."""
    insert_tables(db, mail_tables(mails, now, leased=leased))


def mail_tables(
    mails: Iterable[NewOutbound], now: datetime, *, leased: dict[str, Any] | None = None
) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The rows `insert_mails` inserts, by table: for a caller that inserts other rows in the
    same statement (`insert_tables`)."""
    mails = list(mails)
    rows = mail_rows(mails, now)
    if leased is not None:
        for row in rows:
            row.update(leased)
    return [(t.outbound, rows), (t.outbound_messages, message_rows(mails))]


def mail_rows(mails: Iterable[NewOutbound], now: datetime) -> list[dict[str, Any]]:
    """The outbound rows of new mails: pending, due now."""
    return [
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


def message_rows(mails: Iterable[NewOutbound]) -> list[dict[str, Any]]:
    """The outbound_messages rows of new mails whose bytes are fixed already (a proof mail)."""
    return [{"outbound_id": m.id, "message": m.message} for m in mails if m.message is not None]


def finish_mail_row(db: Any, mail_id: str, state: str, error: str | None, *, now: datetime) -> None:
    """Close a mail ("sent" or "failed") in the caller's transaction."""
    if state == "sent":
        MAILS.finish_row(db, mail_id, counted=True, state=state, sent_at=now, last_error=error)
    else:
        MAILS.give_up_row(db, mail_id, error, state=state)
    db.execute(_FORGET_ONE, {"mail_id": mail_id})  # kept only while a resend is possible


def forget_messages(db: Any, mail_ids: Any) -> None:
    """Erase the bytes of these mails (a list of ids, or a select of them)."""
    messages = t.outbound_messages
    db.execute(delete(messages).where(messages.c.outbound_id.in_(mail_ids)))


def finish_mail_rows(
    db: Any, mails: Sequence[tuple[str, str, str | None]], *, now: datetime
) -> None:
    """`finish_mail_row` of several mails (id, state, error) in the caller's transaction: the
    mails sent closed and their bytes erased with one statement each."""
    sent = [mail_id for mail_id, state, error in mails if state == "sent" and error is None]
    if len(sent) < 2:
        for mail in mails:
            finish_mail_row(db, *mail, now=now)
        return
    MAILS.finish_rows(db, sent, counted=True, state="sent", sent_at=now, last_error=None)
    for mail_id, state, error in mails:
        if not (state == "sent" and error is None):
            finish_mail_row(db, mail_id, state, error, now=now)
    db.execute(_FORGET_SOME, {"mail_ids": sent})


# forget_messages of one mail, and of several, made once: they run at every mail's end
# (building one cost ~50 µs)
_FORGET_ONE = delete(t.outbound_messages).where(
    t.outbound_messages.c.outbound_id == bindparam("mail_id")
)
_FORGET_SOME = delete(t.outbound_messages).where(
    t.outbound_messages.c.outbound_id.in_(bindparam("mail_ids", expanding=True))
)


# the fixed bytes of mails, each proof mail's with its PDF: stored without it (`_whole`)
_MESSAGES = (
    select(t.outbound_messages.c.outbound_id, t.outbound_messages.c.message, t.proof_pdfs.c.pdf)
    .join(t.outbound, t.outbound.c.id == t.outbound_messages.c.outbound_id)
    .outerjoin(
        t.proof_pdfs,
        (t.proof_pdfs.c.evidence_id == t.outbound.c.evidence_id) & (t.outbound.c.kind == "proof"),
    )
    .where(t.outbound_messages.c.outbound_id.in_(bindparam("ids", expanding=True)))
)


def _whole(mail_id: str, message: bytes, pdf: bytes | None) -> bytes | None:
    """A mail's stored bytes made whole: a proof mail is stored without its PDF, which the
    proofs hold (gateway.compose.parts.without_attachment). None when its PDF is no longer the
    one it carried (an archive timestamp added before the mail went): composed again then."""
    try:
        return with_attachment(bytes(message), None if pdf is None else bytes(pdf))
    except ValueError:
        log.warning("mail %s: its PDF changed since it was composed; composed again", mail_id)
        return None


class OutboundQueue:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(
        self, now: datetime, lease: timedelta, limit: int = 50, skipping: Iterable[str] = ()
    ) -> list[PendingMail]:
        """Lease up to `limit` mails due, oldest first, none to a domain in `skipping` (lower
        case: the crowded destinations, `Transport.crowded`)."""
        rows = MAILS.claim(
            self.engine, now=now, lease=lease, limit=limit, unless=domain_patterns(skipping)
        )
        if not rows:
            return []
        with reading(self.engine) as db:  # the lease is ours: nobody erases them meanwhile
            fixed = {
                mail_id: _whole(mail_id, message, pdf)
                for mail_id, message, pdf in db.execute(
                    _MESSAGES, {"ids": [r.id for r in rows]}
                ).all()
            }
        return [
            PendingMail(
                r.id,
                r.kind,
                r.delivery_id,
                r.evidence_id,
                r.mail_from,
                r.rcpt,
                r.attempts,
                utc(r.created_at),
                fixed.get(r.id),
            )
            for r in rows
        ]

    def fix_messages(
        self,
        messages: Sequence[tuple[str, bytes]],
        bounce_tokens: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Store the exact bytes of pending mails before their first hand-over, in one commit,
        with the hashed VERP tokens (token hash, mail id) of their return paths.

        A mail sent again after a crash (its outcome not yet recorded) then goes out
        byte-identical, with the same Message-ID, so the receiver can recognise the copy. Bytes
        and tokens already stored are kept.
        """
        with self.engine.begin() as db:
            insert_or_keep_rows(
                db,
                t.outbound_messages,
                [{"outbound_id": mail_id, "message": message} for mail_id, message in messages],
            )
            if bounce_tokens:
                remember_bounce_tokens(db, bounce_tokens)

    def finish(self, mail_id: str, state: str, error: str | None, *, now: datetime) -> None:
        with self.engine.begin() as db:
            finish_mail_row(db, mail_id, state, error, now=now)

    def retry(self, mail_id: str, error: str, *, retry_at: datetime) -> None:
        MAILS.retry(self.engine, mail_id, error, retry_at=retry_at)

    def renew(self, mail_ids: Sequence[str], until: datetime) -> set[str]:
        """The mails among `mail_ids` still waiting and leased to this process, leased again
        until `until` (their hand-over is taking long: Scheduler.renew_leases)."""
        return MAILS.renew(self.engine, mail_ids, until)
