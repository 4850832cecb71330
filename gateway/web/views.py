"""Thin request handlers: parse the request, call one service function, render."""

from __future__ import annotations

import asyncio
import email.policy
from collections.abc import Awaitable
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Final, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from gateway import i18n
from gateway.core.letter import LetterView, State
from gateway.display import neutralise
from gateway.errors import (
    AlreadyDecided,
    CodeExpired,
    CodeRequired,
    EvidenceError,
    IdentityError,
    SessionRequired,
    TooManyTries,
    WrongCode,
)
from gateway.services.content_access import SESSION_LIFETIME
from gateway.web import csrf
from gateway.web.pages import SITE, PageError, language, render
from gateway.web.text import content_disposition, linkify, safe_filename

T = TypeVar("T")
PENDING: Final = frozenset({State.DEPOSITED, State.NOTIFIED})
TIMESTAMP_QUERY: Final = "application/timestamp-query"  # RFC 3161 §3.4
TIMESTAMP_REPLY: Final = "application/timestamp-reply"
CSRF_COOKIE_PATH: Final = "/l/"
CONTENT_COOKIE: Final = "lre_content"  # the content session (gateway.services.content_access)
# "Send me a code" counts only with the field its visible button sets when a person presses
# it (or presses Enter in its form); a scanner posting the form's defaults (hidden fields, or
# form.submit()) does not send a button's name, and gets the page back with nothing sent.
SEND_FIELD: Final = "send"
SEND_VALUE: Final = "code"


async def landing(request: web.Request) -> web.Response:
    return render(request, "landing.html")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def stylesheet(request: web.Request) -> web.Response:
    headers = {"Cache-Control": "public, max-age=3600"}
    body = request.app[SITE].stylesheet
    return web.Response(body=body, content_type="text/css", charset="utf-8", headers=headers)


async def anchors(request: web.Request) -> web.Response:
    return web.Response(body=request.app[SITE].anchors_pem, content_type="application/x-pem-file")


async def letter(request: web.Request) -> web.Response:
    """The recipient's page; GET never changes anything but the CSRF cookie."""
    return await _letter_page(request, request.match_info["token"])


async def _letter_page(
    request: web.Request,
    token: str,
    *,
    status: int = 200,
    problem: IdentityError | None = None,
    notice: str | None = None,
) -> web.Response:
    """The letter page, with the code step's state and (after a refused try) what went wrong.

    The content shows only to the browser holding a live content session; any other browser
    of an accepted letter is offered a new code to open it.
    """
    site = request.app[SITE]
    view = await site.service.open(token, request.cookies.get(CONTENT_COOKIE))
    locked = view.state.released and not view.opened
    asks_code = view.state in PENDING or locked
    identity = await site.service.code_status(token) if asks_code else None
    nonce = csrf.usable_nonce(request.cookies.get(csrf.COOKIE))
    fresh = nonce is None
    nonce = nonce or csrf.new_nonce()
    response = render(
        request,
        "letter.html",
        view=view,
        state=view.state.value,
        pending=view.state in PENDING,
        released=view.state.released,
        locked=locked,
        notice=notice,
        send_field=SEND_FIELD,
        send_value=SEND_VALUE,
        shown_name=_shown_name,
        clean=neutralise,
        base=site.letter_path(token),
        csrf_field=csrf.FIELD,
        csrf=csrf.form_token(site.secret, nonce, token),
        nonce_field=csrf.NONCE_FIELD,
        nonce=nonce,
        identity=identity,
        ltr=_isolate,
        code_error=_code_error(problem),
        tries_left=problem.tries_left if isinstance(problem, WrongCode) else 0,
        retry_at=problem.retry_at if isinstance(problem, TooManyTries) else None,
        status=status,
    )
    if fresh:
        response.set_cookie(
            csrf.COOKIE,
            nonce,
            path=f"{site.root}{CSRF_COOKIE_PATH}",
            httponly=True,
            samesite="Lax",
            secure=request.secure or None,
        )
    return response


async def back_to_letter(request: web.Request) -> web.Response:
    """GET on a decision address (e.g. a language switch after an error) shows the letter."""
    site = request.app[SITE]
    location = site.letter_path(request.match_info["token"])
    if lang := request.query.get("lang"):
        location += "?lang=" + quote(lang, safe="")
    raise web.HTTPSeeOther(location)


async def accept(request: web.Request) -> web.Response:
    return await _decide(request, accept=True)


async def refuse(request: web.Request) -> web.Response:
    return await _decide(request, accept=False)


async def _decide(request: web.Request, *, accept: bool) -> web.Response:
    site = request.app[SITE]
    token = request.match_info["token"]
    await site.service.open(token)  # an unknown link is a 404 whatever the form says
    await _check_form(request, token)
    code = await _code_field(request)
    try:
        if accept:
            session = await site.service.accept_opening(token, code)
        else:
            await site.service.refuse(token, code)
            session = None
    except IdentityError as problem:
        return await _letter_page(request, token, status=problem.status, problem=problem)
    except AlreadyDecided:  # e.g. Accept and Refuse pressed at the same moment: say what won
        return await _letter_page(request, token, status=409, notice="decided")
    response = web.HTTPSeeOther(site.letter_path(token))
    if session is not None:
        _set_content_cookie(request, response, token, session)
    raise response


async def open_letter(request: web.Request) -> web.Response:
    """POST a new code on an accepted letter: this browser may read it (no new decision)."""
    site = request.app[SITE]
    token = request.match_info["token"]
    await site.service.open(token)
    await _check_form(request, token)
    try:
        session = await site.service.open_with_code(token, await _code_field(request))
    except IdentityError as problem:
        return await _letter_page(request, token, status=problem.status, problem=problem)
    response = web.HTTPSeeOther(site.letter_path(token))
    _set_content_cookie(request, response, token, session)
    raise response


async def _code_field(request: web.Request) -> str | None:
    code = (await request.post()).get("code")
    return code if isinstance(code, str) else None


def _set_content_cookie(
    request: web.Request, response: web.StreamResponse, token: str, session: str
) -> None:
    """The content session: HttpOnly, SameSite=Strict, this letter's path only, short-lived."""
    site = request.app[SITE]
    response.set_cookie(
        CONTENT_COOKIE,
        session,
        path=site.letter_path(token),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=site.public_url.lower().startswith("https:") or request.secure or None,
    )


async def send_code(request: web.Request) -> web.Response:
    """POST "send me a code": a one-time code goes by SMS or email, then the letter page.

    Only a press of the visible button counts (SEND_FIELD); a post of the form's defaults by a
    mail scanner gets the page back, and no code is sent or counted against the recipient.
    """
    site = request.app[SITE]
    token = request.match_info["token"]
    await site.service.open(token)
    await _check_form(request, token)
    if (await request.post()).get(SEND_FIELD) != SEND_VALUE:
        return await _letter_page(request, token, notice="press_send")
    try:
        await site.service.send_code(token, language(request))
    except TooManyTries as problem:
        return await _letter_page(request, token, status=problem.status, problem=problem)
    raise web.HTTPSeeOther(site.letter_path(token) + "#code")


def _shown_name(name: str, index: int) -> str:
    """An attachment's name as shown and offered: the download's sanitised name."""
    return safe_filename(name, f"attachment-{index}")


def _isolate(text: str) -> str:
    """A number or address kept left-to-right inside a sentence of any direction."""
    return f"\u2066{text}\u2069"


def _code_error(problem: IdentityError | None) -> str | None:
    """The catalogue suffix (code.<suffix>) explaining why the code step refused a request."""
    if problem is None:
        return None
    if isinstance(problem, WrongCode):
        return "wrong"
    if isinstance(problem, CodeExpired):
        return "expired"
    if isinstance(problem, TooManyTries):
        return "wait" if problem.retry_at else "exhausted"
    if isinstance(problem, CodeRequired):
        return "required"
    return "required"


async def _check_form(request: web.Request, token: str) -> None:
    site = request.app[SITE]
    allowed = frozenset(
        {csrf.origin_of(site.public_url), csrf.origin_of(f"{request.scheme}://{request.host}")}
    )
    form = await request.post()
    field, nonce = form.get(csrf.FIELD), form.get(csrf.NONCE_FIELD)
    if not csrf.same_origin(
        request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), allowed
    ) or not csrf.valid_form(
        site.secret,
        request.cookies.get(csrf.COOKIE),
        nonce if isinstance(nonce, str) else None,
        token,
        field if isinstance(field, str) else None,
    ):
        raise PageError(403, "error.csrf", letter=site.letter_path(token))


async def original(request: web.Request) -> web.Response:
    """The original message, byte for byte, as a download."""
    site = request.app[SITE]
    token = request.match_info["token"]
    session = request.cookies.get(CONTENT_COOKIE)
    view = await site.service.open(token, session)
    name = safe_filename(view.reference, "letter") + ".eml"
    headers = {"Content-Disposition": content_disposition(name, "letter.eml")}
    if request.method == "HEAD":  # a HEAD hands nothing over and records nothing
        _head_check(view, site.letter_path(token))
        return web.Response(content_type="message/rfc822", headers=headers)
    data = await _released(site.service.original(token, session), site.letter_path(token))
    return web.Response(body=data, content_type="message/rfc822", headers=headers)


def _head_check(view: LetterView, letter: str) -> None:
    """What a GET of a download would refuse, a HEAD refuses too (without recording)."""
    if not view.state.released:
        raise PageError(403, letter=letter)
    if not view.opened:
        raise PageError(403, "error.session", letter=letter)


async def attachment(request: web.Request) -> web.Response:
    """One attachment as an opaque download (never rendered inline)."""
    site = request.app[SITE]
    token = request.match_info["token"]
    index = int(request.match_info["n"])
    session = request.cookies.get(CONTENT_COOKIE)
    if request.method == "HEAD":  # a HEAD hands nothing over and records nothing
        view = await site.service.open(token, session)
        _head_check(view, site.letter_path(token))
        if index >= len(view.attachments):
            raise PageError(404, letter=site.letter_path(token))
        name = content_disposition(view.attachments[index].name, f"attachment-{index}")
        return web.Response(
            content_type="application/octet-stream", headers={"Content-Disposition": name}
        )
    try:
        described, data = await _released(
            site.service.attachment(token, index, session), site.letter_path(token)
        )
    except (KeyError, IndexError):
        raise PageError(404, letter=site.letter_path(token)) from None
    fallback = f"attachment-{index}"
    headers = {"Content-Disposition": content_disposition(described.name, fallback)}
    return web.Response(body=data, content_type="application/octet-stream", headers=headers)


async def _released(pending: Awaitable[T], letter: str) -> T:
    """A download's content; without the content session: 403 "ask for a new code"."""
    try:
        return await pending
    except SessionRequired:
        raise PageError(403, "error.session", letter=letter) from None


async def timestamp(request: web.Request) -> web.Response:
    """RFC 3161 over HTTP: a TimeStampReq in, a TimeStampResp out."""
    respond = request.app[SITE].tsa_respond
    if respond is None:
        raise PageError(404)
    if request.content_type != TIMESTAMP_QUERY:
        raise PageError(415)
    query = await request.read()
    try:
        reply = respond(query)
    except (ValueError, EvidenceError):
        raise PageError(400) from None
    return web.Response(body=reply, content_type=TIMESTAMP_REPLY)


async def outbox_list(request: web.Request) -> web.Response:
    outbox = request.app[SITE].outbox
    if outbox is None:
        raise PageError(404)
    entries = await asyncio.to_thread(outbox.list)
    lang, zone = language(request), request.app[SITE].zone
    rows = [_outbox_row(entry, lang, zone) for entry in entries]
    sms_outbox = request.app[SITE].sms_outbox
    sms = await asyncio.to_thread(sms_outbox.list) if sms_outbox is not None else []
    texts = [
        {"to": e.to, "text": linkify(e.text), "date": i18n.format_time(e.date, lang, zone)}
        for e in sms
    ]
    return render(request, "outbox.html", entries=rows, quote=_quote, sms=texts)


async def outbox_mail(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    raw = await _outbox_read(request, name)
    message = BytesParser(_class=EmailMessage, policy=email.policy.default).parsebytes(raw)
    texts = [linkify(text) for text in _text_parts(message)]
    headers = [
        (label, str(message.get(field, "")))
        for label, field in (
            ("outbox.from", "From"),
            ("outbox.to", "To"),
            ("outbox.subject", "Subject"),
            ("outbox.date", "Date"),
        )
    ]
    return render(
        request,
        "outbox_mail.html",
        name=name,
        quoted=_quote(name),
        headers=headers,
        texts=texts,
    )


async def outbox_raw(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    raw = await _outbox_read(request, name)
    headers = {"Content-Disposition": content_disposition(name, "message.eml")}
    return web.Response(body=raw, content_type="message/rfc822", headers=headers)


async def _outbox_read(request: web.Request, name: str) -> bytes:
    outbox = request.app[SITE].outbox
    if outbox is None:
        raise PageError(404)
    try:
        return await asyncio.to_thread(outbox.read, name)
    except KeyError:
        raise PageError(404) from None


def _outbox_row(entry: Any, lang: str, zone: ZoneInfo) -> dict[str, Any]:
    """An outbox entry for the list (attributes read loosely: any object with them will do)."""
    date = getattr(entry, "date", None)
    size = getattr(entry, "size", None)
    return {
        "name": str(getattr(entry, "name", "")),
        "to": str(getattr(entry, "to", "")),
        "subject": str(getattr(entry, "subject", "")),
        "date": i18n.format_time(date, lang, zone)
        if isinstance(date, datetime)
        else str(date or ""),
        "size": size if isinstance(size, int) else None,
    }


def _text_parts(message: EmailMessage) -> list[str]:
    texts = []
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.is_attachment():
            try:
                texts.append(str(part.get_content()))
            except (LookupError, ValueError):
                continue
    return texts


def _quote(name: str) -> str:
    return quote(name, safe="")
