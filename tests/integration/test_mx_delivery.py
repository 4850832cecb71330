"""A gateway in `mx` mode: real DNS on loopback, real MX servers, bounces that become proofs."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiosmtpd.smtp import Envelope
from sqlalchemy import select

from gateway.core.letter import State
from gateway.errors import NotADsn, UnknownBounceAddress
from gateway.services.bounces import DsnOutcome, DsnReceived
from gateway.storage import tables
from tests.support.client import wait_for
from tests.support.evidence import texts
from tests.support.gateway import SENDER
from tests.support.letters import BOB, anchors, delivery_state, deposit
from tests.support.mx_world import World, dns_server, proofs, send_inbound, world
from tests.support.openssl import assert_proof_verifies
from tests.support.sink_mta import Received, SinkMTA

__all__ = ["dns_server", "world"]  # fixtures


def state_of(world: World) -> State:
    return delivery_state(world.gateway)


async def test_notification_reaches_the_mx_over_starttls_with_a_verp_return_path(world):
    """250 from the recipient's MX: NOTIFIED, STARTTLS used, unguessable bounce address."""
    await deposit(world.gateway)
    [notice] = await wait_for(lambda: world.recipient_mx.messages, what="notification at the MX")
    assert notice.rcpt_tos == (BOB,)
    assert notice.tls
    assert re.fullmatch(r"bounce\+[a-z2-7]{26}@lre\.localhost", notice.mail_from)
    await wait_for(lambda: state_of(world) is State.NOTIFIED, what="NOTIFIED")
    assert await wait_for(lambda: proofs(world.sender_mx, "SubmissionAcceptance"), what="proof")


async def test_a_proof_mail_made_with_its_pdf_has_a_known_return_path(world):
    """The proof mail is composed and signed in a certificate process and stored with its PDF:
    its VERP return path's token is stored in that commit, so a bounce names the proof mail."""
    bounces = world.gateway.bounces
    assert bounces is not None
    await deposit(world.gateway)

    def proof_mails() -> list[Received]:
        return [m for m in world.sender_mx.messages if b"evidence.xml.p7s" in m.data]

    [proof] = await wait_for(proof_mails, what="proof of deposit at the sender's MX")
    assert re.fullmatch(r"bounce\+[a-z2-7]{26}@lre\.localhost", proof.mail_from)
    mail = await bounces.mail_for(proof.mail_from)
    assert mail is not None
    assert (mail.kind, mail.rcpt) == ("proof", SENDER)
    assert f"<{mail.id}@lre.localhost>".encode() in proof.data  # its Message-ID


async def test_temporary_refusal_then_acceptance(world):
    """4xx first, 250 on the retry: the letter is notified, no proof of non-delivery. Each
    session, the refused one too, ends with QUIT (RFC 5321 §4.1.1.10), not a dropped line."""
    world.recipient_mx.inject("RCPT", "451 4.7.1 Greylisted, please retry", times=1)
    await deposit(world.gateway)
    await wait_for(lambda: world.recipient_mx.messages, within=20, what="retried notification")
    await wait_for(lambda: state_of(world) is State.NOTIFIED, what="NOTIFIED")
    assert not proofs(world.sender_mx, "NotificationForAcceptanceFailure")
    await wait_for(lambda: world.recipient_mx.quits == 2, what="both sessions ended by QUIT")
    assert world.recipient_mx.connections == 2


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
    assert world.recipient_mx.quits == 1  # the refused session ended by QUIT


def holding_the_first(world: World) -> tuple[asyncio.Event, asyncio.Event]:
    """example.ma's MX holds the first notification in DATA (`held` set) until `release`."""
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_the_first(envelope: Envelope) -> None:
        if not held.is_set():
            held.set()
            await release.wait()

    world.recipient_mx.on_data = hold_the_first
    return held, release


def notified(mx: SinkMTA, recipient: str) -> list[Received]:
    return [m for m in mx.messages if recipient in m.rcpt_tos]


async def each_notified_once(world: World, recipients: list[str]) -> None:
    """Every notification to example.ma's `recipients` handed over, each once."""
    await wait_for(
        lambda: len(world.recipient_mx.messages) == len(recipients),
        what="every notification handed over",
    )
    delivered = sorted(rcpt for m in world.recipient_mx.messages for rcpt in m.rcpt_tos)
    assert delivered == sorted(recipients)


@pytest.mark.parametrize("world", [{"max_per_domain": 1, "max_connections": 20}], indirect=True)
async def test_a_domain_that_keeps_its_mails_waiting_holds_back_no_other_domain(world):
    """example.ma's MX holds a notification in DATA and the domain takes one connection at
    once (`delivery.max_per_domain = 1`): the 20 notifications behind it wait for the domain,
    not in one of the 20 hand-overs at once (`delivery.max_connections`), so the proofs of
    deposit to the sender's domain go out meanwhile. Released, every notification goes, once."""
    held, release = holding_the_first(world)
    recipients = [f"r{n}@example.ma" for n in range(21)]
    try:
        await deposit(world.gateway, recipients)
        await wait_for(held.is_set, what="example.ma's MX holding a notification")
        await wait_for(
            lambda: proofs(world.sender_mx, "SubmissionAcceptance"),
            within=30,  # well before the transport's minute a step
            what="a proof of deposit while example.ma holds a notification",
        )
        assert world.recipient_mx.messages == []
    finally:
        release.set()
    await each_notified_once(world, recipients)


@pytest.mark.parametrize("world", [{"max_per_domain": 1}], indirect=True)
async def test_a_domain_with_a_backlog_holds_back_no_later_mail_to_another_domain(world):
    """60 notifications to example.ma, whose MX holds the first (one connection at once),
    then a letter to a client of cabinet-dupont.ma: its notification is claimed and goes out
    meanwhile. A mail round claims 50 mails at most, less those still waiting from earlier
    rounds; example.ma's 59 waiting mails filled that room, and the later letter, queued behind
    them, waited for example.ma. Now a domain whose places are all taken and as many mails
    wait for is not claimed from until it has room again."""
    held, release = holding_the_first(world)
    recipients = [f"r{n}@example.ma" for n in range(60)]
    client = "client@cabinet-dupont.ma"
    try:
        await deposit(world.gateway, recipients)
        await wait_for(held.is_set, what="example.ma's MX holding a notification")
        await deposit(world.gateway, [client])
        await wait_for(
            lambda: notified(world.sender_mx, client),
            within=30,  # well before the transport's minute a step
            what="the later letter's notification while example.ma holds one",
        )
        assert world.recipient_mx.messages == []
    finally:
        release.set()
    await each_notified_once(world, recipients)


async def test_twenty_domains_each_holding_a_mail_hold_back_no_other_domain(world):
    """21 domains whose MX holds their notification in DATA (tarpits, say): the hand-overs at
    once in MX mode are `delivery.max_connections` (100, as Postfix's 100 SMTP clients), so a
    letter to a client of cabinet-dupont.ma goes meanwhile. With the scheduler's 20 hand-overs
    at once, 20 such domains held back every other mail until they let go."""
    domains = [f"d{n}.example" for n in range(21)]
    for domain in domains:
        world.dns.add(domain, "MX", "10 mx.example.ma.")
    release, holding = asyncio.Event(), []

    async def hold_each(envelope: Envelope) -> None:
        holding.append(envelope)
        await release.wait()

    world.recipient_mx.on_data = hold_each
    client = "client@cabinet-dupont.ma"
    try:
        await deposit(world.gateway, [f"r@{domain}" for domain in domains])
        await wait_for(lambda: len(holding) == 21, what="21 notifications held at once")
        await deposit(world.gateway, [client])
        await wait_for(
            lambda: notified(world.sender_mx, client),
            within=30,  # well before the transport's minute a step
            what="the later letter's notification while 21 domains hold theirs",
        )
    finally:
        release.set()
    await wait_for(lambda: len(world.recipient_mx.messages) == 21, what="the 21 handed over")


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


async def test_the_bounce_service_says_what_became_of_which_delivery(world):
    """Without SMTP: a delayed DSN is recorded only, a failed one makes the delivery
    UNDELIVERABLE; an unknown address or a mail that is no DSN is refused with a domain error."""
    bounces = world.gateway.bounces
    assert bounces is not None
    await deposit(world.gateway)
    [notice] = await wait_for(lambda: world.recipient_mx.messages, what="notification")
    await wait_for(lambda: state_of(world) is State.NOTIFIED, what="NOTIFIED")
    bounce = notice.mail_from
    mail = await bounces.mail_for(bounce)
    assert mail is not None
    with world.gateway.store.engine.connect() as db:  # the only letter, its only delivery
        [letter_id] = db.execute(select(tables.letters.c.id)).scalars()
    [delivery] = world.gateway.store.deliveries_of(letter_id)
    assert mail.delivery_id == delivery.id

    with pytest.raises(NotADsn):
        await bounces.receive(bounce, b"Subject: hi\r\n\r\nnot a report\r\n")
    forged = "bounce+" + "a" * 26 + "@lre.localhost"
    with pytest.raises(UnknownBounceAddress):
        await bounces.receive(forged, dsn(forged, "failed", "5.1.1", "550 no"))

    delayed = dsn(bounce, "delayed", "4.4.7", "451 4.4.7 still trying")
    recorded = DsnReceived(mail.id, mail.delivery_id, DsnOutcome.RECORDED)
    assert await bounces.receive(bounce, delayed) == recorded
    assert state_of(world) is State.NOTIFIED
    failed = dsn(bounce, "failed", "5.2.1", "550 5.2.1 The email account is disabled")
    undeliverable = DsnReceived(mail.id, mail.delivery_id, DsnOutcome.UNDELIVERABLE)
    assert await bounces.receive(bounce, failed) == undeliverable
    assert state_of(world) is State.UNDELIVERABLE
    assert await bounces.receive(bounce, failed) == recorded  # the failure is already proven


async def test_inbound_is_not_an_open_relay(world):
    """Other domains and plain local parts are refused at RCPT, with a sentence."""
    code, text = await send_inbound(world, SENDER, "bob@example.ma", b"x")
    assert (code, text[:5]) == (550, "5.7.1")
    assert "Relaying denied" in text
    code, text = await send_inbound(world, SENDER, "postmaster@lre.localhost", b"x")
    assert (code, text[:5]) == (550, "5.1.1")
