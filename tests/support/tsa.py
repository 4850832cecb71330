"""A real RFC 3161 server over HTTP for tests, backed by the built-in TimestampAuthority."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from aiohttp import web

from gateway.evidence.tsa import QUERY_TYPE, REPLY_TYPE, TimestampAuthority


async def start_tsa_server(
    authority: TimestampAuthority, port: int = 0
) -> tuple[web.AppRunner, str]:
    """Serve `authority` at POST /tsa on 127.0.0.1 (a free port by default); runner and URL."""
    serials = itertools.count(1)

    async def handle(request: web.Request) -> web.Response:
        if request.content_type != QUERY_TYPE:
            return web.Response(status=415, text=f"expected {QUERY_TYPE}")
        answer = authority.respond(
            await request.read(), now=datetime.now(UTC), serial=next(serials)
        )
        return web.Response(body=answer, content_type=REPLY_TYPE)

    app = web.Application()
    app.router.add_post("/tsa", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/tsa"
