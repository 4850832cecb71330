"""Web routes for proofs beyond the recipient's pages: the CA's CRL under /pki/."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.evidence.crl import CRL_PATH, CrlPublisher

CRL_KEY = web.AppKey("crl", CrlPublisher)


def add_pki_routes(app: web.Application, crl: CrlPublisher) -> None:
    app[CRL_KEY] = crl
    app.router.add_get(CRL_PATH, _crl)


async def _crl(request: web.Request) -> web.Response:
    der = await asyncio.to_thread(request.app[CRL_KEY].current)
    return web.Response(
        body=der,
        content_type="application/pkix-crl",
        headers={"Cache-Control": "public, max-age=3600"},
    )
