"""The CPU priority of the gateway's processes: deposits acknowledged first, the proofs made
from what is left.

Once SMTP processes serve (`smtp.processes`), the main process's work — the scheduler, the
notifications, the mails, the seals, the web — lowers itself (`lower_threads`): `smtp.main_nice`
added to its niceness and, with `smtp.main_idle`, Linux's SCHED_IDLE policy. The certificate
processes lower themselves (`lower_this_thread`) by `evidence.certificate_nice` and, with
`evidence.certificate_idle`, SCHED_IDLE too.

Why SCHED_IDLE and not only the lowest niceness: a thread at niceness 19 may run out the slice
it was given before a thread at niceness 0 that wakes up (an SMTP process when a client's next
command arrives) gets the CPU, and the scheduler places that thread as if the CPU were busy; a
SCHED_IDLE thread is preempted at once and its CPU counts as free. Measured on 2 cores
(docs/performance.md, "The session of 2026-12-04, evening"), `bench.throughput` against the same
code with both settings off in the same run, four runs: deposits acknowledged 10-41 % faster,
letters fully processed from 10 % slower to 6 % faster (2 % slower at the median), the p99 from
DATA to the 250 at half load lower; the web's GET / at the p99 60-100 → ~130 ms during a burst.
A SCHED_IDLE thread still gets a share of the CPU (the least weight there is), so a machine kept
busy by other work slows the proofs, it does not stop them.

Linux gives each thread its own niceness and policy, and a new thread or process inherits its
creator's. The threads that must keep the start's priority are named (`KEEP`) and started before
the main process lowers itself: its database threads and the thread that starts SMTP processes
again after a crash (a child forked by a lowered thread would inherit that priority, and going
back needs root, CAP_SYS_NICE or RLIMIT_NICE). On SQLite the one database thread is the writer
whose write lock the SMTP processes' deposits wait for (preempted while holding it, it held
them). On PostgreSQL the eight feed the certificate processes their work: under SCHED_IDLE
with the rest, letters were fully processed 13 % slower than under the old niceness alone, kept
at the start's priority 3 % (medians of alternating rounds, docs/performance.md)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

DATABASE_THREAD: Final = "lre-db"  # the main process's database threads (app.py)
SPAWNER_THREAD: Final = "lre-spawn"  # starts the SMTP processes (smtp_in/processes.py)
WORKER_THREAD: Final = "lre-work"  # the event loop's default executor's (`named_executor`)
KEEP: Final = (DATABASE_THREAD, SPAWNER_THREAD)

TASKS: Final = Path("/proc/self/task")


def lower_this_thread(nice: int, idle: bool) -> None:
    """Add `nice` to the calling thread's niceness (at most 19) and, with `idle`, put it under
    SCHED_IDLE; the threads and processes it creates from now on inherit both."""
    _lower(0, nice, idle)


def lower_threads(nice: int, idle: bool, *, keep: Collection[str] = KEEP) -> None:
    """`lower_this_thread` for every thread of this process but those named in `keep` (by
    their system name, /proc/self/task/TID/comm): the threads already started too, not only
    those started from now on. Where threads cannot be listed (not Linux), the calling one."""
    if not TASKS.is_dir():
        lower_this_thread(nice, idle)
        return
    for task in TASKS.iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue  # ended meanwhile
        if name not in keep:
            _lower(int(task.name), nice, idle)


def start_threads(executor: ThreadPoolExecutor, name: str, count: int = 1) -> None:
    """Start `count` threads of `executor` now (its max_workers, or fewer), at the calling
    thread's priority, each named `name` for the system (`top -H`, /proc/PID/task/TID/comm; at
    most 15 bytes): `lower_threads` keeps them by that name."""
    together = threading.Barrier(count)

    def named() -> None:
        _name_this_thread(name)
        together.wait()  # held until all are started: each on a thread of its own

    for future in [executor.submit(named) for _ in range(count)]:
        future.result()


def named_executor(name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads the system knows by `name` (`top -H`, /proc): for the event
    loop's default executor (asyncio.to_thread), so that no thread of the main process goes
    by the process's name alone and a thread at an unexpected priority says whose it is."""
    return ThreadPoolExecutor(
        thread_name_prefix=name, initializer=_name_this_thread, initargs=(name,)
    )


def _name_this_thread(name: str) -> None:
    with contextlib.suppress(OSError):  # not Linux: the name is only a help
        (TASKS / str(threading.get_native_id()) / "comm").write_text(name)


def _lower(tid: int, nice: int, idle: bool) -> None:
    try:
        if nice:
            niceness = min(os.getpriority(os.PRIO_PROCESS, tid) + nice, 19)
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        if idle and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except ProcessLookupError:
        pass  # a thread that ended meanwhile
