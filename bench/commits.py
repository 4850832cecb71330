"""Concurrent deposits straight into the deposit service: what the commits cost, no SMTP.

N deposits (1 KB letters, one recipient each) are started together, `--concurrent` at a time,
through `Deposits.deposit` of an offline registry (SQLite in a temporary directory, or a fresh
database on the local PostgreSQL); reported: deposits per second (wall) and the CPU time of
this process per deposit (every thread: the loop, the encryption, the database thread).

    python -m bench.commits [--deposits 400] [--concurrent 20] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from bench.deposit import SENDER, letter, postgres_database
from gateway.app import utcnow
from gateway.core.sender import Account
from gateway.mime.limits import MimeLimits
from gateway.mime.submission import read_submission
from gateway.registry import Registry, offline_registry
from gateway.services.deposit import Deposit
from gateway.settings import settings_from_dict
from gateway.startup import initialise
from gateway.storage.database import open_engine
from gateway.storage.store import LetterStore
from gateway.storage.vault import Vault
from gateway.trust import keys_dir


def deposit(account: Account, n: int) -> Deposit:
    content = letter(n)
    rcpt = (f"r{n}@example.com",)
    parsed, phones, languages = read_submission(content, rcpt, "MA", limits=MimeLimits())
    return Deposit(
        account=account,
        mail_from=SENDER,
        rcpt_tos=rcpt,
        content=content,
        parsed=parsed,
        authentication="SMTP AUTH PLAIN over STARTTLS (TLSv1.3)",
        peer="127.0.0.1",
        phones=phones,
        languages=languages,
    )


async def run(registry: Registry, deposits: list[Deposit], concurrent: int) -> float:
    gate = asyncio.Semaphore(concurrent)

    async def one(item: Deposit) -> None:
        async with gate:
            await registry.deposits.deposit(item)

    start = time.perf_counter()
    await asyncio.gather(*(one(item) for item in deposits))
    return time.perf_counter() - start


def measure(database: str, workdir: Path, count: int, concurrent: int) -> tuple[float, float]:
    settings = settings_from_dict(
        {"gateway": {"data_dir": str(workdir / "var")}, "database": {"url": database}},
        base=workdir,
    )
    initialise(settings)
    with offline_registry(settings) as offline:
        offline.senders.save_sender(SENDER, "Bench", "bench password 1234")
    # as in an SMTP process (gateway.submission.submission_only): one database thread on
    # SQLite, 4 on PostgreSQL
    engine = open_engine(database)
    with ThreadPoolExecutor(max_workers=1 if database.startswith("sqlite") else 4) as executor:
        vault = Vault(keys_dir(settings))
        store = LetterStore(engine)
        registry = Registry(
            settings=settings, store=store, vault=vault, db_executor=executor, clock=utcnow
        )
        account = asyncio.run(registry.senders.authenticate(SENDER, "bench password 1234"))
        if account is None:
            raise SystemExit("the bench sender cannot log in")
        asyncio.run(run(registry, [deposit(account, -n) for n in range(1, 21)], concurrent))
        items = [deposit(account, n) for n in range(count)]
        cpu = time.process_time()
        wall = asyncio.run(run(registry, items, concurrent))
        cpu = time.process_time() - cpu
    engine.dispose()
    return count / wall, cpu / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deposits", type=int, default=400)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        database = f"sqlite:///{workdir}/gateway.db"
        if args.postgres:
            database = stack.enter_context(postgres_database())
        rate, cpu = measure(database, workdir, args.deposits, args.concurrent)
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{args.deposits} deposits, {args.concurrent} at a time, {kind}: "
        f"{rate:.0f} deposits/s, CPU {cpu:.2f} ms per deposit"
    )


if __name__ == "__main__":
    main()
