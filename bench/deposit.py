"""Deposit throughput: registered letters per second through real SMTP, against a baseline.

The gateway (`lre-gateway serve`, SQLite or PostgreSQL) and the baseline (aiosmtpd doing nothing,
with the same STARTTLS + AUTH) each run in their own process and receive the same load: SESSIONS
concurrent clients, one connection per letter, 1 KB letters. Reported: letters/s acknowledged
(250 to DATA, i.e. durably committed with their deposit evidence), the ratio to the baseline,
and how long the background work (sealing, timestamping, notifications, proof mails) takes to
drain.

    python -m bench.deposit [--letters 600] [--sessions 20] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiosmtplib
from sqlalchemy import Engine, create_engine, func, select, text

from bench.postgres import server
from gateway.storage import tables as t

PASSWORD = "bench password 1234"
SENDER = "bench@example.ma"
_random = random.Random()  # noqa: S311 - port numbers, not secrets


# Listening ports are taken below the kernel's ephemeral range (32768-60999 by default): a port
# the kernel hands out (bind to 0) can be taken as the source port of some outgoing connection
# between this call and the server's bind. Each pytest-xdist worker draws from its own slice,
# and a process never hands out the same port twice: two ports drawn for one configuration (a
# web and an SMTP listener) both pass the probe until the first is bound.
_PORTS = range(15000, 32000)
_handed: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nothing listens on, for a server started right after."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... under xdist
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker[2:]) if worker.startswith("gw") else 0
    size = len(_PORTS) // workers
    first = _PORTS.start + index * size
    while True:
        port = _random.randrange(first, first + size)
        if port in _handed:
            if len(_handed) >= size:
                _handed.clear()
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed.add(port)
            return port


def letter(n: int) -> bytes:
    body = ("Madame, Monsieur, " * 50)[:900]
    return (
        f"From: Bench <{SENDER}>\r\nTo: r{n}@example.com\r\nSubject: Lettre {n}\r\n"
        f"Message-ID: <bench-{n}@example.ma>\r\n\r\n{body}\r\n"
    ).encode()


async def load(port: int, letters: int, sessions: int) -> float:
    """Send letters over `sessions` concurrent connections; return letters per second."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(letters):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            client = aiosmtplib.SMTP(
                hostname="127.0.0.1", port=port, start_tls=True, tls_context=context
            )
            await client.connect()
            await client.login(SENDER, PASSWORD)
            await client.sendmail(SENDER, [f"r{n}@example.com"], letter(n))
            await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(sessions)))
    return letters / (time.perf_counter() - start)


def wait_port(port: int, process: subprocess.Popen[bytes], within: float = 120) -> None:
    """Wait until the server accepts on port (a gateway starts in 20-40 s on a loaded machine)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited early")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


def gateway_config(workdir: Path, database: str) -> tuple[Path, int]:
    port = free_port()
    config = workdir / "gateway.toml"
    config.write_text(f"""
[gateway]
data_dir = "{workdir / "var"}"
public_url = "http://127.0.0.1:{free_port()}"
[database]
url = "{database}"
[smtp]
submission = "127.0.0.1:{port}"
submissions = ""
inbound = ""
[web]
listen = "127.0.0.1:{free_port()}"
""")
    return config, port


def engine_url(database: str) -> str:
    """SQLAlchemy's URL of a database the gateway names `postgresql://` (psycopg 3's driver)."""
    return database.replace("postgresql://", "postgresql+psycopg://")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for one benchmark on a PostgreSQL server of its own, configured as a
    provider would run it (bench.postgres), dropped after it."""
    with server() as postgres:
        name = f"lre_bench_{secrets.token_hex(4)}"
        admin = create_engine(engine_url(postgres), isolation_level="AUTOCOMMIT")
        with admin.connect() as db:
            db.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield postgres.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as db:
                db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


# one engine per database for the whole run: the benchmarks ask how far the gateway got every
# 50 ms, and a new engine each time made a new connection each time (on PostgreSQL a new server
# process, ~20 a second, whose CPU the measured gateway then went without); in autocommit, as
# the gateway reads (gateway.storage.database.reading): a look is one statement, without a
# BEGIN and a ROLLBACK around it (on PostgreSQL two more round trips, ~40 a second)
_POLLING: dict[str, Engine] = {}


def polling_engine(database: str) -> Engine:
    """The engine a benchmark polls `database` with (one connection, kept open; reads only)."""
    engine = _POLLING.get(database)
    if engine is None:
        engine = create_engine(engine_url(database), pool_size=1, isolation_level="AUTOCOMMIT")
        _POLLING[database] = engine
    return engine


def forget_database(database: str) -> None:
    """Close the polling connection of a database that is about to be dropped or deleted."""
    engine = _POLLING.pop(database, None)
    if engine is not None:
        engine.dispose()


def drained(database: str) -> bool:
    with polling_engine(database).connect() as db:
        pending_mail = db.execute(
            select(func.count()).select_from(t.outbound).where(t.outbound.c.state == "pending")
        ).scalar_one()
        unsealed = db.execute(select(func.count()).select_from(t.seal_queue)).scalar_one()
        pending_pdfs = db.execute(
            select(func.count()).select_from(t.proof_pdfs).where(t.proof_pdfs.c.state == "pending")
        ).scalar_one()
    return pending_mail == 0 and unsealed == 0 and pending_pdfs == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--letters", type=int, default=600)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    gateway_cmd = [sys.executable, "-m", "gateway"]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        database = f"sqlite:///{workdir}/gateway.db"
        if args.postgres:
            database = stack.enter_context(postgres_database())
        stack.callback(forget_database, database)
        config, port = gateway_config(workdir, database)
        env = {**os.environ, "LRE_GATEWAY_CONFIG": str(config)}
        subprocess.run([*gateway_cmd, "init"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*gateway_cmd, "sender", "add", SENDER, "--name", "Bench", "--password-stdin"],
            env=env,
            input=PASSWORD.encode(),
            check=True,
            capture_output=True,
        )
        pki = workdir / "var" / "pki"

        baseline_port = free_port()
        baseline = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.noop_server",
                str(pki / "tls.pem"),
                str(pki / "tls.key"),
                str(baseline_port),
            ]
        )
        try:
            wait_port(baseline_port, baseline)
            asyncio.run(load(baseline_port, 50, args.sessions))  # warm-up
            base = asyncio.run(load(baseline_port, args.letters, args.sessions))
        finally:
            baseline.terminate()
            baseline.wait()

        server = subprocess.Popen([*gateway_cmd, "serve"], env=env, stderr=subprocess.DEVNULL)
        try:
            wait_port(port, server)
            asyncio.run(load(port, 50, args.sessions))  # warm-up (also primes the auth cache)
            while not drained(database):
                time.sleep(0.2)
            start = time.perf_counter()
            rate = asyncio.run(load(port, args.letters, args.sessions))
            while not drained(database):
                time.sleep(0.05)
            end_to_end = args.letters / (time.perf_counter() - start)
        finally:
            server.terminate()
            server.wait()
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"deposit benchmark: {args.letters} letters of 1 KB, {args.sessions} sessions, "
        f"a connection per letter, {kind}"
    )
    print(f"  baseline (aiosmtpd no-op, same TLS+AUTH): {base:8.1f} letters/s")
    print(
        f"  gateway, acknowledged (250 after commit):  {rate:8.1f} letters/s  "
        f"ratio {rate / base:.2f}"
    )
    print(
        f"  gateway, fully processed (sealed, timestamped, notified, proof mailed): "
        f"{end_to_end:8.1f} letters/s  ratio {end_to_end / base:.2f}"
    )


if __name__ == "__main__":
    main()
