"""Sentences of the PDF certificate in French, English and Arabic, built from catalogue messages.

The words are the pdf.* messages of gateway/locale/*/LC_MESSAGES/messages.po (proof.* and
evidence.* are shared with the mails); this module turns a record's codes into them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from zoneinfo import ZoneInfo

from gateway import i18n
from gateway.core import event_reasons
from gateway.core.evidence import EvidenceType
from gateway.i18n import N_
from gateway.pdf.identification import CodeCheck, recipient_steps, sender_method

UTC_ZONE: Final = ZoneInfo("UTC")


def text(lang: str, key: str, **params: object) -> str:
    """A certificate word in `lang` (a message of the site's catalogues, pdf.* keys mostly)."""
    return i18n.gettext(lang, key, **params)


def isolate(lang: str, value: str) -> str:
    """A left-to-right value (address, URL, number) kept whole inside an Arabic sentence.

    Unicode isolates (LRI … PDI) make the bidi algorithm lay the value out on its own, so a
    trailing "/" or "." stays with it and the sentence's punctuation stays on the right side.
    """
    return f"\u2066{value}\u2069" if i18n.direction(lang) == "rtl" else value


_REASON_KEYS: Final = {
    event_reasons.RECIPIENT_REFUSED: N_("pdf.reason.recipient_refused"),
    event_reasons.ACCEPTANCE_PERIOD_EXPIRED: N_("pdf.reason.acceptance_period_expired"),
    event_reasons.NOTIFICATION_UNDELIVERABLE: N_("pdf.reason.notification_undeliverable"),
    event_reasons.SMS_NOTIFICATION_UNDELIVERABLE: N_("pdf.reason.sms_notification_undeliverable"),
}


def event_reason(
    lang: str, event: EvidenceType, code: str | None, diagnostic: str | None
) -> str | None:
    """Why a negative event happened, in `lang` (None when the record gives no reason).

    The reason code's sentence in `lang` (an unknown code is named as such and quoted), then,
    for a non-delivery, the remote system's reply quoted as received (often English).
    Records made before reason codes carry only the diagnostic, shown as before.
    """
    reply = diagnostic
    if diagnostic and event is EvidenceType.NotificationForAcceptanceFailure:
        reply = text(lang, "pdf.failure_reply", reply=isolate(lang, diagnostic))
    key = _REASON_KEYS.get(code or "")
    if key:
        reason = text(lang, key)
        if not reply:
            return text(lang, "pdf.reason.alone", reason=reason)
        return text(lang, "pdf.reason.with_reply", reason=reason, reply=reply)
    if code:
        reason = text(lang, "pdf.reason.unknown", code=isolate(lang, code))
        return text(lang, "pdf.reason.with_reply", reason=reason, reply=reply) if reply else reason
    return reply


def unbroken(value: str) -> str:
    """A phone number or masked value that never breaks across lines (no-break spaces)."""
    return value.replace(" ", "\u00a0")


def sender_identification(lang: str, how: str) -> str:
    """How the sender was authenticated, in the certificate's language (never the raw sentence
    alone: an unknown shape is named as such and quoted)."""
    method = sender_method(how)
    if method.kind == "password":
        return text(lang, "pdf.auth.password", tls=isolate(lang, unbroken(method.tls)))
    if method.kind == "unknown":
        return text(lang, "pdf.auth.unknown", how=isolate(lang, method.raw))
    if method.kind == "api_token":
        words = text(lang, "pdf.auth.api_token")
        if method.tls:
            words += text(lang, "pdf.auth.encrypted", tls=isolate(lang, method.tls))
        return words
    key = "pdf.auth.relay" if method.kind.startswith("relay_") else f"pdf.auth.{method.kind}"
    words = text(lang, key, domain=isolate(lang, method.domain), relay=isolate(lang, method.relay))
    if method.tls:
        words += text(lang, "pdf.auth.encrypted", tls=isolate(lang, unbroken(method.tls)))
    return words


def recipient_identification(
    lang: str,
    how: str,
    extensions: Iterable[tuple[str, str]] = (),
    zone: ZoneInfo = UTC_ZONE,
) -> str:
    """How the recipient was identified, in the certificate's language, times in `zone`."""
    words = []
    for step in recipient_steps(how, extensions):
        if isinstance(step, CodeCheck):
            words.append(
                text(
                    lang,
                    f"pdf.ident.code_{step.channel}",
                    destination=isolate(lang, unbroken(step.destination)),
                    time=isolate(lang, i18n.format_time(step.checked_at, lang, zone)),
                )
            )
        elif isinstance(step, tuple):
            words.append(text(lang, "pdf.ident.unknown", how=isolate(lang, step[1])))
        else:
            words.append(text(lang, f"pdf.ident.{step}"))
    return text(lang, "pdf.ident.join").join(words)
