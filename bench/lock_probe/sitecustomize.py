"""Loaded by every Python process of a gateway that bench.locks starts (its PYTHONPATH): when
LRE_BENCH_LOCKS names a directory, each write transaction's hold and each SQLite BEGIN
IMMEDIATE's wait are appended to DIR/<pid>.txt, one line each:

    hold <end, epoch s> <wall ms> <thread CPU ms> <function that opened it>
    wait <end, epoch s> <wall ms>

A hold runs from the transaction's start (on SQLite: the write lock taken) to its commit or
rollback; read-only transactions (gateway.storage.database.reading) are left out. Not part of
the gateway: nothing here is imported unless bench.locks puts this directory on the path.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

_OUT = os.environ.get("LRE_BENCH_LOCKS", "")


def _caller() -> str:
    """The innermost function of the gateway outside gateway/storage/database.py."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "/gateway/" in name and not name.endswith("database.py"):
            return frame.f_code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def _install() -> None:
    from sqlalchemy import event

    from gateway.storage import database

    lines = open(os.path.join(_OUT, f"{os.getpid()}.txt"), "a", buffering=1)  # noqa: SIM115
    lock = threading.Lock()
    opened: dict[int, tuple[float, float]] = {}

    def write(line: str) -> None:
        with lock:
            lines.write(line)

    def began(connection: Any) -> None:
        if not connection.get_execution_options().get(database.READ_ONLY):
            opened[id(connection)] = (time.perf_counter(), time.thread_time())

    def ended(connection: Any) -> None:
        start = opened.pop(id(connection), None)
        if start is not None:
            wall = (time.perf_counter() - start[0]) * 1000
            cpu = (time.thread_time() - start[1]) * 1000
            write(f"hold {time.time():.6f} {wall:.3f} {cpu:.3f} {_caller()}\n")

    open_engine = database.open_engine

    def probed_engine(*args: Any, **kwargs: Any) -> Any:
        engine = open_engine(*args, **kwargs)
        event.listen(engine, "begin", began)  # after the engine's own BEGIN IMMEDIATE
        event.listen(engine, "commit", ended)
        event.listen(engine, "rollback", ended)
        return engine

    begin_immediate = database._begin_immediate

    def probed_begin(*args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        begin_immediate(*args, **kwargs)
        write(f"wait {time.time():.6f} {(time.perf_counter() - start) * 1000:.3f}\n")

    database.open_engine = probed_engine
    database._begin_immediate = probed_begin


if _OUT:
    _install()
