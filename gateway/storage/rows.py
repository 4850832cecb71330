"""Rows inserted together: on PostgreSQL in one statement over arrays, elsewhere in executemany.

The gateway's queues insert a few rows into a few tables at each step of a letter (a deposit's
letter, deliveries, evidence, seal queue and mails; outbound mails and their bytes; the evidence
log's entries and nodes; the certificates' jobs). On PostgreSQL each statement is a round trip,
and under load each round trip is a wait for the server's process and then for the gateway's
thread to get a CPU back: `insert_tables` sends the rows of several tables as one statement,
one `INSERT … SELECT * FROM unnest(…)` a table (each column's values in one array, in binary
format: bytes as they are) as data-modifying WITH queries of one statement, whose text is the
same whatever the number of rows (prepared by the server once a connection has run it five
times). `inserted_then` also runs a query in that statement (a deposit's senders, read with its
rows). psycopg's `executemany` would run each row as a statement of its own, in pipeline mode;
COPY (`copy_rows`, the fallback) costs two round trips a table. SQLite's executemany already
runs one prepared statement over the rows, with no round trip.

The arrays (and COPY) know the server's column defaults only and bypass SQLAlchemy's
processing of values: the rows' Python-side scalar defaults (`default=0`) are filled in and each
value goes through its type's bind processor, so that a row is stored as `insert(table)` would
store it (tests/integration/test_rows.py compares the two on both databases). Rows that leave
out a column whose Python-side default is computed (a callable) go in with INSERT.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import Connection, CursorResult, Insert, Select, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from gateway.storage.database import insert_or_keep

__all__ = [
    "copy_rows", "insert_into", "insert_or_keep_rows", "insert_rows", "insert_tables",
    "inserted_then",
]  # fmt: skip

Row = Mapping[str, Any]


@functools.cache
def insert_into(table: Table) -> Insert:
    """`insert(table)`, made once a table: SQLAlchemy keys a statement made anew for its
    compiled cache at every run (a single-row insert on SQLite ~35 µs of CPU, ~23 with the
    statement kept)."""
    return insert(table)


def insert_rows(db: Connection, table: Table, rows: Sequence[Row]) -> None:
    """`rows` into `table` in `db`'s transaction (`insert_tables`)."""
    insert_tables(db, [(table, rows)])


def insert_tables(db: Connection, tables: Sequence[tuple[Table, Sequence[Row]]]) -> None:
    """Each table's rows, in `db`'s transaction: on PostgreSQL in one statement (one round
    trip, `inserted_then`; else COPY, two a table), elsewhere an executemany a table. Rows
    may give different columns: each set of columns goes in on its own (SQLAlchemy's
    executemany takes its columns from the first row and ignores the others' extra ones)."""
    tables = [(table, rows) for table, rows in tables if rows]
    if not tables:
        return
    if db.dialect.name == "postgresql":
        if inserted_then(db, tables) is None:
            copy_rows(db, tables)
        return
    for table, rows in tables:
        for alike in _by_shape(rows).values():
            db.execute(insert_into(table), alike)


def insert_or_keep_rows(db: Connection, table: Table, rows: Sequence[Row]) -> None:
    """`rows` into `table` in `db`'s transaction, a row whose key is there already kept as it
    is (ON CONFLICT DO NOTHING). On PostgreSQL the rows of a group go in one statement whose
    text is always the same (prepared once a connection has run it five times): each column's
    values in one array, `INSERT … SELECT * FROM unnest(…)`."""
    postgresql = len(rows) > 1 and db.dialect.name == "postgresql"
    for given, alike in _by_shape(rows).items():
        shape = _shape(table, given, db.dialect) if postgresql else None
        if shape is None or shape.types is None:
            db.execute(insert_or_keep(db, table), alike)
            continue
        db.exec_driver_sql(shape.unnested, shape.arrays(alike))


def inserted_then(
    db: Connection,
    tables: Sequence[tuple[Table, Sequence[Row]]],
    query: Select[Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> CursorResult[Any] | None:
    """PostgreSQL: each table's rows inserted, then `query` run, in one statement (one round
    trip; COPY costs two a table): the rows of a table that give the same columns are a
    data-modifying WITH query, `INSERT … SELECT * FROM unnest(…)`, of `query` (its
    parameters `params`), which sees the database as it was before them; without `query` the
    last of them is the statement. Their foreign keys are checked at the statement's end. Its
    text depends only on the tables, their columns and `query`, so it is prepared once a
    connection has run it five times. None, and nothing run, when some rows cannot go in so
    (a computed default to fill, a type psycopg does not know): `copy_rows` can."""
    groups = [
        (_shape(table, given, db.dialect), alike)
        for table, rows in tables
        for given, alike in _by_shape(rows).items()
    ]
    shapes = tuple(shape for shape, _ in groups)
    if not shapes or not all(shape is not None and shape.types is not None for shape in shapes):
        return None
    statement = _statement(cast(tuple[_Shape, ...], shapes), query, db.dialect)
    values = dict(params or {})
    for index, (shape, alike) in enumerate(groups):
        values.update(cast(_Shape, shape).arrays(alike, index))
    return db.exec_driver_sql(statement, values)


@functools.lru_cache(maxsize=64)
def _statement(shapes: tuple[_Shape, ...], query: Select[Any] | None, dialect: Any) -> str:
    """The statement inserting `shapes`' rows, from arrays named lre_<shape>_<column>, then
    running `query` (its parameters named)."""
    inserts = [shape.inserted(index) for index, shape in enumerate(shapes)]
    last = str(query.compile(dialect=dialect)) if query is not None else inserts.pop()
    if not inserts:
        return last
    return "WITH " + ", ".join(f"lre_{i} AS ({x})" for i, x in enumerate(inserts)) + " " + last


def copy_rows(db: Connection, tables: Sequence[tuple[Table, Sequence[Row]]]) -> None:
    """Each table's rows with COPY, in `db`'s transaction (PostgreSQL): one command for the
    rows of a table that give the same columns, in the order given. The driver's errors are
    raised as SQLAlchemy raises a statement's (IntegrityError, a deadlock to run again: see
    gateway.storage.database.run_again), a lost connection invalidated."""
    dialect = db.dialect
    driver = db.connection.driver_connection
    for table, rows in tables:
        for given, alike in _by_shape(rows).items():
            shape = _shape(table, given, dialect)
            if shape is None:  # a computed default to fill: SQLAlchemy's INSERT does it
                db.execute(insert_into(table), alike)
                continue
            try:
                with driver.cursor() as cursor, cursor.copy(shape.copy) as copy:  # type: ignore[union-attr]
                    if shape.types is not None:
                        copy.set_types(shape.types)
                    for row in alike:
                        copy.write_row(shape.values(row))
            except dialect.loaded_dbapi.Error as err:
                raise _as_sqlalchemy_raises(db, err, shape.copy) from err


def _by_shape(rows: Sequence[Row]) -> dict[tuple[str, ...], list[Row]]:
    shapes: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    return shapes


def _as_sqlalchemy_raises(db: Connection, err: Any, command: Any) -> Exception:
    """The driver's `err` as SQLAlchemy wraps a statement's; the connection invalidated when
    `err` says it is lost (as SQLAlchemy does)."""
    lost = db.dialect.is_disconnect(err, db.connection.dbapi_connection, None)
    if lost:
        db.invalidate(err)
    wrapped: Exception = DBAPIError.instance(
        command.as_string(db.connection.driver_connection),
        None,
        err,
        db.dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=db.dialect,
    )
    return wrapped


# PostgreSQL's name of a column type as SQLAlchemy writes it, where psycopg's differs
_TYPE_NAMES: Final = {"float": "float8", "double precision": "float8"}


@dataclass(frozen=True, eq=False)  # one per table and columns (`_shape`): hashed by identity
class _Shape:
    """How rows that give some columns of a table go in, the columns' Python-side defaults
    added after them (`names`)."""

    given: tuple[str, ...]
    defaults: tuple[Any, ...]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # bind processors, by place
    types: tuple[str, ...] | None  # psycopg's names of their types; None: one is unknown
    copy: Any  # COPY … FROM STDIN, in binary format when `types` are known
    into: str  # INSERT INTO table (columns), the schema's names quoted

    def values(self, row: Row) -> list[Any]:
        """The row's values as the statements take them: defaults filled in, processed."""
        values = [*(row[name] for name in self.given), *self.defaults]
        for index, process in self.processors:
            values[index] = process(values[index])
        return values

    def arrays(self, rows: Sequence[Row], index: int = 0) -> dict[str, list[Any]]:
        """The rows' values, a list a column: the parameters of `inserted(index)`."""
        columns = zip(*(self.values(row) for row in rows), strict=True)
        return {f"lre_{index}_{place}": list(values) for place, values in enumerate(columns)}

    def inserted(self, index: int = 0) -> str:
        """INSERT … SELECT * FROM unnest(an array a column, in binary format: bytes as they
        are), its arrays the parameters lre_<index>_<column> (`arrays`); `types` known."""
        arrays = ", ".join(
            f"%(lre_{index}_{place})b::{kind}[]" for place, kind in enumerate(self.types or ())
        )
        # the schema's names and psycopg's type names (`_shape`): nothing from outside
        return f"{self.into} SELECT * FROM unnest({arrays})"  # noqa: S608

    @functools.cached_property
    def unnested(self) -> str:
        """`inserted()`, a row whose key is there already kept (ON CONFLICT DO NOTHING)."""
        return self.inserted() + " ON CONFLICT DO NOTHING"


@functools.lru_cache(maxsize=256)
def _shape(table: Table, given: tuple[str, ...], dialect: Any) -> _Shape | None:
    """How rows of `table` that give the columns `given` go in; None when a column left out
    has a computed Python-side default (SQLAlchemy's INSERT computes it)."""
    from psycopg import sql  # PostgreSQL's driver: imported where it is used

    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if not isinstance(default, ScalarElementColumnDefault):
            return None
        defaults[column.name] = default.arg
    names = [*given, *defaults]
    processors = tuple(
        (index, process)
        for index, name in enumerate(names)
        if (process := table.columns[name].type._cached_bind_processor(dialect)) is not None
    )
    types = _binary_types(table, names, dialect)
    copy = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(" (FORMAT BINARY)" if types is not None else ""),
    )
    quote = dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))})"
    return _Shape(given, tuple(defaults.values()), processors, types, copy, into)


def _binary_types(table: Table, names: list[str], dialect: Any) -> tuple[str, ...] | None:
    """The columns' PostgreSQL types as psycopg knows them, for a COPY in binary format (bytes
    as they are: the text format writes them in hexadecimal, twice their size, which costs
    more than INSERT for a mail's bytes) and unnest's arrays; None when one is not known to
    psycopg (text format)."""
    from psycopg import adapters

    types = []
    for name in names:
        written = table.columns[name].type.compile(dialect=dialect).split("(")[0].lower()
        info = adapters.types.get(_TYPE_NAMES.get(written, written))
        if info is None:
            return None
        types.append(info.name)
    return tuple(types)
