"""The notification mail: a letter awaits, one link, never the letter's content."""

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.compose import NoticeFacts, compose_notification
from gateway.compose.mail import one_line
from gateway.compose.notification import (
    block_values,
    bodies,
    notice_languages,
    notification_summary,
    rendered,
)

LINK = "http://127.0.0.1:8080/l/Zq3xv_Hw8n-0aBcDeFgHiJkLmNoPqRsTuVwXyZ01234"
DEPOSITED = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)


def facts(**changes: Any) -> NoticeFacts:
    base = NoticeFacts(
        reference="LRE-2026-7K3Q9",
        recipient="destinataire@example.org",
        deposited_at=DEPOSITED,
        deadline=DEPOSITED + timedelta(days=15),
        sender_name=None,
        sender_address=None,
        subject=None,
        link=LINK,
        provider_name="LRE Gateway (development)",
        domain="lre.localhost",
        zone=ZoneInfo("Africa/Casablanca"),
    )
    return replace(base, **changes)


def compose(f: NoticeFacts) -> bytes:
    return compose_notification(f, message_id="<n1@lre.localhost>", date=DEPOSITED)


def parts(raw: bytes) -> dict[str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return {
        part.get_content_type(): part.get_content()
        for part in msg.walk()
        if part.get_content_maintype() == "text"
    }


def test_headers():
    """From names the provider at notification@domain; the mail says it is automatic."""
    msg = email.message_from_bytes(compose(facts()), policy=email.policy.default)
    assert msg["From"].addresses[0].addr_spec == "notification@lre.localhost"
    assert msg["From"].addresses[0].display_name == "LRE Gateway (development)"
    assert msg["To"] == "destinataire@example.org"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == "<n1@lre.localhost>"
    assert msg["Subject"] == (
        "Lettre recommandée électronique en attente / Registered letter awaiting you"
        " — LRE-2026-7K3Q9"
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert set(parts(compose(facts()))) == {"text/plain", "text/html"}


def test_english_subject_is_not_doubled():
    """An English notification has only the English subject."""
    msg = email.message_from_bytes(compose(facts(languages=("en",))), policy=email.policy.default)
    assert msg["Subject"] == "Registered letter awaiting you — LRE-2026-7K3Q9"


def test_only_crlf_line_ends():
    """Every line ends with CRLF, as SMTP requires."""
    raw = compose(facts(subject="a\nb", sender_name="x", sender_address="x@example.org"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize("language", ["fr", "en", "ar"])
def test_link_is_present_exactly(language):
    """The text part carries the link once and the HTML part links to it once."""
    raw = compose(facts(languages=(language,)))
    assert LINK.encode() in raw
    text, html = parts(raw)["text/plain"], parts(raw)["text/html"]
    assert text.count(LINK) == 1
    assert html.count(f'href="{LINK}"') == 1
    assert html.count("<a ") == 1  # nothing else is clickable


def test_every_link_of_a_multilingual_mail_is_the_personal_link():
    """With several language blocks, each button leads to the same personal link, nothing else."""
    html = parts(compose(facts(languages=("fr", "en", "ar"))))["text/html"]
    assert html.count("<a ") == 3
    assert html.count(f'href="{LINK}"') == 3


def test_link_is_escaped_in_html():
    """A link with an ampersand stays a valid HTML attribute."""
    html = parts(compose(facts(link="http://gw.example/l/a?x=1&y=2")))["text/html"]
    assert 'href="http://gw.example/l/a?x=1&amp;y=2"' in html


def test_never_the_body_nor_attachments():
    """Nothing of the letter's content can leak: the facts carry none, the mail shows none."""
    body_text = "SECRET-BODY-7781"
    raw = compose(
        facts(sender_name="Me Dupont", sender_address="dupont@example.fr", subject="Objet")
    )
    assert body_text.encode() not in raw
    for name in ("contrat.pdf", "annexe.docx"):
        assert name.encode() not in raw


def test_subject_hidden_when_sender_not_revealed():
    """Without the sender, the letter's subject is not shown either."""
    raw = compose(facts(subject="Mise en demeure de payer"))
    assert "Mise en demeure de payer" not in "".join(parts(raw).values())
    assert "L'expéditeur et l'objet vous seront communiqués" in parts(raw)["text/plain"]


def test_sender_and_subject_shown_when_revealed():
    """With reveal_sender = in_notification, sender and subject are named."""
    raw = compose(
        facts(
            sender_name="Maître Dupont",
            sender_address="dupont@avocats.example",
            subject="Mise en demeure de payer",
        )
    )
    text, html = parts(raw)["text/plain"], parts(raw)["text/html"]
    assert "Maître Dupont <dupont@avocats.example>" in text
    assert "Mise en demeure de payer" in text
    assert "Maître Dupont &lt;dupont@avocats.example&gt;" in html
    assert "Mise en demeure de payer" in html


def test_html_injection_in_sender_fields_is_escaped():
    """A sender name with markup is shown as text, not as HTML."""
    raw = compose(
        facts(sender_name="<a href='http://evil'>x</a>", sender_address="a@b.c", subject="<b>s</b>")
    )
    html = parts(raw)["text/html"]
    assert "<a href='http://evil'>" not in html
    assert "<b>s</b>" not in html
    assert html.count("<a ") == 1


def test_header_and_line_injection_in_subject_is_flattened():
    """Line breaks in the letter's subject cannot add lines that look like headers."""
    raw = compose(
        facts(
            sender_name="x", sender_address="x@example.org", subject="Hi\r\nBcc: victim@example.org"
        )
    )
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None
    assert "\nBcc:" not in parts(raw)["text/plain"]


def test_times_and_deadline_in_zone_and_utc():
    """Deposit and deadline read in the gateway's zone and in UTC."""
    text = parts(compose(facts()))["text/plain"]
    assert "27/11/2026 14:05 (Africa/Casablanca) — 13:05 UTC" in text
    assert "12/12/2026 14:05 (Africa/Casablanca) — 13:05 UTC" in text


def test_content_note_and_english_line():
    """The mail says content comes after acceptance, and adds one English line when not English."""
    fr = parts(compose(facts()))["text/plain"]
    assert "ne vous est remis qu'après acceptation" in fr
    assert "l'expéditeur en reçoit une preuve" in fr
    assert "A registered electronic letter is waiting for you" in fr
    en = parts(compose(facts(languages=("en",))))["text/plain"]
    assert en.count("A registered electronic letter is waiting for you") == 1


def test_arabic_html_is_right_to_left():
    """The Arabic HTML part declares its direction."""
    html = parts(compose(facts(languages=("ar",))))["text/html"]
    assert '<html lang="ar" dir="rtl">' in html


def test_french_and_arabic_blocks_each_say_everything():
    """A mail in French and Arabic holds both blocks in that order, the Arabic one right to left."""
    raw = compose(facts(languages=("fr", "ar")))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == (
        "Lettre recommandée électronique en attente / رسالة مضمونة إلكترونية في انتظارك"
        " — LRE-2026-7K3Q9"
    )
    assert msg["Content-Language"] == "fr, ar, en"
    text, html = parts(raw)["text/plain"], parts(raw)["text/html"]
    french = text.index("Une lettre recommandée électronique vous attend.")
    arabic = text.index("رسالة مضمونة إلكترونية في انتظارك.")
    assert french < arabic
    assert "يمكنك قبولها أو رفضها إلى غاية" in text
    assert "لا يُسلَّم إليك محتوى الرسالة إلا بعد قبولها." in text
    assert text.count(LINK) == 2  # each block says where to go
    assert '<html lang="fr" dir="ltr">' in html
    assert '<div lang="ar" dir="rtl" style="text-align:right;">' in html
    assert '<div lang="fr" dir="ltr" style="text-align:left;">' in html
    assert "قبول الرسالة أو رفضها</a>" in html.replace("\n", "")


def test_arabic_times_state_their_zone_kept_left_to_right():
    """In the Arabic block each time names its zone and UTC, isolated from the Arabic sentence."""
    text = parts(compose(facts(languages=("ar",))))["text/plain"]
    assert "\u206612/12/2026 14:05 (Africa/Casablanca) — 13:05 UTC\u2069" in text
    assert "\u206627/11/2026 14:05 (Africa/Casablanca) — 13:05 UTC\u2069" in text


def test_languages_are_cleaned():
    """Unknown or repeated languages are dropped; none left means French."""
    only_fr = compose(facts(languages=("xx",)))
    assert "Une lettre recommandée électronique vous attend." in parts(only_fr)["text/plain"]
    twice = parts(compose(facts(languages=("ar", "ar", "de"))))["text/plain"]
    assert twice.count("رسالة مضمونة إلكترونية في انتظارك.") == 1
    assert "Une lettre recommandée" not in twice


def test_revealed_sender_in_every_block():
    """When the notification names the sender, each language block names the same sender."""
    raw = compose(
        facts(
            languages=("fr", "ar"),
            sender_name="Demo Sender",
            sender_address="demo@cabinet.ma",
            subject="Mise en demeure",
        )
    )
    text = parts(raw)["text/plain"]
    assert "Expéditeur : Demo Sender <demo@cabinet.ma>" in text
    assert "المرسِل: Demo Sender <demo@cabinet.ma>" in text


def test_a_line_too_long_for_smtp_is_quoted_printable():
    """A line over 998 bytes (RFC 5322 §2.1.1) makes its part quoted-printable; the text reads
    back the same and no line of the raw mail is too long."""
    long_name = "Cabinet " + "très long " * 120
    raw = compose(facts(sender_name=long_name, sender_address="x@example.org"))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert long_name.strip() in parts(raw)["text/plain"]


def test_parts_of_the_short_notification_stay_8bit():
    """Short lines stay 8bit: the link can be found in the raw mail as it is."""
    raw = compose(facts())
    assert raw.count(b"Content-Transfer-Encoding: 8bit") == 2
    assert LINK.encode() in raw


# anything a sender, an operator or a clock may give, the characters HTML escapes above all
VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
    st.text(st.sampled_from("<>&\"' a\u00e9\u0639\u2066{}%\x1a\n"), max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(
    languages=st.lists(st.sampled_from(["fr", "ar", "en", "xx"]), max_size=3),
    sender_name=VALUES,
    sender_address=VALUES,
    subject=VALUES,
    reference=st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20),
    provider=st.text(st.characters(blacklist_categories=["Cs"]), max_size=30),
    link=st.sampled_from([LINK, 'http://x/"><script>&amp;', "", "http://x/\x1a0\x1a"]),
    shift=st.integers(min_value=-(10**9), max_value=10**9),
)
def test_the_bodies_from_prepared_templates_are_those_the_templates_render(
    languages: list[str],
    sender_name: str | None,
    sender_address: str | None,
    subject: str | None,
    reference: str,
    provider: str,
    link: str,
    shift: int,
) -> None:
    f = facts(
        languages=tuple(languages),
        sender_name=sender_name,
        sender_address=sender_address,
        subject=subject,
        reference=reference,
        provider_name=provider,
        link=link,
        deposited_at=DEPOSITED + timedelta(seconds=shift),
    )
    langs = notice_languages(f.languages)
    blocks = {lang: block_values(f, lang) for lang in langs}
    summary = notification_summary(f, langs)
    for _ in range(2):  # made, then from the memo
        made = bodies(langs, blocks, summary, one_line(provider))
        assert made == rendered(langs, blocks, summary, one_line(provider))
