"""The notification a recipient receives: a letter awaits, one link, never its content.

The recipient's language is not known to the gateway: the mail holds one block per language,
those the sender gave for this recipient (LRE-Recipient-Language) or else the configured
letters.notification_languages, Arabic blocks right to left. Every time states its zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from gateway import i18n
from gateway.compose.headers import header_fields
from gateway.compose.mail import address, one_line, render
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


def _block_values(facts: NoticeFacts, lang: str) -> dict[str, Any]:
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


def compose_notification(facts: NoticeFacts, *, message_id: str, date: datetime) -> bytes:
    """The notification mail (RFC 5322, CRLF): multipart/alternative text and HTML."""
    langs = notice_languages(facts.languages)
    blocks = {lang: _block_values(facts, lang) for lang in langs}
    summary = None
    if "en" not in langs:
        deadline = i18n.format_time(facts.deadline, "en", facts.zone)
        summary = i18n.gettext("en", "notice.summary", time=deadline)
    head = header_fields(
        sender=address(facts.provider_name, "notification", facts.domain),
        to=facts.recipient,
        subject=notification_subject(facts.reference, langs),
        message_id=message_id,
        date=date,
    )
    provider = one_line(facts.provider_name)
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
    content_type, body = multipart(
        "alternative", [text_part(text), text_part(html, "html")], new_boundary("notice")
    )
    language = ", ".join((*langs, "en") if summary else langs)  # RFC 3282
    return whole_message(head, content_type, language, body)
