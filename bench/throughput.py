"""Throughput against Postfix: letters/s acknowledged and fully processed, side by side.

The same load generator (bench/loadgen.c, a process of its own; LRE_BENCH_CLIENT=aiosmtplib:
the Python one of the runs before 2026-12-05) drives in alternating rounds:

- postfix: a private Postfix (`postfix -c DIR`, durable queue, STARTTLS) relaying to smtp-sink;
- sqlite / postgres: `lre-gateway serve` on its embedded default, then on PostgreSQL, with
  `delivery.mode = "smarthost"` pointing at an smtp-sink.

Each letter is its own connection (EHLO, STARTTLS, AUTH for the gateway — Postfix has no SASL
here and relays for loopback instead —, MAIL, RCPT, DATA, QUIT), SESSIONS at a time. Reported,
median over the rounds: letters/s acknowledged (the 250 to DATA) and fully processed (Postfix:
every letter handed to the sink; gateway: every notification and every proof mail, its sealed
PDF certificate attached, handed to the smarthost), their ratios to Postfix, p50/p99 from the
DATA command to the 250, p99 from the 250 to the proof of deposit handed over, and CPU seconds
per letter of the server's whole process tree (Postfix's master and daemons; the gateway and
its certificate processes), and for the gateway on PostgreSQL, beside it, the CPU of the
PostgreSQL server (its work for the gateway, which on SQLite the gateway does itself).

    python -m bench.throughput --quick                 # 1 round of 40 letters: minutes
    python -m bench.throughput                         # 3 rounds of 600 letters, 1 KB and 100 KB
    python -m bench.throughput --before                # also the gateway as before (SMTP in
                                                       # the main process: smtp.processes = 0)
    python -m bench.throughput --half-load [--also ...]  # only the latency targets, at half of
                                                       # Postfix's rate, in alternating rounds
    python -m bench.throughput --soak 100000           # RSS and rates every 10,000 letters
    python -m bench.throughput --nodes 2 [--quick]     # two gateways sharing one PostgreSQL
    python -m bench.throughput --smtp-processes 1      # also SQLite with 1 SMTP process
    python -m bench.throughput --also smtp.main_nice=0 # also SQLite with a setting changed
    python -m bench.throughput --also smtp.main_nice=19+smtp.processes=1  # settings joined
    python -m bench.throughput --also postgres:smtp.main_nice=10  # on PostgreSQL
    python -m bench.throughput --python VENV/bin/python  # also SQLite with the gateway installed
                                                       # in VENV (its code, not this checkout's)

Needs root (Postfix's master starts as root; PostgreSQL, a server of its own: bench.postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import hashlib
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Final

import aiosmtplib
from sqlalchemy import create_engine, func, select, text

from bench.deposit import (
    PASSWORD,
    SENDER,
    engine_url,
    forget_database,
    free_port,
    polling_engine,
    postgres_database,
    wait_port,
)
from gateway.storage import tables as t
from tests.support.postfix import Postfix

SINK = "/usr/sbin/smtp-sink"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# load generator (runs in its own process) ------------------------------------------------


def letter(n: int, size: int, tag: str) -> bytes:
    head = (
        f"From: Bench <{SENDER}>\r\nTo: r{n}@example.com\r\nSubject: Lettre {n}\r\n"
        f"Message-ID: <{tag}-{n}@bench.example.ma>\r\n\r\n"
    )
    line = "Madame, Monsieur, veuillez trouver ci-joint notre lettre recommandee.\r\n"
    body = (line * (size // len(line) + 1))[: max(0, size - len(head))]
    return (head + body).encode()


@dataclass
class Sent:
    """One acknowledged letter: its number, when the 250 came (epoch s), DATA→250 (s)."""

    n: int
    acked_at: float
    data_latency: float


async def _load(
    ports: Sequence[int],
    first: int,
    letters: int,
    sessions: int,
    size: int,
    auth: bool,
    tag: str,
    rate: float | None,
) -> tuple[float, list[Sent]]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(first, first + letters):
        queue.put_nowait(n)
    sent: list[Sent] = []

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            if rate:  # paced: letter n starts (n - first) / rate seconds after the first
                await asyncio.sleep(max(0.0, began + (n - first) / rate - time.perf_counter()))
            client = aiosmtplib.SMTP(
                hostname="127.0.0.1",
                port=ports[n % len(ports)],
                start_tls=True,
                tls_context=context,
                timeout=120,
            )
            await client.connect()
            closed = _closed(client)
            if auth:
                await client.login(SENDER, PASSWORD)
            await client.mail(SENDER)
            await client.rcpt(f"r{n}@example.com")
            message = letter(n, size, tag)
            start = time.perf_counter()
            await client.data(message)
            latency = time.perf_counter() - start
            sent.append(Sent(n, time.time(), latency))
            transport = client.transport
            await client.quit()
            # closed for good before the loop ends: quit() starts the TLS shutdown, which ends
            # when the server's close_notify arrives; asyncio.run does not wait for it, and a
            # socket left open met the garbage collector in whichever test ran next
            try:
                await asyncio.wait_for(closed, timeout=10)
            except TimeoutError:
                if isinstance(transport, asyncio.Transport):
                    transport.abort()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(sessions)))
    return time.perf_counter() - began, sent


def _closed(client: aiosmtplib.SMTP) -> asyncio.Future[None]:
    """Resolved once the client's connection is lost (as asyncio tells its protocol)."""
    protocol = client.protocol
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    if protocol is None:
        closed.set_result(None)
        return closed
    told = protocol.connection_lost

    def lost(exc: Exception | None) -> None:
        told(exc)
        if not closed.done():
            closed.set_result(None)

    protocol.connection_lost = lost  # type: ignore[method-assign]
    return closed


def run_load(
    ports: Sequence[int],
    first: int,
    letters: int,
    sessions: int,
    size: int,
    auth: bool,
    tag: str,
    rate: float | None = None,
) -> tuple[float, list[Sent]]:
    """Entry point of the load process: (seconds taken, the letters acknowledged), sent by
    bench/loadgen.c (or by aiosmtplib, as before 2026-12-05, where LRE_BENCH_CLIENT is
    "aiosmtplib": the same sessions and letters at 3.0-3.2 ms of CPU a 1 KB letter, against
    the C generator's 1.2-1.3 — the load generator shares the machine with the server it
    drives, and the Python one held Postfix back, at 100 KB most).

    rate: letters started per second (open loop, at most `sessions` at once); None: flat out.
    """
    if os.environ.get("LRE_BENCH_CLIENT") == "aiosmtplib":
        return asyncio.run(_load(ports, first, letters, sessions, size, auth, tag, rate))
    command = [str(load_generator()), ",".join(map(str, ports))]
    command += [str(v) for v in (first, letters, sessions, size, int(auth), tag, rate or 0)]
    done = subprocess.run(
        [*command, SENDER, PASSWORD], capture_output=True, timeout=600 + letters, check=False
    )
    if done.returncode:
        raise RuntimeError(f"the load generator stopped: {done.stderr.decode().strip()}")
    *lines, last = done.stdout.decode().splitlines()
    sent = [Sent(int(n), float(at), float(wait)) for n, at, wait in map(str.split, lines)]
    return float(last.split()[1]), sent


LOAD_GENERATOR = Path(__file__).with_name("loadgen.c")
# where it is built: the checkout's var/ (out of git), not a shared temporary directory where
# another user could leave a program of that name for a benchmark run as root
BUILT = Path(__file__).resolve().parent.parent / "var" / "bench"


@functools.cache
def load_generator() -> Path:
    """bench/loadgen.c compiled (once per version of its source, in var/bench/)."""
    source = LOAD_GENERATOR.read_bytes()
    BUILT.mkdir(parents=True, exist_ok=True)
    built = BUILT / f"loadgen-{hashlib.sha256(source).hexdigest()[:16]}"
    if not built.exists():
        building = built.with_name(f"{built.name}.{os.getpid()}")
        compiler = shutil.which("cc") or "gcc"
        done = subprocess.run(
            [compiler, "-O2", "-o", building, LOAD_GENERATOR, "-lssl", "-lcrypto"],
            capture_output=True,
            check=False,
        )
        if done.returncode:
            error = done.stderr.decode().strip().splitlines()
            raise SystemExit(
                "the load generator (bench/loadgen.c) needs a C compiler and OpenSSL's headers "
                f"(Debian: apt-get install gcc libssl-dev): {error[0] if error else done}"
            )
        building.replace(built)
    return built


# process-tree measurements ----------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of pid and its reaped children)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ppid, ticks / CLK_TCK


def tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                parents[int(entry)] = stat[0]
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found.extend(frontier)
    return found


def tree_cpu(root: int) -> float:
    return sum(s[1] for pid in tree(root) if (s := _stat(pid)) is not None)


def tree_rss_mb(root: int) -> dict[str, float]:
    """RSS in MB of the gateway's processes by part: main, SMTP, certificates, other, all."""
    parts = dict.fromkeys(("main", "SMTP", "certificates", "other", "all"), 0.0)
    for pid in tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            parent_command = Path(f"/proc/{parent}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        mb = int(match.group(1)) / 1024 if match else 0.0
        if pid == root:
            part = "main"
        elif b"spawn_main" in command:
            part = "SMTP"
        elif b"forkserver" in command and b"forkserver" in parent_command:
            part = "certificates"  # forked by the forkserver (which is "other")
        else:
            part = "other"
        parts[part] += mb
        parts["all"] += mb
    return parts


# the servers ------------------------------------------------------------------------------


class Sink:
    """smtp-sink on a loopback port, each mail received and dropped; with `dump`, each mail
    written to a file of its own (`message_ids`: the two nodes' run looks for duplicates).

    The side-by-side rounds drop them: the sink stands for the next hop, on another machine
    in production, and writing every mail to a file cost this 2-core machine's CPU in
    proportion to the bytes relayed (~90 KB a letter from the gateway, its notification and
    its proof mail with the PDF, against Postfix's 1 KB): 16-38 % of a CPU while the gateway
    was measured, taken from both the gateway and the load generator.

    It counts the mails it receives (`-c`: "sess=N quit=N mesg=N" and a carriage return on its
    output, a file, at each end of a session, QUIT and "."): `received` reads them on from where
    the last look stopped, as Postfix's log is read for its deliveries, so that looking how far
    the gateway got costs the gateway nothing."""

    def __init__(self, root: Path, *, dump: bool = False) -> None:
        self.port = free_port()
        self.dir = root / f"sink-{self.port}"
        self.dir.mkdir()
        shutil.chown(self.dir, "postfix")
        files = ["-d", f"{self.dir}/%H%M%S."] if dump else []
        self.counters = root / f"sink-{self.port}.counters"
        with self.counters.open("wb") as counters:
            self.process = subprocess.Popen(
                [SINK, "-c", "-u", "postfix", *files, f"127.0.0.1:{self.port}", "256"],
                stdout=counters,
            )
        self._read = (0, 0)  # bytes of the counters read, the mails they counted
        wait_port(self.port, self.process)

    def received(self) -> int:
        """The mails received so far (each answered 250 after its ".")."""
        read, received = self._read
        with self.counters.open("rb") as counters:
            counters.seek(read)
            new = counters.read()
        whole = new[: new.rfind(b"\r") + 1]  # counters being written are read next time
        found = _MESSAGES.findall(whole)
        self._read = read + len(whole), int(found[-1]) if found else received
        return self._read[1]

    def message_ids(self) -> list[str]:
        ids = []
        for dump in self.dir.iterdir():
            match = re.search(rb"^Message-ID:\s*(\S+)", dump.read_bytes(), re.M | re.I)
            ids.append(match.group(1).decode() if match else dump.name)
        return ids

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


_MESSAGES = re.compile(rb"mesg=(\d+)\r")  # smtp-sink's count of mails received (-c)


@dataclass
class Round:
    acked: float  # letters/s
    done: float  # letters/s fully processed
    p50: float  # s, DATA -> 250
    p99: float
    proof_p99: float | None  # s, 250 -> proof of deposit handed over
    proof_max: float | None
    cpu: float  # CPU s per letter, server tree
    database_cpu: float | None = None  # CPU s per letter of the PostgreSQL server, if used
    client_cpu: float | None = None  # CPU s per letter of the load generator


@dataclass
class Target:
    name: str
    ports: list[int]
    roots: list[int]
    auth: bool
    database: str = ""
    postfix: Postfix | None = None
    sink: Sink | None = None  # the gateway's next hop
    rounds: dict[int, list[Round]] = field(default_factory=dict)
    _log_read: tuple[int, int] = (0, 0)  # Postfix's log: bytes read, deliveries counted in them

    def delivered(self) -> int:
        """Mails handed to the next hop: for Postfix every delivery its log names, for the
        gateway every mail its sink received, each read on from where the last look stopped:
        a round's looks (every 50 ms) cost the same at the 100,000th letter as at the first,
        and they cost the measured server nothing. (The gateway's own queue was asked before,
        in a statement a look: on PostgreSQL ~0.14 ms of the server's CPU a letter, charged
        to the gateway; counting every mail ever sent cost 94 ms a look after 100,000
        letters.)"""
        if self.postfix is None:
            if self.sink is None:
                raise ValueError(f"{self.name}: a gateway measured without its sink")
            return self.sink.received()
        read, counted = self._log_read
        if self.postfix.log.exists():
            with self.postfix.log.open("rb") as log:
                log.seek(read)
                new = log.read()
            whole = new[: new.rfind(b"\n") + 1]  # a line being written is read next time
            self._log_read = read + len(whole), counted + whole.count(b"status=sent")
        return self._log_read[1]

    def cpu(self) -> float:
        return sum(tree_cpu(root) for root in self.roots)

    def database_cpu(self) -> float | None:
        """CPU seconds so far of the PostgreSQL server this target uses (its postmaster and
        every server process, those that ended included); None on SQLite, whose work is the
        gateway's own. The machine's PostgreSQL serves only the benchmark meanwhile."""
        if not self.database.startswith("postgresql"):
            return None
        with polling_engine(self.database).connect() as db:
            backend = int(db.execute(text("SELECT pg_backend_pid()")).scalar_one())
        stat = _stat(backend)
        return None if stat is None else tree_cpu(stat[0])  # its parent: the postmaster


def proof_times(database: str, tag: str) -> dict[int, float]:
    """Letter number -> when its proof of deposit was handed over (epoch s)."""
    engine = create_engine(engine_url(database))
    query = (
        select(t.letters.c.message_id, t.outbound.c.sent_at)
        .join(t.deliveries, t.deliveries.c.letter_id == t.letters.c.id)
        .join(t.outbound, t.outbound.c.delivery_id == t.deliveries.c.id)
        .join(t.evidence, t.evidence.c.id == t.outbound.c.evidence_id)
        .where(t.outbound.c.kind == "proof", t.evidence.c.type == "SubmissionAcceptance")
        .where(t.letters.c.message_id.like(f"%<{tag}-%"))
    )
    times = {}
    with engine.connect() as db:
        for message_id, sent_at in db.execute(query):
            match = re.search(rf"{tag}-(\d+)@", message_id or "")
            if match and sent_at is not None:
                stamp = sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)
                times[int(match.group(1))] = stamp.timestamp()
    engine.dispose()
    return times


def gateway_config(
    workdir: Path,
    database: str,
    sink: int,
    processes: int = 0,
    smtp_processes: int | None = None,
    also: Sequence[str] = (),
) -> tuple[Path, int]:
    """The benchmark's gateway.toml; `also` adds settings written SECTION.KEY=VALUE (TOML).
    `smtp_processes` None: the gateway's default."""
    port = free_port()
    sections: dict[str, dict[str, str]] = {
        "gateway": {
            "data_dir": f'"{workdir / "var"}"',
            "public_url": f'"http://127.0.0.1:{free_port()}"',
        },
        "database": {"url": f'"{database}"'},
        "smtp": {
            "submission": f'"127.0.0.1:{port}"',
            "submissions": '""',
            "inbound": '""',
            **({} if smtp_processes is None else {"processes": str(smtp_processes)}),
        },
        "web": {"listen": f'"127.0.0.1:{free_port()}"'},
        "delivery": {
            "mode": '"smarthost"',
            "smarthost": f'"127.0.0.1:{sink}"',
            "smarthost_tls": '"none"',
        },
        "evidence": {  # one certificate process (bench.pdf's measures): not lowered
            "certificate_processes": str(processes),
            **({"certificate_nice": "0", "certificate_idle": "false"} if processes == 1 else {}),
        },
    }
    for setting in also:
        name, _, value = setting.partition("=")
        section, _, key = name.partition(".")
        sections.setdefault(section, {})[key] = value
    config = workdir / "gateway.toml"
    config.write_text(
        "".join(
            f"[{section}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())
            for section, keys in sections.items()
        )
    )
    return config, port


GATEWAY = [sys.executable, "-m", "gateway"]


def gateway_command(python: str | None = None) -> list[str]:
    """The gateway's command line: run by this interpreter, or by `python` (another venv's, with
    the gateway installed: `--python`)."""
    # -P: not the current directory first in its sys.path, where `-m gateway` would find this
    # checkout's code instead of the one installed in that venv
    return GATEWAY if python is None else [python, "-P", "-m", "gateway"]


def gateway_env(config: Path) -> dict[str, str]:
    return {**os.environ, "LRE_GATEWAY_CONFIG": str(config)}


def prepare_gateway(
    workdir: Path,
    database: str,
    sink: int,
    processes: int = 0,
    smtp_processes: int | None = None,
    also: Sequence[str] = (),
    python: str | None = None,
) -> tuple[Path, int]:
    workdir.mkdir(parents=True, exist_ok=True)
    config, port = gateway_config(workdir, database, sink, processes, smtp_processes, also)
    env = gateway_env(config)
    subprocess.run([*gateway_command(python), "init"], env=env, check=True, capture_output=True)
    return config, port


def add_sender(config: Path, python: str | None = None) -> None:
    subprocess.run(
        [*gateway_command(python), "sender", "add", SENDER, "--name", "Bench", "--password-stdin"],
        env=gateway_env(config),
        input=PASSWORD.encode(),
        check=True,
        capture_output=True,
    )


@contextmanager
def serve(config: Path, port: int, python: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """The gateway serving, its log in its home directory; when it stops, the errors it logged
    are printed (a run is measured only where nothing went wrong: a 451 the load generator
    stops on says why here)."""
    log = config.parent / "gateway.log"
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            [*gateway_command(python), "serve"], env=gateway_env(config), stderr=stderr
        )
    try:
        wait_port(port, server)
        yield server
    finally:
        server.terminate()
        server.wait()
        errors = logged_errors(log)
        if errors:
            print(f"the gateway of {config.parent.name} logged errors:", *errors, sep="\n  ",
                  file=sys.stderr)  # fmt: skip


RECORD: Final = re.compile(r"^\d{4}-\d\d-\d\d \S+ (\w+) ")  # a text log record's first line


def logged_errors(log: Path, most: int = 40) -> list[str]:
    """The ERROR and CRITICAL records of a gateway's text log, each with the lines that follow
    it until the next record (its traceback), `most` lines at most."""
    found: list[str] = []
    inside = False
    with log.open(errors="replace") as lines:
        for line in lines:
            record = RECORD.match(line)
            if record is not None:
                inside = record.group(1) in ("ERROR", "CRITICAL")
            if inside and len(found) < most:
                found.append(line.rstrip("\n"))
    return found


def postfix_relay(root: Path, sink: int, pki: Path) -> Postfix:
    port = free_port()
    tls = root / "postfix-tls"
    tls.mkdir()
    for name in ("tls.pem", "tls.key"):
        shutil.copy(pki / name, tls / name)
        (tls / name).chmod(0o644)
    return Postfix(
        port,
        main={
            "relayhost": f"[127.0.0.1]:{sink}",
            "smtpd_tls_cert_file": str(tls / "tls.pem"),
            "smtpd_tls_key_file": str(tls / "tls.key"),
            "smtpd_tls_security_level": "may",
            "smtp_tls_security_level": "none",
            "message_size_limit": "10240000",
        },
    )


# measuring ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    pool: ProcessPoolExecutor,
    target: Target,
    *,
    first: int,
    letters: int,
    sessions: int,
    size: int,
    tag: str,
    timeout: float,
    rate: float | None = None,
) -> Round:
    """One round: load target, wait until every letter is fully processed."""
    per_letter = 1 if target.postfix is not None else 2  # gateway: notification + proof
    # every mail of the rounds before is handed over: those counted from now on are this round's
    before_sent = target.delivered()
    cpu_before = target.cpu()
    database_before = target.database_cpu()
    client_before = pool.submit(os.times).result()  # the load's process and its generator
    start = time.perf_counter()
    elapsed, sent = pool.submit(
        run_load, target.ports, first, letters, sessions, size, target.auth, tag, rate
    ).result()
    client_after = pool.submit(os.times).result()
    deadline = time.monotonic() + timeout
    while target.delivered() - before_sent < per_letter * letters:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{target.name}: {target.delivered() - before_sent} of "
                f"{per_letter * letters} mails handed over after {timeout:.0f} s"
            )
        time.sleep(0.05)
    done = time.perf_counter() - start
    cpu = target.cpu() - cpu_before
    database_after = target.database_cpu()
    database_cpu = (
        None
        if database_before is None or database_after is None
        else (database_after - database_before) / letters
    )
    proof_p99 = proof_max = None
    if target.database:
        handed = proof_times(target.database, tag)
        waits = [handed[s.n] - s.acked_at for s in sent if s.n in handed]
        proof_p99 = percentile(waits, 0.99) if waits else None
        proof_max = max(waits) if waits else None
    latencies = [s.data_latency for s in sent]
    return Round(
        acked=letters / elapsed,
        done=letters / done,
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        proof_p99=proof_p99,
        proof_max=proof_max,
        cpu=cpu / letters,
        database_cpu=database_cpu,
        client_cpu=sum(client_after[:4]) / letters - sum(client_before[:4]) / letters,
    )


def median_round(rounds: Sequence[Round]) -> Round:
    proofs = [r.proof_p99 for r in rounds if r.proof_p99 is not None]
    longest = [r.proof_max for r in rounds if r.proof_max is not None]
    database = [r.database_cpu for r in rounds if r.database_cpu is not None]
    client = [r.client_cpu for r in rounds if r.client_cpu is not None]
    return Round(
        acked=statistics.median(r.acked for r in rounds),
        done=statistics.median(r.done for r in rounds),
        p50=statistics.median(r.p50 for r in rounds),
        p99=statistics.median(r.p99 for r in rounds),
        proof_p99=statistics.median(proofs) if proofs else None,
        proof_max=max(longest) if longest else None,
        cpu=statistics.median(r.cpu for r in rounds),
        database_cpu=statistics.median(database) if database else None,
        client_cpu=statistics.median(client) if client else None,
    )


def table(targets: Sequence[Target], sizes: Sequence[int], rounds: int, letters: int) -> str:
    lines = [
        f"throughput: {letters} letters per round, median of {rounds} round(s), "
        "a connection per letter, STARTTLS",
        "",
        "| size | server | acknowledged/s | x Postfix | fully processed/s | x Postfix "
        "| DATA→250 p50 / p99 | 250→proof p99 | CPU/letter | + PostgreSQL server |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        base = median_round(targets[0].rounds[size]) if targets[0].postfix else None
        for target in targets:
            r = median_round(target.rounds[size])
            ack_ratio = f"{r.acked / base.acked:.2f}" if base else "-"
            done_ratio = f"{r.done / base.done:.3f}" if base else "-"
            proof = f"{r.proof_p99:.1f} s" if r.proof_p99 is not None else "-"
            database = f"{r.database_cpu * 1000:.1f} ms" if r.database_cpu is not None else "-"
            lines.append(
                f"| {size // 1024} KB | {target.name} | {r.acked:.0f} | {ack_ratio} "
                f"| {r.done:.1f} | {done_ratio} | {r.p50 * 1000:.0f} / {r.p99 * 1000:.0f} ms "
                f"| {proof} | {r.cpu * 1000:.1f} ms | {database} |"
            )
    # what measuring cost: the load generator shares the machine with the server it drives
    spent = [
        f"{size // 1024} KB {target.name} {r.client_cpu * 1000:.1f} ms"
        for size in sizes
        for target in targets
        if (r := median_round(target.rounds[size])).client_cpu is not None
    ]
    lines += ["", "the load generator's CPU a letter: " + ", ".join(spent)]
    return "\n".join(lines)


# modes ----------------------------------------------------------------------------------


def side_by_side(args: argparse.Namespace) -> None:
    sizes = [1024] if args.half_load else [1024, 100 * 1024]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:  # servers stop first
        root = Path(tmp)
        root.chmod(0o755)
        pool = stack.enter_context(ProcessPoolExecutor(1))
        targets: list[Target] = []
        sinks = []
        # gateways first: their init makes the TLS certificate Postfix uses too
        # (name, SMTP processes: None for the default, settings changed, interpreter: None for
        # this one)
        variants: list[tuple[str, int | None, Sequence[str], str | None]] = [
            ("sqlite", None, (), None),
            ("postgres", None, (), None),
        ]
        for extra in args.smtp_processes:  # the same gateway with another number of them
            variants.append((f"sqlite, {extra} SMTP process(es)", extra, (), None))
        for setting in args.also:  # the same gateway with settings changed ("a=1+b=2")
            database, colon, changed = setting.partition(":")  # "postgres:a=1": on PostgreSQL
            if not colon or database not in ("sqlite", "postgres"):
                database, changed = "sqlite", setting
            variants.append((f"{database}, {changed}", None, tuple(changed.split("+")), None))
        for python in args.python:  # the gateway installed in another venv
            database, colon, path = python.partition(":")
            if not colon or database not in ("sqlite", "postgres"):
                database, path = "sqlite", python
            variants.append((f"{database}, {path}", None, (), path))
        if args.before:  # the gateway as it was: SMTP served by the main process itself
            variants.insert(0, ("sqlite, before: SMTP in the main process", 0, (), None))
        for number, (name, smtp_processes, also, python) in enumerate(variants):
            home = root / f"gateway-{number}"
            sink = Sink(root)
            sinks.append(sink)
            stack.callback(sink.close)
            if name.startswith("sqlite"):
                database = f"sqlite:///{home}/gateway.db"
            else:
                database = stack.enter_context(postgres_database())
            stack.callback(forget_database, database)
            config, port = prepare_gateway(
                home, database, sink.port, smtp_processes=smtp_processes, also=also, python=python
            )
            add_sender(config, python)
            server = stack.enter_context(serve(config, port, python))
            targets.append(Target(name, [port], [server.pid], True, database, sink=sink))
        postfix_sink = Sink(root)
        stack.callback(postfix_sink.close)
        postfix = stack.enter_context(
            postfix_relay(root, postfix_sink.port, root / "gateway-0" / "var" / "pki")
        )
        master = int((postfix.root / "queue" / "pid" / "master.pid").read_text().strip())
        targets.insert(0, Target("postfix", [postfix.port], [master], False, postfix=postfix))

        first = 0
        for target in targets:  # warm-up: connections, caches, the certificate processes
            measure(pool, target, first=first, letters=20, sessions=args.sessions,
                    size=1024, tag="warm", timeout=args.timeout)  # fmt: skip
            first += 20
        for size in sizes:
            for number in range(args.rounds):
                # --half-load: Postfix's rate only, to pace the gateways at half of it
                for target in targets[:1] if args.half_load else targets:
                    result = measure(pool, target, first=first, letters=args.letters,
                                     sessions=args.sessions, size=size, tag="bench",
                                     timeout=args.timeout)  # fmt: skip
                    first += args.letters
                    target.rounds.setdefault(size, []).append(result)
                    print(f"  {size // 1024} KB round {number + 1} {target.name}: {result}")
                    sys.stdout.flush()
        if not args.half_load:
            print()
            print(table(targets, sizes, args.rounds, args.letters))
        half_load(pool, targets, args, first)


def half_load(
    pool: ProcessPoolExecutor, targets: Sequence[Target], args: argparse.Namespace, first: int
) -> None:
    """The latency targets: each gateway paced at half of Postfix's median acknowledged rate;
    in one round, or (--half-load) in alternating rounds, reported as the median p99 and the
    longest wait for a proof of any round."""
    rate = median_round(targets[0].rounds[1024]).acked / 2
    print()
    print(f"at half load: 1 KB letters started at {rate:.0f}/s (half of Postfix's rate)")
    rounds: dict[str, list[Round]] = {target.name: [] for target in targets[1:]}
    for number in range(args.rounds if args.half_load else 1):
        for target in targets[1:]:
            result = measure(pool, target, first=first, letters=args.letters,
                             sessions=args.sessions, size=1024, tag="half",
                             timeout=args.timeout, rate=rate)  # fmt: skip
            first += args.letters
            rounds[target.name].append(result)
            if args.half_load:
                print(f"  half load round {number + 1} {target.name}: {result}")
                sys.stdout.flush()
    print()
    print("| server | DATA→250 p50 / p99 | ≤ 100 ms | 250→proof longest | ≤ 5 s |")
    print("|---|---|---|---|---|")
    for name, results in rounds.items():
        result = median_round(results)
        longest = result.proof_max if result.proof_max is not None else float("inf")
        print(
            f"| {name} | {result.p50 * 1000:.0f} / {result.p99 * 1000:.0f} ms "
            f"| {result.p99 <= 0.1} | {longest:.1f} s | {longest <= 5} |"
        )


def two_nodes(args: argparse.Namespace) -> None:
    """Two gateways, own ports and data directories, sharing keys and one PostgreSQL."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:  # servers stop first
        root = Path(tmp)
        root.chmod(0o755)
        pool = stack.enter_context(ProcessPoolExecutor(1))
        sink = Sink(root, dump=True)  # its duplicates are looked for
        stack.callback(sink.close)
        database = stack.enter_context(postgres_database())
        stack.callback(forget_database, database)
        config_a, port_a = prepare_gateway(root / "a", database, sink.port)
        add_sender(config_a)
        (root / "b").mkdir()
        config_b, port_b = gateway_config(root / "b", database, sink.port)
        shutil.copytree(root / "a" / "var", root / "b" / "var")  # the same keys
        shutil.rmtree(root / "b" / "var" / "outbox", ignore_errors=True)
        node_a = stack.enter_context(serve(config_a, port_a))
        node_b = stack.enter_context(serve(config_b, port_b))
        nodes = [node_a.pid, node_b.pid]
        pair = Target("load on both nodes", [port_a, port_b], nodes, True, database, sink=sink)
        single = Target("load on node a only", [port_a], nodes, True, database, sink=sink)
        measure(pool, pair, first=0, letters=20, sessions=args.sessions, size=1024,
                tag="warm", timeout=args.timeout)  # fmt: skip
        first = 20
        for number in range(args.rounds):
            for target in (single, pair):
                cpu = [tree_cpu(pid) for pid in nodes]
                result = measure(pool, target, first=first, letters=args.letters,
                                 sessions=args.sessions, size=1024, tag="bench",
                                 timeout=args.timeout)  # fmt: skip
                first += args.letters
                work = [tree_cpu(pid) - c for pid, c in zip(nodes, cpu, strict=True)]
                target.rounds.setdefault(1024, []).append(result)
                print(
                    f"  round {number + 1} {target.name}: {result}; CPU s of node a / b: "
                    f"{work[0]:.1f} / {work[1]:.1f}"
                )
                sys.stdout.flush()
        time.sleep(2)  # let a duplicate, if any, reach the sink
        ids = sink.message_ids()
        engine = create_engine(engine_url(database))
        with engine.connect() as db:
            letters_in = db.execute(select(func.count()).select_from(t.letters)).scalar_one()
            queued = db.execute(select(func.count()).select_from(t.outbound)).scalar_one()
        engine.dispose()
        duplicates = len(ids) - len(set(ids))
        print()
        print(table([single, pair], [1024], args.rounds, args.letters))
        print()
        print(
            f"letters sent {first}, deposited {letters_in}; mails queued {queued}, "
            f"received by the sink {len(ids)}, of which duplicates {duplicates}"
        )
        if letters_in != first or len(set(ids)) != queued or duplicates:
            raise SystemExit("FAILED: a letter lost or a mail sent twice")


@contextmanager
def lone_gateway(postgres: bool) -> Iterator[tuple[ProcessPoolExecutor, Target]]:
    """One gateway (SQLite, or PostgreSQL) relaying to an smtp-sink, and the load's process."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:  # servers stop first
        root = Path(tmp)
        root.chmod(0o755)
        pool = stack.enter_context(ProcessPoolExecutor(1))
        sink = Sink(root)
        stack.callback(sink.close)
        database = (
            stack.enter_context(postgres_database()) if postgres else f"sqlite:///{root}/gateway.db"
        )
        stack.callback(forget_database, database)
        config, port = prepare_gateway(root / "gateway", database, sink.port)
        add_sender(config)
        server = stack.enter_context(serve(config, port))
        yield pool, Target("gateway", [port], [server.pid], True, database, sink=sink)


def soak(args: argparse.Namespace) -> None:
    """Many letters through one gateway: RSS, rates and CPU a letter (by process, and the
    PostgreSQL server's) every `--every` letters."""
    from bench.cpu_parts import Usage, by_role  # it imports this module

    with lone_gateway(args.postgres) as (pool, target):
        print(
            "| letters | acknowledged/s | fully processed/s | RSS all | main | SMTP "
            "| certificate processes | forkserver and tracker "
            "| CPU ms/letter: SMTP | certificates | main | PostgreSQL |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        first = 0
        while first < args.soak:
            before, database_before = by_role(target.roots[0]), target.database_cpu()
            result = measure(pool, target, first=first, letters=args.every,
                             sessions=args.sessions, size=1024, tag="soak",
                             timeout=args.timeout)  # fmt: skip
            after, database_after = by_role(target.roots[0]), target.database_cpu()
            first += args.every
            rss = tree_rss_mb(target.roots[0])
            cpu: dict[str, float] = collections.defaultdict(float)
            for pid, (part, used) in after.items():
                spent = used - before.get(pid, (part, Usage()))[1]
                cpu[part] += (spent.user + spent.system) / args.every * 1000
            database = (
                "-"
                if database_before is None or database_after is None
                else f"{(database_after - database_before) / args.every * 1000:.1f}"
            )
            print(
                f"| {first} | {result.acked:.0f} | {result.done:.1f} | "
                + " | ".join(f"{mb:.0f} MB" for mb in (rss["all"], rss["main"], rss["SMTP"]))
                + f" | {rss['certificates']:.0f} MB | {rss['other']:.0f} MB | "
                + " | ".join(
                    f"{cpu[part]:.1f}"
                    for part in ("SMTP processes", "certificate processes", "main process")
                )
                + f" | {database} |"
            )
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1 round of 40 letters")
    parser.add_argument("--letters", type=int, default=600, help="letters per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=3600, help="per round, seconds")
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=1)
    parser.add_argument("--soak", type=int, default=0, help="letters in the memory mode")
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true", help="memory mode on PostgreSQL")
    parser.add_argument(
        "--half-load",
        action="store_true",
        help="only the latency targets: Postfix's 1 KB rounds, then each gateway at half of "
        "its rate in alternating rounds",
    )
    parser.add_argument(
        "--before",
        action="store_true",
        help="also the gateway as it was: SMTP served by the main process (smtp.processes = 0)",
    )
    parser.add_argument(
        "--smtp-processes",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="also the gateway on SQLite with N SMTP processes (smtp.processes), for each N",
    )
    parser.add_argument(
        "--also",
        nargs="*",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="also the gateway on SQLite (or, prefixed 'postgres:', on PostgreSQL) with this "
        "setting (TOML value), for each one; several settings of one variant joined by '+'",
    )
    parser.add_argument(
        "--python",
        nargs="*",
        default=[],
        metavar="PYTHON",
        help="also the gateway on SQLite (or, prefixed 'postgres:', on PostgreSQL) run by this "
        "interpreter (another venv's python): the gateway installed in that venv, not this "
        "checkout's, for each one; the load generator stays this one's",
    )
    args = parser.parse_args()
    if args.quick:
        args.letters, args.rounds = 40, 1
    if os.geteuid() != 0:
        raise SystemExit("run as root: Postfix's master and smtp-sink start as root")
    if args.soak:
        soak(args)
    elif args.nodes == 2:
        two_nodes(args)
    else:
        side_by_side(args)


if __name__ == "__main__":
    main()
