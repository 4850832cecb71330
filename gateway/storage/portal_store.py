"""SQL of the sender's portal: its sessions, and one account's letters, events and proofs.

Every read of letters, events or proofs takes the account id and joins on it: a letter, an
evidence id or a reference of another account is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, exists, func, insert, or_, select, update

from gateway.core.evidence import EvidenceType
from gateway.core.letter import State
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.times import utc


@dataclass(frozen=True)
class PortalAccount:
    id: str
    email: str
    name: str


Position = tuple[datetime, str]  # (deposited_at, letter id): where a page starts or ends


@dataclass(frozen=True)
class LetterQuery:
    """What the sender searches: part of a reference or of a recipient's address, a state;
    and which page (newest first): the letters older than `after`, or newer than `before`
    (keyset pagination, as the API's cursors: stable while letters arrive)."""

    text: str = ""
    state: State | None = None
    after: Position | None = None
    before: Position | None = None
    limit: int = 20


@dataclass(frozen=True)
class LetterPage:
    lines: list[LetterLine]
    older: bool  # letters older than the last line match too
    newer: bool  # letters newer than the first line match too


@dataclass(frozen=True)
class RecipientLine:
    delivery_id: str
    recipient: str
    state: State
    updated_at: datetime


@dataclass(frozen=True)
class LetterLine:
    id: str
    reference: str
    subject: str
    deposited_at: datetime
    recipients: tuple[RecipientLine, ...]


@dataclass(frozen=True)
class EventLine:
    """One evidence of a delivery: what happened when, and which proof files exist."""

    evidence_id: str
    delivery_id: str
    type: EvidenceType
    event_time: datetime
    sealed: bool
    pdf: bool


@dataclass(frozen=True)
class ProofFiles:
    xml: bytes
    p7s: bytes | None
    pdf: bytes | None
    reference: str
    type: EvidenceType


class PortalStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # sessions ---------------------------------------------------------------------------

    def open_session(
        self,
        *,
        session_id: str,
        account_id: str,
        token_hash: str,
        now: datetime,
        lifetime: timedelta,
    ) -> None:
        with self.engine.begin() as db:
            db.execute(
                insert(t.portal_sessions).values(
                    id=session_id,
                    account_id=account_id,
                    token_hash=token_hash,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + lifetime,
                )
            )

    def session_account(
        self, token_hash: str, *, now: datetime, idle: timedelta
    ) -> tuple[str, PortalAccount] | None:
        """The live session's id and account (its last activity moved to now), else None."""
        s, a = t.portal_sessions.c, t.accounts.c
        query = (
            select(s.id, a.id.label("account_id"), a.email, a.name)
            .join(t.accounts, a.id == s.account_id)
            .where(s.token_hash == token_hash, s.expires_at > now, s.last_seen_at > now - idle)
        )
        with self.engine.begin() as db:
            row = db.execute(query).first()
            if row is None:
                return None
            db.execute(update(t.portal_sessions).where(s.id == row.id).values(last_seen_at=now))
        return row.id, PortalAccount(row.account_id, row.email, row.name)

    def close_session(self, token_hash: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                delete(t.portal_sessions).where(t.portal_sessions.c.token_hash == token_hash)
            )

    def forget_stale(self, *, now: datetime, idle: timedelta) -> int:
        """Delete the sessions that can no longer be used; returns how many."""
        s = t.portal_sessions.c
        with self.engine.begin() as db:
            result = db.execute(
                delete(t.portal_sessions).where(
                    or_(s.expires_at <= now, s.last_seen_at <= now - idle)
                )
            )
        return int(result.rowcount or 0)

    # letters ----------------------------------------------------------------------------

    def letters(self, account_id: str, query: LetterQuery) -> LetterPage:
        """One page of the account's letters matching query, newest first."""
        l = t.letters.c  # noqa: E741
        select_letters = select(l.id, l.reference, l.subject, l.deposited_at).where(
            l.account_id == account_id, *self._filters(query)
        )
        if query.before is not None:  # walking back: the oldest first, then turned round
            when, letter_id = query.before
            select_letters = select_letters.where(
                or_(l.deposited_at > when, and_(l.deposited_at == when, l.id > letter_id))
            ).order_by(l.deposited_at, l.id)
        else:
            if query.after is not None:
                when, letter_id = query.after
                select_letters = select_letters.where(
                    or_(l.deposited_at < when, and_(l.deposited_at == when, l.id < letter_id))
                )
            select_letters = select_letters.order_by(l.deposited_at.desc(), l.id.desc())
        with reading(self.engine) as db:
            rows = list(db.execute(select_letters.limit(query.limit + 1)))
            more = len(rows) > query.limit
            rows = rows[: query.limit]
            if query.before is not None:
                rows.reverse()
            recipients = self._recipients(db, [r.id for r in rows])
        lines = [
            LetterLine(r.id, r.reference, r.subject, utc(r.deposited_at), recipients.get(r.id, ()))
            for r in rows
        ]
        if query.before is not None:
            return LetterPage(lines, older=True, newer=more)
        return LetterPage(lines, older=more, newer=query.after is not None)

    @staticmethod
    def _filters(query: LetterQuery) -> list[Any]:
        l, d = t.letters.c, t.deliveries.c  # noqa: E741
        filters: list[Any] = []
        text = query.text.strip().lower()
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            to_match = exists().where(
                d.letter_id == l.id, func.lower(d.recipient).like(pattern, escape="\\")
            )
            filters.append(or_(func.lower(l.reference).like(pattern, escape="\\"), to_match))
        if query.state is not None:
            filters.append(exists().where(and_(d.letter_id == l.id, d.state == query.state.value)))
        return filters

    @staticmethod
    def _recipients(db: Any, letter_ids: list[str]) -> dict[str, tuple[RecipientLine, ...]]:
        if not letter_ids:
            return {}
        d = t.deliveries.c
        query = (
            select(d.id, d.letter_id, d.recipient, d.state, d.updated_at)
            .where(d.letter_id.in_(letter_ids))
            .order_by(d.recipient, d.id)
        )
        found: dict[str, list[RecipientLine]] = {}
        for r in db.execute(query):
            line = RecipientLine(r.id, r.recipient, State(r.state), utc(r.updated_at))
            found.setdefault(r.letter_id, []).append(line)
        return {key: tuple(lines) for key, lines in found.items()}

    def letter(self, account_id: str, reference: str) -> tuple[LetterLine, list[EventLine]] | None:
        """One of the account's letters by reference, with every event of its deliveries."""
        l, e, p = t.letters.c, t.evidence.c, t.proof_pdfs.c  # noqa: E741
        with reading(self.engine) as db:
            row = db.execute(
                select(l.id, l.reference, l.subject, l.deposited_at).where(
                    l.account_id == account_id, l.reference == reference
                )
            ).first()
            if row is None:
                return None
            recipients = self._recipients(db, [row.id]).get(row.id, ())
            events = db.execute(
                select(e.id, e.delivery_id, e.type, e.event_time, e.sealed_at, p.state)
                .outerjoin(t.proof_pdfs, p.evidence_id == e.id)
                .where(e.letter_id == row.id)
                .order_by(e.event_time, e.id)
            )
            lines = [
                EventLine(
                    ev.id,
                    ev.delivery_id,
                    EvidenceType(ev.type),
                    utc(ev.event_time),
                    ev.sealed_at is not None,
                    ev.state == "done",
                )
                for ev in events
            ]
        letter = LetterLine(row.id, row.reference, row.subject, utc(row.deposited_at), recipients)
        return letter, lines

    def proof(self, account_id: str, evidence_id: str) -> ProofFiles | None:
        """The proof files of one of the account's evidence; None for any other id."""
        l, e, p = t.letters.c, t.evidence.c, t.proof_pdfs.c  # noqa: E741
        query = (
            select(e.xml, e.p7s, e.type, l.reference, p.pdf, p.state)
            .join(t.letters, l.id == e.letter_id)
            .outerjoin(t.proof_pdfs, p.evidence_id == e.id)
            .where(e.id == evidence_id, l.account_id == account_id)
        )
        with reading(self.engine) as db:
            row = db.execute(query).first()
        if row is None:
            return None
        pdf = row.pdf if row.state == "done" else None
        return ProofFiles(row.xml, row.p7s, pdf, row.reference, EvidenceType(row.type))
