"""The HTTP side of the REST API: /api/v1 as an aiohttp sub-application of the web server.

Every answer is JSON; every refusal is an RFC 9457 problem. Bearer tokens authenticate,
a token bucket per token, shared by every gateway process through the database, limits
the rate (429 + Retry-After), request bodies are read up to
[api] max_request_size (413 beyond, before the rest is read).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from gateway.api import problems
from gateway.api.compose import FieldError, File, read_fields
from gateway.api.openapi import document
from gateway.api.service import ApiService, LetterDetail
from gateway.api_tokens import bearer, hash_token
from gateway.core.letter import REFERENCE_PATTERN, Delivery, Letter, State
from gateway.core.text import has_control
from gateway.ratelimit import RateLimit
from gateway.storage.api_store import EndpointRecord, LetterFilter
from gateway.storage.store import AccountRecord, StoredEvidence

PREFIX: Final = "/api/v1"
SERVICE: Final = web.AppKey("api_service", ApiService)
LIMIT: Final = web.AppKey("api_rate_limit", RateLimit)
MAX_BODY: Final = web.AppKey("api_max_body", int)
ACCOUNT: Final = web.RequestKey("api_account", tuple)
PROOF_FORMS: Final = {
    "evidence.xml": "application/xml",
    "evidence.xml.p7s": "application/pkcs7-signature",
    "proof.pdf": "application/pdf",
}
PUBLIC: Final = frozenset({f"{PREFIX}/openapi.json"})
MAX_PAGE: Final = 200
# path parameters: anything else is a 404 before it reaches a query (PostgreSQL refuses a NUL
# in text with an error, which was a 500)
REFERENCE: Final = f"{{reference:{REFERENCE_PATTERN}}}"
ENDPOINT: Final = "{endpoint_id:[0-9a-f]{32}}"


def add_api(
    app: web.Application,
    service: ApiService,
    *,
    max_request_size: int,
    limit: RateLimit,
) -> None:
    """Mount the API under /api/v1 on the web application (limit: requests per token)."""
    api = web.Application(middlewares=[as_problems, authenticate])
    api[SERVICE] = service
    api[LIMIT] = limit
    api[MAX_BODY] = max_request_size
    api.router.add_get("/openapi.json", openapi)
    api.router.add_post("/letters", deposit)
    api.router.add_get("/letters", list_letters)
    api.router.add_get(f"/letters/{REFERENCE}", get_letter)
    api.router.add_get("/evidence/{evidence_id}/{form}", proof)
    api.router.add_get("/webhooks", list_webhooks)
    api.router.add_post("/webhooks", add_webhook)
    api.router.add_delete(f"/webhooks/{ENDPOINT}", remove_webhook)
    api.router.add_post(f"/webhooks/{ENDPOINT}/enable", enable_webhook)
    app.add_subapp(PREFIX, api)


# middlewares --------------------------------------------------------------------------


@web.middleware
async def as_problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal as application/problem+json, never the site's HTML pages."""
    try:
        return await handler(request)
    except problems.Problem as refusal:
        return refusal.response(request.path)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        http = problems.Problem(err.status, f"http-{err.status}", err.reason, err.reason)
        if "Allow" in err.headers:
            http.headers["Allow"] = err.headers["Allow"]
        response: web.StreamResponse = http.response(request.path)
        return response
    except Exception:  # the last line of defence: log it, answer in words
        import logging

        logging.getLogger(__name__).exception("API %s %s failed", request.method, request.path)
        return problems.Problem(
            500, "internal", "Internal error", "The gateway could not answer; try again later"
        ).response(request.path)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC:
        return await handler(request)
    token = bearer(request.headers.get("Authorization"))
    if token is None:
        raise problems.unauthorized()
    token_hash = hash_token(token)
    account = await request.app[SERVICE].account_by_token(token_hash)
    if account is None:
        raise problems.unauthorized()
    wait = await request.app[LIMIT].retry_after(token_hash)  # live tokens only: a bounded set
    if wait is not None:
        raise problems.too_many(wait)
    request[ACCOUNT] = (account, token[:12])
    return await handler(request)


def _account(request: web.Request) -> AccountRecord:
    account: AccountRecord = request[ACCOUNT][0]
    return account


# handlers -----------------------------------------------------------------------------


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


async def deposit(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    account, prefix = request[ACCOUNT]
    limit = request.app[MAX_BODY]
    if request.content_length is not None and request.content_length > limit:
        raise problems.too_large(limit)
    how = f"API token {prefix}" + (" over HTTPS" if request.secure else "")
    peer = request.remote or "unknown"
    key = request.headers.get("Idempotency-Key")
    kind = request.content_type
    if kind == "message/rfc822":
        body = await _read_limited(request, limit)
        done = await service.deposit_message(account, body, authentication=how, peer=peer, key=key)
    elif kind == "multipart/form-data":
        raw, files = await _read_form(request, limit)
        try:
            fields = read_fields(json.loads(raw))
        except (FieldError, ValueError) as err:
            raise problems.invalid(f"letter: {err}") from None
        done = await service.deposit_fields(
            account, fields, files, raw, authentication=how, peer=peer, key=key
        )
    else:
        raise problems.Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "Send the letter as message/rfc822, or as multipart/form-data with a JSON part "
            "named 'letter' and the attachments as files",
        )
    url = f"{PREFIX}/letters/{done.reference}"
    headers = {"Location": url}
    if done.replayed:
        headers["Idempotent-Replayed"] = "true"
    return web.json_response(
        {"reference": done.reference, "url": url},
        status=200 if done.replayed else 201,
        headers=headers,
    )


async def _read_limited(request: web.Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise problems.too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_form(request: web.Request, limit: int) -> tuple[bytes, list[File]]:
    try:
        return await _form_parts(request, limit)
    except (ValueError, HttpProcessingError) as err:
        raise problems.invalid(f"the form cannot be read: {type(err).__name__}") from None


async def _form_parts(request: web.Request, limit: int) -> tuple[bytes, list[File]]:
    reader = await request.multipart()
    raw: bytes | None = None
    files: list[File] = []
    size = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise problems.invalid("nested multipart parts are not read")
        data = bytearray()
        while chunk := await part.read_chunk(1 << 16):
            size += len(chunk)
            if size > limit:
                raise problems.too_large(limit)
            data.extend(chunk)
        if part.name == "letter" and part.filename is None:
            raw = bytes(data)
        elif part.filename:
            kind = part.headers.get("Content-Type", "application/octet-stream")
            files.append(File(part.filename, kind.split(";")[0].strip(), bytes(data)))
        else:
            raise problems.invalid(f"unknown form field {part.name!r}: send 'letter' and files")
    if raw is None:
        raise problems.invalid("the form needs a part named 'letter' holding the JSON fields")
    return raw, files


async def list_letters(request: web.Request) -> web.Response:
    query = request.query
    unknown = set(query) - {"state", "recipient", "since", "until", "cursor", "limit"}
    if unknown:
        raise problems.invalid(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    for name, value in query.items():  # PostgreSQL refuses NUL in text: a 500 before
        if has_control(value):
            raise problems.invalid(f"{name}: control characters are not allowed")
    try:
        state = State(query["state"]) if "state" in query else None
    except ValueError:
        states = ", ".join(s.value for s in State)
        raise problems.invalid(f"state: one of {states}") from None
    where = LetterFilter(
        state=state,
        recipient=query.get("recipient") or None,
        since=_moment(query, "since"),
        until=_moment(query, "until"),
        cursor=query.get("cursor") or None,
        limit=_limit(query.get("limit")),
    )
    page, cursor = await request.app[SERVICE].letters(_account(request), where)
    body: dict[str, Any] = {
        "letters": [_summary(letter, deliveries) for letter, deliveries in page],
        "next_cursor": cursor,
    }
    return web.json_response(body)


def _moment(query: Any, name: str) -> datetime | None:
    if name not in query:
        return None
    try:
        moment = datetime.fromisoformat(query[name])
    except ValueError:
        raise problems.invalid(f"{name}: an ISO 8601 date or date and time") from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise problems.invalid(f"limit: a whole number from 1 to {MAX_PAGE}")
    return int(text)


async def get_letter(request: web.Request) -> web.Response:
    detail = await request.app[SERVICE].letter(_account(request), request.match_info["reference"])
    return web.json_response(_detail(detail))


async def proof(request: web.Request) -> web.Response:
    form = request.match_info["form"]
    if form not in PROOF_FORMS:
        raise problems.not_found(f"proofs come as {', '.join(PROOF_FORMS)}")
    evidence_id = request.match_info["evidence_id"]
    data = await request.app[SERVICE].proof(_account(request), evidence_id, form)
    name = f"{evidence_id}-{form}"
    return web.Response(
        body=data,
        content_type=PROOF_FORMS[form],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def list_webhooks(request: web.Request) -> web.Response:
    found = await request.app[SERVICE].endpoints(_account(request))
    return web.json_response({"webhooks": [_endpoint(e) for e in found]})


async def add_webhook(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        body = json.loads(await _read_limited(request, 10_000))
        url = body["url"]
    except (ValueError, KeyError, TypeError):
        raise problems.invalid('send {"url": "https://..."}') from None
    if not isinstance(url, str):
        raise problems.invalid("url: a string is required")
    endpoint = await service.new_endpoint(_account(request), url)
    shown = _endpoint(endpoint) | {"secret": endpoint.secret}
    return web.json_response(shown, status=201)


async def remove_webhook(request: web.Request) -> web.Response:
    which = request.match_info["endpoint_id"]
    if not await request.app[SERVICE].remove_endpoint(_account(request), which):
        raise problems.not_found(f"no webhook {which} of this account")
    return web.Response(status=204)


async def enable_webhook(request: web.Request) -> web.Response:
    """Enable an endpoint disabled after failures; its queued events go on where they stopped."""
    which = request.match_info["endpoint_id"]
    service = request.app[SERVICE]
    if not await service.enable_endpoint(_account(request), which):
        raise problems.not_found(f"no webhook {which} of this account")
    found = [e for e in await service.endpoints(_account(request)) if e.id == which]
    if not found:  # removed meanwhile
        raise problems.not_found(f"no webhook {which} of this account")
    return web.json_response(_endpoint(found[0]))


# representations ----------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _recipient(delivery: Delivery) -> dict[str, Any]:
    return {
        "address": delivery.recipient,
        "state": delivery.state.value,
        "deadline": _time(delivery.deadline),
        "notified_at": _time(delivery.notified_at),
        "decided_at": _time(delivery.decided_at),
        "handed_over_at": _time(delivery.handed_over_at),
    }


def _summary(letter: Letter, deliveries: list[Delivery]) -> dict[str, Any]:
    return {
        "reference": letter.reference,
        "url": f"{PREFIX}/letters/{letter.reference}",
        "subject": letter.subject,
        "deposited_at": _time(letter.deposited_at),
        "recipients": [_recipient(d) for d in deliveries],
    }


def _event(stored: StoredEvidence) -> dict[str, Any]:
    base = f"{PREFIX}/evidence/{stored.id}"
    return {
        "id": stored.id,
        "type": stored.type.value,
        "time": _time(stored.event_time),
        "sealed": stored.p7s is not None,
        "proofs": {form: f"{base}/{form}" for form in PROOF_FORMS},
    }


def _detail(detail: LetterDetail) -> dict[str, Any]:
    letter = detail.letter
    return {
        "reference": letter.reference,
        "subject": letter.subject,
        "deposited_at": _time(letter.deposited_at),
        "sender": {
            "address": letter.sender_address,
            "name": letter.sender_name,
            "authentication": letter.sender_authentication,
        },
        "message": {
            "size": letter.message_size,
            "sha256": letter.message_sha256,
            "message_id": letter.message_id,
        },
        "attachments": [
            {"name": a.name, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
            for a in letter.attachments
        ],
        "recipients": [
            _recipient(delivery) | {"events": [_event(e) for e in events]}
            for delivery, events in detail.deliveries
        ],
    }


def _endpoint(endpoint: EndpointRecord) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "created_at": _time(endpoint.created_at),
        "disabled_at": _time(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
    }
