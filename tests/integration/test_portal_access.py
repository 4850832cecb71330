"""The portal's API tokens and webhooks page, through the real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import update

from gateway.app import Running, utcnow
from gateway.storage import tables as t
from gateway.web.portal_access_service import MAKE_LIMIT
from tests.support.client import csrf_field
from tests.support.gateway import SENDER
from tests.support.portal import browser, sign_in

OTHER = "greffe@tribunal-rabat.ma"
OTHER_PASSWORD = "another long passphrase"
TOKEN = re.compile(r'<code class="secret" id="new-token"[^>]*>(lre_[A-Za-z0-9_-]{43})</code>')
SECRET = re.compile(r'<code class="secret" id="new-secret"[^>]*>(whsec_[A-Za-z0-9+/=]+)</code>')


async def post_form(
    session: aiohttp.ClientSession,
    gateway: Running,
    action: str,
    form: str = "",
    **values: str,
) -> tuple[int, str, dict[str, str]]:
    """POST to action with the CSRF fields of the page's form for `form` (else action itself);
    the status, page and headers."""
    async with session.get(f"{gateway.web_url}/portal/access") as page:
        assert page.status == 200
        fields = csrf_field(await page.text(), form or action)
    url = f"{gateway.web_url}{action}"
    async with session.post(url, data={**fields, **values}) as response:
        return response.status, await response.text(), dict(response.headers)


async def api_status(gateway: Running, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(gateway.web_url, headers=headers) as session,
        session.get("/api/v1/letters") as response,
    ):
        return response.status


async def test_a_token_created_on_the_portal_is_shown_once_works_and_can_be_revoked(
    gateway: Running,
) -> None:
    """The new token appears on the answer to the POST only; the API takes it; the list shows
    its prefix and label; once revoked the API refuses it."""
    async with browser() as session:
        await sign_in(session, gateway)
        status, page, headers = await post_form(
            session, gateway, "/portal/tokens", label="Logiciel du cabinet"
        )
        assert status == 201
        assert headers["Cache-Control"] == "no-store"
        found = TOKEN.search(page)
        assert found, "the new token is shown"
        token = found.group(1)
        assert await api_status(gateway, token) == 200
        async with session.get(f"{gateway.web_url}/portal/access") as again:
            listing = await again.text()
        assert token not in listing  # shown once
        assert token[:12] in listing
        assert "Logiciel du cabinet" in listing
        token_id = re.search(r'action="/portal/tokens/([0-9a-f]{32})/revoke"', listing)
        assert token_id
        status, after, _ = await post_form(
            session, gateway, f"/portal/tokens/{token_id.group(1)}/revoke"
        )
        assert status == 200  # back on the page after the redirect
        assert "Revoked" in after
    assert await api_status(gateway, token) == 401


async def test_a_token_label_is_kept_without_control_or_bidi_characters(
    gateway: Running,
) -> None:
    """A label with a NUL and a right-to-left override is kept and shown without them (the
    NUL was a 500 on PostgreSQL, the override turned the rest of the line around)."""
    async with browser() as session:
        await sign_in(session, gateway)
        status, _, _ = await post_form(
            session, gateway, "/portal/tokens", label="Logi\x00ciel \u202ecabinet"
        )
        assert status == 201
        async with session.get(f"{gateway.web_url}/portal/access") as again:
            listing = await again.text()
    assert "Logiciel cabinet" in listing
    assert "\x00" not in listing
    assert "\u202e" not in listing


async def test_an_endpoint_added_on_the_portal_shows_its_secret_once_and_can_be_removed(
    gateway: Running,
) -> None:
    """The signing secret is on the answer to the POST only; the endpoint is then listed,
    and gone from the list and the store once removed."""
    url = "https://erp.cabinet-dupont.ma/lre-events"
    async with browser() as session:
        await sign_in(session, gateway)
        status, page, _ = await post_form(session, gateway, "/portal/webhooks", url=url)
        assert status == 201
        secret = SECRET.search(page)
        assert secret
        async with session.get(f"{gateway.web_url}/portal/access") as again:
            listing = await again.text()
        assert url in listing
        assert secret.group(1) not in listing
        endpoint = re.search(r'action="/portal/webhooks/([0-9a-f]{32})/remove"', listing)
        assert endpoint
        status, after, _ = await post_form(
            session, gateway, f"/portal/webhooks/{endpoint.group(1)}/remove"
        )
        assert status == 200
        assert url not in after
    assert gateway.api is not None
    account = gateway.registry.senders.account_record(SENDER)
    assert account is not None
    assert gateway.api.api.endpoints(account.id) == []


async def test_ssrf_an_endpoint_on_the_gateways_own_network_is_refused_in_words(
    gateway: Running,
) -> None:
    """Loopback and link-local (cloud metadata) URLs, and what is no URL, get 422 and a
    sentence; nothing is stored."""
    async with browser("fr") as session:
        await sign_in(session, gateway)
        for url, words in [
            ("http://127.0.0.1:8080/hook", "réseau interne"),
            ("http://169.254.169.254/latest/meta-data", "réseau interne"),
            ("ftp://erp.example.ma/x", "http:// ou https://"),
        ]:
            status, page, _ = await post_form(session, gateway, "/portal/webhooks", url=url)
            assert status == 422
            assert words in page
    account = gateway.registry.senders.account_record(SENDER)
    assert account is not None
    assert gateway.api is not None
    assert gateway.api.api.endpoints(account.id) == []


async def test_a_disabled_endpoint_is_shown_and_the_sender_enables_it_again(
    gateway: Running,
) -> None:
    """An endpoint the worker disabled is listed as disabled with its reason; Enable again
    clears it (its failures too)."""
    account = gateway.registry.senders.account_record(SENDER)
    assert account is not None
    assert gateway.api is not None
    endpoint = gateway.api.add_webhook(account, "https://erp.example.ma/hook", utcnow())
    with gateway.store.engine.begin() as db:
        db.execute(
            update(t.webhook_endpoints)
            .where(t.webhook_endpoints.c.id == endpoint.id)
            .values(disabled_at=utcnow(), failures=8, disabled_reason="8 failed posts: HTTP 500")
        )
    async with browser() as session:
        await sign_in(session, gateway)
        async with session.get(f"{gateway.web_url}/portal/access") as page:
            html = await page.text()
        assert "Disabled" in html
        assert "8 failed posts: HTTP 500" in html
        status, after, _ = await post_form(
            session, gateway, f"/portal/webhooks/{endpoint.id}/enable"
        )
        assert status == 200
        assert "Enable again" not in after
    (listed,) = gateway.api.api.endpoints(account.id)
    assert listed.disabled_at is None
    assert listed.failures == 0


async def test_csrf_and_other_accounts_items_are_refused(gateway: Running) -> None:
    """A POST without the form's token gets 403; another account cannot revoke this one's
    token (404) and it keeps working."""
    account = gateway.registry.senders.account_record(SENDER)
    assert account is not None
    assert gateway.api is not None
    mine = gateway.api.create_token(account, "mine", utcnow())
    token_id = gateway.api.tokens(account)[0].id
    gateway.registry.senders.save_sender(OTHER, "Greffe", OTHER_PASSWORD)
    async with browser() as session:
        await sign_in(session, gateway)
        async with session.post(
            f"{gateway.web_url}/portal/tokens", data={"label": "forged"}
        ) as response:
            assert response.status == 403
    async with browser() as session:
        await sign_in(session, gateway, OTHER, OTHER_PASSWORD)
        revoke = f"/portal/tokens/{token_id}/revoke"
        status, _, _ = await post_form(session, gateway, revoke, "/portal/tokens")
        assert status == 404
    assert len(gateway.api.tokens(account)) == 1
    assert await api_status(gateway, mine.token) == 200


async def test_creating_tokens_and_endpoints_is_rate_limited_per_account(
    gateway: Running,
) -> None:
    """Past MAKE_LIMIT creations in the hour the portal answers 429 with Retry-After and a
    sentence, and creates nothing more."""
    async with browser() as session:
        await sign_in(session, gateway)
        for n in range(MAKE_LIMIT):
            status, _, _ = await post_form(session, gateway, "/portal/tokens", label=f"t{n}")
            assert status == 201
        status, page, headers = await post_form(session, gateway, "/portal/tokens", label="x")
        assert status == 429
        assert int(headers["Retry-After"]) > 0
        assert "Too many created" in page
    account = gateway.registry.senders.account_record(SENDER)
    assert account is not None
    assert gateway.api is not None
    assert len(gateway.api.tokens(account)) == MAKE_LIMIT
