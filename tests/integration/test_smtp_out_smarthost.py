"""SmarthostTransport against a real SMTP server (SinkMTA) on 127.0.0.1."""

import asyncio
import socket
from dataclasses import replace
from typing import Any

import pytest

from gateway.errors import RelayFailed
from gateway.settings import DeliverySettings, SmarthostTls
from gateway.smtp_out.transport import Outgoing, SmarthostTransport
from tests.support.sink_mta import PASSWORD, USER, SinkMTA

MESSAGE = (
    b"From: LRE Gateway <noreply@lre.localhost>\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: A registered letter is waiting\r\n"
    b"\r\n"
    b"Hello Bob.\r\n"
    b".A line starting with a dot.\r\n"
)
MAIL = Outgoing(mail_from="noreply@lre.localhost", rcpt="bob@example.org", message=MESSAGE, id="o1")


def plain_transport(port: int, **options: Any) -> SmarthostTransport:
    """A transport to a hand-made server on 127.0.0.1:`port`, without TLS."""
    settings = DeliverySettings(
        mode="smarthost", smarthost=("127.0.0.1", port), smarthost_tls="none"
    )
    return SmarthostTransport(settings, local_hostname="lre.localhost", **options)


def transport_for(sink: SinkMTA, tls: SmarthostTls = "none", **changes: Any) -> SmarthostTransport:
    settings = DeliverySettings(
        mode="smarthost", smarthost=(sink.host, sink.port), smarthost_tls=tls
    )
    return SmarthostTransport(replace(settings, **changes), local_hostname="lre.localhost")


@pytest.mark.parametrize("tls", ["none", "starttls", "tls"])
async def test_message_arrives_intact(tls):
    """In every TLS mode the sink receives the envelope and the exact bytes, encrypted if asked."""
    async with SinkMTA(tls=tls) as sink:
        said = await transport_for(sink, tls).send(MAIL)
        [received] = sink.messages
    assert "250 2.0.0 Ok: queued as S1" in said
    assert received.mail_from == "noreply@lre.localhost"
    assert received.rcpt_tos == ("bob@example.org",)
    assert received.data == MESSAGE
    assert received.tls == (tls != "none")


@pytest.mark.parametrize("tls", ["none", "starttls", "tls"])
@pytest.mark.parametrize("pipelining", [True, False])
async def test_mail_rcpt_and_data_go_in_one_write_when_the_smarthost_offers_it(tls, pipelining):
    """RFC 2920: offered PIPELINING, each mail's MAIL, RCPT and DATA reach the smarthost
    together (two round trips a mail instead of four), the connection reused for the next
    mail; not offered, one command at a time. The same envelopes and bytes either way."""
    mails = [mail_to("bob@example.org", 1), mail_to("carol@example.org", 2)]
    async with SinkMTA(tls=tls, pipelining=pipelining) as sink:
        transport = transport_for(sink, tls)
        said = [await transport.send(mail) for mail in mails]
        await transport.close()
        assert sink.pipelined == (2 if pipelining else 0)
        assert sink.connections == sink.quits == 1
        assert [(m.mail_from, m.rcpt_tos, m.data) for m in sink.messages] == [
            (mail.mail_from, (mail.rcpt,), mail.message) for mail in mails
        ]
    assert ["queued as S1" in said[0], "queued as S2" in said[1]] == [True, True]


async def _raw_smarthost(answer_group: bytes | None, *, piece: int = 0) -> tuple[Any, int]:
    """A hand-made smarthost offering PIPELINING: it answers EHLO, then the pipelined MAIL,
    RCPT and DATA with `answer_group` (None: never) written `piece` bytes at a time, then takes
    the content and answers 250."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(data: bytes) -> None:
            for start in range(0, len(data), piece or len(data)):
                writer.write(data[start : start + (piece or len(data))])
                await writer.drain()
                await asyncio.sleep(0)

        await say(b"220 raw.test ESMTP\r\n")
        while line := await reader.readline():
            if line.startswith(b"EHLO"):
                await say(b"250-raw.test\r\n250-SIZE 10000000\r\n250 PIPELINING\r\n")
            elif line.startswith(b"DATA"):
                if answer_group is None:
                    continue  # silent from here on
                await say(answer_group)
                while (content := await reader.readline()) != b".\r\n":
                    assert content
                await say(b"250-2.0.0 Ok:\r\n250 2.0.0 queued as RAW1\r\n")
            elif line.startswith(b"QUIT"):
                await say(b"221 2.0.0 Bye\r\n")
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("piece", [0, 1, 7])
async def test_pipelined_replies_are_read_however_they_arrive(piece):
    """The three replies of a pipelined group, multi-line ones among them, read whether they
    arrive together or a few bytes at a time; the content's multi-line 250 too."""
    group = (
        b"250-2.1.0 Sender\r\n250 2.1.0 Ok\r\n"
        b"250 2.1.5 Ok\r\n"
        b"354-Go ahead\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    )
    server, port = await _raw_smarthost(group, piece=piece)
    transport = plain_transport(port)
    try:
        said = await transport.send(MAIL)
        await transport.close()
    finally:
        server.close()
        await server.wait_closed()
    assert said == f"127.0.0.1:{port} said: 250 2.0.0 Ok:\n2.0.0 queued as RAW1"


async def test_a_pipelined_group_left_unanswered_times_out_temporarily():
    """A smarthost that takes MAIL, RCPT and DATA and never answers: a temporary failure
    once the timeout has passed, nothing retried on the spot."""
    server, port = await _raw_smarthost(None)
    transport = plain_transport(port, timeout=0.2)
    try:
        with pytest.raises(RelayFailed) as caught:
            await transport.send(MAIL)
        await transport.close()
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.temporary
    assert caught.value.reply.enhanced == "4.4.1"


async def test_a_refusal_answered_by_354_gets_no_content():
    """A smarthost that refuses the recipient yet answers 354 to the pipelined DATA (RFC 2920
    says it must not) is sent no content: the connection is closed, the refusal is the
    mail's, and the next mail goes over a new connection."""
    received: list[list[bytes]] = []  # each session's lines
    first_ended = asyncio.Event()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(lines := [])
        sessions = len(received)
        writer.write(b"220 raw.test ESMTP\r\n")
        replies = {
            b"EHLO": b"250-raw.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            b"MAIL": b"250 2.1.0 Ok\r\n",
            b"RCPT": b"550 5.1.1 <bob@example.org>: no such user\r\n"
            if sessions == 1
            else b"250 2.1.5 Ok\r\n",
            b"DATA": b"354 End data with <CR><LF>.<CR><LF>\r\n",
            b"QUIT": b"221 2.0.0 Bye\r\n",
        }
        in_data = False
        while line := await reader.readline():
            lines.append(line)
            if in_data:
                if line == b".\r\n":
                    writer.write(b"250 2.0.0 Ok: queued\r\n")
                    in_data = False
                continue
            writer.write(replies[line[:4].upper()])
            in_data = line.startswith(b"DATA") and sessions > 1
        writer.close()
        if sessions == 1:
            first_ended.set()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = plain_transport(port)
    try:
        with pytest.raises(RelayFailed) as caught:
            await transport.send(MAIL)
        said = await transport.send(mail_to("carol@example.org", 2))
        await transport.close()
        await asyncio.wait_for(first_ended.wait(), 10)
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.reply.line() == "550 5.1.1 <bob@example.org>: no such user"
    assert not caught.value.temporary
    # nothing after DATA: no content, and no QUIT that would have been read as content
    assert [line[:4] for line in received[0]] == [b"EHLO", b"MAIL", b"RCPT", b"DATA"]
    assert "250 2.0.0 Ok: queued" in said
    assert len(received) == 2


async def test_starttls_verified_against_the_sink_ca():
    """With smarthost_verify_tls the certificate is checked against the given trust anchors."""
    async with SinkMTA(tls="starttls") as sink:
        settings = DeliverySettings(
            mode="smarthost",
            smarthost=(sink.host, sink.port),
            smarthost_tls="starttls",
            smarthost_verify_tls=True,
        )
        transport = SmarthostTransport(
            settings, local_hostname="lre.localhost", tls_context=sink.client_context()
        )
        await transport.send(MAIL)
        assert sink.messages[0].tls


async def test_untrusted_certificate_is_temporary_when_verifying():
    """A certificate nobody vouches for makes the relay fail, temporarily (operator's problem)."""
    async with SinkMTA(tls="tls") as sink:
        other = SinkMTA()  # a different CA
        settings = DeliverySettings(
            mode="smarthost",
            smarthost=(sink.host, sink.port),
            smarthost_tls="tls",
            smarthost_verify_tls=True,
        )
        transport = SmarthostTransport(
            settings, local_hostname="lre.localhost", tls_context=other.client_context()
        )
        with pytest.raises(RelayFailed) as caught:
            await transport.send(MAIL)
        assert caught.value.temporary
        assert not sink.messages


@pytest.mark.parametrize("tls", ["none", "starttls", "tls"])
async def test_auth_with_password_file(tmp_path, tls):
    """The smarthost user logs in with the password read from its file."""
    secret = tmp_path / "smarthost.password"
    secret.write_text(PASSWORD + "\n")
    async with SinkMTA(tls=tls, auth=True) as sink:
        transport = transport_for(sink, tls, smarthost_user=USER, smarthost_password_file=secret)
        await transport.send(MAIL)
        assert sink.messages[0].login == USER


async def test_wrong_password_is_temporary(tmp_path):
    """Refused credentials defer the letter instead of bouncing it: the letter is not at fault."""
    secret = tmp_path / "smarthost.password"
    secret.write_text("wrong")
    async with SinkMTA(tls="starttls", auth=True) as sink:
        transport = transport_for(
            sink, "starttls", smarthost_user=USER, smarthost_password_file=secret
        )
        with pytest.raises(RelayFailed) as caught:
            await transport.send(MAIL)
    assert caught.value.temporary
    assert caught.value.reply.enhanced == "4.7.0"
    assert "535" in caught.value.reply.text


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
@pytest.mark.parametrize("pipelining", [True, False])
async def test_4xx_is_temporary(pipelining, command):
    """A 4xx to any command is a temporary failure carrying the server's reply."""
    async with SinkMTA(pipelining=pipelining) as sink:
        sink.inject(command, "451 4.3.0 try later")
        with pytest.raises(RelayFailed) as caught:
            await transport_for(sink).send(MAIL)
        assert sink.pipelined == pipelining  # MAIL, RCPT and DATA in one write, or not
        assert not sink.messages
    assert caught.value.temporary
    assert caught.value.reply.line() == "451 4.3.0 try later"


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
@pytest.mark.parametrize("pipelining", [True, False])
async def test_5xx_is_permanent_with_remote_text(pipelining, command):
    """A 5xx is permanent and keeps the remote code, enhanced code and text for the evidence."""
    async with SinkMTA(pipelining=pipelining) as sink:
        sink.inject(command, "550 5.1.1 No such user here")
        with pytest.raises(RelayFailed) as caught:
            await transport_for(sink).send(MAIL)
        assert sink.pipelined == pipelining  # MAIL, RCPT and DATA in one write, or not
    assert not caught.value.temporary
    assert caught.value.reply.line() == "550 5.1.1 No such user here"


async def test_retry_after_4xx_succeeds():
    """Injected replies are used up: the next attempt on the same transport is delivered."""
    async with SinkMTA() as sink:
        sink.inject("RCPT", "450 4.2.0 mailbox busy")
        transport = transport_for(sink)
        with pytest.raises(RelayFailed):
            await transport.send(MAIL)
        await transport.send(MAIL)
        assert len(sink.messages) == 1


@pytest.mark.parametrize("pipelining", [True, False])
async def test_connection_dropped_during_data_is_temporary(pipelining):
    """A server that hangs up instead of answering DATA gives a temporary failure."""
    async with SinkMTA(pipelining=pipelining) as sink:
        sink.inject("DATA", SinkMTA.DROP)
        with pytest.raises(RelayFailed) as caught:
            await transport_for(sink).send(MAIL)
    assert caught.value.temporary
    assert caught.value.reply.enhanced == "4.4.2"


async def test_connection_refused_is_temporary():
    """Nobody listening on the smarthost port is a temporary failure (451 4.4.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RelayFailed) as caught:
        await plain_transport(port).send(MAIL)
    assert caught.value.temporary
    assert caught.value.reply.code == 451
    assert caught.value.reply.enhanced == "4.4.1"
    assert f"127.0.0.1:{port}" in caught.value.reply.text


async def test_starttls_required_but_not_offered_is_temporary():
    """smarthost_tls = starttls against a plain server refuses to send in clear, temporarily."""
    async with SinkMTA(tls="none") as sink:
        with pytest.raises(RelayFailed) as caught:
            await transport_for(sink, "starttls").send(MAIL)
        assert not sink.messages
    assert caught.value.temporary


async def test_silent_server_times_out_temporarily():
    """A smarthost that accepts the connection but never greets fails temporarily, in time."""
    writers = []
    server = await asyncio.start_server(lambda _, writer: writers.append(writer), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = plain_transport(port, timeout=0.2)
    try:
        with pytest.raises(RelayFailed) as caught:
            await transport.send(MAIL)
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
    assert caught.value.temporary
    assert caught.value.reply.enhanced == "4.4.1"


async def test_listed_recipient_is_refused_on_every_attempt():
    """A sink built with reject= refuses that recipient each time, and accepts the others."""
    async with SinkMTA(reject={"Bob@example.org": "550 5.1.1 No such mailbox here"}) as sink:
        transport = transport_for(sink)
        for _ in range(2):
            with pytest.raises(RelayFailed) as caught:
                await transport.send(MAIL)
            assert caught.value.reply.line() == "550 5.1.1 No such mailbox here"
        await transport.send(replace(MAIL, rcpt="carol@example.org"))
        assert [m.rcpt_tos for m in sink.messages] == [("carol@example.org",)]


async def test_smarthost_coming_back_on_the_same_port_is_reached():
    """After a refused connection, a server starting on that port gets the next attempt."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = plain_transport(port)
    with pytest.raises(RelayFailed):
        await transport.send(MAIL)
    async with SinkMTA(port=port) as sink:
        await transport.send(MAIL)
        assert len(sink.messages) == 1


# ---------------------------------------------------------------------------------------------
# The connection pool


def mail_to(rcpt: str, n: int) -> Outgoing:
    return Outgoing(
        "noreply@lre.localhost", rcpt, MESSAGE.replace(b"Bob", f"Bob {n}".encode()), f"o{n}"
    )


async def test_several_mails_go_over_one_connection():
    """Mails one after another reuse the open connection; each arrives intact, once."""
    async with SinkMTA() as sink:
        transport = transport_for(sink)
        for n in range(3):
            await transport.send(mail_to("bob@example.org", n))
        await transport.close()
        assert sink.connections == 1
        assert [m.data for m in sink.messages] == [mail_to("", n).message for n in range(3)]
        assert sink.quits == 1  # closing the pool says goodbye


@pytest.mark.parametrize("tls", ["starttls", "tls"])
async def test_tls_and_auth_once_per_connection(tmp_path, tls):
    """STARTTLS (or implicit TLS) and AUTH happen when a connection opens, not for each mail."""
    secret = tmp_path / "smarthost.password"
    secret.write_text(PASSWORD)
    async with SinkMTA(tls=tls, auth=True) as sink:
        transport = transport_for(sink, tls, smarthost_user=USER, smarthost_password_file=secret)
        for n in range(3):
            await transport.send(mail_to("bob@example.org", n))
        await transport.close()
        assert sink.connections == 1
        assert sink.logins == 1
        assert [(m.tls, m.login) for m in sink.messages] == [(True, USER)] * 3


async def test_connections_at_once_are_kept_for_the_next_mails():
    """Mails sent together open one connection each; the next round reuses them all."""
    async with SinkMTA() as sink:
        transport = transport_for(sink)
        for round in range(2):
            await asyncio.gather(*(transport.send(mail_to("bob@example.org", n)) for n in range(4)))
            assert sink.connections == 4, round
        await transport.close()
        assert len(sink.messages) == 8
        assert sink.quits == 4


async def test_pool_keeps_at_most_pool_size_idle_connections():
    """Beyond `pool_size`, a connection is closed after its mail instead of waiting."""
    async with SinkMTA() as sink:
        settings = DeliverySettings(
            mode="smarthost", smarthost=(sink.host, sink.port), smarthost_tls="none"
        )
        transport = SmarthostTransport(settings, local_hostname="lre.localhost", pool_size=2)
        await asyncio.gather(*(transport.send(mail_to("bob@example.org", n)) for n in range(4)))
        await asyncio.gather(*(transport.send(mail_to("bob@example.org", n)) for n in range(2)))
        await transport.close()
        assert sink.connections == 4  # the second round went over the two kept
        assert sink.quits == 4
        assert len(sink.messages) == 6


@pytest.mark.parametrize("pipelining", [True, False])
async def test_server_closing_an_idle_connection_costs_nothing(pipelining):
    """The smarthost hangs up (421, idle timeout) between two mails: the next mail goes, once,
    over a new connection, even when the client learns of the hang-up only by sending MAIL."""
    async with SinkMTA(pipelining=pipelining) as sink:
        transport = transport_for(sink)
        await transport.send(mail_to("bob@example.org", 1))
        sink.close_connections()  # and no await before the next send: the client has not seen it
        said = await transport.send(mail_to("carol@example.org", 2))
        await transport.close()
        assert "queued as S2" in said
        assert [m.rcpt_tos for m in sink.messages] == [("bob@example.org",), ("carol@example.org",)]
        assert sink.connections == 2


async def test_connection_idle_too_long_is_not_reused():
    """An idle connection older than `idle_timeout` (by the injected clock) is closed, not used."""
    now = [100.0]
    async with SinkMTA() as sink:
        settings = DeliverySettings(
            mode="smarthost", smarthost=(sink.host, sink.port), smarthost_tls="none"
        )
        transport = SmarthostTransport(
            settings, local_hostname="lre.localhost", idle_timeout=5.0, clock=lambda: now[0]
        )
        await transport.send(mail_to("bob@example.org", 1))
        now[0] += 4.9
        await transport.send(mail_to("bob@example.org", 2))
        assert sink.connections == 1
        now[0] += 5.0
        await transport.send(mail_to("bob@example.org", 3))
        await transport.close()
        assert sink.connections == 2
        assert sink.quits == 2
        assert len(sink.messages) == 3


@pytest.mark.parametrize(
    ("command", "reply"),
    [("MAIL", "451 4.3.0 try later"), ("RCPT", "550 5.1.1 No such user"), ("DATA", "554 5.6.0 no")],
)
@pytest.mark.parametrize("pipelining", [True, False])
async def test_refusal_does_not_poison_the_next_mail(pipelining, command, reply):
    """A 4xx or 5xx to one mail fails that mail only; its connection is closed, never reused."""
    async with SinkMTA(pipelining=pipelining) as sink:
        transport = transport_for(sink)
        await transport.send(mail_to("bob@example.org", 1))
        sink.inject(command, reply)
        with pytest.raises(RelayFailed) as caught:
            await transport.send(mail_to("carol@example.org", 2))
        assert caught.value.reply.line() == reply
        await transport.send(mail_to("dave@example.org", 3))
        await transport.close()
        assert [m.rcpt_tos for m in sink.messages] == [("bob@example.org",), ("dave@example.org",)]
        assert sink.connections == 2  # the refused mail's connection was not used again
        assert sink.pipelined == (3 if pipelining else 0)


@pytest.mark.parametrize("pipelining", [True, False])
async def test_reused_connection_lost_in_data_is_not_retried_in_place(pipelining):
    """Once DATA may have reached the smarthost, a lost connection is the queue's to retry:
    the transport does not send the mail again itself, on any connection."""
    async with SinkMTA(pipelining=pipelining) as sink:
        transport = transport_for(sink)
        await transport.send(mail_to("bob@example.org", 1))
        sink.inject("DATA", SinkMTA.DROP)
        with pytest.raises(RelayFailed) as caught:
            await transport.send(mail_to("carol@example.org", 2))
        assert caught.value.temporary
        assert caught.value.reply.enhanced == "4.4.2"
        assert sink.connections == 1
        await transport.send(mail_to("dave@example.org", 3))
        await transport.close()
        assert [m.rcpt_tos for m in sink.messages] == [("bob@example.org",), ("dave@example.org",)]
        assert sink.connections == 2


@pytest.mark.parametrize("pipelining", [True, False])
async def test_fresh_connection_closed_before_mail_is_not_retried(pipelining):
    """The one retry is for a reused connection: a new one that fails is the mail's failure."""
    async with SinkMTA(pipelining=pipelining) as sink:
        sink.inject("MAIL", SinkMTA.DROP)
        transport = transport_for(sink)
        with pytest.raises(RelayFailed) as caught:
            await transport.send(MAIL)
        await transport.close()
        assert caught.value.temporary
        assert sink.connections == 1
        assert not sink.messages


async def test_close_says_quit_to_every_idle_connection():
    """Closing the transport (the gateway's shutdown) closes its pool; a later mail still goes."""
    async with SinkMTA() as sink:
        transport = transport_for(sink)
        await asyncio.gather(*(transport.send(mail_to("bob@example.org", n)) for n in range(3)))
        await transport.close()
        assert sink.quits == 3
        await transport.send(mail_to("bob@example.org", 4))  # on its own connection, closed after
        await transport.close()
        assert sink.connections == sink.quits == 4
