"""Typed application state and page rendering (jinja2, autoescaped) with the request's language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from gateway import i18n
from gateway.core.policy import letter_path
from gateway.web.service import OutboxView, RecipientService, SmsOutboxView

TEMPLATES: Final = Path(__file__).parent / "templates"
LANG_COOKIE: Final = "lang"
LANG_COOKIE_AGE: Final = 365 * 86400


@dataclass(frozen=True, kw_only=True)
class Site:
    """Everything the views need, set once by create_app."""

    service: RecipientService
    tsa_respond: Callable[[bytes], bytes] | None
    outbox: OutboxView | None
    anchors_pem: bytes
    public_url: str
    secret: bytes
    zone: ZoneInfo
    provider_name: str
    stylesheet: bytes
    sms_outbox: SmsOutboxView | None = None  # development: SMS shown on /dev/outbox

    @property
    def root(self) -> str:
        """The path prefix of public_url ("" when the site is at the root)."""
        return urlsplit(self.public_url).path.rstrip("/")

    def letter_path(self, token: str) -> str:
        return letter_path(token, self.root)


SITE: Final = web.AppKey("site", Site)

ENVIRONMENT: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class PageError(Exception):
    """A view's way to answer with an error page: HTTP status and catalogue key."""

    def __init__(self, status: int, key: str | None = None, *, letter: str | None = None) -> None:
        super().__init__(f"{status} {key or ''}")
        self.status = status
        self.key = key or f"error.{status}"
        self.letter = letter  # a letter path to go back to


def language(request: web.Request) -> str:
    """?lang=, else the lang cookie, else Accept-Language, else French."""
    explicit = i18n.valid(request.query.get("lang")) or i18n.valid(request.cookies.get(LANG_COOKIE))
    return i18n.negotiate(request.headers.get("Accept-Language"), explicit)


def render(
    request: web.Request, template: str, *, status: int = 200, **values: Any
) -> web.Response:
    """An HTML page in the request's language; remembers an explicit ?lang= choice."""
    site = request.app[SITE]
    lang = language(request)

    def when(dt: datetime) -> str:
        text = i18n.format_time(dt, lang, site.zone)
        # in right-to-left text, isolate the left-to-right time so its parentheses stay put
        return f"\u2066{text}\u2069" if i18n.direction(lang) == "rtl" else text

    html = ENVIRONMENT.get_template(template).render(
        t=partial(i18n.gettext, lang),
        tn=partial(i18n.ngettext, lang),
        when=when,
        size=partial(_size, lang=lang),
        lang=lang,
        dir=i18n.direction(lang),
        languages=i18n.LANGUAGE_NAMES,
        provider=site.provider_name,
        root=site.root,
        **values,
    )
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    chosen = i18n.valid(request.query.get("lang"))
    if chosen and chosen != request.cookies.get(LANG_COOKIE):
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=LANG_COOKIE_AGE,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=request.secure or None,
        )
    return response


def _size(size: int, *, lang: str) -> str:
    return i18n.format_size(size, lang)


def error_page(
    request: web.Request, status: int, key: str, letter: str | None = None
) -> web.Response:
    """The error page for status, explained by the catalogue text under key."""
    lang = language(request)
    catalogue = i18n.CATALOGUES[lang]
    title = catalogue.get(f"{key}.title") or i18n.gettext(lang, "error.title", status=status)
    message = catalogue.get(key) or catalogue.get(f"error.{status}") or ""
    return render(request, "error.html", status=status, title=title, message=message, letter=letter)
