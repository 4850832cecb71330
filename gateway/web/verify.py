"""The public verification pages: /verify (upload a proof, read the verdict) and /verify/{id}.

Uploads are read into memory only (aiohttp's request.post() would spool files to disk), capped
at `max_upload` bytes, verified in a worker thread with gateway.verification, and forgotten.
The status page behind each PDF's QR code shows only what the proof itself states: its type,
letter reference and event time, and whether the gateway holds it sealed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import BodyPartReader, web
from cryptography import x509

from gateway import i18n
from gateway.core.event_reasons import reason_details
from gateway.core.evidence import ProofStatus
from gateway.evidence.pki import load_certificates
from gateway.evidence.verify import Verdict
from gateway.verification.reasons import reason_key
from gateway.web import csrf
from gateway.web.pages import SITE, PageError, language, render
from gateway.web.text import safe_filename

MAX_UPLOAD: Final = 5_000_000  # bytes; a proof mail with its PDF is ~200 KB
MAX_FILES: Final = 10
MAX_FIELD: Final = 1024  # bytes of a non-file form field
CSRF_SCOPE: Final = "verify"  # what the form token is bound to (the letter forms use the link)
EVIDENCE_ID: Final = re.compile(r"[0-9a-f]{32}")

StatusLookup = Callable[[str], Awaitable[ProofStatus | None]]


@dataclass(frozen=True)
class Verification:
    anchors: tuple[x509.Certificate, ...]
    status: StatusLookup
    max_upload: int


VERIFICATION: Final = web.AppKey("verification", Verification)


def add_verify_routes(
    app: web.Application, *, status: StatusLookup, max_upload: int = MAX_UPLOAD
) -> None:
    anchors = tuple(load_certificates(app[SITE].anchors_pem))
    app[VERIFICATION] = Verification(anchors=anchors, status=status, max_upload=max_upload)
    app.router.add_get("/verify", verify_form)
    app.router.add_post("/verify", verify_upload)
    app.router.add_get("/verify/{evidence_id}", proof_status)


async def verify_form(request: web.Request) -> web.Response:
    """The upload form; GET sets only the CSRF cookie."""
    return _form_page(request)


def _form_page(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    site = request.app[SITE]
    nonce = csrf.usable_nonce(request.cookies.get(csrf.COOKIE))
    fresh = nonce is None
    nonce = nonce or csrf.new_nonce()
    values.setdefault("verdicts", None)
    values.setdefault("message", None)
    response = render(
        request,
        "verify.html",
        status=status,
        csrf_field=csrf.FIELD,
        csrf=csrf.form_token(site.secret, nonce, CSRF_SCOPE),
        nonce_field=csrf.NONCE_FIELD,
        nonce=nonce,
        max_size=i18n.format_size(request.app[VERIFICATION].max_upload, language(request)),
        **values,
    )
    if fresh:
        response.set_cookie(
            csrf.COOKIE,
            nonce,
            path=f"{site.root}/verify",
            httponly=True,
            samesite="Lax",
            secure=request.secure or None,
        )
    return response


def _verified(
    files: Sequence[tuple[str, bytes]], anchors: Sequence[x509.Certificate]
) -> list[Verdict]:
    """gateway.verification's verdicts, in the worker thread; imported at the first upload, so
    that the gateway's start does not import pyHanko's validation (~0.4 s of CPU each time)."""
    from gateway.verification.files import verify_files

    return verify_files(files, anchors)


async def verify_upload(request: web.Request) -> web.Response:
    """Verify the uploaded files and show the verdict; nothing is stored."""
    limit = request.app[VERIFICATION].max_upload
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise PageError(413, "verify.too_large")
    fields, files = await _read_form(request, limit)
    _check_csrf(request, fields)
    if not files:
        return _form_page(request, 400, message="verify.no_file")
    anchors = request.app[VERIFICATION].anchors
    verdicts = await asyncio.to_thread(_verified, files, anchors)
    views = [_verdict_view(verdict) for verdict in verdicts]
    valid = bool(verdicts) and all(verdict.valid for verdict in verdicts)
    return _form_page(request, verdicts=views, valid=valid)


async def _read_form(
    request: web.Request, limit: int
) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """Form fields and (file name, bytes) of each non-empty file, in memory, at most `limit`."""
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise PageError(400, "verify.bad_form") from None
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    total = 0
    while True:
        try:
            part = await reader.next()
        except ValueError:
            raise PageError(400, "verify.bad_form") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise PageError(400, "verify.bad_form")
        data = bytearray()
        ceiling = limit if part.filename is not None else MAX_FIELD
        while chunk := await part.read_chunk():
            total += len(chunk)
            data += chunk
            if total > limit or len(data) > ceiling:
                raise PageError(413, "verify.too_large")
        if part.filename is None:
            fields[part.name or ""] = data.decode("utf-8", "replace")
        elif data:
            if len(files) == MAX_FILES:
                raise PageError(413, "verify.too_large")
            name = safe_filename(part.filename, f"file-{len(files) + 1}")
            files.append((name, bytes(data)))
    return fields, files


def _check_csrf(request: web.Request, fields: dict[str, str]) -> None:
    site = request.app[SITE]
    allowed = frozenset(
        {csrf.origin_of(site.public_url), csrf.origin_of(f"{request.scheme}://{request.host}")}
    )
    if not csrf.same_origin(
        request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"), allowed
    ) or not csrf.valid_form(
        site.secret,
        request.cookies.get(csrf.COOKIE),
        fields.get(csrf.NONCE_FIELD),
        CSRF_SCOPE,
        fields.get(csrf.FIELD),
    ):
        raise PageError(403, "error.csrf")


def _verdict_view(verdict: Verdict) -> dict[str, Any]:
    """What the result page shows of one verdict (reasons as catalogue keys plus details)."""
    reasons: dict[str, list[str]] = {}
    for problem in verdict.problems:
        reasons.setdefault(reason_key(problem), []).append(problem)
    return {
        "source": verdict.source,
        "kind": f"verify.kind.{verdict.kind}",
        "valid": verdict.valid,
        "reasons": list(reasons.items()),
        "record": verdict.record,
        "reason_details": _reason_details(verdict),
        "signer": verdict.signer,
        "signed_at": verdict.signed_at,
        "timestamped_at": verdict.timestamped_at,
        "tsa": verdict.tsa,
        "archived": sorted(verdict.archived),
    }


def _reason_details(verdict: Verdict) -> str | None:
    """Why a negative event happened, as its EventReason Details say (old proofs: the reason)."""
    record = verdict.record
    if record is None:
        return None
    if record.reason_code is None:
        return record.reason
    return reason_details(record.reason_code, record.reason)


async def proof_status(request: web.Request) -> web.Response:
    """What the gateway knows of one proof (the QR code of each PDF leads here); GET only."""
    evidence_id = request.match_info["evidence_id"]
    found = None
    if EVIDENCE_ID.fullmatch(evidence_id):
        found = await request.app[VERIFICATION].status(evidence_id)
    if found is None:
        raise PageError(404, "verify.unknown")
    return render(request, "verify_status.html", proof=found)
