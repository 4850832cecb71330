"""What handing certificates to other processes costs the gateway's process: a pipe per process
read by the event loop (gateway.pdf.workers) against concurrent.futures.ProcessPoolExecutor.

Two processes take JOBS jobs, four at a time; each job burns ~4 ms of CPU and returns what a
certificate job returns (a 60 KB PDF and a 12 KB mail), from ~10 KB of arguments. Meanwhile the
event loop runs other Python code half of the time, as the gateway's does under load, so the
threads the executor wakes must take the GIL from it. Reported per job, in alternating rounds:
the CPU of the gateway's process (every thread; the busy loop's own CPU taken out) and its
threads' context switches.

    python -m bench.pool [--jobs 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from gateway.pdf.workers import Workers

CONTEXT = multiprocessing.get_context("forkserver")
ARGUMENTS = b"x" * 10_000
AT_ONCE = 4


def job(_arguments: bytes) -> tuple[bytes, bytes]:
    began = time.process_time()
    while time.process_time() - began < 0.004:
        pass
    return b"p" * 60_000, b"m" * 12_000


def nothing() -> None:
    return None


def switches() -> int:
    """Context switches of every thread of this process so far."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


class Busy:
    """Python code on the event loop half of the time, its own CPU counted."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            began, cpu = time.perf_counter(), time.thread_time()
            while time.perf_counter() - began < 0.001:
                pass
            self.cpu += time.thread_time() - cpu
            await asyncio.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()


async def measured(submit, jobs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(ms of this process's CPU, context switches) per job, the busy loop's CPU taken out."""
    busy = Busy()
    running = asyncio.create_task(busy.run())
    gate = asyncio.Semaphore(AT_ONCE)

    async def one() -> None:
        async with gate:
            await submit()

    began, switched = os.times(), switches()
    await asyncio.gather(*(one() for _ in range(jobs)))
    ended, switched = os.times(), switches() - switched
    busy.stop()
    await running
    cpu = ended.user + ended.system - began.user - began.system - busy.cpu
    return cpu / jobs * 1000, switched / jobs


async def executor(jobs: int) -> tuple[float, float]:
    with ProcessPoolExecutor(2, mp_context=CONTEXT) as pool:
        await asyncio.gather(*(asyncio.wrap_future(pool.submit(nothing)) for _ in range(2)))
        return await measured(lambda: asyncio.wrap_future(pool.submit(job, ARGUMENTS)), jobs)


async def pipes(jobs: int) -> tuple[float, float]:
    pool = Workers(2, CONTEXT, nothing)
    try:
        await pool.start()
        return await measured(lambda: pool.run(job, ARGUMENTS), jobs)
    finally:
        pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {"ProcessPoolExecutor": [], "pipes": []}
    for number in range(args.rounds):
        for name, way in (("ProcessPoolExecutor", executor), ("pipes", pipes)):
            cpu, switched = await way(args.jobs)
            figures[name].append((cpu, switched))
            print(f"round {number + 1}, {name}: {cpu:.3f} ms of CPU, {switched:.1f} switches a job")
    for name, rows in figures.items():
        print(
            f"{name}: median {statistics.median(r[0] for r in rows):.3f} ms of the gateway's "
            f"process's CPU, {statistics.median(r[1] for r in rows):.1f} context switches a job"
        )


if __name__ == "__main__":
    asyncio.run(main())
