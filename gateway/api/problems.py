"""Errors as RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from gateway.content_replies import content_refused as smtp_reply
from gateway.errors import AccountDisabled, ContentRefused, DepositRefused, PhoneRequired

MEDIA_TYPE: Final = "application/problem+json"
TYPES: Final = "https://lre-gateway.org/problems/"  # `type` URIs; each names one kind of problem


class Problem(Exception):
    """An API refusal: HTTP status, a short title, a sentence for people, extra members."""

    def __init__(self, status: int, kind: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}

    def response(self, instance: str) -> web.Response:
        body = {
            "type": TYPES + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            **self.extra,
        }
        return web.Response(
            status=self.status,
            body=json.dumps(body, ensure_ascii=False).encode(),
            content_type=MEDIA_TYPE,
            headers=self.headers,
        )


def unauthorized() -> Problem:
    problem = Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "Give a live API token in the header 'Authorization: Bearer lre_...' "
        "(lre-gateway sender token create EMAIL)",
    )
    problem.headers["WWW-Authenticate"] = 'Bearer realm="lre-gateway"'
    return problem


def too_many(retry_after: int) -> Problem:
    problem = Problem(
        429,
        "rate-limited",
        "Too many requests",
        f"This token made too many requests; try again in {retry_after} s",
    )
    problem.headers["Retry-After"] = str(retry_after)
    return problem


def too_large(limit: int) -> Problem:
    return Problem(
        413,
        "too-large",
        "Request too large",
        f"The request body is larger than this gateway accepts ({limit} bytes)",
        max_bytes=limit,
    )


def invalid(detail: str, **extra: Any) -> Problem:
    return Problem(422, "invalid", "Invalid request", detail, **extra)


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", "Not found", detail)


def deposit_refused(refusal: DepositRefused) -> Problem:
    """The deposit service's refusal of a letter, as the SMTP door says it (422)."""
    if isinstance(refusal, PhoneRequired):
        return invalid(
            "This gateway identifies recipients by SMS: give the mobile number of "
            f"{_printable(refusal.recipient)}; nothing was kept",
            recipient=refusal.recipient,
        )
    if isinstance(refusal, AccountDisabled):
        return invalid(
            "This sender account was disabled by the gateway's operator; nothing was kept"
        )
    return invalid(f"The letter was refused: {refusal}; nothing was kept")


def content_refused(refusal: ContentRefused) -> Problem:
    """A message's refused content (422): the SMTP door's sentence, and its reply as `smtp`."""
    reply = smtp_reply(refusal)
    return invalid(reply.text, smtp=reply.line())


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:320]
