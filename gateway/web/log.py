"""Public, read-only endpoints of the evidence log, in the C2SP tlog-tiles layout.

`/log/checkpoint`, `/log/tile/L/N[.p/W]`, `/log/tile/entries/N[.p/W]`, plus
`/log/checkpoints/SIZE` (any published checkpoint) and its `.tsr` (the TSA's token),
`/log/proof/EVIDENCE_ID` (an inclusion proof as travels with a proof) and
`/log/consistency?old=M&new=N` (JSON), `/log/keys` (every log verifier key, current first).
GETs never write. `POST /log/cosignature` collects a witness's cosignature of a published
checkpoint (checked against `evidence.log_witnesses`; no cookie or session is involved, the
witness's signature is its authentication, so there is nothing for CSRF to forge); the latest
checkpoint is served with the collected cosignature lines appended.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from gateway.evidence.log_cosign import CosignatureRefused, check_cosignatures, size_of
from gateway.evidence.log_merkle import ProofError
from gateway.evidence.log_note import MAX_NOTE, Verifier
from gateway.evidence.log_proof import InclusionProof
from gateway.evidence.log_tiles import TILE_WIDTH, TileError, bundle, parse_tile_rest
from gateway.storage.log_store import LogStore

Io = Callable[..., Awaitable[Any]]
MAX_LEVEL = 8  # 256**8 entries is beyond any log
IMMUTABLE = "public, max-age=31536000, immutable"
MUTABLE = "no-cache"
EVIDENCE_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


class _Log:
    def __init__(
        self,
        store: LogStore,
        io: Io,
        keys: Callable[[], Sequence[Verifier]],
        witnesses: Sequence[Verifier],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.io = io
        self.keys = keys
        self.witnesses = witnesses
        self.clock = clock


LOG: Final = web.AppKey("evidence_log", _Log)


def add_log_routes(
    app: web.Application,
    store: LogStore,
    io: Io,
    *,
    keys: Callable[[], Sequence[Verifier]],
    witnesses: Sequence[str],
    clock: Callable[[], datetime],
) -> None:
    """The log's routes; `keys` lists its verifier keys, `witnesses` the accepted ones' vkeys."""
    app[LOG] = _Log(store, io, keys, [Verifier.parse(w) for w in witnesses], clock)
    app.router.add_post("/log/cosignature", _plain(collect_cosignature))
    add = app.router.add_get
    add("/log/keys", _plain(log_keys))
    add("/log/checkpoint", _plain(checkpoint))
    add(r"/log/checkpoints/{size:\d{1,19}}", _plain(old_checkpoint))
    add(r"/log/checkpoints/{size:\d{1,19}}.tsr", _plain(checkpoint_timestamp))
    add("/log/tile/entries/{rest:.+}", _plain(entries_tile))
    add(r"/log/tile/{level:\d{1,2}}/{rest:.+}", _plain(hash_tile))
    add("/log/proof/{evidence_id}", _plain(inclusion))
    add("/log/consistency", _plain(consistency))


def _log(request: web.Request) -> _Log:
    return request.app[LOG]


def _text(body: bytes, cache: str = MUTABLE) -> web.Response:
    response = web.Response(body=body, content_type="text/plain", charset="utf-8")
    response.headers["Cache-Control"] = cache
    return response


def _binary(
    body: bytes, cache: str, content_type: str = "application/octet-stream"
) -> web.Response:
    response = web.Response(body=body, content_type=content_type)
    response.headers["Cache-Control"] = cache
    return response


class _Refusal(Exception):
    """A plain-text 4xx for log clients (the site's error pages are for people)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


def _not_found(text: str) -> _Refusal:
    return _Refusal(404, text)


def _bad(text: str) -> _Refusal:
    return _Refusal(400, text)


def _plain(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Any:
    async def answer(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except _Refusal as refusal:
            response = web.Response(status=refusal.status, text=f"{refusal}\n")
            response.headers["Cache-Control"] = MUTABLE
            return response

    return answer


async def checkpoint(request: web.Request) -> web.Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint)."""
    log = _log(request)
    latest = await log.io(log.store.checkpoint)
    if latest is None:
        raise _not_found("the log has no checkpoint yet")
    lines = await log.io(log.store.cosignatures, latest.size)
    return _text(latest.note + "".join(lines).encode())


async def log_keys(request: web.Request) -> web.Response:
    """Every log verifier key, one a line: the current one first, then older ones."""
    log = _log(request)
    keys = await log.io(log.keys)
    return _text("".join(f"{key.vkey()}\n" for key in keys).encode())


async def collect_cosignature(request: web.Request) -> web.Response:
    """A witness's cosignature of a published checkpoint: checked, kept, served from then on."""
    body = b""
    while len(body) <= MAX_NOTE and (chunk := await request.content.read(MAX_NOTE + 1)):
        body += chunk
    if len(body) > MAX_NOTE:
        raise _Refusal(413, "the note is too long")
    log = _log(request)
    try:
        size = size_of(body)
        published = await log.io(log.store.checkpoint, size)
        served = None  # as served: the cosignatures already collected are not checked again
        if published is not None:
            lines = await log.io(log.store.cosignatures, size)
            served = published.note + "".join(lines).encode()
        cosigned = check_cosignatures(body, served, log.witnesses)
    except CosignatureRefused as refusal:
        raise _Refusal(refusal.status, str(refusal)) from None
    for name, signature in cosigned.witnesses:
        await log.io(log.store.add_cosignature, size, name, signature.line(), now=log.clock())
    names = ", ".join(name for name, _ in cosigned.witnesses)
    return _text(f"cosignature of the checkpoint of {size} entries by {names} collected\n".encode())


async def old_checkpoint(request: web.Request) -> web.Response:
    log = _log(request)
    found = await log.io(log.store.checkpoint, int(request.match_info["size"]))
    if found is None:
        raise _not_found("no checkpoint of that size")
    return _text(found.note, IMMUTABLE)


async def checkpoint_timestamp(request: web.Request) -> web.Response:
    log = _log(request)
    found = await log.io(log.store.checkpoint, int(request.match_info["size"]))
    if found is None or found.timestamp is None:
        raise _not_found("no timestamp for a checkpoint of that size")
    return _binary(found.timestamp, IMMUTABLE, "application/timestamp-reply")


def _tile_address(request: web.Request) -> tuple[int, int]:
    try:
        return parse_tile_rest(request.match_info["rest"])
    except TileError as err:
        raise _bad(f"{err}") from None


async def hash_tile(request: web.Request) -> web.Response:
    level = int(request.match_info["level"])
    if level > MAX_LEVEL:
        raise _bad("no such tile level")
    index, width = _tile_address(request)
    log = _log(request)
    data = await log.io(log.store.tile, level, index, width)
    if data is None:
        raise _not_found("the log is not that big")
    return _binary(data, IMMUTABLE)


async def entries_tile(request: web.Request) -> web.Response:
    index, width = _tile_address(request)
    log = _log(request)
    first = index * TILE_WIDTH
    found = await log.io(log.store.entries, first, first + width)
    if found is None:
        raise _not_found("the log is not that big")
    return _binary(bundle(found), IMMUTABLE)


async def inclusion(request: web.Request) -> web.Response:
    """The inclusion proof of an evidence in the latest checkpoint (404: pending)."""
    evidence_id = request.match_info["evidence_id"].removesuffix(".json")
    if not 0 < len(evidence_id) <= 32 or not set(evidence_id) <= EVIDENCE_ID_CHARS:
        raise _bad("not an evidence id")
    log = _log(request)
    latest = await log.io(log.store.checkpoint)
    found = None if latest is None else await log.io(log.store.inclusion, evidence_id, latest.size)
    if latest is None or found is None:
        raise _not_found("this evidence is not in a published checkpoint yet (inclusion pending)")
    proof = InclusionProof(
        evidence_id, found.index, found.entry, found.proof, latest.note, latest.timestamp
    )
    response = _binary(proof.to_json(), MUTABLE, "application/json")
    # saved under the name `lre-gateway verify` looks for beside the proof (the id is [A-Za-z0-9_-])
    response.headers["Content-Disposition"] = f'attachment; filename="{evidence_id}.log.json"'
    return response


async def consistency(request: web.Request) -> web.Response:
    """A consistency proof between two tree sizes, as JSON (base64 hashes)."""
    try:
        old, new = int(request.query["old"]), int(request.query["new"])
    except (KeyError, ValueError):
        raise _bad("give old=M&new=N, two tree sizes") from None
    log = _log(request)
    size = await log.io(log.store.size)
    if not 0 < old <= new <= size:
        raise _bad(f"sizes must satisfy 0 < old <= new <= {size}")
    try:
        proof = await log.io(log.store.consistency, old, new)
    except ProofError as err:
        raise _not_found(str(err)) from None
    doc = {"old": old, "new": new, "proof": [base64.b64encode(h).decode() for h in proof]}
    return _binary(json.dumps(doc).encode(), MUTABLE, "application/json")
