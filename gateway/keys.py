"""Master key rotation: the re-wrap job, its progress, verification and old-key destruction.

`keys rotate` adds a master key and records a rotation (key_rotations). The scheduler then runs
`rewrap_batch` each round: it wraps the data key of letters still under another master key
under the new one, a batch per commit, each row compare-and-set on its old key_id. The job
needs no cursor: letters.key_id says what is left, so it resumes after any stop and letters
deposited meanwhile under an older key are moved too. The content itself is never
re-encrypted (its data key stays); only the wrapped key changes. Purged letters hold no key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select, update

from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.vault import Sealed, Vault

BATCH = 200  # letters re-wrapped per commit


@dataclass(frozen=True)
class KeyStatus:
    current: str  # the master key the job wraps letters under
    letters_by_key: dict[str, int]  # live (not purged) letters per master key id
    started_at: datetime | None  # of the current key's rotation, if it was rotated
    finished_at: datetime | None

    @property
    def remaining(self) -> int:
        return sum(n for key, n in self.letters_by_key.items() if key != self.current)


def start_rotation(db: Connection, key_id: str, *, now: datetime) -> None:
    """Record, in db's transaction, that every letter must move to key_id."""
    db.execute(insert(t.key_rotations).values(key_id=key_id, started_at=now, rewrapped=0))


def rewrap_batch(engine: Engine, vault: Vault, *, now: datetime, limit: int = BATCH) -> int:
    """Move up to `limit` letters to the vault's current key; how many were moved.

    The vault re-reads its keys first (when they changed), so a key added by `keys rotate` is
    used at once. Marks the rotation finished when nothing is left.
    """
    vault.refresh()
    target = vault.current_key_id
    query = (
        select(t.letters.c.id, t.letters.c.key_id, t.letters.c.wrapped_key)
        .where(t.letters.c.key_id != target, t.letters.c.purged_at.is_(None))
        .limit(limit)
    )
    moved = 0
    with engine.begin() as db:
        rows = db.execute(query).all()
        for row in rows:
            sealed = Sealed(row.key_id, bytes(row.wrapped_key), b"")
            again = vault.rewrap(sealed, aad=row.id.encode(), to=target)
            moved += db.execute(
                update(t.letters)
                .where(t.letters.c.id == row.id, t.letters.c.key_id == row.key_id)
                .values(key_id=target, wrapped_key=again.wrapped_key)
            ).rowcount
        rotation = t.key_rotations.c
        if moved:
            db.execute(
                update(t.key_rotations)
                .where(rotation.key_id == target)
                .values(rewrapped=rotation.rewrapped + moved)
            )
        elif not rows:
            db.execute(
                update(t.key_rotations)
                .where(rotation.key_id == target, rotation.finished_at.is_(None))
                .values(finished_at=now)
            )
    return moved


def status(engine: Engine, current: str) -> KeyStatus:
    with reading(engine) as db:
        counts = db.execute(
            select(t.letters.c.key_id, func.count())
            .where(t.letters.c.purged_at.is_(None))
            .group_by(t.letters.c.key_id)
        ).all()
        rotation = db.execute(
            select(t.key_rotations).where(t.key_rotations.c.key_id == current)
        ).first()
    return KeyStatus(
        current=current,
        letters_by_key={key: n for key, n in counts},
        started_at=None if rotation is None else rotation.started_at,
        finished_at=None if rotation is None else rotation.finished_at,
    )


def letters_using(engine: Engine, key_id: str) -> int:
    """Live letters whose data key is still wrapped under key_id."""
    query = select(func.count()).where(
        t.letters.c.key_id == key_id, t.letters.c.purged_at.is_(None)
    )
    with reading(engine) as db:
        return int(db.execute(query).scalar_one())


def undecryptable(engine: Engine, vault: Vault, *, batch: int = BATCH) -> list[str]:
    """References of live letters whose content does not decrypt with the vault's keys.

    Reads every letter in pages (bounded memory) and decrypts its content and page data: what
    a recipient's page would need.
    """
    failed: list[str] = []
    after = ""
    columns = (
        t.letters.c.id,
        t.letters.c.reference,
        t.letters.c.key_id,
        t.letters.c.wrapped_key,
        t.letters.c.content,
    )
    while True:
        query = (
            select(*columns)
            .where(t.letters.c.purged_at.is_(None), t.letters.c.id > after)
            .order_by(t.letters.c.id)
            .limit(batch)
        )
        with reading(engine) as db:
            page = db.execute(query).all()
        if not page:
            return failed
        for row in page:
            sealed = Sealed(row.key_id, bytes(row.wrapped_key), bytes(row.content))
            if not vault.decrypts(sealed, aad=row.id.encode()):
                failed.append(row.reference)
        after = page[-1].id
