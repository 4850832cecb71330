"""Languages, catalogues and time formatting of the site and mails."""

import re
import string
import subprocess
import sys
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import i18n
from gateway.core.evidence import EvidenceType


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_message_has_a_text_in_every_language():
    """No catalogue lacks a key another one has, nor leaves a text (or a plural form) empty."""
    keys = {lang: set(catalogue.messages) for lang, catalogue in i18n.CATALOGUES.items()}
    assert set(keys) == set(i18n.LANGUAGES)
    union = set().union(*keys.values())
    for lang, catalogue in i18n.CATALOGUES.items():
        assert union - keys[lang] == set(), lang
        empty = [key for key, text in catalogue.messages.items() if not all(text)]
        assert empty == [], lang


def test_plural_messages_have_each_language_s_forms():
    """A counted message has French's 3 forms, English's 2, Arabic's 6 in every catalogue."""
    assert {lang: c.num_plurals for lang, c in i18n.CATALOGUES.items()} == {
        "fr": 3,
        "en": 2,
        "ar": 6,
    }
    plural = {
        key for key, text in i18n.CATALOGUES["fr"].messages.items() if isinstance(text, tuple)
    }
    assert {"code.wrong", "size.bytes", "codemail.validity", "sms.code"} <= plural
    for catalogue in i18n.CATALOGUES.values():
        for key in plural:
            forms = catalogue.messages[key]
            assert isinstance(forms, tuple), (catalogue.lang, key)
            assert len(forms) == catalogue.num_plurals, (catalogue.lang, key)


def test_placeholders_match_across_languages():
    """A translation uses exactly the placeholders of the French text.

    A plural form may leave out the count {n} ("محاولتان", two tries), never anything else; the
    last form ("other") keeps it.
    """
    for key, french in i18n.CATALOGUES["fr"].messages.items():
        expected = _placeholders(french if isinstance(french, str) else french[-1])
        for lang in i18n.LANGUAGES:
            text = i18n.CATALOGUES[lang].messages[key]
            if isinstance(text, str):
                assert _placeholders(text) == expected, (lang, key)
                continue
            assert _placeholders(text[-1]) == expected, (lang, key)
            for form in text:
                assert _placeholders(form) | {"n"} == expected | {"n"}, (lang, key, form)


def test_no_text_writes_a_plural_by_hand():
    """ "essai(s)", "try(ies)": a count's words come from a plural message instead."""
    for catalogue in i18n.CATALOGUES.values():
        for key, text in catalogue.messages.items():
            for form in (text,) if isinstance(text, str) else text:
                assert re.search(r"\w\((s|es|ies|x)\)", form) is None, (catalogue.lang, key)


def test_make_messages_extracts_every_key_the_catalogues_hold():
    """The keys pybabel finds in code and templates (babel.cfg, the Makefile's keywords) are
    exactly the catalogues' keys: `make messages` adds none and drops none."""
    root = Path(__file__).resolve().parents[2]
    keywords = re.search(r"^KEYWORDS := (.*?)\n\S", (root / "Makefile").read_text(), re.M | re.S)
    assert keywords is not None
    args = keywords.group(1).replace("\\\n", " ").split()
    pot = tmp_pot(root, args)
    extracted = {m.id if isinstance(m.id, str) else m.id[0] for m in pot if m.id}
    assert extracted == set(i18n.CATALOGUES["fr"].messages)


def tmp_pot(root: Path, keyword_args: list[str]) -> Catalog:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "messages.pot"
        subprocess.run(
            [
                str(Path(sys.executable).parent / "pybabel"),
                "-q",
                "extract",
                "-F",
                "babel.cfg",
                *keyword_args,
                "-o",
                str(out),
                ".",
            ],
            cwd=root,
            check=True,
        )
        with out.open("rb") as pot:
            return read_po(pot)


def test_ngettext_picks_the_language_s_plural_form():
    assert i18n.ngettext("fr", "code.wrong", 1) == (
        "Ce code n'est pas le bon. Il vous reste 1 essai avec ce code."
    )
    assert i18n.ngettext("en", "code.wrong", 4).endswith("4 more tries with this code.")
    arabic = [i18n.ngettext("ar", "code.wrong", n) for n in (1, 2, 4, 11)]
    assert [("محاولتان" in t, "محاولات" in t, "4" in t, "11" in t) for t in arabic] == [
        (False, False, False, False),
        (True, False, False, False),
        (False, True, True, False),
        (False, False, False, True),
    ]
    assert i18n.format_size(1, "fr") == "1 octet"
    assert i18n.format_size(1, "en") == "1 byte"


def test_a_missing_message_is_an_error_not_a_blank():
    with pytest.raises(KeyError):
        i18n.gettext("en", "no.such.key")
    with pytest.raises(KeyError):
        i18n.ngettext("ar", "letter.title", 3)  # not a counted message


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


@settings(max_examples=300, deadline=None)
@given(
    # naive bounds (hypothesis' way), taken as UTC below; a day short of the end: any zone
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),  # noqa: DTZ001
    st.sampled_from(["Africa/Casablanca", "Europe/Paris", "UTC", "Pacific/Chatham"]),
)
def test_dates_are_written_as_babel_writes_their_pattern(when: datetime, zone: str) -> None:
    """The numeric date and time patterns, written by number, are Babel's in every language."""
    local = when.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    for lang in i18n.LANGUAGES:
        locale = i18n._locale(lang)
        for pattern, ours in ((i18n._DATETIME, i18n._datetime), (i18n._TIME, i18n._time)):
            babel = format_datetime(local, pattern, tzinfo=local.tzinfo, locale=locale)
            assert ours(local, lang) == babel


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=1000, max_value=10**13) | st.sampled_from([1049, 1050, 1051, 99_949,
       99_950, 999_999, 1_000_000, 1_049_999, 1_050_000, 99_950_000, 3 * 10**9]))  # fmt: skip
def test_sizes_are_written_as_babel_writes_their_pattern(size: int) -> None:
    """Kilobytes and megabytes, rounded half up to one decimal below 100: Babel's digits and
    decimal mark in every language."""
    for lang in i18n.LANGUAGES:
        value = Decimal(size) / (1000 if size < 1_000_000 else 1_000_000)
        with localcontext(rounding=ROUND_HALF_UP):
            babel = format_decimal(
                value, format="0" if value >= 100 else "0.#", locale=i18n._locale(lang)
            )
        assert i18n._decimal(value, lang) == babel


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
