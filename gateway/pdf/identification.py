"""How each party was identified, as structured facts read from an evidence record (pure).

The evidence record states the sender's authentication as the sentence the SMTP side wrote
(e.g. "SMTP AUTH PLAIN over STARTTLS (TLSv1.3)", or for an MX deposit "MX address over STARTTLS
(TLSv1.3): DKIM signature d=… s=… aligned with the From: domain …"), and the recipient's code
check as extensions (RecipientIdentification.Channel, .Destination, .CodeCheckTime). The
certificate words these facts in its own language (gateway.pdf.text); the sealed XML keeps the
exact values. A shape not recognised here is reported as `unknown` with the raw value, never
guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from gateway.core.records import LINK_HOLDER

SenderKind = Literal["password", "api_token", "dkim", "spf", "relay_dmarc", "relay_dkim", "unknown"]

CODE_PREFIX: Final = "one-time code sent by "  # core.identity.Identification.describe()

_TLS: Final = r"(?P<tls>STARTTLS|implicit TLS) \((?P<version>[^)]*)\)"
_PASSWORD: Final = re.compile(rf"SMTP AUTH (?P<mechanism>[A-Z0-9-]+) over {_TLS}")
_LEGACY_PASSWORD: Final = re.compile(r"smtp-auth-(?P<mechanism>[a-z0-9-]+)\+(?P<tls>starttls|tls)")
# gateway.api.routes: "API token lre_XXXXXXXX" (+ " over HTTPS" when the request came over TLS)
_API_TOKEN: Final = re.compile(
    r"API token (?P<prefix>lre_[A-Za-z0-9_-]{1,16})(?P<https> over HTTPS)?"
)
_MX: Final = re.compile(rf"MX address(?: over {_TLS})?: (?P<method>.+)")
_MX_METHODS: Final[tuple[tuple[SenderKind, re.Pattern[str]], ...]] = (
    (
        "dkim",
        re.compile(
            r"DKIM signature d=(?P<domain>\S+) s=\S+ aligned with the From: domain "
            r"(?P<sender_domain>\S+), received from \S+"
        ),
    ),
    (
        "spf",
        re.compile(
            r"SPF pass for (?P<domain>\S+) from \S+, aligned with the From: domain "
            r"(?P<sender_domain>\S+) \(DMARC\)"
        ),
    ),
    (
        "relay_dmarc",
        re.compile(r"dmarc=pass for (?P<domain>\S+) reported by the trusted relay (?P<relay>.+)"),
    ),
    (
        "relay_dkim",
        re.compile(r"dkim=pass d=(?P<domain>\S+) reported by the trusted relay (?P<relay>.+)"),
    ),
)


@dataclass(frozen=True)
class SenderMethod:
    """How the sender was authenticated: the kind, and the facts that kind names."""

    kind: SenderKind
    raw: str
    tls: str = ""  # "TLS 1.3" when the session was encrypted, else ""
    domain: str = ""  # the domain whose signature, SPF or DMARC result vouched for the sender
    relay: str = ""  # the trusted relay that reported the result


def sender_method(how: str) -> SenderMethod:
    """Read the sender-authentication sentence of an evidence record into its facts."""
    text = how.strip()
    if match := _PASSWORD.fullmatch(text):
        return SenderMethod("password", how, tls=_tls_version(match["version"]))
    if match := _API_TOKEN.fullmatch(text):
        return SenderMethod("api_token", how, tls="HTTPS" if match["https"] else "")
    if match := _LEGACY_PASSWORD.fullmatch(text):
        return SenderMethod("password", how, tls="TLS")
    if match := _MX.fullmatch(text):
        tls = _tls_version(match["version"]) if match["version"] is not None else ""
        for kind, pattern in _MX_METHODS:
            if found := pattern.fullmatch(match["method"]):
                groups = found.groupdict()
                return SenderMethod(
                    kind, how, tls=tls, domain=groups["domain"], relay=groups.get("relay") or ""
                )
    return SenderMethod("unknown", how)


def _tls_version(version: str) -> str:
    """'TLSv1.3' → 'TLS 1.3' (what a reader recognises); other names are kept."""
    if version.startswith("TLSv"):
        return f"TLS {version.removeprefix('TLSv')}"
    return version or "TLS"


@dataclass(frozen=True)
class CodeCheck:
    """A one-time code check: where the code went and when the right code was given back."""

    channel: Literal["sms", "email"]
    destination: str  # masked, e.g. "+212 6•• ••• •78"
    checked_at: datetime  # aware, UTC


RecipientStep = CodeCheck | Literal["link_holder", "none"] | tuple[Literal["unknown"], str]


def recipient_steps(how: str, extensions: Iterable[tuple[str, str]]) -> tuple[RecipientStep, ...]:
    """The steps that identified the recipient, in order, from the record's sentence and facts.

    The sentence is "none", or steps joined by "; ": a code check (whose facts are the
    RecipientIdentification.* extensions) and/or the link holder. A step whose facts are
    missing or unreadable comes back as ("unknown", its text).
    """
    if how.strip() in ("", "none"):
        return ("none",)
    facts = dict(extensions)
    check = _code_check(facts)
    steps: list[RecipientStep] = []
    for part in (p.strip() for p in how.split("; ")):
        if part == LINK_HOLDER:
            steps.append("link_holder")
        elif part.startswith(CODE_PREFIX) and check is not None:
            steps.append(check)
        elif part:
            steps.append(("unknown", part))
    return tuple(steps) or ("none",)


def _code_check(facts: dict[str, str]) -> CodeCheck | None:
    channel = facts.get("RecipientIdentification.Channel")
    destination = facts.get("RecipientIdentification.Destination")
    when = facts.get("RecipientIdentification.CodeCheckTime")
    if channel not in ("sms", "email") or not destination or not when:
        return None
    try:
        checked_at = datetime.fromisoformat(when)
    except ValueError:
        return None
    if checked_at.tzinfo is None:
        checked_at = checked_at.replace(tzinfo=UTC)
    return CodeCheck("sms" if channel == "sms" else "email", destination, checked_at)
