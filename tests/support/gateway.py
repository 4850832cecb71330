"""A real gateway on loopback over SQLite and over the local PostgreSQL."""

from __future__ import annotations

import functools
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.deposit import free_port as free_port  # the tests import it from here
from gateway.app import running
from gateway.evidence.pki import pki_paths
from gateway.services.work import new_id
from gateway.settings import Settings, settings_from_dict
from gateway.smtp_out.dkim import new_key_pem
from gateway.startup import initialise
from gateway.storage.account_store import AccountStore
from gateway.storage.database import create_schema, open_engine
from gateway.storage.passwords import hash_password

POSTGRES_ADMIN = os.environ.get(
    "LRE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class SchemaTemplates:
    """One database at the current schema per backend, made once per test process: each
    test's database starts as a copy of it, so the migrations run once per process, not at
    every test's `initialise` (~0.2 s on SQLite, 0.6-1.2 s on PostgreSQL, most of a test's
    set-up). tests/integration/test_migrations.py runs them on empty databases
    (`empty_database_url`)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._sqlite: Path | None = None
        self._postgresql: str | None = None

    def sqlite(self, into: Path) -> str:
        if self._sqlite is None:
            template = self._directory / "template.db"
            _migrated(f"sqlite:///{template}")
            self._sqlite = template
        shutil.copyfile(self._sqlite, into)
        return f"sqlite:///{into}"

    def postgresql(self) -> str:
        if self._postgresql is None:
            name = f"lre_template_{secrets.token_hex(6)}"
            _admin(f'CREATE DATABASE "{name}"')
            _migrated(_postgresql_url(name))  # disposed: no connection left, as CREATE needs
            self._postgresql = name
        return _new_postgresql_database(template=self._postgresql)

    def close(self) -> None:
        if self._postgresql is not None:
            _drop_postgresql_database(self._postgresql)


def _migrated(url: str) -> None:
    engine = open_engine(url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(statement)


def _postgresql_url(name: str) -> str:
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _new_postgresql_database(template: str = "template1") -> str:
    name = f"lre_test_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def _drop_postgresql_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def schema_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaTemplates]:
    templates = SchemaTemplates(tmp_path_factory.mktemp("schema"))
    yield templates
    templates.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, schema_templates: SchemaTemplates
) -> Iterator[str]:
    """A fresh database holding no row, at the current schema (as `lre-gateway init` leaves
    it): a SQLite file, or a new database on the local PostgreSQL."""
    if request.param == "sqlite":
        yield schema_templates.sqlite(tmp_path / "gateway.db")
        return
    name = schema_templates.postgresql()
    yield _postgresql_url(name)
    _drop_postgresql_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database (no table): for the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/gateway.db"
        return
    name = _new_postgresql_database()
    yield _postgresql_url(name)
    _drop_postgresql_database(name)


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


@functools.cache
def _dkim_key_pem() -> bytes:
    """One DKIM key per test process: generating an RSA key costs 30-160 ms a gateway."""
    return new_key_pem()


@functools.cache
def _password_hash() -> str:
    """PASSWORD's scrypt hash, made once per test process (~0.1 s a gateway): a login still
    checks it as every login does."""
    return hash_password(PASSWORD)


def start(settings: Settings, clock: Callable[[], datetime] | None = None) -> Any:
    """A gateway initialised as `lre-gateway init` does, with the sender account SENDER."""
    data_dir = settings.gateway.data_dir
    dkim = pki_paths(data_dir).dkim_key
    if not dkim.exists():  # as `init` would write it (gateway.evidence.pki), made once
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        dkim.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        dkim.write_bytes(_dkim_key_pem())
        dkim.chmod(0o600)
    initialise(settings)
    engine = open_engine(settings.database.url)
    try:
        AccountStore(engine).save_account(
            id=new_id(),
            email=SENDER,
            name="Maître Dupont",
            password_hash=_password_hash(),
            language="fr",
            now=datetime.now(UTC),
        )
    finally:
        engine.dispose()
    return running(settings, clock=clock) if clock else running(settings)


class Clock:
    """The gateway's clock in a test: real time plus an offset the test moves forward; `still`:
    the time of its making plus that offset (time passes only when the test says so)."""

    def __init__(self, *, still: bool = False) -> None:
        self.offset = timedelta()
        self._still = datetime.now(UTC) if still else None

    def __call__(self) -> datetime:
        return (self._still or datetime.now(UTC)) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
