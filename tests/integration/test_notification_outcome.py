"""A notification's outcome is recorded on the delivery as it is, even when it changed during
the hand-over (the scheduler first tries the delivery as read to compose the mail); while the
next hop holds a notification, the other letters' evidence is sealed, their proofs and
notifications mailed; a mail held keeps its lease, and one held too long is retried."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.smtp import Envelope
from sqlalchemy import select

from gateway.app import Running
from gateway.core.evidence import EvidenceType
from gateway.core.letter import State
from gateway.evidence.xml import from_xml
from gateway.storage import tables as t
from gateway.storage.times import utc
from tests.support.client import attachments_of, wait_for
from tests.support.gateway import SENDER, Clock, make_settings, smarthost, start
from tests.support.letters import BOB, delivery_state, deposit
from tests.support.sink_mta import SinkMTA


def notification_states(gateway: Running) -> list[str]:
    """The states of the notification mails in the outbound queue."""
    with gateway.store.engine.connect() as db:
        return list(
            db.execute(
                select(t.outbound.c.state).where(t.outbound.c.kind == "notification")
            ).scalars()
        )


async def test_delivery_changed_during_the_hand_over_gets_the_outcome_once(
    tmp_path: Path, database_url: str
) -> None:
    """While the smarthost takes the notification, the SMS notice's hand-over is recorded on
    the same delivery: the mail's NotificationForAcceptance still follows it in the chain,
    once, and the mail is closed as sent. At shutdown every smarthost connection gets QUIT."""
    changed: list[bool] = []

    async def sms_recorded_meanwhile(envelope: Envelope) -> None:
        if BOB not in envelope.rcpt_tos:
            return
        with gateway.store.engine.connect() as db:
            [delivery_id] = db.execute(select(t.deliveries.c.id)).scalars()
        letter, delivery = await gateway.registry.io(gateway.store.delivery, delivery_id)
        outcomes = gateway.registry.outcomes
        sms = EvidenceType.NotificationForAcceptance
        changed.append(await outcomes.apply(letter, delivery, sms, channel="sms"))

    async with SinkMTA(on_data=sms_recorded_meanwhile) as sink:
        settings = make_settings(
            tmp_path,
            database_url,
            delivery=smarthost(sink.port),
        )
        async with start(settings) as gateway:
            await deposit(gateway)

            assert await wait_for(
                lambda: notification_states(gateway) == ["sent"], what="notification recorded"
            )
            await wait_for(
                lambda: any(SENDER in m.rcpt_tos for m in sink.messages), what="proof of deposit"
            )
            assert changed == [True]
            assert delivery_state(gateway) is State.NOTIFIED
            with gateway.store.engine.connect() as db:
                [delivery_id] = db.execute(select(t.deliveries.c.id)).scalars()
                channels = db.execute(
                    select(t.evidence.c.type, t.evidence.c.channel)
                    .where(t.evidence.c.delivery_id == delivery_id)
                    .order_by(t.evidence.c.event_time, t.evidence.c.id)
                ).all()
            assert [tuple(row) for row in channels] == [
                ("SubmissionAcceptance", None),
                ("NotificationForAcceptance", "sms"),
                ("NotificationForAcceptance", None),
            ]
            # each evidence names the one before it: the mail's came after the SMS's
            chain = gateway.store.evidence_of(delivery_id)
            for before, after in itertools.pairwise(chain):
                digest = hashlib.sha256(before.xml).hexdigest()
                assert from_xml(after.xml).previous_evidence_sha256 == digest
        # the gateway kept its smarthost connections open, and closed each one when it stopped
        assert sink.quits == sink.connections


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_outcome_picked_as_a_deadlocks_victim_is_committed_once(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Another transaction holds the notification's outbound row while the smarthost takes
    the mail, then asks for its delivery's row, which the gateway's outcome commit holds:
    PostgreSQL rolls the gateway's commit back (it waits the shorter deadlock_timeout). The
    commit is run again at once: the mail is closed as sent, its evidence recorded once, and
    it is not handed over a second time (it was, when its lease ran out)."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            f'ALTER DATABASE "{database_url.rsplit("/", 1)[1]}" SET deadlock_timeout = 100'
        )
    other_waited: list[bool] = []
    errors: list[BaseException] = []

    def other_transaction(outbound_id: str, delivery_id: str, holding: threading.Event) -> None:
        try:
            with psycopg.connect(database_url) as other, psycopg.connect(database_url) as look:
                other.execute("SET deadlock_timeout = '60s'")  # the gateway's is 100 ms
                other.execute("UPDATE outbound SET state = state WHERE id = %s", (outbound_id,))
                holding.set()
                deadline = time.monotonic() + 30
                blocked = (  # a session waiting for this one: not another test's, in parallel
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
                )
                while not look.execute(  # the outcome commit waits for the outbound row
                    blocked, (other.info.backend_pid,)
                ).fetchone()[0]:  # type: ignore[index]
                    if time.monotonic() > deadline:
                        raise AssertionError("the outcome commit never waited for the row")
                    time.sleep(0.01)
                other.execute(  # now each waits for the other: PostgreSQL picks the gateway
                    "UPDATE deliveries SET state = state WHERE id = %s", (delivery_id,)
                )
                other_waited.append(True)
                other.rollback()
        except BaseException as err:  # noqa: BLE001 - reported by the test
            errors.append(err)

    threads: list[threading.Thread] = []

    async def row_held_meanwhile(envelope: Envelope) -> None:
        if BOB not in envelope.rcpt_tos or threads:
            return
        with gateway.store.engine.connect() as db:
            outbound_id, delivery_id = db.execute(
                select(t.outbound.c.id, t.outbound.c.delivery_id).where(
                    t.outbound.c.kind == "notification"
                )
            ).one()
        holding = threading.Event()
        thread = threading.Thread(
            target=other_transaction, args=(outbound_id, delivery_id, holding)
        )
        threads.append(thread)
        thread.start()
        assert await asyncio.to_thread(holding.wait, 30)  # the row is held

    caplog.set_level(logging.WARNING, logger="gateway.services.work")
    async with SinkMTA(on_data=row_held_meanwhile) as sink:
        settings = make_settings(tmp_path, database_url, delivery=smarthost(sink.port))
        async with start(settings) as gateway:
            await deposit(gateway)

            assert await wait_for(
                lambda: notification_states(gateway) == ["sent"],
                within=20,
                what="notification recorded",
            )
            threads[0].join(30)
            assert not errors, errors
            assert other_waited == [True]
            assert "rolled the transaction back for another one's sake (DeadlockDetected)" in (
                caplog.text
            )
            assert delivery_state(gateway) is State.NOTIFIED
            with gateway.store.engine.connect() as db:
                [delivery_id] = db.execute(select(t.deliveries.c.id)).scalars()
            events = [e.type.value for e in gateway.store.evidence_of(delivery_id)]
            assert events == ["SubmissionAcceptance", "NotificationForAcceptance"]
            await wait_for(
                lambda: any(SENDER in m.rcpt_tos for m in sink.messages), what="proof of deposit"
            )
            assert sum(BOB in m.rcpt_tos for m in sink.messages) == 1


async def test_a_notification_held_by_the_next_hop_holds_up_no_other_letters_proof(
    tmp_path: Path, database_url: str
) -> None:
    """The smarthost holds a letter's notification in DATA; a letter deposited meanwhile is
    sealed, certified, its proof of deposit and its notification handed over all the same
    (the seals do not wait for the mail loop's hand-overs, nor a round's other mails and the
    next rounds for one held). Released, the held notification goes out, once."""
    carol = "carol.benali@example.ma"
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_bobs_notification(envelope: Envelope) -> None:
        if BOB in envelope.rcpt_tos:
            held.set()
            await release.wait()

    def proof_of_deposit_of(reference: str) -> bool:
        for message in sink.messages:
            if SENDER in message.rcpt_tos:
                xml = attachments_of(message.data).get("evidence.xml", b"")
                if reference.encode() in xml and b"SubmissionAcceptance" in xml:
                    return True
        return False

    async with SinkMTA(on_data=hold_bobs_notification) as sink:
        settings = make_settings(tmp_path, database_url, delivery=smarthost(sink.port))
        async with start(settings) as gateway:
            try:
                await deposit(gateway, [BOB])
                await wait_for(held.is_set, what="the smarthost holding the notification")
                _, reference = await deposit(gateway, [carol])
                await wait_for(
                    lambda: proof_of_deposit_of(reference),
                    what="the proof of deposit of the letter deposited meanwhile",
                )
                await wait_for(  # well before the transport's minute a step
                    lambda: any(carol in m.rcpt_tos for m in sink.messages),
                    within=20,
                    what="the notification of the letter deposited meanwhile",
                )
                assert not any(BOB in m.rcpt_tos for m in sink.messages)  # still held
            finally:
                release.set()
            await wait_for(
                lambda: notification_states(gateway) == ["sent", "sent"],
                what="both notifications sent",
            )
            assert sum(BOB in m.rcpt_tos for m in sink.messages) == 1


class HeldOnce:
    """A smarthost's DATA hook that holds the first notification to Bob until released."""

    def __init__(self) -> None:
        self.held, self.release = asyncio.Event(), asyncio.Event()
        self.datas = 0  # DATA commands for Bob

    async def __call__(self, envelope: Envelope) -> None:
        if BOB in envelope.rcpt_tos:
            self.datas += 1
            if self.datas == 1:
                self.held.set()
                await self.release.wait()


def bobs_notification(gateway: Running) -> Any:
    """Bob's notification's row in the outbound queue: state, attempts, error, lease."""
    with gateway.store.engine.connect() as db:
        [row] = db.execute(
            select(
                t.outbound.c.state,
                t.outbound.c.attempts,
                t.outbound.c.last_error,
                t.outbound.c.claimed_until,
            ).where(t.outbound.c.kind == "notification", t.outbound.c.rcpt == BOB)
        ).all()
    return row


async def test_a_held_hand_over_keeps_its_lease(tmp_path: Path, database_url: str) -> None:
    """While the next hop holds a notification in DATA, the mail's lease is renewed: the
    gateway's clock moved three minutes on, past the two of a lease, and the mail is not
    claimed again (a mail whose lease has run out may be claimed here or by another node and
    go out twice). Released, it is sent once."""
    hook, clock = HeldOnce(), Clock()

    def leased_for(seconds: float) -> bool:
        until = bobs_notification(gateway).claimed_until
        return until is not None and utc(until) - clock() > timedelta(seconds=seconds)

    async with SinkMTA(on_data=hook) as sink:
        settings = make_settings(tmp_path, database_url, delivery=smarthost(sink.port))
        async with start(settings, clock) as gateway:
            try:
                await deposit(gateway, [BOB])
                await wait_for(hook.held.is_set, what="the smarthost holding the notification")
                for _ in range(2):  # a lease is 2 minutes, renewed once half of it has gone
                    clock.advance(timedelta(seconds=90))
                    gateway.scheduler.wake()
                    await wait_for(lambda: leased_for(100), what="the lease renewed")
                assert hook.datas == 1  # never claimed again
            finally:
                hook.release.set()
            await wait_for(
                lambda: bobs_notification(gateway).state == "sent", what="the notification sent"
            )
            assert sum(BOB in m.rcpt_tos for m in sink.messages) == 1


async def test_a_hand_over_held_too_long_is_cut_short_and_retried(
    tmp_path: Path, database_url: str
) -> None:
    """A next hop that holds a notification past `hand_over_limit` (ten minutes; two seconds
    here): the hand-over is cut short, recorded as a temporary failure that says so, and past
    its backoff the notification goes out, once."""
    hook, clock = HeldOnce(), Clock()
    async with SinkMTA(on_data=hook) as sink:
        settings = make_settings(tmp_path, database_url, delivery=smarthost(sink.port))
        async with start(settings, clock) as gateway:
            gateway.scheduler.hand_over_limit = 2.0
            try:
                await deposit(gateway, [BOB])
                await wait_for(hook.held.is_set, what="the smarthost holding the notification")
                cut = await wait_for(
                    lambda: (row := bobs_notification(gateway)).attempts and row,
                    within=20,
                    what="the held hand-over cut short",
                )
                assert cut.state == "pending"
                assert cut.last_error == "451 4.4.1 the next hop took too long to take the mail"
                assert not any(BOB in m.rcpt_tos for m in sink.messages)
                clock.advance(timedelta(hours=1))  # past the retry's backoff
                gateway.scheduler.wake()
                await wait_for(
                    lambda: bobs_notification(gateway).state == "sent",
                    what="the notification sent again",
                )
                assert hook.datas == 2
                assert sum(BOB in m.rcpt_tos for m in sink.messages) == 1
            finally:
                hook.release.set()
