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
from typing import Any, Final

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

__all__ = ["copy_rows", "insert_rows"]

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


def _by_shape(rows: Sequence[Row]) -> dict[tuple[str, ...], list[Row]]:
    shapes: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    return shapes


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
            command, defaults, processors, types = shape
            try:
                with driver.cursor() as cursor, cursor.copy(command) as copy:  # type: ignore[union-attr]
                    if types is not None:
                        copy.set_types(types)
                    for row in alike:
                        values = [*(row[name] for name in given), *defaults]
                        for index, process in processors:
                            values[index] = process(values[index])
                        copy.write_row(values)
            except dialect.loaded_dbapi.Error as err:
                raise _as_sqlalchemy_raises(db, err, command) from err


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


_Shape = tuple[
    Any, tuple[Any, ...], tuple[tuple[int, Callable[[Any], Any]], ...], tuple[str, ...] | None
]
# PostgreSQL's name of a column type as SQLAlchemy writes it, where psycopg's differs
_TYPE_NAMES: Final = {"float": "float8", "double precision": "float8"}


@functools.lru_cache(maxsize=256)
def _shape(table: Table, given: tuple[str, ...], dialect: Any) -> _Shape | None:
    """The COPY command for rows that give the columns `given`, the Python-side defaults it
    adds after them, and the bind processors by place; None when a column left out has a
    computed Python-side default."""
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
    command = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(" (FORMAT BINARY)" if types is not None else ""),
    )
    return command, tuple(defaults.values()), processors, types


def _binary_types(table: Table, names: list[str], dialect: Any) -> tuple[str, ...] | None:
    """The columns' PostgreSQL types as psycopg knows them, for a COPY in binary format (bytes
    as they are: the text format writes them in hexadecimal, twice their size, which costs
    more than INSERT for a mail's bytes); None when one is not known to psycopg (text format)."""
    from psycopg import adapters

    types = []
    for name in names:
        written = table.columns[name].type.compile(dialect=dialect).split("(")[0].lower()
        info = adapters.types.get(_TYPE_NAMES.get(written, written))
        if info is None:
            return None
        types.append(info.name)
    return tuple(types)
