"""The sender's portal and the API as a client sees them: a browser-like session, signing in,
an API token made the way the command line makes it."""

from __future__ import annotations

import aiohttp

from gateway.app import Running, utcnow
from tests.support.client import csrf_field
from tests.support.gateway import PASSWORD, SENDER


def browser(lang: str = "en") -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept-Language": lang}
    )


async def sign_in(
    session: aiohttp.ClientSession, gateway: Running, email: str = SENDER, password: str = PASSWORD
) -> aiohttp.ClientResponse:
    async with session.get(f"{gateway.web_url}/portal/") as page:
        fields = csrf_field(await page.text(), "/portal/signin")
    form = {**fields, "email": email, "password": password}
    async with session.post(f"{gateway.web_url}/portal/signin", data=form) as response:
        await response.read()
        return response


async def new_token(gateway: Running, email: str = SENDER) -> str:
    """A token made the way `lre-gateway sender token create` makes it."""
    registry, api = gateway.registry, gateway.api
    assert api is not None
    account = await registry.io(registry.senders.account_record, email)
    assert account is not None
    made = await registry.io(api.create_token, account, "tests", utcnow())
    return made.token
