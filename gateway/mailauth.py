"""Who sent this mail? DKIM, SPF and DMARC alignment for letters deposited through the MX address.

A letter emailed to `bob=example.ma@<gateway domain>` has no SMTP AUTH: its sender is believed
only when the mail itself proves it came from the `From:` domain:

1. a valid DKIM signature (dkimpy) whose d= is aligned with the From: domain (DMARC adkim), or
2. an SPF pass (RFC 7208) for the envelope sender's domain, aligned with the From: domain
   (DMARC aspf), the From: domain publishing a DMARC record, or
3. the topmost Authentication-Results field added by a relay listed in `smtp.trusted_relays`
   (our own MX in front, say) stating dkim=pass aligned or dmarc=pass for the From: domain.

Every DNS question goes to the configured resolver. SPF is implemented for the mechanisms
all, ip4, ip6, a, mx, include and the redirect modifier (macros, ptr and exists: permerror), with
the limit of 10 look-ups. The organisational domain for relaxed alignment is the last two labels
(no public suffix list: a sender under a two-label public suffix such as co.ma needs strict
alignment in practice, which always works).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass

import dkim

from gateway.resolver import DnsTemporary, NoSuchDomain, Resolver

MAX_LOOKUPS = 10


@dataclass(frozen=True)
class Verdict:
    method: str | None  # how the sender was authenticated, for the proof; None: not at all
    reasons: tuple[str, ...]  # why each way failed, for the refusal


def organisational(domain: str) -> str:
    labels = domain.lower().rstrip(".").split(".")
    return ".".join(labels[-2:])


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if mode == "s":
        return domain == from_domain
    return organisational(domain) == organisational(from_domain)


# DMARC -----------------------------------------------------------------------------------


async def dmarc_record(resolver: Resolver, from_domain: str) -> dict[str, str] | None:
    for name in dict.fromkeys((from_domain, organisational(from_domain))):
        try:
            records = [r for r in await resolver.txt(f"_dmarc.{name}") if _is_dmarc(r)]
        except NoSuchDomain:
            records = []
        if len(records) == 1:
            return _tags(records[0])
    return None


def _is_dmarc(text: str) -> bool:
    return re.match(r"^v\s*=\s*DMARC1\s*(;|$)", text, re.IGNORECASE) is not None


def _tags(text: str) -> dict[str, str]:
    tags = {}
    for item in text.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            tags[name.strip().lower()] = value.strip()
    return tags


# DKIM ------------------------------------------------------------------------------------


def dkim_domains(content: bytes, resolver: Resolver) -> list[tuple[str, str]]:
    """(d=, s=) of each valid DKIM signature (blocking: DNS through the resolver)."""

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        found = resolver.txt_blocking(name.decode("ascii").rstrip("."))
        return found[0].encode() if found else None

    count = len(re.findall(rb"(?im)^dkim-signature\s*:", content.split(b"\r\n\r\n", 1)[0]))
    valid = []
    for index in range(count):
        checker = dkim.DKIM(content)
        try:
            ok = checker.verify(idx=index, dnsfunc=txt)
        except (dkim.DKIMException, DnsTemporary):
            ok = False
        if ok:
            valid.append((checker.domain.decode(), checker.selector.decode()))
    return valid


# SPF -------------------------------------------------------------------------------------


class _PermError(Exception):
    pass


async def check_spf(resolver: Resolver, ip: str, domain: str) -> str:
    """pass | fail | softfail | neutral | none | temperror | permerror (RFC 7208 §2.6)."""
    budget = [MAX_LOOKUPS]
    try:
        return await _spf(resolver, ipaddress.ip_address(ip), domain, budget, top=True)
    except DnsTemporary:
        return "temperror"
    except (_PermError, ValueError):
        return "permerror"


async def _spf(
    resolver: Resolver, ip: ipaddress._BaseAddress, domain: str, budget: list[int], *, top: bool
) -> str:
    try:
        records = [r for r in await resolver.txt(domain) if re.match(r"(?i)^v=spf1(\s|$)", r)]
    except NoSuchDomain:
        records = []
    if not records:
        if top:
            return "none"
        raise _PermError(f"{domain} has no SPF record")
    if len(records) > 1:
        raise _PermError(f"{domain} has several SPF records")
    redirect = None
    for term in records[0].split()[1:]:
        if "%" in term:
            raise _PermError("SPF macros are not supported")
        if term.lower().startswith("redirect="):
            redirect = term.split("=", 1)[1]
            continue
        if "=" in term.split(":", 1)[0]:
            continue  # another modifier (exp=...)
        qualifier = term[0] if term[0] in "+-~?" else "+"
        mechanism = term.lstrip("+-~?")
        if await _matches(resolver, ip, domain, mechanism, budget):
            return {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}[qualifier]
    if redirect:
        _spend(budget)
        return await _spf(resolver, ip, redirect, budget, top=False)
    return "neutral"


def _spend(budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _PermError("more than 10 DNS look-ups")


async def _matches(
    resolver: Resolver, ip: ipaddress._BaseAddress, domain: str, mechanism: str, budget: list[int]
) -> bool:
    name, _, arg = mechanism.partition(":")
    name = name.lower()
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        return ip in ipaddress.ip_network(arg, strict=False)
    if name == "include":
        _spend(budget)
        return await _spf(resolver, ip, arg, budget, top=False) == "pass"
    target, _, prefix = (arg or domain).partition("/")
    if name in ("a", "mx"):
        _spend(budget)
        hosts = [target]
        if name == "mx":
            hosts = [record.host for record in await resolver.mx(target) if record.host][:10]
        for host in hosts:
            for address in await _addresses(resolver, host):
                network = ipaddress.ip_network(
                    f"{address}/{prefix}" if prefix else address, strict=False
                )
                if ip in network:
                    return True
        return False
    raise _PermError(f"SPF mechanism {name} is not supported")


async def _addresses(resolver: Resolver, host: str) -> list[str]:
    try:
        return await resolver.addresses(host)
    except NoSuchDomain:
        return []


# the three ways together -----------------------------------------------------------------


async def authenticate_sender(
    resolver: Resolver,
    content: bytes,
    *,
    from_domain: str,
    mail_from: str,
    peer: str,
    trusted_relays: tuple[str, ...],
    authentication_results: str | None,
) -> Verdict:
    reasons = []
    dmarc = await _dmarc_or_none(resolver, from_domain)
    adkim = (dmarc or {}).get("adkim", "r")
    aspf = (dmarc or {}).get("aspf", "r")

    if authentication_results and _trusted(peer, trusted_relays):
        method = _from_relay(authentication_results, from_domain, adkim)
        if method:
            return Verdict(method, ())
        reasons.append("the trusted relay's Authentication-Results show no aligned pass")

    signatures = await asyncio.to_thread(dkim_domains, content, resolver)
    for domain, selector in signatures:
        if aligned(domain, from_domain, adkim):
            return Verdict(
                f"DKIM signature d={domain} s={selector} aligned with the From: domain "
                f"{from_domain}, received from {peer}",
                (),
            )
    reasons.append(
        "no valid DKIM signature aligned with the From: domain"
        if not signatures
        else f"DKIM signatures of {', '.join(d for d, _ in signatures)} are not aligned"
    )

    envelope_domain = mail_from.rpartition("@")[2].lower()
    if envelope_domain:
        spf = await check_spf(resolver, peer, envelope_domain)
        if spf != "pass":
            reasons.append(f"SPF {spf} for {envelope_domain} from {peer}")
        elif dmarc is None:
            reasons.append(f"SPF pass, but {from_domain} publishes no DMARC record")
        elif not aligned(envelope_domain, from_domain, aspf):
            reasons.append(f"SPF pass for {envelope_domain}, not aligned with {from_domain}")
        else:
            return Verdict(
                f"SPF pass for {envelope_domain} from {peer}, aligned with the From: domain "
                f"{from_domain} (DMARC)",
                (),
            )
    else:
        reasons.append("SPF cannot apply to an empty envelope sender")
    return Verdict(None, tuple(reasons))


async def _dmarc_or_none(resolver: Resolver, from_domain: str) -> dict[str, str] | None:
    try:
        return await dmarc_record(resolver, from_domain)
    except DnsTemporary:
        return None


def _trusted(peer: str, relays: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(relay, strict=False) for relay in relays)


def _from_relay(field: str, from_domain: str, adkim: str) -> str | None:
    """An aligned pass in one Authentication-Results field (RFC 8601), else None."""
    authserv, _, results = field.partition(";")
    for result in results.split(";"):
        words = dict(
            (key.lower(), value.strip("<>").lower())
            for key, _, value in (w.partition("=") for w in result.split())
        )
        if words.get("dmarc") == "pass" and words.get("header.from") == from_domain.lower():
            return f"dmarc=pass for {from_domain} reported by the trusted relay {authserv.strip()}"
        if words.get("dkim") == "pass":
            domain = words.get("header.d") or words.get("header.i", "").rpartition("@")[2]
            if domain and aligned(domain, from_domain, adkim):
                return f"dkim=pass d={domain} reported by the trusted relay {authserv.strip()}"
    return None
