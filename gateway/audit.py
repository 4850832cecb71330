"""The operator audit log: append-only, each row chained to the previous one and sealed.

Every operator action (sender saved, master key rotated or destroyed, letters purged) appends
one row. Its statement is canonical JSON (sorted keys, no spaces) holding the row's number,
time, actor, action, details and the SHA-256 of the previous row's statement (64 zeros for the
first); the row keeps those exact bytes, their SHA-256 and a CMS seal over them (the evidence
seal, gateway.evidence.cms). `lre-gateway audit verify` recomputes the chain, checks every seal
against the trust anchors and names the first row that does not hold.

A row is appended in the caller's transaction (append(db, ...)), so an action and its audit row
are committed together; two writers racing for the same number collide on the primary key and
one transaction fails and is retried by its caller.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from sqlalchemy import Connection, Engine, insert, select

from gateway.evidence.cms import Sealer
from gateway.evidence.verify import verify_detached
from gateway.storage import tables as t
from gateway.storage.database import reading

GENESIS: Final = "0" * 64
ACTIONS: Final = frozenset(
    {
        "sender.saved",
        "sender.disabled",
        "sender.enabled",
        "sender.removed",
        "keys.rotated",
        "keys.destroyed",
        "letters.purged",
        "log.key_rotated",  # `log rotate-key`: a new evidence-log key signs alongside the old
        "log.key_retired",  # `log rotate-key --finish`: the old one stops signing
    }
)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    details: Mapping[str, Any]
    previous_sha256: str


def statement(entry: AuditEntry) -> bytes:
    """The exact bytes a row seals (pure, deterministic)."""
    body = {
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "details": dict(entry.details),
        "previous_sha256": entry.previous_sha256,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def append(
    db: Connection,
    sealer: Sealer,
    *,
    at: datetime,
    actor: str,
    action: str,
    details: Mapping[str, Any],
) -> int:
    """Append one sealed row in db's transaction; its number."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    last = db.execute(
        select(t.audit_log.c.seq, t.audit_log.c.sha256).order_by(t.audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, previous = (1, GENESIS) if last is None else (last.seq + 1, last.sha256)
    entry = AuditEntry(seq, at, actor, action, details, previous)
    signed = statement(entry)
    db.execute(
        insert(t.audit_log).values(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            details=json.dumps(dict(details), sort_keys=True, ensure_ascii=False),
            previous_sha256=previous,
            statement=signed,
            sha256=hashlib.sha256(signed).hexdigest(),
            p7s=sealer.sign(signed, signing_time=at),
        )
    )
    return seq


def record(
    engine: Engine,
    sealer: Sealer,
    *,
    at: datetime,
    actor: str,
    action: str,
    details: Mapping[str, Any],
) -> int:
    """Append one row in a transaction of its own."""
    with engine.begin() as db:
        return append(db, sealer, at=at, actor=actor, action=action, details=details)


@dataclass(frozen=True)
class AuditReport:
    rows: int
    broken_at: int | None  # the first row that does not hold
    problem: str | None

    @property
    def valid(self) -> bool:
        return self.broken_at is None


def verify(engine: Engine, anchors: Sequence[x509.Certificate]) -> AuditReport:
    """Check numbering, chain, digests, that columns say what the statement says, and seals."""
    with reading(engine) as db:
        rows = list(db.execute(select(t.audit_log).order_by(t.audit_log.c.seq)))
    previous = GENESIS
    for expected, row in enumerate(rows, start=1):
        problem = _problem(row, expected, previous, anchors)
        if problem is not None:
            return AuditReport(len(rows), row.seq, problem)
        previous = row.sha256
    return AuditReport(len(rows), None, None)


def _problem(
    row: Any, expected: int, previous: str, anchors: Sequence[x509.Certificate]
) -> str | None:
    if row.seq != expected:
        return f"row {expected} is missing (found row {row.seq} instead)"
    signed = bytes(row.statement)
    if hashlib.sha256(signed).hexdigest() != row.sha256:
        return "its SHA-256 is not that of its statement"
    if row.previous_sha256 != previous:
        return "it does not carry the SHA-256 of the previous row (a row was removed or altered)"
    try:
        said = json.loads(signed)
    except ValueError:
        return "its statement is not JSON"
    columns = {
        "seq": row.seq,
        "actor": row.actor,
        "action": row.action,
        "details": json.loads(row.details),
        "previous_sha256": row.previous_sha256,
    }
    for name, value in columns.items():
        if said.get(name) != value:
            return f"its {name} column differs from its sealed statement"
    verdict = verify_detached(signed, bytes(row.p7s), anchors, source=f"row {row.seq}", kind="seal")
    if not verdict.valid:
        return "its seal does not verify: " + "; ".join(verdict.problems)
    return None
