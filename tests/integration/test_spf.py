"""SPF (RFC 7208) against a real DNS server on loopback."""

from __future__ import annotations

import pytest

from gateway.mailauth import check_spf
from gateway.resolver import Resolver
from tests.support.dns import DnsServer


@pytest.fixture
def spf() -> object:
    with DnsServer() as dns:
        dns.add("direct.ma", "TXT", '"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"')
        dns.add("soft.ma", "TXT", '"v=spf1 ~all"')
        dns.add("viamx.ma", "TXT", '"v=spf1 mx a:out.viamx.ma -all"')
        dns.add("viamx.ma", "MX", "10 mx.viamx.ma.")
        dns.add("mx.viamx.ma", "A", "198.51.100.7")
        dns.add("out.viamx.ma", "A", "198.51.100.8")
        dns.add("inc.ma", "TXT", '"v=spf1 include:direct.ma -all"')
        dns.add("red.ma", "TXT", '"v=spf1 redirect=direct.ma"')
        dns.add("two.ma", "TXT", '"v=spf1 -all"')
        dns.add("two.ma", "TXT", '"v=spf1 +all"')
        dns.add("loop.ma", "TXT", '"v=spf1 include:loop.ma -all"')
        dns.add("macro.ma", "TXT", '"v=spf1 exists:%{i}.x.ma -all"')
        dns.add("nospf.ma", "TXT", '"hello"')
        yield Resolver(("127.0.0.1", dns.port))


@pytest.mark.parametrize(
    ("ip", "domain", "result"),
    [
        ("192.0.2.10", "direct.ma", "pass"),
        ("2001:db8::1", "direct.ma", "pass"),
        ("203.0.113.1", "direct.ma", "fail"),
        ("203.0.113.1", "soft.ma", "softfail"),
        ("198.51.100.7", "viamx.ma", "pass"),
        ("198.51.100.8", "viamx.ma", "pass"),
        ("198.51.100.9", "viamx.ma", "fail"),
        ("192.0.2.10", "inc.ma", "pass"),
        ("203.0.113.1", "inc.ma", "fail"),
        ("192.0.2.10", "red.ma", "pass"),
        ("192.0.2.10", "two.ma", "permerror"),
        ("192.0.2.10", "loop.ma", "permerror"),
        ("192.0.2.10", "macro.ma", "permerror"),
        ("192.0.2.10", "nospf.ma", "none"),
        ("192.0.2.10", "absent.ma", "none"),
    ],
)
async def test_spf_results(spf, ip, domain, result):
    assert await check_spf(spf, ip, domain) == result
