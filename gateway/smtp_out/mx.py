"""Direct delivery to the recipient domain's mail exchangers (RFC 5321 §5, RFC 7505).

For each message: look up the MX records of the recipient's domain (none: the domain's own A/AAAA
records, the "implicit MX"; a null MX "0 .": the domain accepts no mail, a permanent failure),
try the hosts in preference order and each of their addresses in turn, on `delivery.mx_port`.
STARTTLS is used whenever the server offers it; for the domains in `delivery.require_tls_domains`
a server that does not offer it is skipped (temporary failure: the queue tries again until
`delivery.give_up_after`). Certificates are not checked (opportunistic TLS, RFC 7435; for the
required domains this is Postfix's "encrypt" level). At most `delivery.max_per_domain`
connections run at once to one recipient domain; the scheduler reserves a mail's place first
(`reserved`), so that mails waiting for a busy domain hold none of its hand-overs at once, which
the other domains' mails need. MAIL, RCPT and DATA go in one write when the
server offers PIPELINING (`transport.hand_over`): two round trips a mail instead of four, which
across the Internet is most of a mail's time.

A 5xx reply is final and quotes the server; a 4xx reply or an unreachable host moves on to the
next host, and when none took the message the last temporary reason is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass

import aiosmtplib

from gateway.errors import RelayFailed, SmtpReply
from gateway.resolver import DnsTemporary, MxHost, NoSuchDomain, Resolver
from gateway.settings import DeliverySettings
from gateway.smtp_out.transport import (
    DEFAULT_TIMEOUT,
    QUIT_TIMEOUT,
    Outgoing,
    failure_from,
    greeted,
    hand_over,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One address of one exchanger, in the order they are tried."""

    host: str
    address: str


def order_exchangers(records: list[MxHost], rng: random.Random) -> list[MxHost]:
    """Lowest preference first; equal preferences in random order (RFC 5321 §5.1)."""
    shuffled = list(records)
    rng.shuffle(shuffled)
    return sorted(shuffled, key=lambda record: record.preference)


class MxTransport:
    """Delivers each message to the MX hosts of its recipient's domain."""

    def __init__(
        self,
        settings: DeliverySettings,
        resolver: Resolver,
        *,
        local_hostname: str,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._resolver = resolver
        self._port = settings.mx_port
        self._require_tls = frozenset(settings.require_tls_domains)
        self._limit = settings.max_per_domain
        self.concurrency = settings.max_connections  # mails handed over at once in all
        self._local_hostname = local_hostname
        self._timeout = timeout
        self._places: dict[str, _Places] = {}  # the domains with a mail in hand or waiting
        self._rng = random.Random()  # noqa: S311 - ordering of equal MX, not a secret
        self._tls = ssl.create_default_context()
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE

    @contextlib.asynccontextmanager
    async def reserved(self, rcpt: str) -> AsyncIterator[object]:
        """One of the `max_per_domain` places of `rcpt`'s domain, for the `send` within."""
        domain = _domain(rcpt)
        async with self._place(domain):
            token = _RESERVED.set(domain)
            try:
                yield domain
            finally:
                _RESERVED.reset(token)

    async def send(self, mail: Outgoing) -> str:
        domain = _domain(mail.rcpt)
        if not domain:
            raise RelayFailed(SmtpReply(550, "5.1.3", f"{mail.rcpt} has no domain"))
        if _RESERVED.get() == domain:  # its place taken by the caller (`reserved`)
            return await self._deliver(mail, domain, await self._targets(domain))
        async with self._place(domain):
            targets = await self._targets(domain)
            return await self._deliver(mail, domain, targets)

    def crowded(self) -> list[str]:
        """The domains with every place taken and as many mails again waiting for one."""
        return [name for name, places in self._places.items() if places.users >= 2 * self._limit]

    @property
    def domains_in_use(self) -> list[str]:
        """The domains with a mail being handed over or waiting for its place."""
        return list(self._places)

    @contextlib.asynccontextmanager
    async def _place(self, domain: str) -> AsyncIterator[None]:
        """One of `domain`'s `max_per_domain` places; a domain nobody uses is forgotten (one
        semaphore for every domain ever mailed would grow with the recipients' domains)."""
        places = self._places.get(domain)
        if places is None:
            places = self._places[domain] = _Places(asyncio.Semaphore(self._limit))
        places.users += 1
        try:
            async with places.semaphore:
                yield
        finally:
            places.users -= 1
            if not places.users:
                del self._places[domain]

    async def _targets(self, domain: str) -> list[Target]:
        try:
            records = await self._resolver.mx(domain)
        except NoSuchDomain:
            raise RelayFailed(
                SmtpReply(550, "5.1.2", f"the domain {domain} does not exist (DNS: NXDOMAIN)")
            ) from None
        except DnsTemporary as err:
            raise RelayFailed(
                SmtpReply(451, "4.4.3", f"DNS look-up of {domain} failed: {err}")
            ) from None
        if any(record.host == "" for record in records):
            raise RelayFailed(
                SmtpReply(556, "5.1.10", f"the domain {domain} accepts no mail (null MX, RFC 7505)")
            )
        hosts = [r.host for r in order_exchangers(records, self._rng)] or [domain]
        targets: list[Target] = []
        problems: list[str] = []
        for host in hosts:
            try:
                targets.extend(Target(host, address) for address in await self._addresses(host))
            except (NoSuchDomain, DnsTemporary) as err:
                problems.append(f"{host}: {err}")
        if targets:
            return targets
        if not records and not problems:
            problems.append(f"{domain} has neither MX nor A/AAAA records")
        if not records:
            raise RelayFailed(SmtpReply(550, "5.1.2", f"no mail server for {domain}: {problems}"))
        raise RelayFailed(
            SmtpReply(451, "4.4.3", f"no address for the MX hosts of {domain}: {problems}")
        )

    async def _addresses(self, host: str) -> list[str]:
        try:
            return await self._resolver.addresses(host)
        except NoSuchDomain:
            raise NoSuchDomain(f"{host} does not exist") from None

    async def _deliver(self, mail: Outgoing, domain: str, targets: list[Target]) -> str:
        last: RelayFailed | None = None
        for target in targets:
            try:
                return await self._attempt(mail, domain, target)
            except RelayFailed as err:
                if not err.temporary:
                    raise
                log.info("%s to %s via %s: %s", mail.id, mail.rcpt, target.host, err.reply.line())
                last = err
        if last is None:  # _targets never returns an empty list
            raise RelayFailed(SmtpReply(451, "4.4.4", f"no mail server to try for {domain}"))
        raise last

    async def _attempt(self, mail: Outgoing, domain: str, target: Target) -> str:
        where = f"{target.host}[{target.address}]:{self._port}"
        client = aiosmtplib.SMTP(
            hostname=target.address,
            port=self._port,
            local_hostname=self._local_hostname,
            timeout=self._timeout,
            start_tls=False,
            validate_certs=False,
        )
        try:
            try:
                await client.connect()
                await client.ehlo()
                if client.supports_extension("starttls"):
                    await client.starttls(server_hostname=target.host, tls_context=self._tls)
                elif domain in self._require_tls:
                    await self._quit(client)
                    raise RelayFailed(
                        SmtpReply(
                            451,
                            "4.7.10",
                            f"{where} does not offer STARTTLS, required for {domain}",
                        )
                    )
                await greeted(client)  # again after STARTTLS
                text = (await hand_over(client, mail)).message
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
                if isinstance(err, aiosmtplib.SMTPResponseException) and client.is_connected:
                    await self._quit(client)  # it answered: the session ends as it should
                raise _quoted(err, where) from err
            await self._quit(client)
        finally:
            client.close()
        return f"{where} said: 250 {text}"

    async def _quit(self, client: aiosmtplib.SMTP) -> None:
        """QUIT, its reply awaited briefly; a server that does not answer is let go."""
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit(timeout=min(self._timeout, QUIT_TIMEOUT))


@dataclass
class _Places:
    semaphore: asyncio.Semaphore
    users: int = 0  # mails holding one of its places or waiting for one


def _domain(rcpt: str) -> str:
    return rcpt.rpartition("@")[2].lower().rstrip(".")


# the domain whose place the running task holds (MxTransport.reserved), if any
_RESERVED: ContextVar[str | None] = ContextVar("reserved_domain", default=None)


def _quoted(err: Exception, where: str) -> RelayFailed:
    """The remote reply, quoted verbatim after the server's name: it goes into the proof."""
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused) and err.recipients:
        err = err.recipients[0]
    failure = failure_from(err, where)
    if not isinstance(err, aiosmtplib.SMTPResponseException) or not 400 <= err.code < 600:
        return failure
    said = " ".join(line.strip() for line in err.message.splitlines() if line.strip())
    reply = failure.reply
    return RelayFailed(SmtpReply(reply.code, reply.enhanced, f"{where} said: {err.code} {said}"))
