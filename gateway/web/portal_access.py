"""The portal's "API tokens and webhooks" page (/portal/access): create (shown once), list and
revoke API tokens; add (secret shown once), list, remove and re-enable webhook endpoints.

Thin handlers over gateway.web.portal_access_service, with the portal's session, CSRF and
Origin checks (gateway.web.portal). A created token or secret is on the answer to the POST
only (no-store), never on a page that can be fetched again.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.web.pages import SITE, PageError
from gateway.web.portal import (
    MAX_FIELD,
    Visitor,
    portal_path,
    posted_form,
    session_scope,
    signed_in,
    signed_in_page,
)
from gateway.web.portal_access_service import AccessService, AccessThrottled, EndpointRefused
from gateway.webhook_destination import MAX_URL

ACCESS: Final = web.AppKey("portal_access", AccessService)
ID: Final = "{item_id:[0-9a-f]{32}}"


def add_access_routes(app: web.Application, access: AccessService) -> None:
    app[ACCESS] = access
    add = app.router
    add.add_get("/portal/access", page)
    add.add_post("/portal/tokens", create_token)
    add.add_post(f"/portal/tokens/{ID}/revoke", revoke_token)
    add.add_post("/portal/webhooks", add_endpoint)
    add.add_post(f"/portal/webhooks/{ID}/remove", remove_endpoint)
    add.add_post(f"/portal/webhooks/{ID}/enable", enable_endpoint)


async def _access_page(
    request: web.Request, visitor: Visitor, *, status: int = 200, **values: Any
) -> web.Response:
    access = request.app[ACCESS]
    shown: dict[str, Any] = {"problem": None, "minutes": 0, "new_token": None}
    shown |= {"new_endpoint": None, "url": ""} | values
    response = signed_in_page(
        request,
        visitor,
        "portal_access.html",
        tokens=await access.tokens(visitor.account),
        endpoints=await access.endpoints(visitor.account),
        api_url=request.app[SITE].public_url.rstrip("/") + "/api/v1",
        max_url=MAX_URL,
        **shown,
    )
    response.set_status(status)
    response.headers["Cache-Control"] = "no-store"  # a token or secret is shown once
    return response


async def page(request: web.Request) -> web.Response:
    visitor = await signed_in(request)
    return await _access_page(request, visitor)


async def _checked(request: web.Request) -> tuple[Visitor, dict[str, str]]:
    visitor = await signed_in(request)
    return visitor, await posted_form(request, session_scope(visitor))


def _throttled(err: AccessThrottled) -> dict[str, Any]:
    return {"problem": "throttled", "minutes": max(1, -(-err.retry_after // 60))}


async def create_token(request: web.Request) -> web.Response:
    """A new token, on this answer only."""
    visitor, fields = await _checked(request)
    try:
        token = await request.app[ACCESS].create_token(
            visitor.account, fields.get("label", "")[:MAX_FIELD]
        )
    except AccessThrottled as err:
        response = await _access_page(request, visitor, status=429, **_throttled(err))
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    return await _access_page(request, visitor, status=201, new_token=token.token)


async def add_endpoint(request: web.Request) -> web.Response:
    """A new endpoint, its signing secret on this answer only."""
    visitor, fields = await _checked(request)
    url = fields.get("url", "")[: MAX_URL + 1]
    try:
        endpoint = await request.app[ACCESS].add_endpoint(visitor.account, url)
    except EndpointRefused as err:
        return await _access_page(request, visitor, status=422, problem=err.reason, url=url)
    except AccessThrottled as err:
        response = await _access_page(request, visitor, status=429, **_throttled(err))
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    return await _access_page(request, visitor, status=201, new_endpoint=endpoint)


async def _then_back(request: web.Request, done: bool) -> web.Response:
    if not done:
        raise PageError(404)
    raise web.HTTPSeeOther(portal_path(request, "access"))


async def revoke_token(request: web.Request) -> web.Response:
    visitor, _ = await _checked(request)
    item = request.match_info["item_id"]
    return await _then_back(request, await request.app[ACCESS].revoke_token(visitor.account, item))


async def remove_endpoint(request: web.Request) -> web.Response:
    visitor, _ = await _checked(request)
    item = request.match_info["item_id"]
    access = request.app[ACCESS]
    return await _then_back(request, await access.remove_endpoint(visitor.account, item))


async def enable_endpoint(request: web.Request) -> web.Response:
    visitor, _ = await _checked(request)
    item = request.match_info["item_id"]
    access = request.app[ACCESS]
    return await _then_back(request, await access.enable_endpoint(visitor.account, item))
