"""The "webhook disabled" mail: in the account's language, from the catalogue (pure)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from gateway.compose.webhook import compose_webhook_disabled

WHEN = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def notice(lang: str) -> EmailMessage:
    raw = compose_webhook_disabled(
        url="https://hooks.example.ma/lre",
        endpoint_id="0123abcd",
        to="maitre@cabinet.ma",
        sender="bounce@lre.example.ma",
        provider_name="LRE Gateway",
        lang=lang,
        message_id="<m1@lre.example.ma>",
        date=WHEN,
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize(
    ("lang", "subject", "sentence"),
    [
        ("fr", "Webhook désactivé", "a échoué trop de fois de suite"),
        ("en", "Webhook disabled", "failed too many times in a row"),
        ("ar", "تم تعطيل الـ webhook", "فشلت نقطة استقبال"),
    ],
)
def test_the_mail_speaks_the_account_language(lang: str, subject: str, sentence: str) -> None:
    """Subject and text in the account's language; the endpoint's address and the command
    that enables it again are in every language; no other language's sentence."""
    message = notice(lang)
    assert message["Subject"] == subject
    assert message["Content-Language"] == lang
    text = message.get_content()
    assert sentence in text
    assert "https://hooks.example.ma/lre" in text
    assert "lre-gateway sender webhook enable maitre@cabinet.ma 0123abcd" in text
    others = {"fr": "a échoué", "en": "failed too many", "ar": "فشلت"}
    assert not [word for other, word in others.items() if other != lang and word in text]


def test_an_unknown_language_falls_back_to_french() -> None:
    assert notice("de")["Subject"] == "Webhook désactivé"
