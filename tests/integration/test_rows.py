"""Rows inserted together (gateway.storage.rows) are stored as INSERT stores them.

On SQLite and on PostgreSQL, where the rows of several tables go in as one statement over
arrays (or with COPY), which know neither SQLAlchemy's Python-side defaults nor its processing of
values: the rows read back must be those of the same rows inserted one by one with
`insert(table)` (a default filled in, the bytes of every value kept, times kept, NULLs kept
NULL); a row that leaves out a column with a computed default gets it; a group that breaks a
constraint, one table's rows that another's name included, raises SQLAlchemy's IntegrityError
and keeps nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.storage import tables as t
from gateway.storage.database import open_engine
from gateway.storage.rows import insert_or_keep_rows, insert_rows, insert_tables
from gateway.storage.times import utc

NOW = datetime(2026, 12, 4, 21, 30, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


def _account(n: int, copy: int = 0, **more: Any) -> dict[str, Any]:
    return {
        "id": f"acct{copy}{n:027d}",
        "email": f"sender.{n}.{copy}@example.ma",
        "name": f"Étude n° {n} \t «tab» \\ back",
        "password_hash": "scrypt$…",
        "created_at": NOW + timedelta(microseconds=n),
        "updated_at": NOW,
        "disabled_at": None,
        **more,
    }


def _read(engine: Engine, table: Table, *order: Any) -> list[dict[str, Any]]:
    with engine.connect() as db:
        return [dict(row._mapping) for row in db.execute(select(table).order_by(*order))]


def test_a_group_is_stored_as_rows_inserted_one_by_one(engine: Engine) -> None:
    together = [_account(1), _account(2, language="ar"), _account(3)]  # two shapes
    alone = [_account(1, 1), _account(2, 1, language="ar"), _account(3, 1)]
    nodes = [{"height": h, "idx": i, "hash": bytes([h, i, 0, 255, 92, 10]) * 5} for h, i in
             itertools.product(range(2), range(3))]  # fmt: skip
    with engine.begin() as db:
        insert_rows(db, t.accounts, together)
        insert_rows(db, t.log_nodes, nodes[:3])
        for row in alone:
            db.execute(insert(t.accounts).values(row))
        for row in nodes[3:]:
            db.execute(insert(t.log_nodes).values(row))

    accounts = _read(engine, t.accounts, t.accounts.c.id)
    for row in accounts:
        row.update(id=None, email=None)
    assert accounts[:3] == accounts[3:]
    assert [row["language"] for row in accounts[:3]] == ["fr", "ar", "fr"]  # the default filled
    assert utc(accounts[0]["created_at"]) == NOW + timedelta(microseconds=1)  # SQLite: naive
    assert accounts[0]["disabled_at"] is None
    stored = _read(engine, t.log_nodes, t.log_nodes.c.height, t.log_nodes.c.idx)
    assert [bytes(row["hash"]) for row in stored] == [row["hash"] for row in nodes]


def test_a_computed_default_is_computed(engine: Engine) -> None:
    counter = itertools.count(7)
    metadata = MetaData()
    table = Table(
        "rows_test",
        metadata,
        Column("id", String(8), primary_key=True),
        Column("n", Integer, nullable=False, default=lambda: next(counter)),
    )
    metadata.create_all(engine)
    try:
        with engine.begin() as db:
            insert_rows(db, table, [{"id": "a"}, {"id": "b"}, {"id": "c", "n": 1}])
        assert [(r["id"], r["n"]) for r in _read(engine, table, table.c.id)] == [
            ("a", 7), ("b", 8), ("c", 1),
        ]  # fmt: skip
    finally:
        metadata.drop_all(engine)


def test_a_group_that_breaks_a_constraint_raises_as_an_insert_does(engine: Engine) -> None:
    """IntegrityError, as for INSERT (the evidence log's sequencers and the deadlock retry
    look for SQLAlchemy's errors), and nothing of the group is kept."""
    with pytest.raises(IntegrityError), engine.begin() as db:
        insert_rows(db, t.accounts, [_account(1), _account(2), _account(1)])
    assert _read(engine, t.accounts, t.accounts.c.id) == []


def _endpoint(n: int, account: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "id": f"hook{n:028d}",
        "account_id": account["id"],
        "url": f"https://hooks.example.ma/{n}?a=1&b=%20",
        "secret": "whsec_" + "A" * 40,
        "created_at": NOW,
        **more,
    }


def test_the_rows_of_several_tables_are_stored_as_rows_inserted_one_by_one(engine: Engine) -> None:
    """`insert_tables`: on PostgreSQL one statement for them all (a WITH query a table and set
    of columns), the endpoints' foreign keys checked against accounts inserted beside them."""
    accounts = [_account(1), _account(2, language="ar")]
    endpoints = [_endpoint(1, accounts[0]), _endpoint(2, accounts[1], failures=3)]
    with engine.begin() as db:
        insert_tables(
            db, [(t.accounts, accounts), (t.webhook_endpoints, endpoints), (t.log_nodes, [])]
        )
        insert_rows(db, t.accounts, [_account(3)])
        insert_rows(db, t.webhook_endpoints, [_endpoint(3, _account(3), disabled_reason="x")])
    stored = _read(engine, t.webhook_endpoints, t.webhook_endpoints.c.id)
    assert [(r["account_id"], r["failures"], r["disabled_at"]) for r in stored] == [
        (accounts[0]["id"], 0, None), (accounts[1]["id"], 3, None), (_account(3)["id"], 0, None),
    ]  # fmt: skip
    assert stored[0]["url"] == "https://hooks.example.ma/1?a=1&b=%20"
    assert [r["disabled_reason"] for r in stored] == [None, None, "x"]
    assert [r["language"] for r in _read(engine, t.accounts, t.accounts.c.id)] == ["fr", "ar", "fr"]


def test_rows_that_name_a_row_no_table_holds_raise_and_keep_nothing(engine: Engine) -> None:
    account = _account(1)
    with pytest.raises(IntegrityError), engine.begin() as db:
        insert_tables(
            db, [(t.accounts, [account]), (t.webhook_endpoints, [_endpoint(1, _account(2))])]
        )
    assert _read(engine, t.accounts, t.accounts.c.id) == []


def test_rows_kept_or_inserted_keep_those_already_there(engine: Engine) -> None:
    """ON CONFLICT DO NOTHING for a group (on PostgreSQL one statement over arrays): a row
    whose key is there already is kept as it was, the others go in with their bytes."""
    with engine.begin() as db:
        insert_or_keep_rows(db, t.log_nodes, [{"height": 0, "idx": 0, "hash": b"first\x00"}])
    with engine.begin() as db:
        insert_or_keep_rows(
            db,
            t.log_nodes,
            [{"height": 0, "idx": i, "hash": bytes([i, 0, 255]) * 9} for i in range(4)],
        )
        insert_or_keep_rows(db, t.log_nodes, [{"height": 0, "idx": 1, "hash": b"again"}])
        insert_or_keep_rows(db, t.log_nodes, [])
    stored = _read(engine, t.log_nodes, t.log_nodes.c.idx)
    assert [bytes(row["hash"]) for row in stored] == [b"first\x00"] + [
        bytes([i, 0, 255]) * 9 for i in range(1, 4)
    ]
