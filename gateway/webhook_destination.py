"""Where a webhook may be posted: the guard against SSRF, at registration and at every post.

At registration only the URL is seen: `localhost` or an address literal that is not global
(loopback, private, link-local, reserved) is refused. A name is looked up again at every post by
`CheckedResolver`, aiohttp's resolver for the webhook client: when any address the name has *now*
is not global, the post is refused (a name that was public when registered and points inside the
gateway's network later, DNS rebinding, reaches nothing). The connection goes to the very
addresses checked, so no second look-up can differ. `api.webhook_private_hosts = true` lifts both
checks (a receiver on the same host, tests).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.resolver import DnsTemporary, NoSuchDomain, Resolver


class PrivateDestination(OSError):
    """The endpoint's host is (now) on the gateway's own network: nothing is posted."""


def is_private(address: str) -> bool:
    """True for an address that is not on the public Internet (or not an address at all)."""
    try:
        return not ipaddress.ip_address(address.split("%", 1)[0]).is_global
    except ValueError:
        return True


def private_host(url: str) -> bool:
    """True when the URL's host is the gateway's own network: localhost, or a loopback,
    private, link-local or reserved address literal (a name is checked when posting)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost") or not host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return is_private(host)


MAX_URL = 2000  # characters of an endpoint's URL


def refused_url(url: str, *, allow_private: bool) -> str | None:
    """Why an endpoint URL cannot be registered ("url": not an http(s) URL, "private": the
    gateway's own network), or None when it can (pure)."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # a bad port or IPv6 literal raises ValueError
    except ValueError:
        return "url"
    if (
        parts.scheme not in ("http", "https")
        or not host
        or len(url) > MAX_URL
        or not url.isprintable()
        or " " in url
    ):
        return "url"
    if not allow_private and private_host(url):
        return "private"
    return None


class CheckedResolver(AbstractResolver):
    """Look a webhook's host up (the gateway's DNS: `delivery.resolver`) and refuse private
    answers unless allowed."""

    def __init__(self, resolver: Resolver, *, allow_private: bool) -> None:
        self._resolver = resolver
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if not self._allow_private and (host == "localhost" or host.endswith(".localhost")):
            raise PrivateDestination(f"{host} is the gateway itself")
        try:
            addresses = await self._resolver.addresses(host.rstrip("."))
        except (DnsTemporary, NoSuchDomain) as err:
            raise OSError(f"cannot resolve {host}: {err}") from None
        if not addresses:
            raise OSError(f"{host} has no address")
        inside = [a for a in addresses if is_private(a)]
        if inside and not self._allow_private:
            raise PrivateDestination(
                f"{host} resolves to {inside[0]}, a loopback, private or link-local address "
                "(api.webhook_private_hosts)"
            )
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
            if family in (socket.AF_UNSPEC, socket.AF_INET6 if ":" in address else socket.AF_INET)
        ]

    async def close(self) -> None:
        return None
