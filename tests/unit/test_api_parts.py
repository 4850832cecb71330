"""The API's pure parts: tokens, rate limit, webhook signatures, composed messages, wording."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from gateway.api import problems
from gateway.api.compose import FieldError, File, compose, read_fields
from gateway.api_tokens import bearer, hash_token, new_token
from gateway.errors import AccountDisabled, PhoneRequired
from gateway.mime.languages import recipient_languages
from gateway.mime.message import check_line_endings, parse_message
from gateway.mime.phones import recipient_phones
from gateway.pdf.identification import sender_method
from gateway.pdf.text import sender_identification
from gateway.storage.buckets import bucket_key, refilled, wait
from gateway.webhook_destination import private_host, refused_url
from gateway.webhook_signing import headers, new_secret, verify
from gateway.webhooks.worker import backoff

AT = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


def test_a_token_has_256_random_bits_and_only_its_hash_is_kept() -> None:
    """Two tokens differ, carry 43 base64url characters after lre_, and hash to SHA-256."""
    first, second = new_token(), new_token()
    assert first.token != second.token
    assert len(first.token.removeprefix("lre_")) == 43  # 32 bytes in base64url
    assert first.hash == hashlib.sha256(first.token.encode()).hexdigest() == hash_token(first.token)
    assert first.token.startswith(first.prefix)
    assert first.token not in first.hash


def test_only_a_bearer_lre_token_is_read_from_authorization() -> None:
    """Basic credentials, other schemes and strangers' tokens are not taken for a token."""
    assert bearer("Bearer lre_abc") == "lre_abc"
    assert bearer("bearer   lre_abc ") == "lre_abc"
    assert bearer("Basic bHJlX2FiYw==") is None
    assert bearer("Bearer ghp_abc") is None
    assert bearer(None) is None


def test_the_rate_limit_refills_with_time_and_says_how_long_to_wait() -> None:
    """With 60 a minute, an empty bucket waits 1 s; a second later it holds one token again,
    never more than the burst, and a clock that went back refills nothing."""
    rate = 1.0
    assert wait(refilled(0.0, 100.0, 100.0, rate=rate, burst=60.0), rate) == 1
    assert wait(refilled(0.0, 100.0, 101.0, rate=rate, burst=60.0), rate) is None
    assert refilled(0.0, 100.0, 10_000.0, rate=rate, burst=60.0) == 60.0
    assert refilled(3.0, 100.0, 50.0, rate=rate, burst=60.0) == 3.0
    assert wait(0.5, 5 / 900) == 90  # half a sign-in failure back of 5 per 15 minutes
    assert bucket_key("api", "x") != bucket_key("portal-address", "x")


def test_signatures_follow_standard_webhooks() -> None:
    """The signature is base64 HMAC-SHA256 of id.timestamp.body under the whsec_ key, and a
    receiver refuses a changed body, another key or a stale timestamp."""
    secret = new_secret()
    body = b'{"type":"SubmissionAcceptance"}'
    signed = headers(secret, "msg_1", 1_700_000_000, body)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert signed["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    assert verify(secret, signed, body, now=1_700_000_100)
    assert not verify(secret, signed, body + b" ", now=1_700_000_100)
    assert not verify(new_secret(), signed, body, now=1_700_000_100)
    assert not verify(secret, signed, body, now=1_700_000_000 + 301)


def test_the_published_standard_webhooks_example_verifies() -> None:
    """The example of the Standard Webhooks specification gives its published signature."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signed = headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signed["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_backoff_doubles_and_stops_at_an_hour() -> None:
    """30 s, 60 s, 120 s ... never more than an hour between tries."""
    base = timedelta(seconds=30)
    assert [backoff(base, n).total_seconds() for n in range(3)] == [30, 60, 120]
    assert backoff(base, 50) == timedelta(hours=1)


FIELDS = {
    "subject": "Résiliation",
    "text": "Madame,\nje résilie.",
    "recipients": [{"address": "bob@example.ma", "phone": "+212612345678", "language": "ar"}],
}


def test_a_composed_message_is_deterministic_and_read_like_an_smtp_one() -> None:
    """The same fields and file give the same bytes, which pass the SMTP side's checks and
    carry the recipient's phone and language."""
    fields = read_fields(FIELDS)
    files = [File("bail.pdf", "application/pdf", b"%PDF-1.4 x")]
    made = [
        compose(fields, files, sender="a@b.ma", sender_name="A", domain="g.ma", at=AT, digest="d")
        for _ in range(2)
    ]
    assert made[0] == made[1]
    check_line_endings(made[0])
    parsed = parse_message(made[0])
    assert parsed.from_addresses == ("a@b.ma",)
    assert parsed.subject == "Résiliation"
    assert [a.name for a in parsed.attachments] == ["bail.pdf"]
    recipients = ("bob@example.ma",)
    assert recipient_phones(made[0], recipients, "MA") == {"bob@example.ma": "+212612345678"}
    assert recipient_languages(made[0], recipients) == {"bob@example.ma": ("ar",)}
    message = email.message_from_bytes(made[0], policy=email.policy.default)
    assert message["Message-ID"] == "<d@g.ma>"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"text": "x", "recipients": ["b@c.ma"]}, "subject"),
        ({"subject": "S", "recipients": []}, "recipients"),
        ({"subject": "S", "recipients": [{"mail": "b@c.ma"}]}, "recipients[0]"),
        ({"subject": "S", "recipients": ["b@c.ma"], "bcc": ["x@y.ma"]}, "bcc"),
        ({"subject": "S\r\nBcc: x@y.ma", "recipients": ["b@c.ma"]}, "subject"),
        ([], "JSON object"),
    ],
)
def test_wrong_fields_are_refused_naming_the_field(raw: object, named: str) -> None:
    """A missing or wrong field is refused with a sentence naming it."""
    with pytest.raises(FieldError, match=named.replace("[", r"\[").replace("]", r"\]")):
        read_fields(raw)


def test_the_certificate_words_an_api_deposit_in_each_language() -> None:
    """'API token lre_...' reads as the account's API token in French, English and Arabic."""
    assert sender_method("API token lre_Ab12Cd34").kind == "api_token"
    assert sender_method("API token lre_Ab12Cd34 over HTTPS").tls == "HTTPS"
    assert "jeton d'API" in sender_identification("fr", "API token lre_Ab12Cd34")
    assert "API token" in sender_identification("en", "API token lre_Ab12Cd34 over HTTPS")
    assert "HTTPS" in sender_identification("en", "API token lre_Ab12Cd34 over HTTPS")
    assert "رمز الواجهة البرمجية" in sender_identification("ar", "API token lre_Ab12Cd34")


@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("http://127.0.0.1:8080/hook", True),
        ("http://[::1]/hook", True),
        ("https://10.1.2.3/hook", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://localhost/hook", True),
        ("https://erp.example.ma/hooks", False),
        ("https://203.0.113.7/hook", True),  # documentation range: not global
        ("https://8.8.8.8/hook", False),
    ],
)
def test_webhook_urls_on_the_gateways_own_network_are_recognised(url: str, private: bool) -> None:
    """Loopback, private, link-local (cloud metadata) and reserved hosts are the gateway's own
    network; public names and addresses are not."""
    assert private_host(url) is private


@pytest.mark.parametrize(
    ("url", "allow_private", "reason"),
    [
        ("https://erp.example.ma/hooks", False, None),
        ("http://127.0.0.1:8080/hook", False, "private"),
        ("http://127.0.0.1:8080/hook", True, None),
        ("http://[::1]:99999/hook", True, "url"),  # a port out of range
        ("http://[::1/hook", True, "url"),  # a broken IPv6 literal
        ("ftp://erp.example.ma/x", False, "url"),
        ("https:///no-host", False, "url"),
        ("https://erp.example.ma/a b", False, "url"),
        ("https://erp.example.ma/" + "x" * 2000, False, "url"),
    ],
)
def test_an_endpoint_url_is_refused_with_a_reason(
    url: str, allow_private: bool, reason: str | None
) -> None:
    """Only a complete http(s) URL off the gateway's own network (unless allowed) is taken."""
    assert refused_url(url, allow_private=allow_private) == reason


def test_the_deposit_services_refusals_are_422_problems() -> None:
    """The REST door words the deposit service's refusals itself: 422, the SMTP door's sentence."""
    phone = problems.deposit_refused(PhoneRequired("bob@example.ma"))
    assert (phone.status, phone.kind, phone.extra) == (
        422,
        "invalid",
        {"recipient": "bob@example.ma"},
    )
    assert phone.detail.startswith("This gateway identifies recipients by SMS")
    disabled = problems.deposit_refused(AccountDisabled("a@example.ma"))
    assert (disabled.status, disabled.detail) == (
        422,
        "This sender account was disabled by the gateway's operator; nothing was kept",
    )
