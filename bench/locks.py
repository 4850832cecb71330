"""Who holds the database's write transactions and how long deposits wait for SQLite's lock.

Starts `lre-gateway serve` (SQLite, or PostgreSQL with --postgres) relaying to an smtp-sink, as
bench.cpu_parts does, with bench/lock_probe on its PYTHONPATH: every process of the gateway
then logs each write transaction (from its start — on SQLite, the write lock taken — to its
commit: wall time and the thread's CPU, and the gateway function that opened it) and, on SQLite,
each BEGIN IMMEDIATE's wait for the lock. Warms up with 40 letters, sends ROUNDS rounds of
LETTERS letters, each until fully processed, and prints per process role (main, SMTP) and
function: transactions, time held in all, p50, p90 and longest hold, CPU of the holding thread;
then the deposits' waits for the lock. The probe costs some CPU of its own (a frame walk per
transaction): compare runs of this tool with each other, not with bench.throughput's rates.

    python -m bench.locks [--letters 300] [--rounds 2] [--postgres] [--top 8]

Needs root (smtp-sink).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_parts import role
from bench.throughput import lone_gateway, measure, tree

PROBE = Path(__file__).with_name("lock_probe")


@dataclass(frozen=True)
class Hold:
    at: float  # when it ended (epoch seconds)
    wall: float  # ms
    cpu: float  # ms of the holding thread
    where: str


def read(directory: Path) -> tuple[dict[int, list[Hold]], dict[int, list[tuple[float, float]]]]:
    """Each process's holds and waits (end time, ms), from the probe's files."""
    holds: dict[int, list[Hold]] = collections.defaultdict(list)
    waits: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)
    for path in directory.glob("*.txt"):
        pid = int(path.stem)
        for line in path.read_text().splitlines():
            kind, *fields = line.split()
            if kind == "hold" and len(fields) == 4:
                holds[pid].append(
                    Hold(float(fields[0]), float(fields[1]), float(fields[2]), fields[3])
                )
            elif kind == "wait" and len(fields) == 2:
                waits[pid].append((float(fields[0]), float(fields[1])))
    return holds, waits


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def report(
    holds: dict[int, list[Hold]],
    waits: dict[int, list[tuple[float, float]]],
    roles: dict[int, str],
    windows: list[tuple[float, float]],
    letters: int,
    top: int,
) -> str:
    """The table of holds by role and function, and the waits, within the measured windows."""

    def measured(at: float) -> bool:
        return any(start <= at <= end for start, end in windows)

    out = [
        "| process | function | transactions | held in all | p50 / p90 / longest | CPU held |",
        "|---|---|---|---|---|---|",
    ]
    by_role: dict[str, list[Hold]] = collections.defaultdict(list)
    for pid, found in holds.items():
        by_role[roles.get(pid, "ended process")] += [h for h in found if measured(h.at)]
    for part, found in sorted(by_role.items()):
        if not found:
            continue
        by_where: dict[str, list[Hold]] = collections.defaultdict(list)
        for hold in found:
            by_where[hold.where].append(hold)
        ranked = sorted(by_where.items(), key=lambda item: -sum(h.wall for h in item[1]))
        for where, group in ranked[:top]:
            walls = [h.wall for h in group]
            out.append(
                f"| {part} | {where} | {len(group)} | {sum(walls):.0f} ms | "
                f"{statistics.median(walls):.2f} / {quantile(walls, 0.9):.2f} / {max(walls):.1f} ms"
                f" | {sum(h.cpu for h in group):.0f} ms |"
            )
        total = sum(h.wall for h in found)
        cpu = sum(h.cpu for h in found)
        out.append(
            f"| {part} | (all) | {len(found)} | {total:.0f} ms | "
            f"{total / letters:.2f} ms per letter | {cpu:.0f} ms |"
        )
    every = [ms for pid, found in waits.items() for at, ms in found
             if measured(at) and roles.get(pid) == "SMTP processes"]  # fmt: skip
    if every:
        out.append(
            f"\ndeposits' waits for SQLite's write lock: {len(every)} BEGIN IMMEDIATE, "
            f"{sum(every):.0f} ms in all; p50 {quantile(every, 0.5):.2f}, p90 "
            f"{quantile(every, 0.9):.2f}, p99 {quantile(every, 0.99):.2f}, longest "
            f"{max(every):.1f} ms"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--letters", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--top", type=int, default=8, help="functions shown per process")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: smtp-sink starts as root")
    with tempfile.TemporaryDirectory() as logs:
        os.environ["LRE_BENCH_LOCKS"] = logs  # the gateway's processes inherit both
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROBE), os.environ.get("PYTHONPATH", "")])
        )
        windows: list[tuple[float, float]] = []
        with lone_gateway(args.postgres) as (pool, target):
            measure(pool, target, first=0, letters=40, sessions=args.sessions,
                    size=1024, tag="warm", timeout=600)  # fmt: skip
            for number in range(args.rounds):
                start = time.time()
                result = measure(pool, target, first=1000 * (number + 1), letters=args.letters,
                                 sessions=args.sessions, size=1024, tag=f"round{number}",
                                 timeout=1800)  # fmt: skip
                windows.append((start, time.time()))
                print(f"round {number + 1}: acknowledged {result.acked:.0f}/s, "
                      f"fully processed {result.done:.1f}/s", flush=True)  # fmt: skip
            roles = {pid: part for pid in tree(target.roots[0]) if (part := role(pid))}
        holds, waits = read(Path(logs))
        if not holds:
            raise SystemExit("the probe wrote nothing: was bench/lock_probe on the path?")
        database = "PostgreSQL" if args.postgres else "SQLite"
        print(f"\n{database}, {args.rounds} rounds of {args.letters} 1 KB letters:\n")
        print(report(holds, waits, roles, windows, args.rounds * args.letters, args.top))


if __name__ == "__main__":
    main()
