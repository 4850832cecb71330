"""An SMTP process alone: `submission_only` (gateway.submission) serving a gateway's submission
port, with no main process beside it (run by bench.smtp_cpu --alone, by path, so that it serves
whichever `gateway` package PYTHONPATH names: it imports nothing else of this repository).

    python bench/smtp_alone.py CONFIG [PROFILE]

Serves until its standard input closes; its events (ForwardedMetrics) go to a socket read and
dropped here. Prints "ready" once it serves. With PROFILE, the event loop's thread runs under
cProfile (its CPU time) from the first measured letter on (the line "go" on standard input),
and the statistics are written to that file at the end (the database and CPU threads are not
profiled).
"""

from __future__ import annotations

import asyncio
import cProfile
import socket
import sys
import time
from pathlib import Path

from gateway import logs
from gateway.settings import load_settings
from gateway.smtp_in.processes import ForwardedMetrics
from gateway.smtp_in.server import SUBMISSION, listening_sockets

try:
    from gateway.submission import submission_only
except ImportError:  # a gateway from before gateway/submission.py (bench.smtp_cpu --base REF)
    from gateway.app import submission_only  # type: ignore[attr-defined]


async def serve(config: Path, profile: Path | None) -> None:
    settings = load_settings(config)
    logs.configure(settings.logging.format)
    sockets = listening_sockets(settings.smtp, SUBMISSION)
    events, drop = socket.socketpair(type=socket.SOCK_DGRAM)
    loop = asyncio.get_running_loop()
    drop.setblocking(False)
    loop.add_reader(drop.fileno(), lambda: drop.recv(65536))
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    # the thread's CPU time, not the wall clock: on a loaded machine a call's wall time counts
    # the other processes that ran meanwhile
    profiler = cProfile.Profile(time.thread_time) if profile else None
    async with submission_only(settings, sockets, metrics=ForwardedMetrics(events)):
        print("ready", flush=True)
        while line := await stdin.readline():
            if line.strip() == b"go" and profiler is not None:
                profiler.enable()
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
