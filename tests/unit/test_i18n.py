"""Languages, catalogues and time formatting of the site and mails."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway import i18n
from gateway.core.evidence import EvidenceType


def test_every_key_is_in_every_catalogue():
    """No catalogue lacks a key another one has."""
    keys = {lang: set(catalogue) for lang, catalogue in i18n.CATALOGUES.items()}
    assert set(keys) == set(i18n.LANGUAGES)
    union = set().union(*keys.values())
    for lang, present in keys.items():
        assert union - present == set(), lang


def test_placeholders_match_across_languages():
    """A translation uses exactly the placeholders of the French text."""
    import string

    def names(text: str) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field}

    for key, text in i18n.CATALOGUES["fr"].items():
        for lang in i18n.LANGUAGES:
            assert names(i18n.CATALOGUES[lang][key]) == names(text), (lang, key)


@pytest.mark.parametrize(
    ("header", "explicit", "expected"),
    [
        (None, None, "fr"),
        ("", None, "fr"),
        ("en", None, "en"),
        ("en-US,en;q=0.9", None, "en"),
        ("de-DE,de;q=0.9,ar;q=0.5,en;q=0.4", None, "ar"),
        ("fr;q=0.2,en;q=0.8", None, "en"),
        ("en;q=0, ar", None, "ar"),
        ("*", None, "fr"),
        ("de, es", None, "fr"),
        ("en;q=abc", None, "fr"),
        ("en, ar", None, "en"),
        ("en", "ar", "ar"),
        ("en", "xx", "en"),
        (None, "EN", "en"),
        ("ar", "", "ar"),
    ],
)
def test_negotiate(header, explicit, expected):
    """An explicit valid choice wins, then the best-weighted Accept-Language, then French."""
    assert i18n.negotiate(header, explicit) == expected


def test_direction():
    """Arabic is written right to left, the others left to right."""
    assert i18n.direction("ar") == "rtl"
    assert i18n.direction("fr") == "ltr"
    assert i18n.direction("en") == "ltr"


def test_gettext_formats_parameters():
    """Parameters fill the catalogue text."""
    assert i18n.gettext("en", "error.title", status=404) == "Error 404"


def test_buttons_are_labelled_accept_and_refuse():
    """The outside contract names the buttons Accept and Refuse in English."""
    assert i18n.gettext("en", "button.accept") == "Accept"
    assert i18n.gettext("en", "button.refuse") == "Refuse"
    assert i18n.gettext("fr", "button.accept") == "Accepter"
    assert i18n.gettext("fr", "button.refuse") == "Refuser"


def test_evidence_titles_use_the_words_users_know():
    """Proof titles are the usual French names of registered-mail proofs."""
    titles = {t: i18n.evidence_title("fr", t) for t in EvidenceType}
    assert titles[EvidenceType.SubmissionAcceptance] == "Preuve de dépôt"
    assert titles[EvidenceType.ConsignmentAcceptance] == "Accusé de réception"
    assert titles[EvidenceType.ConsignmentRejection] == "Preuve de refus"
    assert titles[EvidenceType.AcceptanceRejectionExpiry] == "Preuve de négligence"
    assert titles[EvidenceType.NotificationForAcceptanceFailure] == "Preuve de non-distribution"
    for lang in i18n.LANGUAGES:
        assert all(i18n.evidence_title(lang, t) for t in EvidenceType)


def test_format_time_shows_the_zone_and_utc():
    """A time reads in the gateway's zone, then in UTC."""
    zone = ZoneInfo("Africa/Casablanca")
    at = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)
    assert i18n.format_time(at, "fr", zone) == "27/11/2026 14:05 (Africa/Casablanca) — 13:05 UTC"


def test_format_time_repeats_the_date_when_utc_is_another_day():
    """Around midnight the UTC part names its own date."""
    zone = ZoneInfo("Africa/Casablanca")
    at = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert i18n.format_time(at, "en", zone) == (
        "28/11/2026 00:30 (Africa/Casablanca) — 27/11/2026 23:30 UTC"
    )


def test_format_size():
    """Sizes read in bytes, kilobytes or megabytes with the language's decimal mark."""
    assert i18n.format_size(512, "fr") == "512 octets"
    assert i18n.format_size(12_345, "fr") == "12,3 Ko"
    assert i18n.format_size(12_345, "en") == "12.3 KB"
    assert i18n.format_size(3_000_000, "en") == "3 MB"


@pytest.mark.parametrize(
    ("lang", "zone", "expected"),
    [
        ("fr", "Africa/Casablanca", "30/11/2026 23:59 (heure du Maroc)"),
        ("en", "Africa/Casablanca", "30/11/2026 23:59 (Morocco time)"),
        ("ar", "Africa/Casablanca", "30/11/2026 23:59 (بتوقيت المغرب)"),
        ("fr", "Europe/Paris", "30/11/2026 23:59 (Europe/Paris)"),
    ],
)
def test_short_times_name_their_zone(lang, zone, expected):
    """The short form used in SMS is the local time and the zone, in words when known."""
    local = datetime(2026, 11, 30, 23, 59, tzinfo=ZoneInfo(zone))
    assert i18n.format_time_short(local.astimezone(UTC), lang, ZoneInfo(zone)) == expected


def test_times_are_isolated_only_in_right_to_left_text():
    """A time inside an Arabic sentence is wrapped in LRI…PDI; other languages keep it bare."""
    assert i18n.isolate("12/12/2026 14:05 (Africa/Casablanca)", "ar") == (
        "\u206612/12/2026 14:05 (Africa/Casablanca)\u2069"
    )
    assert i18n.isolate("12/12/2026", "fr") == "12/12/2026"
