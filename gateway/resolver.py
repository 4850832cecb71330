"""DNS look-ups (dnspython) for MX delivery, SPF, DKIM and DMARC, against one configured server.

`delivery.resolver` (host:port) names the DNS server to ask; without it the system's resolvers
(/etc/resolv.conf) are used. Answers are sorted into three outcomes the callers care about: the
records, "no such name / no such record" (a fact about the domain: permanent), and "could not
find out" (DnsTemporary: try again later).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

TIMEOUT: Final = 5.0  # seconds per look-up, all retries included


class DnsTemporary(Exception):
    """The DNS did not answer usefully (timeout, SERVFAIL): the question may be asked again."""


class NoSuchDomain(Exception):
    """NXDOMAIN: the name does not exist."""


@dataclass(frozen=True)
class MxHost:
    preference: int
    host: str  # without the final dot; "" for a null MX (RFC 7505)


class Resolver:
    """Asynchronous look-ups, plus a blocking TXT look-up for libraries that want one (dkimpy)."""

    def __init__(self, server: tuple[str, int] | None = None, *, timeout: float = TIMEOUT) -> None:
        self.server = server
        self._async = dns.asyncresolver.Resolver(configure=server is None)
        self._sync = dns.resolver.Resolver(configure=server is None)
        for resolver in (self._async, self._sync):
            if server is not None:
                resolver.nameservers = [server[0]]
                resolver.port = server[1]
            resolver.lifetime = timeout
            resolver.timeout = timeout

    async def _query(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        try:
            answer = await self._async.resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            raise NoSuchDomain(name) from None
        except dns.resolver.NoAnswer:
            return []
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as err:
            raise DnsTemporary(f"no answer for {name} {rdtype}: {err}") from None
        except dns.exception.DNSException as err:
            raise DnsTemporary(f"cannot look up {name} {rdtype}: {err}") from None
        return list(answer)

    async def mx(self, domain: str) -> list[MxHost]:
        """The domain's MX records, lowest preference first; [] when it has none."""
        records = await self._query(domain, "MX")
        hosts = [
            MxHost(int(r.preference), r.exchange.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
            for r in records
        ]
        return sorted(
            (MxHost(h.preference, "" if h.host in (".", "") else h.host.lower()) for h in hosts),
            key=lambda h: h.preference,
        )

    async def addresses(self, host: str) -> list[str]:
        """IPv4 then IPv6 addresses of host; NoSuchDomain when the name does not exist."""
        results = await asyncio.gather(
            self._query(host, "A"), self._query(host, "AAAA"), return_exceptions=True
        )
        found = [r.to_text() for result in results if isinstance(result, list) for r in result]
        if found:
            return found
        for result in results:
            if isinstance(result, DnsTemporary):
                raise result
            if isinstance(result, BaseException) and not isinstance(result, NoSuchDomain):
                raise result
        if all(isinstance(result, NoSuchDomain) for result in results):
            raise NoSuchDomain(host)
        return []

    async def txt(self, name: str) -> list[str]:
        """Each TXT record of name as one string (its character-strings joined)."""
        return [_txt(record) for record in await self._query(name, "TXT")]

    def txt_blocking(self, name: str) -> list[str]:
        """The same as txt(), blocking: for code run in a worker thread."""
        try:
            answer = self._sync.resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as err:
            raise DnsTemporary(f"cannot look up {name} TXT: {err}") from None
        return [_txt(record) for record in answer]


def _txt(record: dns.rdata.Rdata) -> str:
    strings: tuple[bytes, ...] = record.strings  # type: ignore[attr-defined]
    return b"".join(strings).decode("utf-8", "replace")
