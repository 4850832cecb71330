"""CPU of the SMTP process per accepted letter, this code against another commit, alternating.

Each variant is a `lre-gateway serve` of its own (SQLite, or PostgreSQL with --postgres) in
smarthost mode towards an smtp-sink, with one SMTP process (`smtp.processes = 1`): the code of
this checkout, and with --base REF the code of that commit too (`git archive` into a temporary
directory, served with PYTHONPATH pointing there). bench.throughput's load generator sends
rounds of LETTERS 1 KB letters (a connection each: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA,
QUIT, SESSIONS at a time) to each variant in turn; a round ends when every notification and
proof mail has been handed to the sink, so one variant's background work never overlaps the
other's round. Reported per round and as medians: the SMTP process's CPU per letter (utime +
stime from /proc, every thread of that process, nothing else) and, for context, the CPU per
letter of the whole process tree and the acknowledged rate.

    python -m bench.smtp_cpu [--base REF] [--letters 200] [--rounds 5] [--postgres]

Needs root (smtp-sink) and, with --postgres, PostgreSQL at 127.0.0.1:5432 (user postgres).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.deposit import PASSWORD, SENDER, postgres_database, wait_port
from bench.throughput import CLK_TCK, Sink, Target, gateway_config, measure, tree

HERE = Path(__file__).resolve().parents[1]  # the checkout this module belongs to


def smtp_pids(root: int) -> list[int]:
    """The gateway's SMTP processes: its spawned children (multiprocessing's spawn_main)."""
    found = []
    for pid in tree(root):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def own_cpu(pid: int) -> float:
    """CPU seconds of one process (user + system, all its threads, not its children)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Variant:
    name: str
    code: Path  # the directory holding its `gateway` package
    _target: Target | None = None
    smtp: list[float] = field(default_factory=list)  # CPU s per letter, per round
    whole: list[float] = field(default_factory=list)
    acked: list[float] = field(default_factory=list)

    @property
    def target(self) -> Target:
        if self._target is None:
            raise RuntimeError(f"{self.name}: not serving")
        return self._target

    def env(self, config: Path) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.code), "LRE_GATEWAY_CONFIG": str(config)}


def extract(ref: str, into: Path) -> Path:
    """The tree of commit `ref` of this checkout's repository, written under `into`."""
    git = shutil.which("git")
    if git is None:
        raise SystemExit("--base needs git")
    archive = subprocess.run(
        [git, "-C", str(HERE), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True)
    archive_path = into.with_suffix(".tar")
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(into, filter="data")
    archive_path.unlink()
    return into


@contextmanager
def gateway(
    variant: Variant, home: Path, database: str, sink: int
) -> Iterator[subprocess.Popen[bytes]]:
    home.mkdir(parents=True)
    config, port = gateway_config(home, database, sink)
    env = variant.env(config)
    python = [sys.executable, "-m", "gateway"]
    subprocess.run([*python, "init"], env=env, check=True, capture_output=True, cwd=home)
    subprocess.run(
        [*python, "sender", "add", SENDER, "--name", "Bench", "--password-stdin"],
        env=env,
        input=PASSWORD.encode(),
        check=True,
        capture_output=True,
        cwd=home,
    )
    server = subprocess.Popen([*python, "serve"], env=env, cwd=home, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, server)
        variant._target = Target(variant.name, [port], [server.pid], True, database)
        yield server
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--base", help="also the code of this commit (alternating rounds)")
    parser.add_argument("--letters", type=int, default=200, help="letters per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024, help="bytes per letter")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800, help="per round, seconds")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: smtp-sink starts as root")
    from concurrent.futures import ProcessPoolExecutor

    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        variants = [Variant("this code", HERE)]
        if args.base:
            base = extract(args.base, root / "base-code")
            variants.insert(0, Variant(f"base {args.base}", base))
        pool = stack.enter_context(ProcessPoolExecutor(1))
        for number, variant in enumerate(variants):
            sink = Sink(root)
            stack.callback(sink.close)
            database = (
                stack.enter_context(postgres_database())
                if args.postgres
                else f"sqlite:///{root}/gateway-{number}.db"
            )
            stack.enter_context(gateway(variant, root / f"gateway-{number}", database, sink.port))
        first = 0
        for variant in variants:  # warm-up: imports, caches, connections, certificate processes
            measure(pool, variant.target, first=first, letters=40, sessions=args.sessions,
                    size=args.size, tag="warm", timeout=args.timeout)  # fmt: skip
            first += 40
        for number in range(args.rounds):
            for variant in variants:
                target = variant.target
                pids = smtp_pids(target.roots[0])
                before = sum(own_cpu(pid) for pid in pids)
                result = measure(pool, target, first=first, letters=args.letters,
                                 sessions=args.sessions, size=args.size, tag="bench",
                                 timeout=args.timeout)  # fmt: skip
                first += args.letters
                if smtp_pids(target.roots[0]) != pids:
                    raise SystemExit(f"{variant.name}: an SMTP process restarted mid-round")
                smtp = (sum(own_cpu(pid) for pid in pids) - before) / args.letters
                variant.smtp.append(smtp)
                variant.whole.append(result.cpu)
                variant.acked.append(result.acked)
                print(
                    f"round {number + 1} {variant.name}: SMTP process {smtp * 1000:.2f} ms/letter, "
                    f"tree {result.cpu * 1000:.1f} ms/letter, acknowledged {result.acked:.0f}/s",
                    flush=True,
                )
        print()
        print(f"{args.letters} letters of {args.size} bytes per round, median of {args.rounds}")
        print("| code | SMTP process CPU/letter | rounds | tree CPU/letter | acknowledged/s |")
        print("|---|---|---|---|---|")
        for variant in variants:
            rounds = ", ".join(f"{s * 1000:.2f}" for s in variant.smtp)
            print(
                f"| {variant.name} | {statistics.median(variant.smtp) * 1000:.2f} ms | {rounds} "
                f"| {statistics.median(variant.whole) * 1000:.1f} ms "
                f"| {statistics.median(variant.acked):.0f} |"
            )


if __name__ == "__main__":
    main()
