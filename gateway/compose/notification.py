"""The notification a recipient receives: a letter awaits, one link, never its content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway import i18n
from gateway.compose.mail import address, as_bytes, new_message, one_line, render, text_cte


@dataclass(frozen=True, kw_only=True)
class NoticeFacts:
    """What a notification may say; sender fields are None while the sender is not revealed."""

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
    language: str = "fr"


def notification_subject(reference: str, lang: str) -> str:
    """ "Lettre recommandée électronique en attente / Registered letter awaiting you — REF"."""
    lead = i18n.gettext(lang, "notice.subject")
    if lang != "en":
        lead = f"{lead} / {i18n.gettext('en', 'notice.subject')}"
    return f"{lead} — {reference}"


def sender_line(name: str | None, address_: str | None) -> str | None:
    """ "Name <address>", or whichever is known, or None when the sender is not revealed."""
    name, address_ = one_line(name), one_line(address_)
    if name and address_:
        return f"{name} <{address_}>"
    return name or address_ or None


def compose_notification(facts: NoticeFacts, *, message_id: str, date: datetime) -> bytes:
    """The notification mail (RFC 5322, CRLF): multipart/alternative text and HTML."""
    lang = facts.language if facts.language in i18n.LANGUAGES else i18n.DEFAULT
    sender = sender_line(facts.sender_name, facts.sender_address)
    deadline = i18n.format_time(facts.deadline, lang, facts.zone)
    values = {
        "reference": one_line(facts.reference),
        "deposited": i18n.format_time(facts.deposited_at, lang, facts.zone),
        "deadline": deadline,
        "sender": sender,
        "subject": one_line(facts.subject) if sender else None,  # the subject reveals the sender
        "link": facts.link,
        "provider": one_line(facts.provider_name),
        "summary": None if lang == "en" else i18n.gettext("en", "notice.summary", time=deadline),
    }
    msg = new_message(
        sender=address(facts.provider_name, "notification", facts.domain),
        to=facts.recipient,
        subject=notification_subject(facts.reference, lang),
        message_id=message_id,
        date=date,
    )
    text = render("notification.txt", lang, **values)
    html = render("notification.html", lang, **values)
    msg.set_content(text, cte=text_cte(text))
    msg.add_alternative(html, subtype="html", cte=text_cte(html))
    msg["Content-Language"] = lang if lang == "en" else f"{lang}, en"  # RFC 3282
    return as_bytes(msg)
