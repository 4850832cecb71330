"""storage/database.reading: a read never waits for a writer, nor makes one wait.

On SQLite every write transaction takes the write lock at BEGIN (BEGIN IMMEDIATE); a read
through `reading(engine)` starts with a plain BEGIN and reads WAL's snapshot, so the SMTP
process's deposit commits and the main process's reads no longer queue behind each other.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, event, text

from gateway.storage.database import open_engine, reading

WITHIN = 10.0  # seconds: only a broken build waits this long (a read held by the writer's lock)


def make_probe(url: str) -> Engine:
    engine = open_engine(url)
    with engine.begin() as db:
        db.execute(text("CREATE TABLE probe (n INTEGER)"))
    return engine


def count(engine: Engine) -> int:
    with reading(engine) as db:
        return int(db.execute(text("SELECT count(*) FROM probe")).scalar_one())


def test_a_read_runs_while_a_writer_holds_its_transaction(database_url: str) -> None:
    """The reader sees what was committed before it, not the writer's rows in flight, and
    returns at once although the writer holds the write lock; then it sees the commit."""
    engine = make_probe(database_url)
    try:
        with ThreadPoolExecutor(1) as reader:
            with engine.begin() as writer:
                writer.execute(text("INSERT INTO probe (n) VALUES (1)"))
                assert reader.submit(count, engine).result(timeout=WITHIN) == 0
            assert reader.submit(count, engine).result(timeout=WITHIN) == 1
    finally:
        engine.dispose()


def test_on_sqlite_reads_begin_without_the_write_lock_and_writes_with_it(tmp_path: Any) -> None:
    engine = make_probe(f"sqlite:///{tmp_path}/probe.db")
    engine.dispose()  # new connections, each tracing what SQLite itself runs
    begun: list[str] = []

    @event.listens_for(engine, "connect")
    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(
            lambda statement: begun.append(statement) if statement.startswith("BEGIN") else None
        )

    try:
        count(engine)
        with engine.begin() as db:
            db.execute(text("INSERT INTO probe (n) VALUES (2)"))
        count(engine)
        assert begun == ["BEGIN", "BEGIN IMMEDIATE", "BEGIN"]
    finally:
        engine.dispose()
