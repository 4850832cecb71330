"""Stateless CSRF protection: a random nonce, and a form field that is its HMAC with the link.

The page's form carries the nonce and HMAC-SHA256(secret, nonce + NUL + link token); the same
nonce is also set as a cookie. A POST passes only when the cookie equals the form's nonce (double
submit) and the HMAC matches. Origin and Sec-Fetch-Site checks add an independent barrier against
cross-site posts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final
from urllib.parse import urlsplit

COOKIE: Final = "lre_csrf"
FIELD: Final = "csrf"
NONCE_FIELD: Final = "csrf_nonce"
NONCE_BYTES: Final = 32
MAX_NONCE: Final = 128  # longer cookie values are ignored


def new_nonce() -> str:
    """A fresh random cookie value."""
    return secrets.token_urlsafe(NONCE_BYTES)


def usable_nonce(value: str | None) -> str | None:
    """The cookie value if it looks like one we set, else None."""
    if not value or len(value) > MAX_NONCE or not value.isascii():
        return None
    return value


def form_token(secret: bytes, nonce: str, link_token: str) -> str:
    """The hidden form field for this cookie value and this letter link."""
    message = nonce.encode() + b"\x00" + link_token.encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def valid_form(
    secret: bytes, cookie: str | None, nonce: str | None, link_token: str, field: str | None
) -> bool:
    """True when the cookie is the form's nonce and the field is the HMAC of nonce and link."""
    nonce = usable_nonce(nonce)
    if nonce is None or not field or not field.isascii():
        return False
    if cookie is None or not hmac.compare_digest(cookie.encode(), nonce.encode()):
        return False
    return hmac.compare_digest(form_token(secret, nonce, link_token), field)


def origin_of(url: str) -> str:
    """ "https://gw.example:8443/x" -> "https://gw.example:8443" (default ports dropped)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def same_origin(origin: str | None, fetch_site: str | None, allowed: frozenset[str]) -> bool:
    """Whether the browser says the request comes from one of our own origins.

    No Origin header (old browsers, non-browser clients) passes: the token still guards the form.
    "null" origins (sandboxed frames, privacy redirects) and cross-site fetches are refused, but
    for one case: a "null" Origin that the browser itself marks Sec-Fetch-Site: same-origin.
    Chromium sends "Origin: null" on a form POST from our own page, because every page says
    Referrer-Policy: no-referrer; Sec-Fetch-* headers cannot be set by a page's script.
    """
    site = fetch_site.lower() if fetch_site is not None else None
    if site == "cross-site":
        return False
    if origin is None:
        return True
    if origin.strip().lower() == "null":
        return site == "same-origin"
    try:
        return origin_of(origin.strip()) in allowed
    except ValueError:
        return False
