"""Rate limits hold across processes: two gateways on one database enforce one limit."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from gateway.app import running
from tests.support.gateway import make_settings, start
from tests.support.portal import browser, new_token, sign_in


async def test_the_api_rate_limit_of_a_token_is_shared_by_two_gateways(
    tmp_path: Path, database_url: str
) -> None:
    """With 3 requests a minute, two on one gateway and one on the other exhaust the token's
    bucket: the next request gets 429 on either gateway (per process, each would allow 3)."""
    first = make_settings(tmp_path, database_url, api={"rate_limit": 3})
    second = make_settings(tmp_path, database_url, api={"rate_limit": 3})
    async with start(first) as one, running(second) as two:
        token = await new_token(one)
        headers = {"Authorization": f"Bearer {token}"}
        statuses = []
        for gateway in (one, one, two, two, one):
            async with (
                aiohttp.ClientSession(gateway.web_url, headers=headers) as session,
                session.get("/api/v1/letters") as response,
            ):
                statuses.append(response.status)
    assert statuses == [200, 200, 200, 429, 429]


async def test_portal_password_guesses_on_two_gateways_count_together(
    tmp_path: Path, database_url: str
) -> None:
    """Five wrong passwords for one address, spread over two gateways, make both answer 429
    to the right password."""
    first = make_settings(tmp_path, database_url)
    second = make_settings(tmp_path, database_url)
    async with start(first) as one, running(second) as two:
        for gateway in (one, two, one, two, one):
            async with browser() as session:
                assert (await sign_in(session, gateway, password="guess")).status == 401
        for gateway in (one, two):
            async with browser() as session:
                response = await sign_in(session, gateway)
                assert response.status == 429
                assert int(response.headers["Retry-After"]) > 0
