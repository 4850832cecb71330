"""The web application: routes, strict headers on every response, error pages in words."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import AlreadyDecided, RecipientError, UnknownLink
from gateway.web import views
from gateway.web.pages import SITE, TEMPLATES, PageError, Site, error_page
from gateway.web.service import OutboxView, RecipientService, SmsOutboxView
from gateway.web.throttle import LinkGuard, client_address

log = logging.getLogger(__name__)

STYLESHEET: Final = TEMPLATES.parent / "static" / "site.css"
CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NO_STORE_PREFIXES: Final = ("/l/", "/dev/", "/verify", "/portal")
GUARD: Final = web.AppKey("link_guard", LinkGuard)
IDENTITY_ENCODINGS: Final = frozenset({"", "identity"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    *,
    service: RecipientService,
    tsa_respond: Callable[[bytes], bytes] | None,
    outbox: OutboxView | None,
    anchors_pem: bytes,
    public_url: str,
    secret: bytes,
    zone: ZoneInfo,
    provider_name: str,
    max_upload: int = 1 << 20,
    sms_outbox: SmsOutboxView | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> web.Application:
    """The recipient-facing site, the built-in TSA endpoint and (outbox mode) the dev outbox."""
    app = web.Application(
        middlewares=[refuse_encoded_bodies, error_pages, guard_links], client_max_size=max_upload
    )
    app[GUARD] = LinkGuard(clock)
    app[SITE] = Site(
        service=service,
        tsa_respond=tsa_respond,
        outbox=outbox,
        anchors_pem=anchors_pem,
        public_url=public_url,
        secret=secret,
        zone=zone,
        provider_name=provider_name,
        stylesheet=STYLESHEET.read_bytes(),
        sms_outbox=sms_outbox,
    )
    app.on_response_prepare.append(secure_headers)
    add = app.router
    add.add_get("/", views.landing)
    add.add_get("/healthz", views.healthz)
    add.add_get("/static/site.css", views.stylesheet)
    add.add_get("/pki/anchors.pem", views.anchors)
    add.add_get("/l/{token}", views.letter)
    add.add_post("/l/{token}/accept", views.accept)
    add.add_post("/l/{token}/refuse", views.refuse)
    add.add_post("/l/{token}/code", views.send_code)
    add.add_post("/l/{token}/open", views.open_letter)
    add.add_get("/l/{token}/open", views.back_to_letter)
    add.add_get("/l/{token}/code", views.back_to_letter)
    add.add_get("/l/{token}/accept", views.back_to_letter)
    add.add_get("/l/{token}/refuse", views.back_to_letter)
    add.add_get("/l/{token}/letter.eml", views.original)
    add.add_get(r"/l/{token}/attachments/{n:\d{1,6}}", views.attachment)
    if tsa_respond is not None:
        add.add_post("/tsa", views.timestamp)
    if outbox is not None:
        add.add_get("/dev/outbox", views.outbox_list)
        add.add_get("/dev/outbox/{name}", views.outbox_mail)
        add.add_get("/dev/outbox/{name}/raw", views.outbox_raw)
    return app


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Strict headers on every response, errors and unknown routes included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if request.path.startswith(NO_STORE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    elif "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-cache"
    if request.secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"


@web.middleware
async def refuse_encoded_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A compressed request body is refused unread (415): no form needs one, a bomb gets none."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in IDENTITY_ENCODINGS:
        response = _page(request, 415, "error.415", None)
        response.force_close()
        return response
    return await handler(request)


@web.middleware
async def guard_links(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown letter links count against the client's address; past the limit: 429."""
    if "token" not in request.match_info:
        return await handler(request)
    guard = request.app[GUARD]
    address = client_address(request.remote, request.headers.get("X-Forwarded-For"))
    wait = guard.retry_after(address)
    if wait is not None:
        response = _page(request, 429, "error.guess", None)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        return await handler(request)
    except UnknownLink:
        guard.miss(address)
        raise


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors become pages in words; an unexpected exception becomes a 500 page, never a trace."""
    letter = _letter_path(request)
    try:
        return await handler(request)
    except PageError as err:
        return _page(request, err.status, err.key, err.letter or letter)
    except AlreadyDecided:
        return _page(request, 409, "error.409", letter)
    except RecipientError as err:
        back = letter if err.status not in (404,) else None
        return _page(request, err.status, f"error.{err.status}", back)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        response = _page(request, err.status, f"error.{err.status}", None)
        if "Allow" in err.headers:
            response.headers["Allow"] = err.headers["Allow"]
        return response
    except Exception:  # the last line of defence: log it, answer in words
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _page(request, 500, "error.500", None)


def _letter_path(request: web.Request) -> str | None:
    token = request.match_info.get("token")
    return request.app[SITE].letter_path(token) if token else None


def _page(request: web.Request, status: int, key: str, letter: str | None) -> web.StreamResponse:
    try:
        return error_page(request, status, key, letter)
    except Exception:  # a broken template must not hide the original error
        log.exception("could not render the %s page", status)
        return web.Response(status=status, text=f"Error {status}\n")
