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
    python -m bench.smtp_cpu --alone [--base REF] [--profile DIR] [--rate 89] ...

With --alone, each variant is its SMTP process alone (bench/smtp_alone.py: `submission_only`
serving the port, no main process, so no background work beside the load: far less noise),
and a round ends with its last 250. --profile DIR also writes, per variant, cProfile's
statistics of that process's event loop over every round (DIR/<variant>.prof; read with
`python -m pstats`).

Needs root (smtp-sink; with --postgres, a PostgreSQL server of its own: bench.postgres).
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
from bench.throughput import CLK_TCK, Sink, Target, gateway_config, measure, run_load, tree

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
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and newer (Debian's 3.11.2: not)
            tar.extractall(into, filter="data")
        else:  # this repository's own commit, archived by git just now
            tar.extractall(into)  # noqa: S202
    archive_path.unlink()
    return into


@contextmanager
def gateway(
    variant: Variant, home: Path, database: str, sink: Sink
) -> Iterator[subprocess.Popen[bytes]]:
    home.mkdir(parents=True)
    config, port = gateway_config(home, database, sink.port)
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
        variant._target = Target(variant.name, [port], [server.pid], True, database, sink=sink)
        yield server
    finally:
        server.terminate()
        server.wait()


@contextmanager
def alone(
    variant: Variant, home: Path, database: str, profile: Path | None
) -> Iterator[subprocess.Popen[bytes]]:
    """The variant's SMTP process alone (bench/smtp_alone.py), over a gateway made by `init`."""
    home.mkdir(parents=True)
    config, port = gateway_config(home, database, sink=9)  # nothing is ever sent there
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
    # -P: not bench/ first on sys.path (bench/profile.py would hide the standard library's)
    runner = [sys.executable, "-P", str(HERE / "bench" / "smtp_alone.py"), str(config)]
    server = subprocess.Popen(
        [*runner, *([str(profile)] if profile else [])],
        env=env,
        cwd=home,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # as bench.throughput's gateways: the log lines still made
    )
    try:
        if server.stdout is None or server.stdout.readline().strip() != b"ready":
            raise SystemExit(f"{variant.name}: the SMTP process did not start")
        wait_port(port, server)
        variant._target = Target(variant.name, [port], [server.pid], True, database)
        yield server
    finally:
        if server.stdin is not None:
            server.stdin.close()  # it stops (and writes its profile)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            print(f"{variant.name}: the SMTP process did not stop: killed", file=sys.stderr)
            server.kill()
            server.wait()


def go(server: subprocess.Popen[bytes]) -> None:
    """Tell an alone SMTP process that the measured letters start (its profiler starts)."""
    if server.stdin is not None:
        server.stdin.write(b"go\n")
        server.stdin.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--base", help="also the code of this commit (alternating rounds)")
    parser.add_argument("--letters", type=int, default=200, help="letters per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024, help="bytes per letter")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800, help="per round, seconds")
    parser.add_argument("--alone", action="store_true", help="the SMTP process alone")
    parser.add_argument(
        "--rate", type=float, default=None,
        help="letters started per second (paced, as bench.throughput's half load)",
    )  # fmt: skip
    parser.add_argument("--profile", type=Path, help="with --alone: cProfile files here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: smtp-sink starts as root")
    from concurrent.futures import ProcessPoolExecutor

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp)
        root.chmod(0o755)
        variants = [Variant("this code", HERE)]
        if args.base:
            base = extract(args.base, root / "base-code")
            variants.insert(0, Variant(f"base {args.base}", base))
        pool = stack.enter_context(ProcessPoolExecutor(1))
        pool.submit(int).result()  # forked now: it holds no end of the servers' pipes
        servers = []
        for number, variant in enumerate(variants):
            database = (
                stack.enter_context(postgres_database())
                if args.postgres
                else f"sqlite:///{root}/gateway-{number}.db"
            )
            home = root / f"gateway-{number}"
            if args.alone:
                profile = None
                if args.profile:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    profile = args.profile.resolve() / f"{variant.name.replace(' ', '-')}.prof"
                servers.append(stack.enter_context(alone(variant, home, database, profile)))
            else:
                sink = Sink(root)
                stack.callback(sink.close)
                servers.append(stack.enter_context(gateway(variant, home, database, sink)))
        first = 0
        for variant in variants:  # warm-up: imports, caches, connections, certificate processes
            if args.alone:
                pool.submit(run_load, variant.target.ports, first, 40, args.sessions, args.size,
                            True, "warm").result()  # fmt: skip
            else:
                measure(pool, variant.target, first=first, letters=40, sessions=args.sessions,
                        size=args.size, tag="warm", timeout=args.timeout)  # fmt: skip
            first += 40
        for server in servers:
            go(server)
        for number in range(args.rounds):
            for variant in variants:
                target = variant.target
                pids = target.roots if args.alone else smtp_pids(target.roots[0])
                before = sum(own_cpu(pid) for pid in pids)
                if args.alone:
                    load = (target.ports, first, args.letters, args.sessions, args.size, True)
                    elapsed, sent = pool.submit(run_load, *load, "bench", args.rate).result()
                    if len(sent) != args.letters:
                        raise SystemExit(f"{variant.name}: {len(sent)} of {args.letters} sent")
                    result_cpu, result_acked = 0.0, args.letters / elapsed
                else:
                    result = measure(pool, target, first=first, letters=args.letters,
                                     sessions=args.sessions, size=args.size, tag="bench",
                                     timeout=args.timeout, rate=args.rate)  # fmt: skip
                    if smtp_pids(target.roots[0]) != pids:
                        raise SystemExit(f"{variant.name}: an SMTP process restarted mid-round")
                    result_cpu, result_acked = result.cpu, result.acked
                first += args.letters
                smtp = (sum(own_cpu(pid) for pid in pids) - before) / args.letters
                variant.smtp.append(smtp)
                variant.whole.append(result_cpu)
                variant.acked.append(result_acked)
                print(
                    f"round {number + 1} {variant.name}: SMTP process {smtp * 1000:.2f} ms/letter, "
                    f"tree {result_cpu * 1000:.1f} ms/letter, acknowledged {result_acked:.0f}/s",
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
        if len(variants) == 2:  # round by round, each paired with the base's round before it
            base_rounds, ours = variants[0].smtp, variants[1].smtp
            gains = [(b - o) * 1000 for b, o in zip(base_rounds, ours, strict=True)]
            saved = statistics.median(gains)
            each = ", ".join(f"{g:.2f}" for g in gains)
            print(f"\nSMTP CPU saved per letter, round by round: median {saved:.2f} ms ({each})")


if __name__ == "__main__":
    main()
