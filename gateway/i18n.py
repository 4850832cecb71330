"""The site's languages: negotiation, text direction, message catalogues, dates and numbers.

French is the default language; English and Arabic (right-to-left) are the others. Every text a
person reads is a message of the gettext catalogues gateway/locale/<lang>/LC_MESSAGES/messages.po,
read with Babel when the gateway starts (no compile step). A message's id is a stable key
("letter.title"); its text uses str.format placeholders ("{time}"), the same in each language
(tests/unit/test_i18n.py checks both). A message that counts something has plural forms (French 3,
English 2, Arabic 6) and is read with ngettext(lang, key, n), its count written {n}. Catalogue
strings are plain text: HTML templates escape them like any other value.

To add a message: use the key in code (gettext(lang, "area.key") / t('area.key') in a template,
ngettext / tn for a count, N_("area.key") for a key built at run time), run `make messages`,
then fill its msgstr in the three .po files.
"""

from __future__ import annotations

import functools
import gettext as _gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.messages.pofile import read_po
from babel.numbers import get_decimal_symbol

from gateway.core.evidence import EvidenceType

LANGUAGES: Final = ("fr", "en", "ar")
DEFAULT: Final = "fr"
RTL: Final = frozenset({"ar"})
LANGUAGE_NAMES: Final = {"fr": "Français", "en": "English", "ar": "العربية"}
LOCALE_DIR: Final = Path(__file__).parent / "locale"
DOMAIN: Final = "messages"


def N_(key: str) -> str:
    """Mark a key that code builds at run time, so that `make messages` extracts it."""
    return key


def Np_(key: str) -> str:
    """Mark a plural key (its text has a {n}) handed around at run time, like N_."""
    return key


@dataclass(frozen=True)
class Catalogue:
    """One language's messages: key → text, or key → plural forms (indexed by `plural(n)`)."""

    lang: str
    messages: Mapping[str, str | tuple[str, ...]]
    num_plurals: int
    plural: Callable[[int], int]

    def get(self, key: str) -> str | None:
        """The (singular) text of key, or None when the catalogue has no text for it."""
        text = self.messages.get(key)
        return text if isinstance(text, str) and text else None

    def __getitem__(self, key: str) -> str:
        """catalogue[key]: the singular text, as the former dict catalogues gave it."""
        text = self.get(key)
        if text is None:
            raise KeyError(key)
        return text

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None


def load(lang: str, directory: Path = LOCALE_DIR) -> Catalogue:
    """Read one language's .po file."""
    with (directory / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    messages: dict[str, str | tuple[str, ...]] = {}
    for message in catalog:
        if not message.id:
            continue  # the header
        key = message.id if isinstance(message.id, str) else message.id[0]
        string = message.string
        messages[key] = string if isinstance(string, str) else tuple(string or ())
    return Catalogue(
        lang=lang,
        messages=messages,
        num_plurals=catalog.num_plurals,
        plural=_gettext.c2py(catalog.plural_expr),
    )


CATALOGUES: Final[Mapping[str, Catalogue]] = {lang: load(lang) for lang in LANGUAGES}
# Babel's locale of each language, parsed once: given as a string, Babel parses it again at
# every date or number (~35 µs each, ~10 a certificate)
_LOCALES: Final[Mapping[str, Locale]] = {lang: Locale.parse(lang) for lang in LANGUAGES}


def _catalogue(lang: str) -> Catalogue:
    return CATALOGUES.get(lang) or CATALOGUES[DEFAULT]


def _locale(lang: str) -> Locale:
    return _LOCALES.get(lang) or _LOCALES[DEFAULT]


def or_default(lang: str | None) -> str:
    """lang when the gateway speaks it, else the default language (French)."""
    return lang if lang in LANGUAGES else DEFAULT


MAX_ACCEPT_LANGUAGE = 4096  # longer headers are ignored rather than parsed


def valid(lang: str | None) -> str | None:
    """The site language named by lang ("en", "EN", "en-GB"), or None."""
    if not lang:
        return None
    primary = lang.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in LANGUAGES else None


def negotiate(accept_language: str | None, explicit: str | None = None) -> str:
    """Pick the page language: explicit if valid, else the best of Accept-Language, else French."""
    chosen = valid(explicit)
    if chosen:
        return chosen
    if not accept_language or len(accept_language) > MAX_ACCEPT_LANGUAGE:
        return DEFAULT
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.partition(";")
        lang = valid(tag)
        if lang is None:
            continue
        quality = _quality(params)
        if quality <= 0:
            continue
        candidate = (quality, -position, lang)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else DEFAULT


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def direction(lang: str) -> Literal["ltr", "rtl"]:
    """Text direction of a site language."""
    return "rtl" if lang in RTL else "ltr"


def gettext(lang: str, key: str, **params: object) -> str:
    """The catalogue text for key in lang (French for an unknown language), formatted.

    A message missing from lang falls back to French; one missing from French is a KeyError.
    """
    text = _catalogue(lang).get(key) or _catalogue(DEFAULT).get(key)
    if text is None:
        raise KeyError(key)
    return text.format(**params) if params else text


def ngettext(lang: str, key: str, n: int, **params: object) -> str:
    """The plural form of key for the count n in lang, formatted with n and params.

    "Il vous reste 1 essai" / "2 essais"; Arabic has six forms (zero, one, two, few, many, other).
    """
    catalogue = _catalogue(lang)
    forms = catalogue.messages.get(key)
    if not isinstance(forms, tuple) or not all(forms):
        catalogue = _catalogue(DEFAULT)
        forms = catalogue.messages.get(key)
        if not isinstance(forms, tuple):
            raise KeyError(key)
    return forms[catalogue.plural(n)].format(n=n, **params)


def evidence_title(lang: str, event: EvidenceType) -> str:
    """The proof's name in words, e.g. "Preuve de dépôt" for SubmissionAcceptance."""
    return gettext(lang, f"evidence.{event.value}")


def format_time(dt: datetime, lang: str, zone: ZoneInfo) -> str:
    """A time in the gateway's zone then in UTC: "27/11/2026 14:05 (Africa/Casablanca) — 13:05 UTC".

    The UTC part repeats the date when it differs from the local date. Naive datetimes are
    taken as UTC.
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    local = dt.astimezone(zone)
    utc = dt.astimezone(UTC)
    local_text = _datetime(local, lang)
    utc_text = _time(utc, lang) if utc.date() == local.date() else _datetime(utc, lang)
    return f"{local_text} ({zone.key}) — {utc_text} UTC"


# One numeric day/month/year order in the three languages, Latin digits (a proof's dates read
# the same in each, and as the sealed XML's): Babel's CLDR patterns below, written here by
# number (~2 µs; Babel ~60 µs, several in every notification and certificate);
# tests/unit/test_i18n.py compares them with Babel's in every language.
_DATETIME: Final = "dd/MM/yyyy HH:mm"
_TIME: Final = "HH:mm"


def _datetime(dt: datetime, lang: str) -> str:
    """Babel's format_datetime(dt, _DATETIME) in `lang`: the same digits in each language."""
    return f"{dt.day:02d}/{dt.month:02d}/{dt.year:04d} {dt.hour:02d}:{dt.minute:02d}"


def _time(dt: datetime, lang: str) -> str:
    """Babel's format_datetime(dt, _TIME) in `lang`."""
    return f"{dt.hour:02d}:{dt.minute:02d}"


def zone_name(zone: ZoneInfo, lang: str) -> str:
    """The zone in words when the catalogue has it ("heure du Maroc"), else its IANA name."""
    return _catalogue(lang).get(f"zone.{zone.key}") or zone.key


def format_time_short(dt: datetime, lang: str, zone: ZoneInfo) -> str:
    """A time in the gateway's zone, zone named, for an SMS: "30/11/2026 23:59 (heure du Maroc)"."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return f"{_datetime(dt.astimezone(zone), lang)} ({zone_name(zone, lang)})"


def isolate(text: str, lang: str) -> str:
    """text kept left to right inside a right-to-left sentence (Unicode LRI … PDI), else as is.

    Without it an Arabic sentence shows "12/12/2026 14:05 (Africa/Casablanca)" with its parts
    reordered by the bidirectional algorithm.
    """
    return f"\u2066{text}\u2069" if lang in RTL else text


def format_size(size: int, lang: str) -> str:
    """A byte count in words: "512 octets", "12 Ko", "3.4 MB"."""
    if size < 1000:
        return ngettext(lang, "size.bytes", size)
    if size < 1_000_000:
        return gettext(lang, "size.kb", n=_decimal(Decimal(size) / 1000, lang))
    return gettext(lang, "size.mb", n=_decimal(Decimal(size) / 1_000_000, lang))


_WHOLE: Final = Decimal(1)
_TENTH: Final = Decimal("0.1")


def _decimal(value: Decimal, lang: str) -> str:
    """3.45 → "3,5" in French, "3.5" in English and Arabic; one decimal below 100, none above.

    What Babel's format_decimal writes with the patterns "0" and "0.#", rounding half up
    (tests/unit/test_i18n.py compares them), ~30 times faster: sizes are in every proof."""
    rounded = value.quantize(_WHOLE if value >= 100 else _TENTH, rounding=ROUND_HALF_UP)
    text = f"{rounded:f}"
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", _decimal_mark(lang))


@functools.cache
def _decimal_mark(lang: str) -> str:
    return str(get_decimal_symbol(_locale(lang)))
