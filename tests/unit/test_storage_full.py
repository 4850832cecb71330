"""Recognising a full disk or database among the errors the storage raises."""

from __future__ import annotations

import errno

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from gateway.storage.full import is_storage_full


def _error_of(statement: str) -> OperationalError:
    engine = create_engine("sqlite://")
    with engine.begin() as db:
        db.execute(text("CREATE TABLE t (b BLOB)"))
        db.execute(text("PRAGMA max_page_count = 4"))  # a database that fills up at once
        with pytest.raises(OperationalError) as raised:
            db.execute(text(statement))
    return raised.value


def test_a_full_sqlite_database_is_recognised_through_sqlalchemy() -> None:
    """SQLite's SQLITE_FULL, wrapped by SQLAlchemy and re-raised, reads as storage full."""
    wrapped = RuntimeError("deposit failed")
    wrapped.__cause__ = _error_of("INSERT INTO t VALUES (zeroblob(100000))")
    assert is_storage_full(wrapped)


def test_other_database_errors_are_not_storage_full() -> None:
    """A missing table is an ordinary failure (451), not a full disk (452)."""
    assert not is_storage_full(_error_of("INSERT INTO missing VALUES (1)"))


def test_enospc_from_the_kernel_is_storage_full() -> None:
    """An OSError with ENOSPC (or EDQUOT) reads as storage full; EIO does not."""
    assert is_storage_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_storage_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_storage_full(OSError(errno.EIO, "Input/output error"))
