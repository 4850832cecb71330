"""Where a letter's CPU goes: the whole gateway process tree sampled under bench.throughput's load.

Starts `lre-gateway serve` (SQLite, or PostgreSQL with --postgres) in smarthost mode towards an
smtp-sink, warms it up, then sends LETTERS letters with bench.throughput's load generator while
py-spy samples every process of the tree (the main process, the SMTP process, the certificate
processes). Prints, per process role, the CPU milliseconds per letter that the samples account
for and the functions with the most samples, inclusive (a function and what it calls) and self;
and from /proc, the CPU per letter of the whole tree and of the main process alone (py-spy's
samples count a thread waiting for a busy core as running: on a loaded machine they overstate).

    python -m bench.profile [--letters 300] [--postgres] [--top 25] [--keep FILE] [--gil]
                            [--rate LETTERS_PER_S]

Needs root (smtp-sink), and py-spy (`.venv/bin/pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bench.throughput import lone_gateway, measure

RATE = 250  # samples per second and process
# where a thread waits (py-spy counts some waits inside C calls as active): left out — among
# them a certificate process's watch on the gateway's end (`select` on a pidfd, its whole life)
# and psycopg waiting for the server (its C wait loop: 15-20 % of the SMTP process's samples
# on PostgreSQL otherwise, ~1 % with --gil)
IDLE = re.compile(
    r"^(_worker \(concurrent/futures/thread\.py\)|\w*Selector\.select |Condition\.wait |"
    r"Connection\._recv|_serve_one \(multiprocessing/forkserver\.py\)|"
    r"_exit_with\.<locals>\.watch |Connection\.wait \(psycopg/)"
)
# frames every stack of a process passes through: not worth a line
PLUMBING = re.compile(
    r"^(<module>|_main|spawn_main|main|run|_run_code|_run_module_as_main|BaseProcess\.|Thread\.|"
    r"Runner\.run|BaseEventLoop\.(run_until_complete|run_forever|_run_once)|Handle\._run|"
    r"_process_worker|_WorkItem\.run|_worker|_serve_one|\s) "
)


def process_cpu(pid: int) -> float:
    """Seconds of CPU one process has used (user and system, all its threads; not children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def role(process_frame: str) -> str:
    """'process 123:"python -m gateway serve"' -> a readable name for the process's part."""
    command = process_frame.split(":", 1)[-1]
    if "forkserver" in command:
        return "certificate processes"
    if "spawn_main" in command or "multiprocessing" in command:
        return "SMTP process"
    if "gateway" in command:
        return "main process"
    return command.strip('"')[:60]


def parse(lines: Iterable[str]) -> dict[str, list[tuple[list[str], int]]]:
    """py-spy's raw (collapsed) output: per role, (frames outermost first, samples)."""
    stacks: dict[str, list[tuple[list[str], int]]] = collections.defaultdict(list)
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        owners = [i for i, frame in enumerate(frames) if frame.startswith("process ")]
        who = role(frames[owners[-1]]) if owners else "main process"
        frames = [_short(f) for f in (frames[owners[-1] + 1 :] if owners else frames)]
        if frames and not IDLE.match(frames[-1]):
            stacks[who].append((frames, int(count)))
    return stacks


def _short(frame: str) -> str:
    """'render (gateway/pdf/render.py:120)' -> 'render (gateway/pdf/render.py)'."""
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\(/\S*/(site-packages|lib/python3\.\d+)/", r"(", frame)


def report(stacks: dict[str, list[tuple[list[str], int]]], letters: int, top: int) -> str:
    out = []
    per_sample_ms = 1000 / RATE
    total = sum(c for entries in stacks.values() for _, c in entries)
    out.append(f"{total * per_sample_ms / letters:.1f} ms of sampled CPU per letter in all\n")
    for who, entries in sorted(stacks.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        samples = sum(c for _, c in entries)
        inclusive: collections.Counter[str] = collections.Counter()
        own: collections.Counter[str] = collections.Counter()
        for frames, count in entries:
            for frame in set(frames):
                if not PLUMBING.match(frame):
                    inclusive[frame] += count
            if frames:
                own[frames[-1]] += count
        out.append(f"## {who}: {samples * per_sample_ms / letters:.1f} ms per letter\n")
        out.append("inclusive (ms/letter)")
        for frame, count in inclusive.most_common(top):
            out.append(f"  {count * per_sample_ms / letters:7.2f}  {frame}")
        out.append("self (ms/letter)")
        for frame, count in own.most_common(top):
            out.append(f"  {count * per_sample_ms / letters:7.2f}  {frame}")
        out.append("")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--letters", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024, help="bytes per letter")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--rate", type=float,
        help="letters offered per second (default: as fast as the sessions go); well below "
        "the gateway's rate, no process waits for a core and the samples are its CPU",
    )  # fmt: skip
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw samples in this file")
    parser.add_argument(
        "--gil", action="store_true",
        help="sample only the thread holding the GIL (no waits counted; C code that releases "
        "the GIL, such as a commit's fsync, is not counted either)",
    )  # fmt: skip
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is missing: .venv/bin/pip install -e '.[bench]'")
    if os.geteuid() != 0:
        raise SystemExit("run as root: smtp-sink starts as root, py-spy attaches to processes")
    with lone_gateway(args.postgres) as (pool, target), tempfile.TemporaryDirectory() as tmp:
        measure(pool, target, first=0, letters=40, sessions=args.sessions,
                size=args.size, tag="warm", timeout=600)  # fmt: skip
        raw = args.keep or Path(tmp) / "samples.txt"
        recorder = subprocess.Popen(
            [spy, "record", "--pid", str(target.roots[0]), "--subprocesses", "--rate", str(RATE),
             "--format", "raw", "--output", str(raw), "--full-filenames",
             *(["--gil"] if args.gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        main_cpu = process_cpu(target.roots[0])
        try:
            result = measure(pool, target, first=40, letters=args.letters,
                             sessions=args.sessions, size=args.size, tag="profile",
                             timeout=1800, rate=args.rate)  # fmt: skip
        finally:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=120)
        print(f"{args.letters} letters of {args.size} bytes, {result}")
        main_cpu = process_cpu(target.roots[0]) - main_cpu
        print(f"CPU per letter of the process tree (/proc): {result.cpu * 1000:.1f} ms")
        print(
            f"CPU per letter of the main process (/proc): {main_cpu / args.letters * 1000:.1f} ms\n"
        )
        print(report(parse(raw.read_text().splitlines()), args.letters, args.top))


if __name__ == "__main__":
    main()
