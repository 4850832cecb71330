"""The notice SMS: short, in the recipient's language, its deadline with a time zone."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.compose.sms import sms_notice

DEADLINE = datetime(2026, 11, 30, 22, 59, tzinfo=UTC)  # 23:59 in Casablanca (UTC+1)
CASABLANCA = ZoneInfo("Africa/Casablanca")


def notice(lang: str, zone: ZoneInfo = CASABLANCA, sender: str | None = None) -> str:
    return sms_notice(
        reference="LRE-20261127-ABCDEFGH",
        link="https://lre.example/l/TOKEN",
        deadline=DEADLINE,
        zone=zone,
        sender=sender,
        provider="LRE",
        lang=lang,
    )


@pytest.mark.parametrize(
    ("lang", "deadline"),
    [
        ("fr", "avant le 30/11/2026 23:59 (heure du Maroc)"),
        ("en", "before 30/11/2026 23:59 (Morocco time)"),
        ("ar", "قبل 30/11/2026 23:59 (بتوقيت المغرب)"),
    ],
)
def test_the_deadline_states_its_zone(lang, deadline):
    """The SMS deadline is the local time followed by the zone, in the SMS's language."""
    assert deadline in notice(lang)


def test_another_zone_is_named_by_its_iana_name():
    """A gateway configured elsewhere names its zone as tz names it."""
    assert "avant le 30/11/2026 23:59 (Europe/Paris)" in notice("fr", ZoneInfo("Europe/Paris"))


def test_the_arabic_notice_is_arabic_and_short():
    """The Arabic SMS is in Arabic, names the registered sender when given, and stays short."""
    text = notice("ar", sender="Demo Sender")
    assert text.startswith("LRE: رسالة مضمونة إلكترونية من Demo Sender")
    assert "https://lre.example/l/TOKEN" in text
    assert len(text) <= 2 * 70 + 60  # at most three UCS-2 segments with the link
