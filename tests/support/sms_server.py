"""A real SMS provider double: an aiohttp HTTP server on loopback that records every request.

It answers each request with the next status of `statuses` (then 200), so a test can make the
provider fail temporarily (5xx), permanently (4xx), be slow (`delay`), or echo what it was sent
in its error answers (`echo`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class SmsRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class SmsServer:
    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[SmsRequest] = field(default_factory=list)
    delay: float = 0.0
    echo: bool = False  # a failure answers with the request's body, as careless providers do

    def to(self, phone: str) -> list[SmsRequest]:
        """Requests that were answered 2xx for this number (what the phone received)."""
        return [r for r in self.requests if r.json.get("to") == phone and r.headers.get("X-Ok")]


@asynccontextmanager
async def start_sms_server(statuses: list[int] | None = None) -> AsyncIterator[SmsServer]:
    server = SmsServer(url="", statuses=list(statuses or []))

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        status = server.statuses.pop(0) if server.statuses else 200
        headers = dict(request.headers)
        if 200 <= status < 300:
            headers["X-Ok"] = "1"
        server.requests.append(SmsRequest(request.method, request.path, headers, body))
        if server.delay:
            await asyncio.sleep(server.delay)
        if server.echo and status >= 300:
            return web.Response(body=body, status=status, content_type="application/json")
        return web.json_response({"status": "queued" if status < 300 else "error"}, status=status)

    app = web.Application()
    app.router.add_route("*", "/api/send", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    server.url = f"http://{host}:{port}/api/send"
    try:
        yield server
    finally:
        await runner.cleanup()
