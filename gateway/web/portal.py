"""The sender's portal under /portal/: sign in, the letters sent, their events and proofs, CSV.

Thin handlers over gateway.web.portal_service. Every POST carries a CSRF token (gateway.web.csrf,
bound to "portal-signin" before sign-in and to the session afterwards) and passes the Origin
check. The session cookie is HttpOnly, SameSite=Strict, limited to /portal/, Secure on https.
Pages need no JavaScript (the CSP allows none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from gateway.core.letter import REFERENCE_PATTERN, State
from gateway.core.text import has_control
from gateway.storage.api_store import decode_cursor, encode_cursor
from gateway.storage.portal_store import LetterLine, LetterQuery, PortalAccount, Position
from gateway.web import csrf
from gateway.web.pages import SITE, PageError, render
from gateway.web.portal_csv import header_csv, rows_csv
from gateway.web.portal_service import PortalService, SignInRefused, SignInThrottled
from gateway.web.text import content_disposition
from gateway.web.throttle import client_address

PORTAL: Final = web.AppKey("portal", PortalService)
SESSION_COOKIE: Final = "lre_portal"
SIGNIN_SCOPE: Final = "portal-signin"
PAGE_SIZE: Final = 20
MAX_CURSOR: Final = 200  # characters of an ?after= or ?before= cursor
MAX_FIELD: Final = 320  # characters of the search box and the address (RFC 5321 path limit)
MAX_PASSWORD: Final = 1024
PROOF_FILES: Final = {
    "evidence.xml": "application/xml",
    "evidence.xml.p7s": "application/pkcs7-signature",
    "proof.pdf": "application/pdf",
}


@dataclass(frozen=True)
class Visitor:
    session_id: str
    token: str
    account: PortalAccount


def add_portal_routes(app: web.Application, portal: PortalService) -> None:
    app[PORTAL] = portal
    add = app.router
    add.add_get("/portal", to_portal)
    add.add_get("/portal/", home)
    add.add_post("/portal/signin", sign_in)
    add.add_post("/portal/signout", sign_out)
    add.add_get("/portal/letters", letters)
    add.add_get("/portal/letters.csv", export)
    add.add_get(f"/portal/letters/{{reference:{REFERENCE_PATTERN}}}", letter)
    add.add_get(r"/portal/proofs/{evidence_id:[0-9a-f]{32}}/{name}", proof)


def portal_path(request: web.Request, tail: str = "") -> str:
    return f"{request.app[SITE].root}/portal/{tail}"


async def to_portal(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(portal_path(request))


async def _visitor(request: web.Request) -> Visitor | None:
    token = request.cookies.get(SESSION_COOKIE)
    found = await request.app[PORTAL].account(token)
    if found is None or token is None:
        return None
    return Visitor(found[0], token, found[1])


async def signed_in(request: web.Request) -> Visitor:
    """The signed-in visitor; anyone else is sent to the sign-in form."""
    visitor = await _visitor(request)
    if visitor is None:
        raise web.HTTPSeeOther(portal_path(request))
    return visitor


async def home(request: web.Request) -> web.Response:
    if await _visitor(request) is not None:
        raise web.HTTPSeeOther(portal_path(request, "letters"))
    return _signin_page(request)


def _signin_page(
    request: web.Request,
    *,
    status: int = 200,
    problem: str | None = None,
    email: str = "",
    wait: int = 0,
) -> web.Response:
    nonce, fresh = _nonce(request)
    site = request.app[SITE]
    response = render(
        request,
        "portal_signin.html",
        status=status,
        problem=problem,
        minutes=max(1, -(-wait // 60)),
        email=email,
        csrf_field=csrf.FIELD,
        csrf=csrf.form_token(site.secret, nonce, SIGNIN_SCOPE),
        nonce_field=csrf.NONCE_FIELD,
        nonce=nonce,
    )
    if fresh:
        _set_nonce(request, response, nonce)
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


def _nonce(request: web.Request) -> tuple[str, bool]:
    nonce = csrf.usable_nonce(request.cookies.get(csrf.COOKIE))
    return (nonce, False) if nonce else (csrf.new_nonce(), True)


def _set_nonce(request: web.Request, response: web.StreamResponse, nonce: str) -> None:
    response.set_cookie(
        csrf.COOKIE,
        nonce,
        path=portal_path(request),
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )


def _secure(request: web.Request) -> bool | None:
    return request.app[SITE].public_url.lower().startswith("https:") or request.secure or None


async def posted_form(request: web.Request, scope: str) -> dict[str, str]:
    """The POSTed form's text fields, once the Origin and the CSRF token are checked."""
    site = request.app[SITE]
    allowed = frozenset(
        {csrf.origin_of(site.public_url), csrf.origin_of(f"{request.scheme}://{request.host}")}
    )
    posted = await request.post()
    fields = {key: value for key, value in posted.items() if isinstance(value, str)}
    if not csrf.same_origin(
        request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), allowed
    ) or not csrf.valid_form(
        site.secret,
        request.cookies.get(csrf.COOKIE),
        fields.get(csrf.NONCE_FIELD),
        scope,
        fields.get(csrf.FIELD),
    ):
        raise PageError(403, "portal.csrf")
    return fields


async def sign_in(request: web.Request) -> web.Response:
    """Check the address and password; on success a new session cookie and the letters."""
    fields = await posted_form(request, SIGNIN_SCOPE)
    email = fields.get("email", "")[:MAX_FIELD]
    password = fields.get("password", "")
    if len(password) > MAX_PASSWORD:
        password = ""
    client = client_address(request.remote, request.headers.get("X-Forwarded-For"))
    try:
        token = await request.app[PORTAL].sign_in(email, password, client)
    except SignInThrottled as err:
        return _signin_page(
            request, status=429, problem="throttled", email=email, wait=err.retry_after
        )
    except SignInRefused:
        return _signin_page(request, status=401, problem="wrong", email=email)
    response = web.HTTPSeeOther(portal_path(request, "letters"))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path=portal_path(request),
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    raise response


async def sign_out(request: web.Request) -> web.Response:
    visitor = await signed_in(request)
    await posted_form(request, session_scope(visitor))
    await request.app[PORTAL].sign_out(visitor.token)
    response = web.HTTPSeeOther(portal_path(request))
    response.del_cookie(SESSION_COOKIE, path=portal_path(request))
    raise response


def session_scope(visitor: Visitor) -> str:
    return f"portal:{visitor.session_id}"


def _query(request: web.Request) -> tuple[str, State | None]:
    """The search box and the state filter; 400 for a state that is none, or for a control
    character in the search (no reference or address holds one; PostgreSQL refuses a NUL)."""
    text = request.query.get("q", "")[:MAX_FIELD]
    if has_control(text):
        raise PageError(400)
    state_text = request.query.get("state", "")
    try:
        state = State(state_text) if state_text else None
    except ValueError:
        raise PageError(400) from None
    return text, state


def _position(request: web.Request, name: str) -> Position | None:
    """The page boundary in ?after= or ?before= (the API's cursor form); 400 for a bad one."""
    cursor = request.query.get(name)
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR:
        raise PageError(400)
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise PageError(400) from None


async def letters(request: web.Request) -> web.Response:
    """The account's letters, newest first, searchable, filtered by state, a page at a time
    (keyset pagination: ?after= the last letter of a page, ?before= the first)."""
    visitor = await signed_in(request)
    text, state = _query(request)
    query = LetterQuery(
        text=text,
        state=state,
        after=_position(request, "after"),
        before=_position(request, "before"),
        limit=PAGE_SIZE,
    )
    page = await request.app[PORTAL].letters(visitor.account, query)
    filters = {"q": text, "state": state.value if state else ""}

    def link(name: str, line: LetterLine) -> str:
        return "?" + urlencode({**filters, name: encode_cursor(line.deposited_at, line.id)})

    lines = page.lines
    return signed_in_page(
        request,
        visitor,
        "portal_letters.html",
        letters=lines,
        text=text,
        state=state.value if state else "",
        states=[s.value for s in State],
        previous=link("before", lines[0]) if lines and page.newer else None,
        next=link("after", lines[-1]) if lines and page.older else None,
        export="letters.csv?" + urlencode(filters),
    )


def signed_in_page(
    request: web.Request, visitor: Visitor, template: str, **values: Any
) -> web.Response:
    site = request.app[SITE]
    nonce, fresh = _nonce(request)
    response = render(
        request,
        template,
        account=visitor.account,
        portal=portal_path(request),
        csrf_field=csrf.FIELD,
        csrf=csrf.form_token(site.secret, nonce, session_scope(visitor)),
        nonce_field=csrf.NONCE_FIELD,
        nonce=nonce,
        **values,
    )
    if fresh:
        _set_nonce(request, response, nonce)
    return response


async def export(request: web.Request) -> web.StreamResponse:
    """Every letter matching the search, as CSV (one row per recipient), streamed: read and
    sent EXPORT_BATCH letters at a time, however many there are."""
    visitor = await signed_in(request)
    text, state = _query(request)
    batches = request.app[PORTAL].export(visitor.account, text, state)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": content_disposition("letters.csv", "letters.csv"),
        }
    )
    await response.prepare(request)
    await response.write(header_csv().encode())
    async for batch in batches:
        await response.write(rows_csv(batch).encode())
    await response.write_eof()
    return response


async def letter(request: web.Request) -> web.Response:
    """One letter: each recipient's state and dated events, and the proofs to download."""
    visitor = await signed_in(request)
    found = await request.app[PORTAL].letter(visitor.account, request.match_info["reference"])
    if found is None:
        raise PageError(404)
    line, events = found
    by_delivery = {
        rcpt.delivery_id: [e for e in events if e.delivery_id == rcpt.delivery_id]
        for rcpt in line.recipients
    }
    return signed_in_page(request, visitor, "portal_letter.html", letter=line, events=by_delivery)


async def proof(request: web.Request) -> web.Response:
    """evidence.xml, its .p7s or the PDF certificate of one of the account's own proofs."""
    visitor = await signed_in(request)
    name = request.match_info["name"]
    content_type = PROOF_FILES.get(name)
    if content_type is None:
        raise PageError(404)
    files = await request.app[PORTAL].proof(visitor.account, request.match_info["evidence_id"])
    data = None
    if files is not None:
        data = {"evidence.xml": files.xml, "evidence.xml.p7s": files.p7s, "proof.pdf": files.pdf}[
            name
        ]
    if files is None or data is None:
        raise PageError(404)
    download = f"{files.reference}-{files.type.value}-{name}"
    headers = {"Content-Disposition": content_disposition(download, name)}
    return web.Response(body=data, content_type=content_type, headers=headers)
