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
