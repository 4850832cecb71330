"""Where a letter's CPU goes, by process, from /proc (no sampler attached to slow them down).

Starts `lre-gateway serve` (SQLite, or PostgreSQL with --postgres) relaying to an smtp-sink,
warms it up with 40 letters, then sends LETTERS letters with bench.throughput's load generator,
ROUNDS times, and prints for each round the CPU milliseconds per letter of the main process,
the SMTP processes, the certificate processes (with their forkserver) and, on PostgreSQL, the
database server (its postmaster's process tree, ended server processes included). Each round
runs until every letter is fully processed, so the figures hold all of a letter's work.

    python -m bench.cpu_parts [--letters 300] [--rounds 2] [--postgres] [--size 1024]

Needs root (smtp-sink).
"""

from __future__ import annotations

import argparse
import collections
import os
from pathlib import Path

from bench.throughput import _stat, lone_gateway, measure, tree


def role(pid: int) -> str | None:
    """The part of the gateway a process of its tree plays, from its command line."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None  # ended meanwhile
    if "forkserver" in command:
        return "certificate processes"
    if "multiprocessing" in command or "spawn_main" in command:
        return "SMTP processes"
    return "main process"


def by_role(root: int) -> dict[int, tuple[str, float]]:
    """Each live process of the tree: its role and CPU seconds (its ended children included)."""
    found = {}
    for pid in tree(root):
        stat, part = _stat(pid), role(pid)
        if stat is not None and part is not None:
            found[pid] = (part, stat[1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--letters", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024, help="bytes per letter")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: smtp-sink starts as root")
    with lone_gateway(args.postgres) as (pool, target):
        measure(pool, target, first=0, letters=40, sessions=args.sessions,
                size=args.size, tag="warm", timeout=600)  # fmt: skip
        for number in range(args.rounds):
            before, database_before = by_role(target.roots[0]), target.database_cpu()
            result = measure(pool, target, first=1000 * (number + 1), letters=args.letters,
                             sessions=args.sessions, size=args.size, tag=f"round{number}",
                             timeout=1800)  # fmt: skip
            after, database_after = by_role(target.roots[0]), target.database_cpu()
            parts: dict[str, float] = collections.defaultdict(float)
            for pid, (part, cpu) in after.items():
                parts[part] += cpu - before.get(pid, (part, 0.0))[1]
            if database_before is not None and database_after is not None:
                parts["PostgreSQL server"] = database_after - database_before
            figures = ", ".join(
                f"{part} {cpu / args.letters * 1000:.1f}" for part, cpu in sorted(parts.items())
            )
            print(
                f"round {number + 1} ({'PostgreSQL' if args.postgres else 'SQLite'}, "
                f"{args.letters} letters of {args.size} bytes): acknowledged {result.acked:.0f}/s, "
                f"fully processed {result.done:.1f}/s; CPU ms per letter: {figures}",
                flush=True,
            )


if __name__ == "__main__":
    main()
