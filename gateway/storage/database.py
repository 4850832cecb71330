"""Engine creation: SQLite (embedded default, WAL, synchronous=FULL) or PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

from gateway.storage.tables import metadata

if TYPE_CHECKING:  # alembic is imported where the schema is brought up to date (~0.15 s of CPU
    # that a serving SMTP or certificate process would spend for nothing)
    from alembic.config import Config

BUSY_TIMEOUT: Final = 30.0  # SQLite: seconds a statement waits for a lock (database.busy_timeout)
# PostgreSQL: a pooled connection unused for longer than this is checked before it is lent
IDLE_CHECK: Final = 5.0


def open_engine(
    url: str,
    *,
    busy_timeout: float = BUSY_TIMEOUT,
    idle_check: float = IDLE_CHECK,
    checkpoints: bool = True,
) -> Engine:
    """An engine for `url`; on SQLite a statement waits `busy_timeout` seconds at most for a
    lock another process holds (then "database is locked": a deposit gets 451); on PostgreSQL
    a connection that waited in the pool for more than `idle_check` seconds is checked before
    use (`_check_when_idle`).

    `checkpoints=False` (SQLite; the SMTP processes): a commit of this engine never copies the
    write-ahead log into the database file. SQLite does that (a checkpoint: ~4 MB written and
    synced) in the commit that finds the log past 1,000 pages, before that COMMIT returns; in
    an SMTP process, the letters of that commit waited for it before their 250. The main
    process's commits, which follow every deposit (its seals, certificates, mails), do it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        busy_ms = round(busy_timeout * 1000)

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_connection, busy_ms)
            if not checkpoints:
                dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

        def begin(pooled: Any) -> None:
            _sqlite_begin(pooled, busy_ms)

        def checkin(_dbapi_connection: Any, record: Any) -> None:
            if record is not None:
                record.info.pop(READ_ONLY, None)

        event.listen(engine, "connect", pragmas)
        event.listen(engine, "checkin", checkin)
        # SQLAlchemy begins a transaction with its dialect's do_begin (nothing, for SQLite);
        # a "begin" event would do too, but any connection event makes SQLAlchemy look for
        # listeners around every statement (~17 µs each, ~20 statements a letter)
        engine.dialect.do_begin = begin  # type: ignore[method-assign,assignment]
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_size=8, max_overflow=4)
    _check_when_idle(engine, idle_check)
    return engine


def _check_when_idle(
    engine: Engine, idle: float, clock: Callable[[], float] = time.monotonic
) -> None:
    """Check a pooled connection with a round trip before lending it, when it has waited in
    the pool for more than `idle` seconds: a server restarted, or a connection closed by a
    firewall meanwhile, is found then, and the pool opens a new one.

    SQLAlchemy's pool_pre_ping checks at every checkout: ~5.6 round trips per letter under
    load (one per transaction or read), each costing the server and the gateway CPU, for
    connections that were used milliseconds before. A connection that fails during use is
    a failed transaction either way (a deposit gets 451, a job runs again)."""

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or clock() - returned <= idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            raise DisconnectionError(f"a pooled connection is gone: {err}") from err

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED] = clock()

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)


_RETURNED: Final = "lre_returned_at"  # when the connection went back to the pool (monotonic)


def _sqlite_pragmas(dbapi_connection: Any, busy_ms: int) -> None:
    # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit transactions are off).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed letter survives a power cut
    cursor.execute("PRAGMA foreign_keys=ON")
    # what is deleted or overwritten is overwritten with zeros in the file (Debian builds SQLite
    # so, SQLite's own default does not): a purged letter's wrapped data key must not stay in a
    # free page, nor a sent notification's link
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()


def reading(engine: Engine) -> Connection:
    """A connection to read with (`with reading(engine) as db:`). The gateway writes only in
    `engine.begin()`; on SQLite a transaction of this connection starts with a plain BEGIN, not
    BEGIN IMMEDIATE: WAL gives it a snapshot without the write lock, so a read never makes a
    writer wait (the SMTP process's deposit commit, the main process's claims) nor waits for
    one. On PostgreSQL it reads in autocommit: under READ COMMITTED each statement has a
    snapshot of its own in a transaction too, so its BEGIN and ROLLBACK (two round trips per
    read, ~7 reads a letter) bought nothing."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="AUTOCOMMIT")
    connection.info[READ_ONLY] = True  # the pooled connection's, until it goes back
    return connection


AUTOVACUUM_OFF: Final = (
    "PostgreSQL's autovacuum is off: the gateway's work queues will keep every dead row and "
    "slow down as letters pass; set autovacuum = on in postgresql.conf (its default), or run "
    "VACUUM on this database every few minutes"
)


def maintenance_warnings(engine: Engine) -> list[str]:
    """What the database's own settings will cost the gateway over time, each in a sentence for
    the start-up log (`warnings_for`); on SQLite, nothing."""
    if engine.dialect.name != "postgresql":
        return []
    with reading(engine) as db:
        autovacuum = str(db.execute(text("SHOW autovacuum")).scalar_one())
    return warnings_for({"autovacuum": autovacuum})


def warnings_for(server: dict[str, str]) -> list[str]:
    """The sentences `maintenance_warnings` says about PostgreSQL's settings `server`: autovacuum
    turned off. The work queues (seals, mails and their bytes, PDF jobs, the evidence log's
    queue) delete or update a row at each step of a letter; without vacuum their dead rows are
    never cleared, and every claim and the scheduler's look at a queue read them (100,000
    letters without it: the mails' bytes table 316 MB for 205 live rows, docs/performance.md)."""
    return [AUTOVACUUM_OFF] if server.get("autovacuum", "on") != "on" else []


READ_ONLY = "lre_read_only"  # in a SQLite connection's info while `reading` lends it

# PostgreSQL's SQLSTATEs for a transaction it rolled back so that another one could go on:
# deadlock_detected (two transactions each waiting for a row the other holds: PostgreSQL picks
# one) and serialization_failure. Run again, such a transaction waits for the other and commits.
RUN_AGAIN: Final = frozenset({"40P01", "40001"})


def run_again(err: BaseException) -> bool:
    """Whether `err` is PostgreSQL rolling a transaction back only to let another one go on
    (`RUN_AGAIN`): the same transaction, run again, can commit."""
    return isinstance(err, DBAPIError) and getattr(err.orig, "sqlstate", None) in RUN_AGAIN


FIRST_PAUSE: Final = 0.0002  # seconds between its tries, doubled up to LONGEST_PAUSE
LONGEST_PAUSE: Final = 0.002


def _sqlite_begin(pooled: Any, busy_ms: int) -> None:
    """BEGIN on a pooled SQLite connection: plain for `reading`, else BEGIN IMMEDIATE."""
    raw = pooled.dbapi_connection
    if pooled.info.get(READ_ONLY):
        raw.execute("BEGIN")
    else:
        # a writer takes the write lock at BEGIN, so concurrent writers wait instead of failing
        # when a read lock would have to be upgraded
        _begin_immediate(raw, busy_ms)


def _begin_immediate(
    raw: Any,
    busy_ms: int = round(BUSY_TIMEOUT * 1000),
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """BEGIN IMMEDIATE on a sqlite3 connection, tried again every 0.2 to 2 ms while another
    writer holds the lock, for `busy_ms` at most (then SQLite's "database is locked").

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms ... between tries: a deposit
    whose BEGIN found the lock taken by the main process for a few milliseconds slept on for
    up to 18 ms after it was free. Here the lock is taken within 2 ms of its release."""
    raw.execute("PRAGMA busy_timeout=0")  # a try fails at once; other statements wait as set
    try:
        pause, deadline = FIRST_PAUSE, None
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err):
                    raise
                now = clock()
                deadline = now + busy_ms / 1000 if deadline is None else deadline
                if now >= deadline:
                    raise
            sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
    finally:
        raw.execute(f"PRAGMA busy_timeout={busy_ms}")


def insert_or_keep(db: Connection, table: Table) -> Any:
    """INSERT into `table` that keeps a row already there (ON CONFLICT DO NOTHING), in the
    dialect of `db`."""
    dialect_insert = sqlite_insert if db.dialect.name == "sqlite" else postgresql_insert
    return dialect_insert(table).on_conflict_do_nothing()


MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration's revision: each migration's file is named after its revision, four
    digits (0019_outbound_messages.py: "0019"; tests/integration/test_migrations.py checks that
    this is alembic's head)."""
    names = (path.name for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return max((name[:4] for name in names), default=None)


def create_schema(engine: Engine) -> None:
    """Bring the database to the current schema with the migrations (idempotent). A database
    already at the newest revision is only read: alembic, with its scripts read and imported,
    costs ~0.1 s, at the start of every command and of `serve`."""
    if _at_head(engine):
        return
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config(connection)
        tables = set(inspect(connection).get_table_names())
        if "letters" in tables and "alembic_version" not in tables:
            # made by a development build from before migrations existed: adopt it
            metadata.create_all(connection, checkfirst=True)
            command.stamp(config, "head")
        command.upgrade(config, "head")


def _at_head(engine: Engine) -> bool:
    """Whether the database's schema is at the newest migration's revision."""
    head = head_revision()
    with engine.connect() as connection:
        if head is None or not inspect(connection).has_table("alembic_version"):
            return False
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return list(found) == [head]
