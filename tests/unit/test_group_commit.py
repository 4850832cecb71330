"""GroupCommit: deposits ready at the same time share one transaction; each caller returns only
after the commit that contains its work; a failing item fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select

from gateway.storage.database import open_engine
from gateway.storage.group_commit import GroupCommit

META = MetaData()
ROWS = Table("rows", META, Column("id", Integer, primary_key=True))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path}/group.db")  # WAL, synchronous=FULL, IMMEDIATE
    META.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as pool:  # as the gateway's SQLite executor: one writer thread
        yield pool


def row(number: int) -> Any:
    return lambda db: db.execute(insert(ROWS).values(id=number))


def committed(engine: Engine) -> list[int]:
    with engine.connect() as db:  # a connection of its own: sees committed rows only
        return sorted(db.scalars(select(ROWS.c.id)).all())


async def test_work_ready_together_shares_one_transaction(
    engine: Engine, executor: ThreadPoolExecutor
) -> None:
    group = GroupCommit(engine, executor)

    await asyncio.gather(*(group.commit(row(n)) for n in range(10)))

    assert committed(engine) == list(range(10))
    assert (group.batches, group.items) == (1, 10)


async def test_work_arriving_during_a_commit_joins_the_next_one(
    engine: Engine, executor: ThreadPoolExecutor
) -> None:
    group = GroupCommit(engine, executor)
    first = asyncio.create_task(group.commit(row(0)))
    await asyncio.sleep(0)  # the first transaction has started alone
    later = [asyncio.create_task(group.commit(row(n))) for n in range(1, 6)]

    await asyncio.gather(first, *later)

    assert committed(engine) == list(range(6))
    assert (group.batches, group.items) == (2, 6)


async def test_each_caller_returns_after_the_commit_that_holds_its_work(
    engine: Engine, executor: ThreadPoolExecutor
) -> None:
    group = GroupCommit(engine, executor)
    seen: dict[int, list[int]] = {}

    async def deposit(number: int) -> None:
        await group.commit(row(number))
        seen[number] = await asyncio.to_thread(committed, engine)

    await asyncio.gather(*(deposit(n) for n in range(5)))

    assert all(number in rows for number, rows in seen.items())


async def test_a_failing_item_fails_alone_and_the_others_commit(
    engine: Engine, executor: ThreadPoolExecutor
) -> None:
    group = GroupCommit(engine, executor)
    await group.commit(row(3))

    outcomes = await asyncio.gather(
        *(group.commit(row(n)) for n in range(6)), return_exceptions=True
    )

    assert [type(o).__name__ for o in outcomes].count("IntegrityError") == 1
    assert outcomes[3] is not None  # the duplicate of 3
    assert committed(engine) == list(range(6))


async def test_a_batch_is_bounded(engine: Engine, executor: ThreadPoolExecutor) -> None:
    group = GroupCommit(engine, executor, max_batch=4)

    await asyncio.gather(*(group.commit(row(n)) for n in range(10)))

    assert committed(engine) == list(range(10))
    assert group.batches == 3
