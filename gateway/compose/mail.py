"""Shared pieces of the gateway's mails: template environment, headers, text cleaning.

The mails' bodies are Jinja2 templates in gateway/compose/templates/. Names ending in .html are
autoescaped; .txt are plain text (their values are cleaned of control characters by the caller).
The HTML is for mail clients: tables and inline styles, no CSS file. The notification holds one
block per language (notice_block.*, rendered with t() bound to that language), in the order the
sender or letters.notification_languages gives.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

import jinja2

from gateway import i18n
from gateway.mime.policy import HeaderClasses

# CRLF line ends, RFC 5322 folding (email.policy.SMTP), header classes made once
POLICY: Final = email.policy.SMTP.clone(header_factory=HeaderClasses())
MAX_LINE: Final = 998  # RFC 5322 §2.1.1; above it a text part is quoted-printable, not 8bit
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u0085\u2028\u2029]")
_BREAKS: Final = re.compile(r"\s*[\r\n]+\s*")

ENVIRONMENT: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    auto_reload=False,  # package data: no stat() of each template file at every mail
)


def render(name: str, lang: str, **values: Any) -> str:
    """Render one of the mail templates with t() and tn() (plural forms) bound to lang."""
    translate: Callable[..., str] = partial(i18n.gettext, lang)
    plural: Callable[..., str] = partial(i18n.ngettext, lang)
    return ENVIRONMENT.get_template(name).render(
        t=translate, tn=plural, lang=lang, dir=i18n.direction(lang), **values
    )


# A template rendered once per shape (which of its values are empty) with a mark in place of
# each value that changes from letter to letter, then each letter's values put in the marks'
# places: its t() calls (tens a mail) made once. The same text: the marks go through gettext's
# formatting untouched, and HTML escaping works character by character, so a value escaped alone
# is escaped as it is inside its sentence (tests/unit/test_compose_notification.py and
# test_compose_proof.py compare both ways). A value used otherwise than shown (its length, a
# filter) must not be marked.
MARK: Final = "\x1a"  # a control character: one_line removes it from every value
_MARKED: Final = re.compile("\x1a(\\d+)\x1a")


class Marks:
    """The values of one mail put in its templates as marks (`marks(value)`), in order."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> Any:
        """A mark in place of `value`; an empty value as it is (the templates test it: part of
        the shape)."""
        if not value:
            return value
        self.values.append(value)
        return f"{MARK}{len(self.values) - 1}{MARK}"

    def usable(self) -> bool:
        """Whether every value can be put in a mark's place: text with no mark of its own."""
        return all(isinstance(v, str) and MARK not in v for v in self.values)

    def filled(self, text: str, values: list[str] | None = None) -> str:
        """`text` with each mark replaced by its value (or by `values`' of the same place)."""
        put = self.values if values is None else values
        return _MARKED.sub(lambda m: put[int(m[1])], text)


class Prepared:
    """Marked renderings by shape, at most `limit` kept (all dropped when full)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._made: dict[tuple[object, ...], Any] = {}

    def get(self, shape: tuple[object, ...], make: Callable[[], Any]) -> Any:
        made = self._made.get(shape)
        if made is None:
            made = make()
            if len(self._made) >= self._limit:
                self._made.clear()
            self._made[shape] = made
        return made


def one_line(value: str | None) -> str | None:
    """A value shown on one line of a mail: line breaks and control characters become spaces."""
    if value is None:
        return None
    return _CONTROL.sub(" ", _BREAKS.sub(" ", value)).strip()


def new_message(
    *, sender: Address, to: str, subject: str, message_id: str, date: datetime
) -> EmailMessage:
    """A message with the headers every gateway mail carries."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = one_line(subject) or ""
    msg["Date"] = format_datetime(_aware(date).astimezone(UTC))
    msg["Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5
    return msg


def address(provider_name: str, local_part: str, domain: str) -> Address:
    return Address(display_name=one_line(provider_name) or "", username=local_part, domain=domain)


def text_cte(text: str) -> str:
    """8bit keeps links greppable in the raw mail; overly long lines need quoted-printable."""
    longest = max((len(line.encode()) for line in text.splitlines()), default=0)
    return "8bit" if longest <= MAX_LINE else "quoted-printable"


def as_bytes(msg: EmailMessage) -> bytes:
    """The message as sent: CRLF line ends."""
    return msg.as_bytes(policy=POLICY)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
