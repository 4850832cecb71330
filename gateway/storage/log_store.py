"""Storage of the public evidence log: the queue, the entries, the subtree hashes, checkpoints.

Appending is optimistic: the sequencer reads the size, inserts the next entries and their
subtree hashes under primary keys, and deletes their queue rows, all in one transaction; two
processes sequencing at once collide on a key and one of them rolls back and tries again later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.evidence import log_merkle as merkle
from gateway.evidence.log_tiles import TILE_HEIGHT, TILE_WIDTH, Entry
from gateway.storage import tables as t
from gateway.storage.database import reading
from gateway.storage.rows import insert_tables

# evidence appended per transaction: on SQLite the transaction holds the database's write lock,
# which deposits wait for; ~0.1 ms of CPU per entry, so a thousand held it ~100 ms under load
SEQUENCE_BATCH: Final = 64
# The oldest queued evidence, at most `limit`: the queue's rows taken first (a few, the queue is
# short), then their evidence by key. Joined the other way round, PostgreSQL hashed the queue
# and read the whole evidence table (every proof ever made) at every batch: 4.6 ms a batch
# with 3,000 evidence rows, growing with the table (bench.cpu_parts --postgres).
_OLDEST = (
    select(t.log_queue.c.evidence_id, t.log_queue.c.queued_at)
    .order_by(t.log_queue.c.queued_at, t.log_queue.c.evidence_id)
    .limit(bindparam("limit"))
    .subquery("oldest")
)
_QUEUED = (
    select(
        t.evidence.c.id,
        t.evidence.c.type,
        t.evidence.c.event_time,
        t.evidence.c.xml_sha256,
        t.evidence.c.p7s,
    )
    .join(_OLDEST, _OLDEST.c.evidence_id == t.evidence.c.id)
    .order_by(_OLDEST.c.queued_at, _OLDEST.c.evidence_id)
)


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    note: bytes
    timestamp: bytes | None
    created_at: datetime


@dataclass(frozen=True)
class Inclusion:
    index: int
    entry: bytes
    proof: list[bytes]


def _reader(db: Any) -> Callable[[int, int], bytes]:
    def node(height: int, index: int) -> bytes:
        value = db.execute(
            select(t.log_nodes.c.hash).where(
                t.log_nodes.c.height == height, t.log_nodes.c.idx == index
            )
        ).scalar()
        if value is None:
            raise merkle.ProofError(f"the log has no subtree {height}/{index}")
        return bytes(value)

    return node


class LogStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _size(db: Any) -> int:
        last = db.execute(select(func.max(t.log_entries.c.idx))).scalar()
        return 0 if last is None else int(last) + 1

    def size(self) -> int:
        with reading(self.engine) as db:
            return self._size(db)

    def sequence(self, limit: int = SEQUENCE_BATCH) -> int:
        """Append up to limit queued evidence, oldest first; return how many were appended."""
        try:
            with self.engine.begin() as db:
                rows = db.execute(_QUEUED, {"limit": limit}).all()
                if not rows:
                    return 0
                size = self._size(db)
                entries = [
                    Entry(
                        evidence_id=r.id,
                        type=r.type,
                        event_time=_utc(r.event_time),
                        xml_sha256=r.xml_sha256,
                        p7s_sha256=hashlib.sha256(r.p7s).hexdigest(),
                    ).encode()
                    for r in rows
                ]
                nodes = merkle.append(_reader(db), size, [merkle.leaf_hash(x) for x in entries])
                appended = [
                    {"idx": size + i, "evidence_id": r.id, "entry": x}
                    for i, (r, x) in enumerate(zip(rows, entries, strict=True))
                ]
                hashes = [{"height": h, "idx": i, "hash": v} for (h, i), v in nodes.items()]
                insert_tables(db, [(t.log_entries, appended), (t.log_nodes, hashes)])
                queue = t.log_queue
                db.execute(delete(queue).where(queue.c.evidence_id.in_([r.id for r in rows])))
                return len(rows)
        except IntegrityError:
            return 0  # another process sequenced the same entries meanwhile

    def root(self, size: int) -> bytes:
        with reading(self.engine) as db:
            return merkle.root_hash(_reader(db), size)

    def queued(self) -> int:
        with reading(self.engine) as db:
            return int(db.execute(select(func.count()).select_from(t.log_queue)).scalar() or 0)

    # checkpoints ------------------------------------------------------------------------------

    def add_checkpoint(self, size: int, note: bytes, *, now: datetime) -> bool:
        try:
            with self.engine.begin() as db:
                db.execute(insert(t.log_checkpoints).values(size=size, note=note, created_at=now))
            return True
        except IntegrityError:
            return False  # another process published this size

    def set_timestamp(self, size: int, token: bytes) -> None:
        with self.engine.begin() as db:
            db.execute(
                update(t.log_checkpoints)
                .where(t.log_checkpoints.c.size == size)
                .values(timestamp=token)
            )

    def checkpoint(self, size: int | None = None) -> StoredCheckpoint | None:
        """The checkpoint of that size, or the latest one."""
        c = t.log_checkpoints
        query = select(c).order_by(c.c.size.desc()).limit(1)
        if size is not None:
            query = select(c).where(c.c.size == size)
        with reading(self.engine) as db:
            row = db.execute(query).first()
        if row is None:
            return None
        return StoredCheckpoint(
            int(row.size),
            bytes(row.note),
            None if row.timestamp is None else bytes(row.timestamp),
            _utc(row.created_at),
        )

    def add_cosignature(self, size: int, witness: str, line: str, *, now: datetime) -> None:
        """Keep a witness's cosignature of the checkpoint of `size` (its latest replaces any)."""
        c = t.log_cosignatures
        try:
            with self.engine.begin() as db:
                db.execute(delete(c).where(c.c.size == size, c.c.witness == witness))
                db.execute(insert(c).values(size=size, witness=witness, line=line, received_at=now))
        except IntegrityError:
            pass  # the same witness's cosignature of this size arrived twice at once: one stays

    def cosignatures(self, size: int) -> list[str]:
        """The collected cosignature lines of the checkpoint of `size`, by witness name."""
        c = t.log_cosignatures.c
        with reading(self.engine) as db:
            query = select(c.line).where(c.size == size).order_by(c.witness)
            return [str(line) for line in db.execute(query).scalars()]

    def checkpoint_sizes(self) -> list[int]:
        with reading(self.engine) as db:
            query = select(t.log_checkpoints.c.size).order_by(t.log_checkpoints.c.size)
            return [int(s) for s in db.execute(query).scalars()]

    # reading ----------------------------------------------------------------------------------

    def tile(self, level: int, index: int, width: int) -> bytes | None:
        """The hashes of tile level/index of that width, or None when the log is not that big."""
        height = level * TILE_HEIGHT
        first = index * TILE_WIDTH
        n = t.log_nodes.c
        with reading(self.engine) as db:
            rows = db.execute(
                select(n.hash)
                .where(n.height == height, n.idx >= first, n.idx < first + width)
                .order_by(n.idx)
            ).scalars()
            hashes = [bytes(h) for h in rows]
        return b"".join(hashes) if len(hashes) == width else None

    def entries(self, start: int, end: int) -> list[bytes] | None:
        e = t.log_entries.c
        with reading(self.engine) as db:
            rows = db.execute(
                select(e.entry).where(e.idx >= start, e.idx < end).order_by(e.idx)
            ).scalars()
            found = [bytes(x) for x in rows]
        return found if len(found) == end - start else None

    def inclusion(self, evidence_id: str, size: int) -> Inclusion | None:
        """The entry of that evidence and its inclusion proof in the tree of `size` entries."""
        e = t.log_entries.c
        with reading(self.engine) as db:
            row = db.execute(select(e.idx, e.entry).where(e.evidence_id == evidence_id)).first()
            if row is None or row.idx >= size:
                return None
            proof = merkle.inclusion_proof(_reader(db), int(row.idx), size)
        return Inclusion(int(row.idx), bytes(row.entry), proof)

    def consistency(self, old: int, new: int) -> list[bytes]:
        with reading(self.engine) as db:
            return merkle.consistency_proof(_reader(db), old, new)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
