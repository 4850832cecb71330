"""Recognising a full disk or database in any error the storage raised (pure).

A deposit that fails because the storage is full gets `452 4.3.1` (RFC 3463: mail system
full) instead of the generic `451 4.3.0`: the client keeps the letter and tries later, and
nothing was committed, so nothing is lost.
"""

from __future__ import annotations

import errno
import sqlite3

SQLITE_FULL = 13  # sqlite3.Error.sqlite_errorcode: "database or disk is full"
POSTGRES_DISK_FULL = "53100"  # SQLSTATE disk_full


def is_storage_full(error: BaseException) -> bool:
    """The error (or one it was raised from) says the disk or the database is full."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, sqlite3.Error) and (
            getattr(current, "sqlite_errorcode", None) == SQLITE_FULL
            or "database or disk is full" in str(current)
        ):
            return True
        if getattr(current, "sqlstate", None) == POSTGRES_DISK_FULL:
            return True
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper of the driver's error
        pending += [orig if isinstance(orig, BaseException) else None]
        pending += [current.__cause__, current.__context__]
    return False
