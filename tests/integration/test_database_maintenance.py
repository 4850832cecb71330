"""The start-up log names a database setting that would slow the gateway down over time:
PostgreSQL's autovacuum turned off (the work queues' dead rows never cleared)."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest

from gateway.app import running
from gateway.startup import initialise
from gateway.storage.database import AUTOVACUUM_OFF, warnings_for
from tests.support.gateway import make_settings


def server_autovacuum(url: str) -> str:
    """The server's own answer, read apart from the gateway."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as db:
        row = db.execute("SHOW autovacuum").fetchone()
    assert row is not None
    return str(row[0])


async def test_the_start_up_log_says_when_autovacuum_is_off(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On PostgreSQL the sentence is there exactly when the server has autovacuum off (this
    machine's CI configuration turns it off); on SQLite, never."""
    settings = make_settings(tmp_path, database_url)
    initialise(settings)
    off = database_url.startswith("postgresql") and server_autovacuum(database_url) == "off"
    with caplog.at_level(logging.WARNING, logger="gateway"):
        async with running(settings):
            pass
    said = [r.getMessage() for r in caplog.records if "autovacuum" in r.getMessage()]
    assert said == ([AUTOVACUUM_OFF] if off else [])


def test_only_autovacuum_off_is_worth_a_sentence() -> None:
    assert warnings_for({"autovacuum": "off"}) == [AUTOVACUUM_OFF]
    assert warnings_for({"autovacuum": "on"}) == []
    assert "autovacuum = on" in AUTOVACUUM_OFF
