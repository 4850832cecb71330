"""A real gateway on loopback over SQLite and over the local PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.deposit import free_port as free_port  # the tests import it from here
from gateway.app import running
from gateway.registry import offline_registry
from gateway.settings import Settings, settings_from_dict
from gateway.startup import initialise

POSTGRES_ADMIN = os.environ.get(
    "LRE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/gateway.db"
        return
    import psycopg

    name = f"lre_test_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(tmp_path: Path, database_url: str, **sections: dict[str, Any]) -> Settings:
    web_port = free_port()
    raw: dict[str, dict[str, Any]] = {
        "gateway": {
            "data_dir": str(tmp_path / "var"),
            "public_url": f"http://127.0.0.1:{web_port}",
        },
        "database": {"url": database_url},
        # submission served in the test's own process (its injected clock, its metrics);
        # tests/integration/test_smtp_processes.py covers SMTP processes of their own
        "smtp": {
            "submission": "127.0.0.1:0",
            "submissions": "127.0.0.1:0",
            "inbound": "",
            "processes": 0,
        },
        "web": {"listen": f"127.0.0.1:{web_port}"},
        # the evidence log publishes at start, at shutdown and when a test calls
        # gateway.log.publish(): no table changes behind a test that counts rows
        "evidence": {"log_interval": "1h"},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return settings_from_dict(raw, base=tmp_path)


def smarthost(port: int, **more: str) -> dict[str, str]:
    """The delivery section that relays in clear to a test's server on 127.0.0.1:port."""
    return {"mode": "smarthost", "smarthost": f"127.0.0.1:{port}", "smarthost_tls": "none", **more}


SENDER = "maitre.dupont@cabinet-dupont.ma"
PASSWORD = "correct horse battery staple"


def start(settings: Settings, clock: Callable[[], datetime] | None = None) -> Any:
    initialise(settings)
    with offline_registry(settings) as registry:
        registry.senders.save_sender(SENDER, "Maître Dupont", PASSWORD)
    return running(settings, clock=clock) if clock else running(settings)


class Clock:
    """The gateway's clock in a test: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
