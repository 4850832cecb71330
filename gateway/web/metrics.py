"""The operator's listener (`web.admin_listen`): GET /metrics in the Prometheus text format.

It is a separate aiohttp application on its own address, never the public site: bind it to
loopback or to the monitoring network. The database gauges are read in the database executor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.metrics import CONTENT_TYPE, Metrics

Io = Callable[..., Awaitable[Any]]


def admin_app(metrics: Metrics, io: Io) -> web.Application:
    async def scrape(_request: web.Request) -> web.Response:
        body: bytes = await io(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text="LRE Gateway admin listener: GET /metrics (Prometheus)\n")

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/", index)
    return app
