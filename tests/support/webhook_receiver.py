"""A webhook receiver on loopback, as a sender would write one: it checks the Standard Webhooks
signature itself (HMAC-SHA256 of id.timestamp.body, nothing of the gateway's code), fails on
purpose when told to, and can be stopped and started again on the same port."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.support.gateway import free_port


@dataclass
class Received:
    id: str
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str = ""
    clock: Callable[[], datetime] | None = None
    fail_next: int = 0  # answer 500 to this many requests
    always_fail: bool = False
    port: int = field(default_factory=free_port)
    accepted: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # webhook-ids answered with an error
    bad_signatures: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def signature_ok(self, request: web.Request, body: bytes) -> bool:
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        message_id = request.headers["webhook-id"]
        timestamp = request.headers["webhook-timestamp"]
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        now = (self.clock() if self.clock else datetime.now()).timestamp()  # noqa: DTZ005
        fresh = abs(now - int(timestamp)) <= 300
        given = request.headers["webhook-signature"].split()
        return fresh and any(hmac.compare_digest(f"v1,{expected}", s) for s in given)

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.signature_ok(request, body):
            self.bad_signatures += 1
            return web.Response(status=401)
        message_id = request.headers["webhook-id"]
        if self.always_fail or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            self.refused.append(message_id)
            return web.Response(status=500)
        if all(r.id != message_id for r in self.accepted):  # deduplicate by id
            self.accepted.append(Received(message_id, json.loads(body)))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def events(self, reference: str) -> list[str]:
        return [r.body["type"] for r in self.accepted if r.body["data"]["letter"] == reference]
