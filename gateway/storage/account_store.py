"""SQL of the operator's account commands: list, disable, enable, remove (see store.py's rules).

Nothing here touches letters, deliveries or evidence: removing an account that has letters only
erases its password and hides it from `sender list`; its letters and proofs stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update

from gateway.core.letter import DECIDED
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.store import AccountRecord
from gateway.storage.times import utc

REMOVED_HASH = "!removed"  # no password hashes to this: check_password always fails on it


@dataclass(frozen=True)
class AccountSummary:
    """One line of `lre-gateway sender list`."""

    email: str
    name: str
    language: str
    created_at: datetime
    disabled_at: datetime | None
    letters: int  # letters ever deposited
    in_progress: int  # of which some recipient has not decided yet or a proof is not mailed


# built once: a login's read spends no time making the statement and its cache key
_ACCOUNT = select(t.accounts).where(t.accounts.c.email == bindparam("email"))


class AccountStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save_account(
        self, *, id: str, email: str, name: str, password_hash: str, language: str, now: datetime
    ) -> AccountRecord:
        """Create the account, or update name, password and language of an existing one."""
        email = email.lower()
        with self.engine.begin() as db:
            existing = db.execute(select(t.accounts.c.id).where(t.accounts.c.email == email))
            found = existing.scalar_one_or_none()
            values = {"name": name, "password_hash": password_hash, "language": language}
            if found:
                db.execute(
                    update(t.accounts)
                    .where(t.accounts.c.id == found)
                    .values(updated_at=now, **values)
                )
                id = found
            else:
                db.execute(
                    insert(t.accounts).values(
                        id=id, email=email, created_at=now, updated_at=now, **values
                    )
                )
        return AccountRecord(id, email, name, password_hash, language)

    def account(self, email: str) -> AccountRecord | None:
        """The account of this address, read afresh (every SMTP AUTH and portal login)."""
        with reading(self.engine) as db:
            row = db.execute(_ACCOUNT, {"email": email.lower()}).first()
        if row is None:
            return None
        return AccountRecord(
            row.id,
            row.email,
            row.name,
            row.password_hash,
            row.language,
            disabled=row.disabled_at is not None,
        )

    def summaries(self) -> list[AccountSummary]:
        """Every account but the removed ones, by address."""
        letters = (
            select(t.letters.c.account_id, func.count().label("n"))
            .group_by(t.letters.c.account_id)
            .subquery()
        )
        query = (
            select(t.accounts, func.coalesce(letters.c.n, 0).label("letters"))
            .outerjoin(letters, letters.c.account_id == t.accounts.c.id)
            .where(t.accounts.c.password_hash != REMOVED_HASH)
            .order_by(t.accounts.c.email)
        )
        with reading(self.engine) as db:
            rows = db.execute(query).all()
            busy = self._in_progress(db, [row.id for row in rows])
        return [
            AccountSummary(
                email=row.email,
                name=row.name,
                language=row.language,
                created_at=utc(row.created_at),
                disabled_at=None if row.disabled_at is None else utc(row.disabled_at),
                letters=int(row.letters),
                in_progress=busy.get(row.id, 0),
            )
            for row in rows
        ]

    def set_disabled(self, email: str, when: datetime | None) -> bool:
        """Disable (when given) or enable the account; False when there is no such account."""
        with self.engine.begin() as db:
            result = db.execute(
                update(t.accounts)
                .where(
                    t.accounts.c.email == email.lower(),
                    t.accounts.c.password_hash != REMOVED_HASH,
                )
                .values(disabled_at=when)
            )
        return result.rowcount == 1

    def remove(self, email: str, now: datetime) -> str:
        """'missing', 'busy' (letters in progress), 'deleted' (no letters) or 'retired'.

        A retired account keeps its row, since its letters and evidence point at it, but loses
        its password and is disabled.
        """
        with self.engine.begin() as db:
            row = db.execute(
                select(t.accounts.c.id)
                .where(
                    t.accounts.c.email == email.lower(),
                    t.accounts.c.password_hash != REMOVED_HASH,
                )
                .with_for_update()
            ).first()
            if row is None:
                return "missing"
            if self._in_progress(db, [row.id]):
                return "busy"
            count = select(func.count()).where(t.letters.c.account_id == row.id)
            if db.execute(count).scalar_one() == 0:
                db.execute(delete(t.accounts).where(t.accounts.c.id == row.id))
                return "deleted"
            db.execute(
                update(t.accounts)
                .where(t.accounts.c.id == row.id)
                .values(password_hash=REMOVED_HASH, disabled_at=now, updated_at=now)
            )
            return "retired"

    @staticmethod
    def _in_progress(db: Connection, account_ids: list[str]) -> dict[str, int]:
        """Per account, the letters with an undecided delivery or a proof mail not yet sent."""
        if not account_ids:
            return {}
        undecided = t.deliveries.c.state.not_in([s.value for s in DECIDED])
        unsent = select(t.outbound.c.delivery_id).where(t.outbound.c.state == "pending")
        query = (
            select(t.letters.c.account_id, func.count(func.distinct(t.letters.c.id)))
            .join(t.deliveries, t.deliveries.c.letter_id == t.letters.c.id)
            .where(
                t.letters.c.account_id.in_(account_ids),
                undecided | t.deliveries.c.id.in_(unsent),
            )
            .group_by(t.letters.c.account_id)
        )
        rows = db.execute(query).all()
        return {account_id: int(n) for account_id, n in rows}
