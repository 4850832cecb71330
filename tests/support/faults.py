"""Real database faults for tests: a missing table, a lock held by another session.

They act on the database itself through its own driver (sqlite3, psycopg), never on the
gateway's objects, so the gateway meets them exactly as it would in production.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager

import psycopg
from sqlalchemy.engine import make_url


def _sqlite_path(url: str) -> str | None:
    parsed = make_url(url)
    return parsed.database if parsed.get_backend_name() == "sqlite" else None


def execute(url: str, statement: str) -> None:
    """Run one statement in its own committed transaction."""
    path = _sqlite_path(url)
    if path is not None:
        with closing(sqlite3.connect(path, isolation_level=None, timeout=30)) as db:
            db.execute(statement)
        return
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(statement.encode())  # bytes: the statement is built, not a literal


@contextmanager
def table_missing(url: str, table: str) -> Iterator[str]:
    """Inside the block `table` is renamed to `<table>_away` (yielded): every query on it fails."""
    away = f"{table}_away"
    execute(url, f"ALTER TABLE {table} RENAME TO {away}")
    try:
        yield away
    finally:
        execute(url, f"ALTER TABLE {away} RENAME TO {table}")


@contextmanager
def letters_locked(url: str) -> Iterator[None]:
    """Another session holds the lock a new letter's INSERT needs until the block ends.

    SQLite: the database write lock (BEGIN IMMEDIATE). PostgreSQL: an ACCESS EXCLUSIVE lock on
    the letters table. Either way the gateway's deposit waits, then goes on once released.
    """
    path = _sqlite_path(url)
    if path is not None:
        with closing(sqlite3.connect(path, isolation_level=None, timeout=30)) as lite:
            lite.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                lite.execute("ROLLBACK")
        return
    with psycopg.connect(url) as pg:
        pg.execute("LOCK TABLE letters IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            pg.rollback()


LOCK_TRIES = 10


@contextmanager
def database_locked(url: str) -> Iterator[None]:
    """No gateway transaction that records work can commit until the block ends.

    SQLite: the database write lock. PostgreSQL: ACCESS EXCLUSIVE locks on the tables every
    outcome touches (letters, deliveries, evidence, outbound, sms_outbound). The gateway waits
    meanwhile.
    """
    path = _sqlite_path(url)
    if path is not None:
        with closing(sqlite3.connect(path, isolation_level=None, timeout=30)) as lite:
            lite.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                lite.execute("ROLLBACK")
        return
    with psycopg.connect(url) as pg:
        for _ in range(LOCK_TRIES):
            try:
                pg.execute(
                    "LOCK TABLE letters, deliveries, evidence, outbound, sms_outbound"
                    " IN ACCESS EXCLUSIVE MODE"
                )
                break
            except psycopg.errors.DeadlockDetected:
                # the tables are locked one after the other: a gateway transaction that held
                # a later one and then read an earlier one (an outcome's evidence reads the
                # letter for its webhooks) deadlocked with us, and PostgreSQL chose this lock
                # to fail; the gateway's transaction goes on, and we lock again after it
                pg.rollback()
        else:
            raise AssertionError(f"the tables could not be locked in {LOCK_TRIES} tries")
        try:
            yield
        finally:
            pg.rollback()


@contextmanager
def letters_refused(url: str, subject: str) -> Iterator[None]:
    """Inside the block the database refuses to insert a letter with this subject (a trigger
    raising, as a constraint would): that deposit fails inside the gateway's transaction."""
    if _sqlite_path(url) is not None:
        execute(
            url,
            "CREATE TRIGGER refuse_letter BEFORE INSERT ON letters"
            f" WHEN NEW.subject = '{subject}' BEGIN SELECT RAISE(ABORT, 'letter refused'); END",
        )
    else:
        execute(
            url,
            "CREATE FUNCTION refuse_letter() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF NEW.subject = '{subject}' THEN RAISE EXCEPTION 'letter refused'; END IF;"
            " RETURN NEW; END $$",
        )
        execute(
            url,
            "CREATE TRIGGER refuse_letter BEFORE INSERT ON letters"
            " FOR EACH ROW EXECUTE FUNCTION refuse_letter()",
        )
    try:
        yield
    finally:
        execute(url, "DROP TRIGGER refuse_letter" + ("" if _sqlite_path(url) else " ON letters"))
        if _sqlite_path(url) is None:
            execute(url, "DROP FUNCTION refuse_letter()")
