"""The notification a recipient receives: a letter awaits, one link, never its content.

The recipient's language is not known to the gateway: the mail holds one block per language,
those the sender gave for this recipient (LRE-Recipient-Language) or else the configured
letters.notification_languages, Arabic blocks right to left. Every time states its zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from gateway import i18n
from gateway.compose.headers import header_fields
from gateway.compose.mail import Marks, Prepared, address, one_line, render
from gateway.compose.parts import multipart, new_boundary, text_part, whole_message


@dataclass(frozen=True, kw_only=True)
class NoticeFacts:
    """What a notification may say; sender fields are None while the sender is not revealed.

    sender_name is the account's registered name (who the gateway identified), never the
    display name the message's From: declares.
    """

    reference: str
    recipient: str
    deposited_at: datetime
    deadline: datetime
    sender_name: str | None
    sender_address: str | None
    subject: str | None
    link: str
    provider_name: str
    domain: str
    zone: ZoneInfo
    languages: tuple[str, ...] = (i18n.DEFAULT,)


def notice_languages(languages: Iterable[str]) -> tuple[str, ...]:
    """The site languages among languages, in order and once each; French when none is."""
    chosen = tuple(dict.fromkeys(lang for lang in languages if lang in i18n.LANGUAGES))
    return chosen or (i18n.DEFAULT,)


def notification_subject(reference: str, languages: str | Iterable[str]) -> str:
    """ "Lettre recommandée électronique en attente / رسالة … — REF".

    Each language of the mail, in order; a mail in a single language other than English adds
    the English subject.
    """
    langs = notice_languages([languages] if isinstance(languages, str) else languages)
    if len(langs) == 1 and langs[0] != "en":
        langs = (*langs, "en")
    lead = " / ".join(i18n.gettext(lang, "notice.subject") for lang in langs)
    return f"{lead} — {reference}"


def sender_line(name: str | None, address_: str | None) -> str | None:
    """ "Name <address>", or whichever is known, or None when the sender is not revealed."""
    name, address_ = one_line(name), one_line(address_)
    if name and address_:
        return f"{name} <{address_}>"
    return name or address_ or None


def block_values(facts: NoticeFacts, lang: str) -> dict[str, Any]:
    sender = sender_line(facts.sender_name, facts.sender_address)

    def when(dt: datetime) -> str:
        return i18n.isolate(i18n.format_time(dt, lang, facts.zone), lang)

    rtl = i18n.direction(lang) == "rtl"
    return {
        "reference": one_line(facts.reference),
        "deposited": when(facts.deposited_at),
        "deadline": when(facts.deadline),
        "sender": sender,
        "subject": one_line(facts.subject) if sender else None,  # the subject reveals the sender
        "link": facts.link,
        "provider": one_line(facts.provider_name),
        "colon": " : " if lang == "fr" else ": ",  # French typography puts a space before ":"
        "start": "right" if rtl else "left",
        "label": f"padding:2px {'0 2px 8px' if rtl else '8px 2px 0'};color:#4b5563;",
    }


def notification_summary(facts: NoticeFacts, langs: tuple[str, ...]) -> str | None:
    """The line in English ending a mail with no English block, else None."""
    if "en" in langs:
        return None
    deadline = i18n.format_time(facts.deadline, "en", facts.zone)
    return i18n.gettext("en", "notice.summary", time=deadline)


def compose_notification(facts: NoticeFacts, *, message_id: str, date: datetime) -> bytes:
    """The notification mail (RFC 5322, CRLF): multipart/alternative text and HTML."""
    langs = notice_languages(facts.languages)
    blocks = {lang: block_values(facts, lang) for lang in langs}
    summary = notification_summary(facts, langs)
    head = header_fields(
        sender=address(facts.provider_name, "notification", facts.domain),
        to=facts.recipient,
        subject=notification_subject(facts.reference, langs),
        message_id=message_id,
        date=date,
    )
    text, html = bodies(langs, blocks, summary, one_line(facts.provider_name))
    content_type, body = multipart(
        "alternative", [text_part(text), text_part(html, "html")], new_boundary("notice")
    )
    language = ", ".join((*langs, "en") if summary else langs)  # RFC 3282
    return whole_message(head, content_type, language, body)


# The bodies are rendered once per languages and shape (gateway.compose.mail's `Marks`): ~0.25 ms
# less for each notification (its templates call t() some fifty times).
_VALUES: Final = ("reference", "deposited", "deadline", "sender", "subject", "link", "provider")
MAX_PREPARED: Final = 64
_prepared: Final = Prepared(MAX_PREPARED)


def bodies(
    langs: tuple[str, ...],
    blocks: dict[str, dict[str, Any]],
    summary: str | None,
    provider: str | None,
) -> tuple[str, str]:
    """The notification's text and HTML bodies: `rendered`'s, from a memo of marked bodies."""
    marked = Marks()
    shaped = {
        lang: {k: marked(v) if k in _VALUES else v for k, v in block.items()}
        for lang, block in blocks.items()
    }
    marked_summary, marked_provider = marked(summary), marked(provider)
    if not marked.usable():
        return rendered(langs, blocks, summary, provider)
    key = (langs, tuple(tuple(b.items()) for b in shaped.values()), marked_summary, marked_provider)
    text, html = _prepared.get(
        key, lambda: rendered(langs, shaped, marked_summary, marked_provider)
    )
    escaped = [str(escape(value)) for value in marked.values]
    return marked.filled(text), marked.filled(html, escaped)


def rendered(
    langs: tuple[str, ...],
    blocks: dict[str, dict[str, Any]],
    summary: str | None,
    provider: str | None,
) -> tuple[str, str]:
    """The text and HTML bodies, rendered by the templates."""
    text = render(
        "notification.txt",
        langs[0],
        blocks=[render("notice_block.txt", lang, **values) for lang, values in blocks.items()],
        summary=summary,
        provider=provider,
    )
    html = render(
        "notification.html",
        langs[0],
        # each block is rendered (and escaped) by the autoescaping environment
        blocks=[Markup(render("notice_block.html", lang, **v)) for lang, v in blocks.items()],  # noqa: S704
        summary=summary,
        provider=provider,
    )
    return text, html
