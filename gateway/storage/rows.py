"""Rows inserted together into a table: on PostgreSQL with COPY, elsewhere in one executemany.

psycopg's `executemany` runs in pipeline mode: each row is a statement of its own (parsed,
bound and executed by the server, its result read by the client) and the connection is polled
after each. COPY streams the rows of a table in one command. The gateway's queues insert a few
rows a letter at each step (outbound mails and their bytes, evidence and its seal queue, the
evidence log's entries and nodes, the certificates' jobs), so on PostgreSQL those groups go
in with COPY, in binary format (bytes as they are: the text format writes a mail's bytes in
hexadecimal, and cost more than INSERT for them); SQLite's executemany already runs one
prepared statement over the rows.

COPY knows the server's column defaults only and bypasses SQLAlchemy's processing of values:
`copy_rows` fills in the columns' Python-side scalar defaults (`default=0`) and passes each
value through its type's bind processor, so that a row is stored as `insert(table)` would store
it (tests/integration/test_rows.py compares the two on both databases). A row that leaves out a
column whose Python-side default is computed (a callable) goes in with INSERT.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from gateway.storage.database import insert_or_keep

__all__ = ["copy_rows", "insert_or_keep_rows", "insert_rows"]

Row = Mapping[str, Any]


def insert_rows(db: Connection, table: Table, rows: Sequence[Row]) -> None:
    """`rows` into `table` in `db`'s transaction (a single row as one INSERT). Rows may give
    different columns: each set of columns is a statement of its own (SQLAlchemy's
    executemany takes its columns from the first row and ignores the others' extra ones)."""
    if not rows:
        return
    if len(rows) > 1 and db.dialect.name == "postgresql":
        copy_rows(db, [(table, rows)])
        return
    for alike in _by_shape(rows).values():
        db.execute(insert(table), alike)


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
        columns = list(zip(*(shape.values(row) for row in alike), strict=True))
        db.exec_driver_sql(shape.unnested, tuple(map(list, columns)))


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
                db.execute(insert(table), alike)
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


@dataclass(frozen=True)
class _Shape:
    """How rows that give some columns of a table go in, the columns' Python-side defaults
    added after them (`names`)."""

    given: tuple[str, ...]
    defaults: tuple[Any, ...]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # bind processors, by place
    types: tuple[str, ...] | None  # psycopg's names of their types; None: one is unknown
    copy: Any  # COPY … FROM STDIN, in binary format when `types` are known
    unnested: str  # INSERT … SELECT * FROM unnest(an array a column) ON CONFLICT DO NOTHING

    def values(self, row: Row) -> list[Any]:
        """The row's values as the statements take them: defaults filled in, processed."""
        values = [*(row[name] for name in self.given), *self.defaults]
        for index, process in self.processors:
            values[index] = process(values[index])
        return values


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
    arrays = ", ".join(f"%b::{kind}[]" for kind in types or ())  # binary: bytes as they are
    unnested = (  # the schema's names, quoted, and psycopg's type names: nothing from outside
        f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) "  # noqa: S608
        f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"
    )
    return _Shape(given, tuple(defaults.values()), processors, types, copy, unnested)


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
