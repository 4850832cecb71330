"""A gateway in `mx` mode: real DNS on loopback, real MX servers, bounces that become proofs."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import Running
from gateway.core.letter import State
from tests.integration.test_letter_life import BOB, anchors, deposit
from tests.support.client import Proof, attachments_of, wait_for
from tests.support.dns import DnsServer
from tests.support.evidence import texts
from tests.support.gateway import SENDER, free_port, make_settings, start
from tests.support.openssl import assert_proof_verifies
from tests.support.sink_mta import SinkMTA


@dataclass
class World:
    gateway: Running
    dns: DnsServer
    recipient_mx: SinkMTA  # example.ma (Bob)
    sender_mx: SinkMTA  # cabinet-dupont.ma (receives the proofs)


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add("example.ma", "MX", "10 mx.example.ma.")
        server.add("mx.example.ma", "A", "127.0.0.2")
        server.add("cabinet-dupont.ma", "MX", "10 mx.cabinet-dupont.ma.")
        server.add("mx.cabinet-dupont.ma", "A", "127.0.0.3")
        yield server


@pytest.fixture
async def world(
    tmp_path: Path, database_url: str, dns_server: DnsServer, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    port = free_port()
    delivery = {
        "mode": "mx",
        "resolver": dns_server.address,
        "mx_port": port,
        "retry_base": "1s",
        "retry_max": "1s",
    }
    delivery.update(getattr(request, "param", {}))
    settings = make_settings(
        tmp_path, database_url, delivery=delivery, smtp={"inbound": "127.0.0.1:0"}
    )
    async with (
        SinkMTA(host="127.0.0.2", port=port, tls="starttls") as recipient_mx,
        SinkMTA(host="127.0.0.3", port=port) as sender_mx,
        start(settings) as gateway,
    ):
        yield World(gateway, dns_server, recipient_mx, sender_mx)


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def proofs(sink: SinkMTA, event: str) -> list[Proof]:
    found = []
    for received in sink.messages:
        files = attachments_of(received.data)
        if f"/Event/{event}<".encode() in files.get("evidence.xml", b""):
            found.append(Proof("", "", files["evidence.xml"], files["evidence.xml.p7s"]))
    return found


def state_of(world: World) -> State:
    return delivery_state(world.gateway)


def delivery_state(gateway: Running) -> State:
    """The state of the only delivery of the only letter."""
    from sqlalchemy import select

    from gateway.storage import tables

    with gateway.store.engine.connect() as db:
        [letter_id] = db.execute(select(tables.letters.c.id)).scalars()
    [delivery] = gateway.store.deliveries_of(letter_id)
    return delivery.state


async def test_notification_reaches_the_mx_over_starttls_with_a_verp_return_path(world):
    """250 from the recipient's MX: NOTIFIED, STARTTLS used, unguessable bounce address."""
    await deposit(world.gateway)
    [notice] = await wait_for(lambda: world.recipient_mx.messages, what="notification at the MX")
    assert notice.rcpt_tos == (BOB,)
    assert notice.tls
    assert re.fullmatch(r"bounce\+[a-z2-7]{26}@lre\.localhost", notice.mail_from)
    await wait_for(lambda: state_of(world) is State.NOTIFIED, what="NOTIFIED")
    assert await wait_for(lambda: proofs(world.sender_mx, "SubmissionAcceptance"), what="proof")


async def test_temporary_refusal_then_acceptance(world):
    """4xx first, 250 on the retry: the letter is notified, no proof of non-delivery."""
    world.recipient_mx.inject("RCPT", "451 4.7.1 Greylisted, please retry", times=1)
    await deposit(world.gateway)
    await wait_for(lambda: world.recipient_mx.messages, within=20, what="retried notification")
    await wait_for(lambda: state_of(world) is State.NOTIFIED, what="NOTIFIED")
    assert not proofs(world.sender_mx, "NotificationForAcceptanceFailure")


async def test_permanent_refusal_becomes_a_proof_quoting_the_mx(world, tmp_path):
    """5xx from the MX: proof of non-delivery quoting the server's reply, verifiable."""
    world.recipient_mx.inject("RCPT", "550 5.1.1 <bob.martin@example.ma>: User unknown", times=1)
    await deposit(world.gateway)
    [proof] = await wait_for(
        lambda: proofs(world.sender_mx, "NotificationForAcceptanceFailure"), what="non-delivery"
    )
    assert b"mx.example.ma[127.0.0.2]" in proof.xml
    assert b"550 5.1.1 &lt;bob.martin@example.ma&gt;: User unknown" in proof.xml
    reason = "etsi:EventReasons/etsi:EventReason"
    assert texts(proof.xml, f"{reason}/etsi:Code") == [
        "urn:lre-gateway:event-reason:notification-undeliverable"
    ]
    [details] = texts(proof.xml, f"{reason}/etsi:Details")
    assert "550 5.1.1 <bob.martin@example.ma>: User unknown" in details
    assert_proof_verifies(proof.xml, proof.p7s, anchors(world.gateway), tmp_path / "fail")
    assert state_of(world) is State.UNDELIVERABLE


@pytest.mark.parametrize("world", [{"give_up_after": "2s"}], indirect=True)
async def test_temporary_failures_until_give_up_after(world):
    """Only 4xx until give_up_after: proof of non-delivery quoting the last reply."""
    world.recipient_mx.inject("RCPT", "452 4.2.2 Mailbox full", times=1000)
    await deposit(world.gateway)
    [proof] = await wait_for(
        lambda: proofs(world.sender_mx, "NotificationForAcceptanceFailure"),
        within=20,
        what="non-delivery after giving up",
    )
    assert b"452 4.2.2 Mailbox full" in proof.xml
    assert not world.recipient_mx.messages


def dsn(return_path: str, action: str, status: str, diagnostic: str) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example.ma\r\n"
        f"To: {return_path}\r\n"
        f"Subject: Delivery Status Notification\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        f"\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.ma\r\n\r\n"
        f"Final-Recipient: rfc822; {BOB}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        f"\r\n--B--\r\n"
    ).encode()


async def send_inbound(world: World, mail_from: str, rcpt: str, data: bytes) -> tuple[int, str]:
    host, port = world.gateway.smtp["inbound"]
    client = aiosmtplib.SMTP(
        hostname=host, port=port, start_tls=False, local_hostname="mx.example.ma"
    )
    await client.connect()
    try:
        await client.ehlo()
        await client.mail(mail_from)
        code, text = await client.rcpt(rcpt)
        if code >= 400:
            return code, text
        reply = await client.data(data)
        return reply.code, reply.message
    except aiosmtplib.SMTPResponseException as err:
        return err.code, err.message
    finally:
        client.close()


async def test_bounces_become_proofs(world, tmp_path):
    """Delayed DSN: recorded only; failed DSN: proof of non-delivery with its diagnostic."""
    await deposit(world.gateway)
    [notice] = await wait_for(lambda: world.recipient_mx.messages, what="notification")
    await wait_for(lambda: state_of(world) is State.NOTIFIED, what="NOTIFIED")
    bounce = notice.mail_from

    code, text = await send_inbound(world, "", bounce, b"Subject: hi\r\n\r\nnot a report\r\n")
    assert (code, text[:5]) == (550, "5.6.0")
    forged = "bounce+" + "a" * 26 + "@lre.localhost"
    code, _ = await send_inbound(world, "", forged, dsn(forged, "failed", "5.1.1", "550 no"))
    assert code == 550

    delayed = dsn(bounce, "delayed", "4.4.7", "451 4.4.7 still trying")
    assert (await send_inbound(world, "", bounce, delayed))[0] == 250
    await world.gateway.scheduler.tick()
    assert state_of(world) is State.NOTIFIED
    assert not proofs(world.sender_mx, "NotificationForAcceptanceFailure")

    failed = dsn(bounce, "failed", "5.2.1", "550 5.2.1 The email account is disabled")
    assert (await send_inbound(world, "", bounce, failed))[0] == 250
    [proof] = await wait_for(
        lambda: proofs(world.sender_mx, "NotificationForAcceptanceFailure"), what="DSN proof"
    )
    assert b"550 5.2.1 The email account is disabled" in proof.xml
    assert b"Status 5.2.1" in proof.xml
    assert_proof_verifies(proof.xml, proof.p7s, anchors(world.gateway), tmp_path / "dsn")
    assert state_of(world) is State.UNDELIVERABLE


async def test_inbound_is_not_an_open_relay(world):
    """Other domains and plain local parts are refused at RCPT, with a sentence."""
    code, text = await send_inbound(world, SENDER, "bob@example.ma", b"x")
    assert (code, text[:5]) == (550, "5.7.1")
    assert "Relaying denied" in text
    code, text = await send_inbound(world, SENDER, "postmaster@lre.localhost", b"x")
    assert (code, text[:5]) == (550, "5.1.1")
