"""The gateway's SMS texts and the one-time code mail (pure: time and ids are arguments)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from gateway import i18n
from gateway.compose.mail import address, as_bytes, new_message, one_line, render, text_cte
from gateway.core.identity import CODE_VALIDITY


def sms_notice(
    *,
    reference: str,
    link: str,
    deadline: datetime,
    zone: ZoneInfo,
    sender: str | None,
    provider: str,
    lang: str = i18n.DEFAULT,
) -> str:
    """The SMS sent with the notification: a letter awaits, until when, where; never its content.

    The sender (the account's registered name) is named only when letters.reveal_sender says
    the notification may name them. The deadline states its zone: "30/11/2026 23:59 (heure du
    Maroc)".
    """
    lang = i18n.or_default(lang)
    day = i18n.format_time_short(deadline, lang, zone)
    key = "sms.notice_from" if sender else "sms.notice"
    return i18n.gettext(
        lang,
        key,
        provider=one_line(provider),
        reference=one_line(reference),
        sender=one_line(sender) or "",
        deadline=day,
        link=link,
    )


def sms_code(*, code: str, provider: str, lang: str) -> str:
    minutes = int(CODE_VALIDITY.total_seconds() // 60)
    return i18n.ngettext(
        i18n.or_default(lang), "sms.code", minutes, code=code, provider=one_line(provider)
    )


def compose_code_mail(
    *,
    code: str,
    to: str,
    reference: str,
    provider_name: str,
    domain: str,
    lang: str,
    message_id: str,
    date: datetime,
) -> bytes:
    """The mail carrying a one-time code when no mobile number is known (plain text only)."""
    lang = i18n.or_default(lang)
    minutes = int(CODE_VALIDITY.total_seconds() // 60)
    msg = new_message(
        sender=address(provider_name, "notification", domain),
        to=to,
        subject=f"{i18n.gettext(lang, 'codemail.subject')} — {one_line(reference)}",
        message_id=message_id,
        date=date,
    )
    text = render(
        "code.txt",
        lang,
        code=code,
        minutes=minutes,
        reference=one_line(reference),
        provider=one_line(provider_name),
    )
    msg.set_content(text, cte=text_cte(text))
    msg["Content-Language"] = lang
    return as_bytes(msg)
