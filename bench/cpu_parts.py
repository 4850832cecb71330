"""Where a letter's CPU goes, by process, from /proc (no sampler attached to slow them down).

Starts `lre-gateway serve` (SQLite, or PostgreSQL with --postgres) relaying to an smtp-sink,
warms it up with 40 letters, then sends LETTERS letters with bench.throughput's load generator,
ROUNDS times, and prints for each round the CPU milliseconds per letter of the main process, the
SMTP processes, the certificate processes (with their forkserver) and, on PostgreSQL, the
database server (its postmaster's process tree, ended server processes included); for each
process of the gateway also the part spent in the kernel (system time) and the kilobytes it had
written to storage (/proc/PID/io write_bytes: the database's WAL and checkpoints, for one), and
its context switches a letter, voluntary (it waited) and involuntary (preempted), and the time
its threads waited for a CPU while ready to run (/proc/PID/task/TID/schedstat), summed over its
threads. Each round runs until every letter is fully processed, so the figures hold all of a
letter's work. Then the machine's use (/proc/stat every 0.25 s, in CPUs of its two): while the
letters arrive, and after the last 250 — the backlog of certificates and mails, where work
waiting on the main loop shows as idle CPU. With --idle, also what the main and certificate
processes were doing at the moments a CPU stood idle after the last 250 (sampled every 3 ms,
`IdleMoments`): a certificate process waiting to write its answer, every one waiting for its next
job, the main loop running.

    python -m bench.cpu_parts [--letters 300] [--rounds 2] [--postgres] [--size 1024] [--idle]
                              [--rate LETTERS_PER_S]

Needs root (smtp-sink).
"""

from __future__ import annotations

import argparse
import collections
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Self

from bench.throughput import CLK_TCK, lone_gateway, measure, tree


@dataclass(frozen=True)
class Usage:
    """What one process (with its reaped children) has used so far: CPU seconds in user mode
    and in the kernel, bytes written to storage, its live threads' context switches,
    voluntary (waiting for something) and involuntary (preempted), and the seconds they waited
    for a CPU while ready to run."""

    user: float = 0.0
    system: float = 0.0
    written: int = 0
    voluntary: int = 0
    involuntary: int = 0
    queued: float = 0.0
    faults: int = 0  # minor page faults (a page mapped on first touch: fresh memory)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def switches(pid: int) -> tuple[int, int, float]:
    """Context switches (voluntary, involuntary) of the live threads of `pid`, and the seconds
    they waited for a CPU while ready to run (each thread counts its own in
    /proc/PID/task/TID/status and schedstat)."""
    voluntary = involuntary = 0
    queued = 0.0
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0, 0.0
    for thread in threads:
        try:
            status = Path(f"/proc/{pid}/task/{thread}/status").read_text()
            schedstat = Path(f"/proc/{pid}/task/{thread}/schedstat").read_text()
        except OSError:
            continue  # ended meanwhile
        queued += int(schedstat.split()[1]) / 1e9  # run_delay, nanoseconds
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary, queued


def usage(pid: int) -> Usage | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        io = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return None  # ended meanwhile
    fields = stat[stat.rindex(")") + 2 :].split()
    written = next(int(line.split()[1]) for line in io.splitlines() if line.startswith("write_b"))
    return Usage(
        (int(fields[11]) + int(fields[13])) / CLK_TCK,  # utime + cutime
        (int(fields[12]) + int(fields[14])) / CLK_TCK,  # stime + cstime
        written,
        *switches(pid),
        int(fields[7]) + int(fields[8]),  # minflt + cminflt
    )


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


def by_role(root: int) -> dict[int, tuple[str, Usage]]:
    """Each live process of the tree: its role and usage (its ended children included)."""
    found = {}
    for pid in tree(root):
        used, part = usage(pid), role(pid)
        if used is not None and part is not None:
            found[pid] = (part, used)
    return found


class Sampler:
    """A thread that runs `_sample` while inside `with`: it samples every `every` seconds
    until `_stop` is set."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class MachineUse(Sampler):
    """The whole machine's CPU in use (CPUs busy: user, nice, system, interrupts, steal), read
    from /proc/stat every `every` seconds by a thread, while inside `with`."""

    def __init__(self, every: float = 0.25) -> None:
        super().__init__(every)
        self.samples: list[tuple[float, float]] = []  # (time.perf_counter(), CPUs busy)

    @staticmethod
    def _ticks() -> tuple[int, int]:
        """(all ticks, idle and iowait ticks) of every CPU so far."""
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]

    def _sample(self) -> None:
        cpus = os.cpu_count() or 1
        total, idle = self._ticks()
        while not self._stop.wait(self.every):
            now_total, now_idle = self._ticks()
            spent = max(1, now_total - total)
            self.samples.append((time.perf_counter(), cpus * (1 - (now_idle - idle) / spent)))
            total, idle = now_total, now_idle

    def between(self, start: float, end: float) -> float | None:
        """The mean CPUs busy over the samples taken between `start` and `end`."""
        inside = [busy for at, busy in self.samples if start < at <= end]
        return sum(inside) / len(inside) if inside else None


class IdleMoments(Sampler):
    """Every `every` seconds, whether a CPU stood idle at that moment — fewer threads running
    than CPUs (/proc/loadavg's count, this sampler's own thread left out) — and if so what the
    gateway's main process and certificate processes (`pids`, by role) were doing: each
    thread's state and, asleep, where in the kernel it waited (/proc/PID/task/TID/wchan). What
    the machine's use after the last 250 cannot say: why work waits while a CPU is free."""

    LABELS = (
        ("a certificate process waiting to write its answer", "answer"),
        ("every certificate process waiting for its next job", "job"),
        ("the main process's loop running", "loop"),
        ("a certificate process running", "certificate"),
    )

    def __init__(self, pids: dict[int, str], every: float = 0.003) -> None:
        super().__init__(every)
        self.pids = pids
        self.samples: list[tuple[float, frozenset[str] | None]] = []  # None: no CPU idle

    @staticmethod
    def _threads(pid: int) -> list[tuple[int, str, str]]:
        """(thread id, state, wchan) of each thread of `pid`."""
        found: list[tuple[int, str, str]] = []
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return found
        for tid in tids:
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                wchan = Path(f"/proc/{pid}/task/{tid}/wchan").read_text()
            except OSError:
                continue
            found.append((int(tid), stat[stat.rindex(")") + 2], wchan))
        return found

    def _what(self) -> frozenset[str]:
        what = set()
        waiting_for_jobs = []
        for pid, part in self.pids.items():
            threads = self._threads(pid)
            if part == "main process":
                if any(tid == pid and state == "R" for tid, state, _ in threads):
                    what.add("loop")
            elif part == "certificate processes":
                if any(state == "R" for _, state, _ in threads):
                    what.add("certificate")
                if any(wchan.startswith("sock_alloc_send") for _, _, wchan in threads):
                    what.add("answer")
                # a process that makes certificates has a thread watching the gateway's end
                # (gateway.pdf.maker's `_exit_with`); their forkserver has none
                if len(threads) > 1:
                    waiting_for_jobs.append(
                        any(
                            tid == pid and wchan == "unix_stream_read_generic"
                            for tid, _, wchan in threads
                        )
                    )
        if waiting_for_jobs and all(waiting_for_jobs):
            what.add("job")
        return frozenset(what)

    def _sample(self) -> None:
        cpus = os.cpu_count() or 1
        while not self._stop.wait(self.every):
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1
            self.samples.append((time.perf_counter(), self._what() if running < cpus else None))

    def between(self, start: float, end: float) -> str:
        """What the samples between `start` and `end` say, in a sentence."""
        inside = [what for at, what in self.samples if start < at <= end]
        idle = [what for what in inside if what is not None]
        if not inside:
            return "no sample"
        shares = ", ".join(
            f"{sum(key in what for what in idle) / len(idle) * 100:.0f} % {label}"
            for label, key in self.LABELS
        ) if idle else "none"  # fmt: skip
        share = len(idle) / len(inside) * 100
        return f"a CPU idle in {share:.1f} % of {len(inside)} moments ({shares})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--letters", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024, help="bytes per letter")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--rate", type=float, default=None,
        help="letters started per second (paced, as bench.throughput's half load); default: "
        "flat out",
    )  # fmt: skip
    parser.add_argument(
        "--idle", action="store_true",
        help="also sample, every 3 ms, the moments a CPU stands idle and what the main and "
        "certificate processes are doing then (after the last 250)",
    )  # fmt: skip
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: smtp-sink starts as root")
    with lone_gateway(args.postgres) as (pool, target):
        measure(pool, target, first=0, letters=40, sessions=args.sessions,
                size=args.size, tag="warm", timeout=600)  # fmt: skip
        for number in range(args.rounds):
            before, database_before = by_role(target.roots[0]), target.database_cpu()
            roles = {pid: part for pid, (part, _) in before.items()}
            with MachineUse() as machine, ExitStack() as stack:
                moments = stack.enter_context(IdleMoments(roles)) if args.idle else None
                start = time.perf_counter()
                result = measure(pool, target, first=1000 * (number + 1), letters=args.letters,
                                 sessions=args.sessions, size=args.size, tag=f"round{number}",
                                 timeout=1800, rate=args.rate)  # fmt: skip
                end = time.perf_counter()
            after, database_after = by_role(target.roots[0]), target.database_cpu()
            last_250 = start + args.letters / result.acked
            arriving, backlog = machine.between(start, last_250), machine.between(last_250, end)
            parts: dict[str, Usage] = collections.defaultdict(Usage)
            for pid, (part, used) in after.items():
                parts[part] += used - before.get(pid, (part, Usage()))[1]
            n = args.letters
            figures = [
                f"{part} {(u.user + u.system) / n * 1000:.1f} ({u.system / n * 1000:.1f} system, "
                f"{u.written / n / 1000:.0f} KB written, context switches {u.voluntary / n:.1f} "
                f"voluntary and {u.involuntary / n:.1f} involuntary, waited for a CPU "
                f"{u.queued / n * 1000:.1f}, minor page faults {u.faults / n:.0f})"
                for part, u in sorted(parts.items())
            ]
            if database_before is not None and database_after is not None:
                figures.append(
                    f"PostgreSQL server {(database_after - database_before) / n * 1000:.1f}"
                )
            use = ", ".join(
                f"{busy:.2f} CPUs busy {when}"
                for busy, when in (
                    (arriving, "while letters arrive"),
                    (backlog, "after the last 250"),
                )
                if busy is not None
            )
            print(
                f"round {number + 1} ({'PostgreSQL' if args.postgres else 'SQLite'}, "
                f"{args.letters} letters of {args.size} bytes): acknowledged {result.acked:.0f}/s, "
                f"fully processed {result.done:.1f}/s; CPU ms per letter: {', '.join(figures)}; "
                f"the machine {use}"
                + (f"; after the last 250, {moments.between(last_250, end)}" if moments else ""),
                flush=True,
            )


if __name__ == "__main__":
    main()
