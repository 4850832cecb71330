"""Pure parts of the recipient's identity check: phones, code limits, masking, SMS texts, config."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.compose.sms import sms_code, sms_notice
from gateway.content_replies import content_refused
from gateway.core.evidence import EvidenceType as E
from gateway.core.identity import (
    Identification,
    channel_for,
    is_code,
    mask_email,
    mask_phone,
    next_code_allowed,
    normalise_code,
)
from gateway.core.letter import State as S
from gateway.core.lifecycle import advance, advance_sms
from gateway.errors import ConfigError, ContentReason, IllegalTransition, RecipientHeaderRefused
from gateway.mime.phones import _MAY_HOLD_NUMBER, number_in, recipient_phones
from gateway.mime.policy import READING
from gateway.settings import settings_from_dict
from gateway.sms.providers import HttpSmsProvider

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
BOB = "bob@example.ma"


def headers(*lines: str) -> bytes:
    return ("\r\n".join(("From: a@b.ma", *lines, "Subject: x")) + "\r\n\r\nbody\r\n").encode()


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (f'"Bob Martin (+212 6 12 34 56 78)" <{BOB}>', "+212612345678"),
        (f'"Bob Martin (06 12 34 56 78)" <{BOB}>', "+212612345678"),
        (f'"Bob Martin +33 6 12 34 56 78" <{BOB}>', "+33612345678"),
        (f'"Bob Martin (bureau 3)" <{BOB}>', None),
        (f"Bob Martin <{BOB}>", None),
    ],
)
def test_the_display_name_gives_the_number_in_e164(to: str, expected: str | None) -> None:
    assert recipient_phones(headers(f"To: {to}"), [BOB], "MA").get(BOB) == expected


def test_the_header_wins_and_is_matched_without_case() -> None:
    content = headers(
        f'To: "Bob (+212 6 12 34 56 78)" <{BOB}>', "LRE-Recipient-Phone: BOB@example.ma 0698765432"
    )
    assert recipient_phones(content, [BOB], "MA") == {BOB: "+212698765432"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (f'To: "Bob (+212 5 22 12 34 56)" <{BOB}>', ContentReason.NOT_A_MOBILE),  # a landline
        (f"LRE-Recipient-Phone: {BOB} 12345", ContentReason.NOT_A_MOBILE),
        (f"LRE-Recipient-Phone: {BOB}", ContentReason.BAD_PHONE_HEADER),
        ("LRE-Recipient-Phone: someone@else.ma +212612345678", ContentReason.PHONE_FOR_STRANGER),
    ],
)
def test_a_bad_number_refuses_the_letter_with_a_5_1_x_reply(
    line: str, reason: ContentReason
) -> None:
    with pytest.raises(RecipientHeaderRefused) as refused:
        recipient_phones(headers(f"To: {BOB}", line), [BOB], "MA")
    assert refused.value.reason is reason
    reply = content_refused(refused.value)
    assert reply.code == 550
    assert reply.enhanced.startswith("5.1.")


# pieces of To: values: names, numbers written every way, quoting, escapes, encoded words
_PIECES = st.sampled_from(
    [" ", "Bob", "Martin", "(", ")", "+", "212", "6", "12", "34", "56", "78", "0612345678",
     "-", ".", "/", '"', "\\", ",", "<bob@example.ma>", "bob@example.ma", "٠٦١٢٣٤٥٦٧٨",
     "=?utf-8?q?Bob_=28+212_6_12_34_56_78=29?=", "=?utf-8?b?KzIxMjYxMjM0NTY3OA==?=", "é",
     "\r\n ", "(bureau 3)", ";", ":", "Bob:"]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(_PIECES, max_size=14).map("".join))
@example("=?utf-8?b?KzIxMjYxMjM0NTY3OA==?= <bob@example.ma>")  # only an encoded word
@example('"Bob \\+\\2\\1\\2\\6\\1\\2\\3\\4\\5\\6\\7\\8" <bob@example.ma>')  # quoted pairs
@example('"Bob ٠٦١٢٣٤٥٦٧٨" <bob@example.ma>')  # raw UTF-8: bytes to the parser, no digits
@example('"Bob (+212 6 12 34 56 78)" <bob@example.ma>')
@example("212(bureau 3)212<bob@example.ma>")  # a comment dropped: the name "212 212" (found in CI)
def test_a_to_field_holding_a_number_is_always_parsed(to: str) -> None:
    """The field is parsed only when its raw value may hold a number (`_MAY_HOLD_NUMBER`):
    whatever the parser reads as a display name with a number in it, the screen lets through,
    so the numbers found are those the parser finds in every field."""
    message = BytesHeaderParser(policy=READING).parsebytes(headers(f"To: {to}"))
    try:
        values = message.get_all("To") or []
        names = [str(a.display_name or "") for v in values for a in getattr(v, "addresses", ())]
    except (ValueError, TypeError, IndexError, AttributeError):
        return  # unreadable: refused either way (`_all`)
    if any(number_in(name) for name in names):
        raw = "".join(str(v) for k, v in message.raw_items() if k.lower() == "to")
        assert _MAY_HOLD_NUMBER.search(raw)


def test_number_in_ignores_words_in_parentheses() -> None:
    assert number_in("Bob (Casablanca office)") is None


def test_masks_keep_just_enough_to_recognise() -> None:
    assert mask_phone("+212612345678") == "+212 6••••••78"
    assert mask_email("bob.martin@example.ma") == "b••••••••n@example.ma"
    assert "612345" not in mask_phone("+212612345678")


@pytest.mark.parametrize(
    ("mode", "phone", "sms", "expected"),
    [
        ("sms_or_email", "+212612345678", True, "sms"),
        ("sms_or_email", None, True, "email"),
        ("sms_or_email", "+212612345678", False, "email"),
        ("email", "+212612345678", True, "email"),
        ("sms_required", "+212612345678", True, "sms"),
        ("none", "+212612345678", True, None),
    ],
)
def test_channel_for_each_mode(mode: str, phone: str | None, sms: bool, expected: str) -> None:
    assert channel_for(mode, phone, sms_enabled=sms) == expected


def test_three_codes_an_hour_then_a_time_to_wait() -> None:
    times = [NOW - timedelta(minutes=50), NOW - timedelta(minutes=20), NOW - timedelta(minutes=1)]
    assert next_code_allowed(times[:2], NOW) is None
    assert next_code_allowed(times, NOW) == NOW + timedelta(minutes=10)
    assert next_code_allowed([NOW - timedelta(hours=2), *times[1:]], NOW) is None


def test_typed_codes_may_hold_spaces() -> None:
    assert normalise_code(" 123 456 ") == "123456"


def test_typed_codes_may_be_in_arabic_or_fullwidth_digits() -> None:
    assert normalise_code("\u0661\u0662\u0663 \u0664\u0665\u0666") == "123456"  # Arabic-Indic
    assert normalise_code("\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6") == "123456"  # Extended (Persian)
    assert normalise_code("\uff11\uff12\uff13\uff14\uff15\uff16") == "123456"  # fullwidth
    assert is_code(normalise_code("\u0661\u0662\u0663\u0664\u0665\u0666"))
    assert not is_code(normalise_code("12\x0034"))


def test_identification_states_channel_masked_destination_and_time() -> None:
    found = Identification("sms", "+212 6••••••78", NOW)
    assert "SMS" in found.describe()
    assert ("RecipientIdentification.CodeCheckTime", "2026-11-27T10:00:00Z") in found.extensions()


def test_sms_events_notify_but_a_failure_never_changes_the_state() -> None:
    assert advance_sms(S.DEPOSITED, E.NotificationForAcceptance) is S.NOTIFIED
    assert advance_sms(S.REFUSED, E.NotificationForAcceptance) is S.REFUSED
    assert advance_sms(S.NOTIFIED, E.NotificationForAcceptanceFailure) is S.NOTIFIED
    assert advance(S.NOTIFIED, E.NotificationForAcceptance) is S.NOTIFIED  # the mail after SMS
    with pytest.raises(IllegalTransition):
        advance_sms(S.NOTIFIED, E.ConsignmentAcceptance)


def test_the_sms_notice_names_the_sender_only_when_revealed() -> None:
    values = {
        "reference": "LRE-20261127-ABCDEFGH",
        "link": "https://lre.example/l/TOKEN",
        "deadline": NOW,
        "zone": ZoneInfo("Africa/Casablanca"),
        "provider": "LRE",
    }
    hidden = sms_notice(sender=None, **values)  # type: ignore[arg-type]
    shown = sms_notice(sender="Maître Dupont", **values)  # type: ignore[arg-type]
    assert "Dupont" not in hidden
    assert "Maître Dupont" in shown
    assert "https://lre.example/l/TOKEN" in hidden
    assert "123456" in sms_code(code="123456", provider="LRE", lang="ar")


def test_the_http_provider_renders_the_configured_body(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("k3y\n")
    settings = settings_from_dict(
        {
            "sms": {
                "provider": "http",
                "url": "https://sms.example/api/send",
                "headers": {"Authorization": "Bearer {secret}"},
                "secret_file": str(secret),
            }
        },
        base=tmp_path,
    )
    provider = HttpSmsProvider(settings.sms)
    body = provider.render("+212612345678", 'Code "1" <b>\u00e9')
    assert json.loads(body) == {"to": "+212612345678", "text": 'Code "1" <b>\u00e9'}


def test_the_http_provider_names_the_sms_by_its_id_for_the_provider_to_drop_a_resend(
    tmp_path: Path,
) -> None:
    """`Idempotency-Key: <id>` unless the operator names that header; `{id}` and `id` too."""
    settings = settings_from_dict(
        {
            "sms": {
                "provider": "http",
                "url": "https://sms.example/api/send",
                "headers": {"X-Ref": "lre-{id}"},
                "body": '{"to": "{{ to }}", "ref": "{{ id }}"}',
            }
        },
        base=tmp_path,
    )
    provider = HttpSmsProvider(settings.sms)
    assert provider.headers("s1")["Idempotency-Key"] == "s1"
    assert provider.headers("s1")["X-Ref"] == "lre-s1"
    assert json.loads(provider.render("+212612345678", "t", "s1"))["ref"] == "s1"
    own = settings_from_dict(
        {"sms": {"provider": "http", "url": "https://x", "headers": {"idempotency-key": "k"}}},
        base=tmp_path,
    )
    assert {k.lower(): v for k, v in HttpSmsProvider(own.sms).headers("s1").items()}[
        "idempotency-key"
    ] == "k"


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"sms": {"provider": "carrier-pigeon"}}, "sms.provider"),
        ({"sms": {"headers": "Authorization: x"}}, "sms.headers"),
        ({"sms": {"provider": "http"}}, "sms.url"),
        (
            {"sms": {"provider": "none"}, "letters": {"recipient_verification": "sms_required"}},
            "letters.recipient_verification",
        ),
        ({"letters": {"recipient_verification": "sometimes"}}, "letters.recipient_verification"),
        ({"gateway": {"default_region": "Morocco"}}, "gateway.default_region"),
    ],
)
def test_bad_identity_settings_name_their_key(raw: dict[str, object], names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        settings_from_dict(raw)


def test_a_secret_in_the_headers_needs_its_file(tmp_path: Path) -> None:
    settings = settings_from_dict(
        {"sms": {"provider": "http", "url": "https://x", "headers": {"A": "{secret}"}}},
        base=tmp_path,
    )
    with pytest.raises(ConfigError, match=r"sms\.secret_file"):
        HttpSmsProvider(settings.sms)
