"""A PostgreSQL server of the benchmark's own, configured as a provider would run it.

The machine's PostgreSQL (127.0.0.1:5432) is configured for CI: its conf.d turns autovacuum off.
The gateway's work queues delete or update a row at each step of a letter, so there their dead
rows are never cleared and each claim reads more of them as a run goes on (100,000 letters: the
server's CPU a letter a fifth to a third higher than with vacuum, docs/performance.md). The
benchmarks' --postgres therefore start a server of their own from the same installation
(`initdb` and `pg_ctl`, run as the `postgres` user, its data directory in a temporary directory
on the same disk), with PostgreSQL's defaults — autovacuum on, fsync on — on a free loopback
port, and stop it at the end. LRE_BENCH_POSTGRES=URL (a server's `postgres` database, user
allowed to create databases) uses that server instead; LRE_BENCH_POSTGRES_OPTIONS adds options
to the benchmark's own (`-c shared_preload_libraries=pg_stat_statements`, say).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "postgres"


def binaries() -> Path:
    """The directory of the newest installed server's programs (Debian's layout)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: float(p.parts[-3]) if p.parts[-3].replace(".", "", 1).isdigit() else 0.0,
    )
    if not found:
        raise SystemExit("no PostgreSQL server installed (/usr/lib/postgresql/*/bin/initdb)")
    return found[-1].parent


def _as_postgres(*command: str | Path) -> list[str]:
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark's PostgreSQL is started as its own user")
    return ["runuser", "-u", USER, "--", *map(str, command)]


@contextmanager
def server(options: str = "") -> Iterator[str]:
    """The URL of the `postgres` database of a server started for this benchmark (or of
    LRE_BENCH_POSTGRES's), stopped and deleted on exit; `options` (and
    LRE_BENCH_POSTGRES_OPTIONS) added to its command line."""
    given = os.environ.get("LRE_BENCH_POSTGRES")
    if given:
        yield given
        return
    options = f"{options} {os.environ.get('LRE_BENCH_POSTGRES_OPTIONS', '')}".strip()
    bin_dir = binaries()
    with tempfile.TemporaryDirectory(prefix="lre-bench-pg-") as tmp:
        shutil.chown(tmp, USER)
        data = Path(tmp) / "data"
        subprocess.run(
            _as_postgres(
                *(bin_dir / "initdb", "-D", data, "--auth=trust", f"--username={USER}"),
                *("--locale=C", "--encoding=UTF8", "--no-sync"),
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        from bench.deposit import free_port  # (bench.deposit imports this module)

        port = free_port()  # below the ephemeral range: no outgoing connection takes it
        options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 {options}".strip()
        subprocess.run(
            _as_postgres(
                *(bin_dir / "pg_ctl", "-D", data, "-o", options),
                *("-l", Path(tmp) / "log", "-w", "start"),
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        try:
            yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_postgres(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"),
                check=False,
                stdout=subprocess.DEVNULL,
            )
