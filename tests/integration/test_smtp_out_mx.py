"""MxTransport against a real DNS server and real SMTP servers on loopback addresses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gateway.errors import RelayFailed
from gateway.resolver import Resolver
from gateway.settings import DeliverySettings
from gateway.smtp_out.mx import MxTransport
from gateway.smtp_out.transport import Outgoing
from tests.support.client import wait_for
from tests.support.dns import DnsServer
from tests.support.gateway import free_port
from tests.support.sink_mta import SinkMTA

WAIT = 30  # seconds at most: a deadlock fails the test, it never paces it

MESSAGE = (
    b"From: noreply@lre.localhost\r\nTo: bob@example.ma\r\nSubject: Hello\r\n\r\nHello Bob.\r\n"
)


def mail(rcpt: str = "bob@example.ma", id: str = "o1") -> Outgoing:
    return Outgoing(mail_from="bounce+x@lre.localhost", rcpt=rcpt, message=MESSAGE, id=id)


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@pytest.fixture
def port() -> int:
    return free_port()


def transport(dns_server: DnsServer, port: int, **settings: object) -> MxTransport:
    delivery = DeliverySettings(mode="mx", mx_port=port, **settings)  # type: ignore[arg-type]
    host, _, number = dns_server.address.rpartition(":")
    return MxTransport(delivery, Resolver((host, int(number))), local_hostname="lre.localhost")


async def test_lowest_preference_first_then_the_next_when_it_is_down(dns_server, port):
    """MX 10 is tried first; when nothing listens there, MX 20 gets the message."""
    dns_server.add("example.ma", "MX", "20 mx2.example.ma.")
    dns_server.add("example.ma", "MX", "10 mx1.example.ma.")
    dns_server.add("mx1.example.ma", "A", "127.0.0.2")
    dns_server.add("mx2.example.ma", "A", "127.0.0.3")
    dns_server.add("other.ma", "MX", "5 mx1.example.ma.")
    dns_server.add("other.ma", "MX", "50 mx2.example.ma.")
    async with SinkMTA(host="127.0.0.3", port=port) as backup:
        said = await transport(dns_server, port).send(mail())
        assert "mx2.example.ma[127.0.0.3]" in said
        assert [m.rcpt_tos for m in backup.messages] == [("bob@example.ma",)]
        async with SinkMTA(host="127.0.0.2", port=port) as primary:
            await transport(dns_server, port).send(mail("alice@other.ma", "o2"))
            assert [m.rcpt_tos for m in primary.messages] == [("alice@other.ma",)]
        assert len(backup.messages) == 1


async def test_without_mx_the_domain_address_is_used(dns_server, port):
    """No MX record: the domain's own A record is the implicit MX (RFC 5321 §5.1)."""
    dns_server.add("example.ma", "A", "127.0.0.4")
    async with SinkMTA(host="127.0.0.4", port=port) as sink:
        await transport(dns_server, port).send(mail())
        assert sink.messages[0].data == MESSAGE


async def test_a_server_without_pipelining_gets_one_command_at_a_time(dns_server, port):
    """MAIL, RCPT and DATA wait for their replies when the MX does not offer PIPELINING."""
    dns_server.add("example.ma", "A", "127.0.0.4")
    async with SinkMTA(host="127.0.0.4", port=port, pipelining=False) as sink:
        await transport(dns_server, port).send(mail())
        assert sink.messages[0].data == MESSAGE
        assert sink.pipelined == 0


async def test_null_mx_and_missing_domain_fail_permanently(dns_server, port):
    """A null MX (RFC 7505) and a domain that does not exist are final, with a clear reason."""
    dns_server.add("example.ma", "MX", "0 .")
    with pytest.raises(RelayFailed) as caught:
        await transport(dns_server, port).send(mail())
    assert not caught.value.temporary
    assert caught.value.reply.enhanced == "5.1.10"
    assert "null MX" in caught.value.reply.text
    with pytest.raises(RelayFailed) as caught:
        await transport(dns_server, port).send(mail("bob@nowhere.ma"))
    assert not caught.value.temporary
    assert "nowhere.ma does not exist" in caught.value.reply.text


async def test_permanent_refusal_quotes_the_server(dns_server, port):
    """A 5xx to RCPT is final and its text is quoted with the server that said it."""
    dns_server.add("example.ma", "MX", "10 mx1.example.ma.")
    dns_server.add("mx1.example.ma", "A", "127.0.0.2")
    async with SinkMTA(host="127.0.0.2", port=port) as sink:
        sink.inject("RCPT", "550 5.1.1 <bob@example.ma>: Recipient address rejected", times=1)
        with pytest.raises(RelayFailed) as caught:
            await transport(dns_server, port).send(mail())
        assert sink.pipelined == 1
    assert not caught.value.temporary
    assert caught.value.reply.code == 550
    assert caught.value.reply.enhanced == "5.1.1"
    assert "mx1.example.ma[127.0.0.2]" in caught.value.reply.text
    assert "550 5.1.1 <bob@example.ma>: Recipient address rejected" in caught.value.reply.text


async def test_temporary_refusal_everywhere_is_temporary(dns_server, port):
    """4xx from every MX: a temporary failure quoting the last one (the queue retries)."""
    dns_server.add("example.ma", "MX", "10 mx1.example.ma.")
    dns_server.add("mx1.example.ma", "A", "127.0.0.2")
    async with SinkMTA(host="127.0.0.2", port=port) as sink:
        sink.inject("RCPT", "450 4.2.0 Greylisted, come back later", times=1)
        with pytest.raises(RelayFailed) as caught:
            await transport(dns_server, port).send(mail())
        assert caught.value.temporary
        assert "450 4.2.0 Greylisted" in caught.value.reply.text
        await transport(dns_server, port).send(mail())
        assert len(sink.messages) == 1


async def test_starttls_is_used_when_offered_and_required_where_configured(dns_server, port):
    """STARTTLS whenever offered; a plain-text MX of a require_tls domain gets nothing."""
    dns_server.add("example.ma", "MX", "10 mx1.example.ma.")
    dns_server.add("mx1.example.ma", "A", "127.0.0.2")
    dns_server.add("secure.ma", "MX", "10 mx2.secure.ma.")
    dns_server.add("mx2.secure.ma", "A", "127.0.0.3")
    async with SinkMTA(host="127.0.0.2", port=port, tls="starttls") as tls_sink:
        await transport(dns_server, port, require_tls_domains=("example.ma",)).send(mail())
        assert tls_sink.messages[0].tls
        assert tls_sink.pipelined == 1  # offered again after STARTTLS: MAIL, RCPT, DATA at once
    async with SinkMTA(host="127.0.0.3", port=port) as plain:
        await transport(dns_server, port).send(mail("eve@secure.ma"))
        assert not plain.messages[0].tls
        strict = transport(dns_server, port, require_tls_domains=("secure.ma",))
        with pytest.raises(RelayFailed) as caught:
            await strict.send(mail("eve@secure.ma", "o2"))
        assert caught.value.temporary
        assert "STARTTLS" in caught.value.reply.text
        assert len(plain.messages) == 1


async def test_per_domain_concurrency_limit(dns_server, port):
    """No more than max_per_domain connections at once to one domain; other domains unaffected."""
    dns_server.add("example.ma", "MX", "10 mx1.example.ma.")
    dns_server.add("mx1.example.ma", "A", "127.0.0.2")
    async with SinkMTA(host="127.0.0.2", port=port, data_delay=0.3) as sink:
        mx = transport(dns_server, port, max_per_domain=2)
        await asyncio.gather(*(mx.send(mail(f"u{i}@example.ma", f"o{i}")) for i in range(6)))
        assert len(sink.messages) == 6
        assert sink.most_at_once == 2
        assert mx.domains_in_use == []  # nothing kept for a domain once its mails are gone


async def test_a_place_reserved_first_is_the_one_its_send_uses(dns_server, port):
    """The scheduler takes a mail's place at its domain before its own limits (`reserved`),
    then sends within it: the send takes no second place (with one place a domain, a second
    would wait for ever), and another mail to that domain waits for the place."""
    dns_server.add("example.ma", "MX", "10 mx1.example.ma.")
    dns_server.add("mx1.example.ma", "A", "127.0.0.2")
    async with SinkMTA(host="127.0.0.2", port=port, data_delay=0.3) as sink:
        mx = transport(dns_server, port, max_per_domain=1)

        async def reserved_then_sent(n: int) -> str:
            async with mx.reserved(f"u{n}@example.ma"):
                return await mx.send(mail(f"u{n}@example.ma", f"o{n}"))

        replies = await asyncio.wait_for(
            asyncio.gather(
                reserved_then_sent(1), reserved_then_sent(2), mx.send(mail("u3@example.ma", "o3"))
            ),
            WAIT,
        )
        assert all("250" in reply for reply in replies)
        assert len(sink.messages) == 3
        assert sink.most_at_once == 1
        assert mx.domains_in_use == []


async def test_a_domain_is_crowded_while_as_many_mails_again_wait_for_its_places(dns_server, port):
    """The scheduler claims no mail for a crowded domain (`crowded`): one with its places
    all taken and as many mails waiting for one, in lower case; none once they are gone."""
    dns_server.add("example.ma", "MX", "10 mx1.example.ma.")
    dns_server.add("mx1.example.ma", "A", "127.0.0.2")
    release, holding = asyncio.Event(), []

    async def held(envelope: object) -> None:
        holding.append(envelope)
        await release.wait()

    async with SinkMTA(host="127.0.0.2", port=port, on_data=held) as sink:
        mx = transport(dns_server, port, max_per_domain=2)
        sends = [asyncio.create_task(mx.send(mail(f"u{i}@Example.MA", f"o{i}"))) for i in range(3)]
        try:
            await wait_for(lambda: len(holding) == 2, what="two mails in DATA, one waiting")
            assert (mx.domains_in_use, mx.crowded()) == (["example.ma"], [])
            sends.append(asyncio.create_task(mx.send(mail("u3@example.ma", "o3"))))
            await wait_for(mx.crowded, what="example.ma crowded with two mails waiting")
            assert mx.crowded() == ["example.ma"]
        finally:
            release.set()
        await asyncio.wait_for(asyncio.gather(*sends), WAIT)
        assert len(sink.messages) == 4
        assert mx.crowded() == []
