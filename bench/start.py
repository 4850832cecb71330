"""From `lre-gateway serve` to the first proof: how long a (re)started gateway makes senders wait.

The real gateway runs as a subprocess on one data directory (SQLite), with an aiosmtpd sink as
its smarthost (bench.crash's parts). Each round SIGKILLs it, starts it again, waits until it
greets on the submission port and answers on the web (ready), deposits one letter, and waits
until its notification and its proof of deposit, PDF attached, reach the sink. It prints each
round and the medians: start → ready, ready → first letter done, start → first letter done.
Run it from two checkouts in turn to compare them (`cd OTHER && python -m bench.start`).

    python -m bench.start [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.crash import CrashRun, make_letter


async def run(workdir: Path, rounds: int) -> list[tuple[float, float]]:
    crash = CrashRun(workdir, f"sqlite:///{workdir}/gateway.db", clients=0)
    await crash.setup()
    times = []
    try:
        for number in range(rounds):
            crash.gateway.kill()
            started = time.monotonic()
            crash.gateway.start()
            await crash.gateway.ready()
            ready = time.monotonic()
            await crash.send(make_letter(0, number))
            await crash.wait(crash.complete, "the letter's notification and proof", within=120)
            done = time.monotonic()
            times.append((ready - started, done - ready))
            print(
                f"round {number + 1}: start → ready {ready - started:.2f} s, ready → first "
                f"letter done {done - ready:.2f} s, start → done {done - started:.2f} s",
                flush=True,
            )
    finally:
        await crash.finish()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lre-start-"))
    try:
        times = asyncio.run(run(workdir, args.rounds))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ready = statistics.median(t[0] for t in times)
    first = statistics.median(t[1] for t in times)
    total = statistics.median(t[0] + t[1] for t in times)
    print(
        f"medians of {len(times)}: start → ready {ready:.2f} s, ready → first letter done "
        f"{first:.2f} s, start → done {total:.2f} s"
    )


if __name__ == "__main__":
    main()
