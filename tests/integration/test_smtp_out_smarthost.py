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
async def test_4xx_is_temporary(command):
    """A 4xx to any command is a temporary failure carrying the server's reply."""
    async with SinkMTA() as sink:
        sink.inject(command, "451 4.3.0 try later")
        with pytest.raises(RelayFailed) as caught:
            await transport_for(sink).send(MAIL)
        assert not sink.messages
    assert caught.value.temporary
    assert caught.value.reply.line() == "451 4.3.0 try later"


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
async def test_5xx_is_permanent_with_remote_text(command):
    """A 5xx is permanent and keeps the remote code, enhanced code and text for the evidence."""
    async with SinkMTA() as sink:
        sink.inject(command, "550 5.1.1 No such user here")
        with pytest.raises(RelayFailed) as caught:
            await transport_for(sink).send(MAIL)
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


async def test_connection_dropped_during_data_is_temporary():
    """A server that hangs up instead of answering DATA gives a temporary failure."""
    async with SinkMTA() as sink:
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
    settings = DeliverySettings(
        mode="smarthost", smarthost=("127.0.0.1", port), smarthost_tls="none"
    )
    with pytest.raises(RelayFailed) as caught:
        await SmarthostTransport(settings, local_hostname="lre.localhost").send(MAIL)
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
    settings = DeliverySettings(
        mode="smarthost", smarthost=("127.0.0.1", port), smarthost_tls="none"
    )
    transport = SmarthostTransport(settings, local_hostname="lre.localhost", timeout=0.2)
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
    settings = DeliverySettings(
        mode="smarthost", smarthost=("127.0.0.1", port), smarthost_tls="none"
    )
    transport = SmarthostTransport(settings, local_hostname="lre.localhost")
    with pytest.raises(RelayFailed):
        await transport.send(MAIL)
    async with SinkMTA(port=port) as sink:
        await transport.send(MAIL)
        assert len(sink.messages) == 1
