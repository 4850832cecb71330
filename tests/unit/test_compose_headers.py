"""The header fields written as bytes (gateway/compose/headers.py), read back by the `email`
package and by Python's RFC 2047 decoder: the value a mail client shows is the value given."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import i18n
from gateway.compose.headers import ENCODED_WORD, LINE, header_fields, unstructured
from gateway.compose.mail import address, new_message
from gateway.compose.notification import notification_subject

ENCODED = re.compile(rb"=\?[^?]+\?[qQbB]\?[^?]*\?=")
# words of every script the gateway writes, and what is hard for an encoder: "=?", "_", "?"
# inside words, runs of spaces, a word longer than a line, characters of four UTF-8 bytes
WORDS = st.one_of(
    st.sampled_from(
        ["Lettre", "recommandée", "électronique", "رسالة", "مضمونة", "—", "LRE-2026-0042",
         "=?utf-8?q?x?=", "a_b", "why?", "", "x" * 90, "é" * 40, "😀", "a=b", "\t"]
    ),
    st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12).map(
        lambda word: word.replace(" ", "")
    ),
)  # fmt: skip
# values as gateway.compose.mail.one_line leaves them: no line break, no white space around
VALUES = st.lists(WORDS, max_size=14).map(lambda words: " ".join(words).strip())


def read_back(field: bytes) -> str:
    """The field's value as the `email` package gives it to a program reading the mail."""
    msg = email.message_from_bytes(field + b"\r\n", policy=email.policy.default)
    return str(next(iter(msg.values())))


def decoded(field: bytes) -> str:
    """The value by Python's plain RFC 2047 decoder, after unfolding."""
    body = field.decode("ascii").split(":", 1)[1].replace("\r\n", "").removeprefix(" ")
    return str(make_header(decode_header(body)))


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_any_value_reads_back_as_it_was(value: str) -> None:
    field = unstructured("Subject", value)
    assert field.isascii()
    assert field.endswith(b"\r\n")
    assert b"\n" not in field.replace(b"\r\n", b"")
    assert read_back(field) == value
    if value:
        assert decoded(field) == value
    for word in ENCODED.findall(field):
        assert len(word) <= ENCODED_WORD
    for line in field[:-2].split(b"\r\n"):
        assert line.strip(b" \t"), "a folded line of white space alone"
        # only an ASCII word longer than a line may make one longer (it is never cut)
        assert len(line) <= LINE or any(len(w) > LINE - 2 for w in value.split(" "))


def test_the_notifications_subjects_in_every_language_read_back() -> None:
    for langs in [("fr",), ("en",), ("ar",), ("fr", "ar"), ("ar", "fr", "en")]:
        subject = notification_subject("LRE-2026-ABCD-1234", langs)
        field = unstructured("Subject", subject)
        assert read_back(field) == subject
        assert b" LRE-2026-ABCD-1234" in field  # the reference stays greppable in the raw mail
        assert max(map(len, field.split(b"\r\n"))) <= LINE


def test_plain_words_stay_plain_and_accents_use_q() -> None:
    field = unstructured("Subject", "Preuve de dépôt — LRE-1 — bob@example.org")
    assert field.startswith(b"Subject: Preuve de =?utf-8?")
    assert b" LRE-1 =?utf-8?b?4oCU?=" in field
    assert field.endswith(b" bob@example.org\r\n")
    assert unstructured("Subject", "Lettre recommandée") == (
        b"Subject: Lettre =?utf-8?q?recommand=C3=A9e?=\r\n"
    )


@settings(max_examples=200, deadline=None)
@given(
    provider=st.sampled_from(["LRE Example", "Barid Al-Maghrib — بريد", "O'Neil, Huissiers"]),
    local=st.from_regex(r"[a-z0-9]+([._+-][a-z0-9]+){0,2}", fullmatch=True),
    domain=st.from_regex(r"[a-z0-9]+(-[a-z0-9]+)?(\.[a-z]{2,6}){1,2}", fullmatch=True),
    subject=VALUES,
    offset=st.integers(-12, 14),
    message_id=st.from_regex(r"<[A-Za-z0-9]{6,40}@lre\.example>", fullmatch=True),
)
def test_the_fields_read_as_the_email_packages_own(
    provider: str, local: str, domain: str, subject: str, offset: int, message_id: str
) -> None:
    date = datetime(2026, 11, 30, 22, 15, 7, tzinfo=timezone(timedelta(hours=offset)))
    sender = address(provider, "notification", "lre.example")
    to = f"{local}@{domain}"
    ours_raw = header_fields(
        sender=sender, to=to, subject=subject, message_id=message_id, date=date
    )
    theirs_raw = new_message(
        sender=sender, to=to, subject=subject, message_id=message_id, date=date
    ).as_bytes()
    ours = email.message_from_bytes(ours_raw + b"\r\n", policy=email.policy.default)
    theirs = email.message_from_bytes(theirs_raw, policy=email.policy.default)
    assert ours.keys() == theirs.keys() == [
        "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted"
    ]  # fmt: skip
    for name in ("From", "To", "Date", "Message-ID", "Auto-Submitted"):
        assert str(ours[name]) == str(theirs[name]), name
    # the subject as given (the email package itself turns a subject "=?utf-8?q?x?=" into "x")
    assert str(ours["Subject"]) == subject
    # the fields without free text are the email package's bytes exactly
    their_lines = theirs_raw.split(b"\r\n")
    for line in ours_raw.split(b"\r\n"):
        if line.startswith((b"From:", b"To:", b"Date:", b"Message-ID:")):
            assert line in their_lines
    assert ours["Date"].datetime == date.astimezone(UTC)


def test_an_address_with_a_display_name_goes_through_the_email_package() -> None:
    fields = header_fields(
        sender=address("LRE", "proofs", "lre.example"),
        to='"Maître Dupont" <dupont@example.fr>',
        subject="x",
        message_id="<a@b>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    msg = email.message_from_bytes(fields + b"\r\n", policy=email.policy.default)
    assert msg["To"].addresses[0].display_name == "Maître Dupont"
    assert msg["To"].addresses[0].addr_spec == "dupont@example.fr"


def test_every_catalogue_subject_reads_back() -> None:
    for lang in i18n.LANGUAGES:
        subject = notification_subject("LRE-2026-0001", lang)
        assert read_back(unstructured("Subject", subject)) == subject
