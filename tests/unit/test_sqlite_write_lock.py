"""SQLite's write lock: a writer's BEGIN IMMEDIATE tries again every 0.2 to 2 ms while another
writer holds it (storage/database._begin_immediate), instead of SQLite's busy handler, which
sleeps 1, 2, 5, 10, 15, 20, 25 ms ... between tries. The clock and the pauses are injected."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.storage import database
from gateway.storage.database import BUSY_TIMEOUT, _begin_immediate, open_engine


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def test_a_writer_takes_the_lock_at_the_first_try_after_its_release(tmp_path: Path) -> None:
    """While another writer holds the lock, the pauses between tries are short (0.2, 0.4,
    0.8 ms ...); once it commits, the next try takes the lock, and the connection waits for
    other locks again as configured."""
    holder, waiter = connect(tmp_path / "db"), connect(tmp_path / "db")
    holder.execute("BEGIN IMMEDIATE")
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 5:
            holder.execute("COMMIT")  # the other writer is done

    _begin_immediate(waiter, clock=lambda: 0.0, sleep=pause)
    assert waiter.in_transaction
    assert pauses == [0.0002, 0.0004, 0.0008, 0.0016, 0.002]
    assert waiter.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT * 1000
    waiter.execute("COMMIT")


def test_a_writer_gives_up_after_the_busy_timeout_with_sqlites_own_error(tmp_path: Path) -> None:
    holder, waiter = connect(tmp_path / "db"), connect(tmp_path / "db")
    holder.execute("BEGIN IMMEDIATE")
    now = [0.0]

    def pause(seconds: float) -> None:
        now[0] += 1.0  # each pause "lasts" a second of the injected clock

    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        _begin_immediate(waiter, 5000, clock=lambda: now[0], sleep=pause)
    assert now[0] == 5.0
    assert not waiter.in_transaction
    assert waiter.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_another_error_at_begin_is_not_waited_for(tmp_path: Path) -> None:
    waiter = connect(tmp_path / "db")
    waiter.execute("BEGIN")  # already in a transaction: SQLite refuses a nested BEGIN

    def pause(seconds: float) -> None:
        raise AssertionError("waited for an error that is not the lock")

    with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
        _begin_immediate(waiter, sleep=pause)


def test_the_engines_writers_begin_this_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """engine.begin() on SQLite goes through _begin_immediate with the engine's busy timeout
    (reads do not, and a connection a read gave back begins so again), and every statement
    waits as long for a lock."""
    calls: list[int] = []
    real = database._begin_immediate

    def counted(raw: object, busy_ms: int) -> None:
        calls.append(busy_ms)
        real(raw, busy_ms)

    monkeypatch.setattr(database, "_begin_immediate", counted)
    engine = open_engine(f"sqlite:///{tmp_path}/gateway.db", busy_timeout=2.5)
    try:
        with engine.begin() as db:
            db.execute(text("CREATE TABLE probe (n INTEGER)"))
        with database.reading(engine) as db:
            db.execute(text("SELECT count(*) FROM probe")).scalar_one()
            assert db.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 2500
        assert calls == [2500]
        with engine.begin() as db:  # the connection the read gave back: a writer's again
            db.execute(text("INSERT INTO probe VALUES (1)"))
        assert calls == [2500, 2500]
        assert not engine._has_events  # no connection event: no look-up at every statement
    finally:
        engine.dispose()
