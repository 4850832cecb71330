"""The certificate processes' pool (gateway.pdf.workers): jobs through a pipe per process.

Real processes (forked: the gateway forks its own from a forkserver), real pipes, real kills."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from gateway.pdf.workers import ProcessDied, RemoteTraceback, StartFailed, Workers

CONTEXT = multiprocessing.get_context("fork")
WAIT = 30  # seconds at most for another process to do its part: a failure, never a pace

_given: Any = None  # what the initializer was given, in the process


def remember(given: Any) -> None:
    global _given
    _given = given


def refuse(tries: Any) -> None:
    with tries.get_lock():
        tries.value += 1
    raise LookupError("no seal key in /nowhere")


def given() -> str:
    return type(_given).__name__


def square(number: int) -> int:
    return number * number


def fail(text: str) -> None:
    raise ValueError(text)


def meet() -> int:
    """Returns once another process has called it too (the barrier the initializer was given)."""
    _given.wait(WAIT)
    return os.getpid()


def hang() -> None:
    """Says it has begun (the event the initializer was given), then never returns."""
    _given.set()
    threading.Event().wait()


@asynccontextmanager
async def workers(
    count: int, initializer: Callable[..., None], *args: Any
) -> AsyncIterator[Workers]:
    pool = Workers(count, CONTEXT, initializer, args)
    try:
        yield pool
    finally:
        pool.close()


async def test_jobs_run_in_processes_of_their_own_at_once_and_their_errors_come_back() -> None:
    """Two jobs that can only end together end (two processes at once); each process ran the
    initializer; a result comes back, and so does an exception with its remote traceback."""
    barrier = CONTEXT.Barrier(2)
    async with workers(2, remember, barrier) as pool:
        await pool.start()
        assert len(set(pool.pids)) == 2
        met = await asyncio.gather(pool.run(meet), pool.run(meet))
        assert sorted(met) == sorted(pool.pids)
        assert await pool.run(square, 12) == 144
        with pytest.raises(ValueError, match=r"^no such letter$") as raised:
            await pool.run(fail, "no such letter")
        assert isinstance(raised.value.__cause__, RemoteTraceback)
        assert "in fail" in str(raised.value.__cause__)
        with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
            await pool.run(lambda: 1)  # nothing sent: the process is still there for the next
        assert await pool.run(square, 3) == 9


async def test_a_process_killed_during_its_job_fails_that_job_and_another_takes_the_next() -> None:
    began = CONTEXT.Event()
    async with workers(1, remember, began) as pool:
        await pool.start()
        (first,) = pool.pids
        hung = asyncio.create_task(pool.run(hang))
        waiting = asyncio.create_task(pool.run(square, 5))  # behind it: one process
        assert await asyncio.to_thread(began.wait, WAIT)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(ProcessDied, match="exit code -9"):
            await hung
        assert await waiting == 25  # made by the process started in its place
        (second,) = pool.pids
        assert second != first
        assert await pool.run(given) == "Event"  # the new one ran the initializer too


@pytest.mark.parametrize("depth", [1, 2])
async def test_a_process_holds_the_next_job_while_it_runs_one(depth: int) -> None:
    """Up to `depth` jobs are written to a process: the next one waits in its pipe, not in the
    gateway, and it runs as soon as the first has answered."""
    began = CONTEXT.Event()
    pool = Workers(1, CONTEXT, remember, (began,), depth=depth)
    try:
        await pool.start()
        hung = asyncio.create_task(pool.run(hang))
        behind = [asyncio.create_task(pool.run(square, n)) for n in (2, 3)]
        assert await asyncio.to_thread(began.wait, WAIT)
        await asyncio.sleep(0)
        assert pool.held == [depth]
        (first,) = pool.pids
        os.kill(first, signal.SIGKILL)  # the jobs behind the one it ran were never begun
        with pytest.raises(ProcessDied):
            await hung
        assert await asyncio.gather(*behind) == [4, 9]
    finally:
        pool.close()


async def test_a_process_whose_initializer_fails_fails_the_jobs_and_is_not_started_again() -> None:
    """Both processes fail to start: the job fails with their reason; none is started again
    until asked (no loop of failing starts)."""
    tries = CONTEXT.Value("i", 0)
    async with workers(2, refuse, tries) as pool:
        with pytest.raises(StartFailed, match="LookupError: no seal key in /nowhere"):
            await pool.run(square, 2)
        for _ in range(WAIT * 100):  # the second process's failure, at most WAIT seconds
            if not pool.pids and not pool.starting:
                break
            await asyncio.sleep(0.01)
        assert (pool.pids, pool.starting, tries.value) == ([], 0, 2)
        with pytest.raises(StartFailed, match="no seal key"):
            await pool.start()  # asked again: tried again


async def test_closing_ends_every_process() -> None:
    pool = Workers(2, CONTEXT, remember, (None,))
    await pool.start()
    pids = pool.pids
    pool.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):  # ended and reaped
            os.kill(pid, 0)
    with pytest.raises(RuntimeError, match="closed"):
        await pool.run(square, 2)
