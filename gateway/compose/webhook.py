"""The mail telling a sender one of its webhook endpoints was disabled, in its language."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address

from gateway import i18n
from gateway.compose.mail import as_bytes, new_message, one_line, render, text_cte


def compose_webhook_disabled(
    *,
    url: str,
    endpoint_id: str,
    to: str,
    sender: str,
    provider_name: str,
    lang: str,
    message_id: str,
    date: datetime,
) -> bytes:
    """Plain text: which endpoint, that its events are kept, how to enable it again."""
    lang = i18n.or_default(lang)
    msg = new_message(
        sender=Address(one_line(provider_name) or "", addr_spec=sender),
        to=to,
        subject=i18n.gettext(lang, "webhookmail.subject"),
        message_id=message_id,
        date=date,
    )
    text = render(
        "webhook_disabled.txt",
        lang,
        url=one_line(url),
        account=to,
        endpoint=endpoint_id,
        provider=one_line(provider_name),
    )
    msg.set_content(text, cte=text_cte(text))
    msg["Content-Language"] = lang
    return as_bytes(msg)
