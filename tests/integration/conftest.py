"""Fixtures of the integration tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.app import Running
from gateway.settings import Settings
from tests.support.gateway import (
    database_url,
    empty_database_url,
    make_settings,
    schema_templates,
    start,
)

__all__ = ["database_url", "empty_database_url", "schema_templates"]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Running]:
    """A running gateway with one sender account (SENDER / PASSWORD)."""
    async with start(settings) as running_gateway:
        yield running_gateway
