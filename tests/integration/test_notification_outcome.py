"""A notification's outcome is recorded on the delivery as it is, even when it changed during
the hand-over (the scheduler first tries the delivery as read to compose the mail)."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

from aiosmtpd.smtp import Envelope
from sqlalchemy import select

from gateway.core.evidence import EvidenceType
from gateway.core.letter import State
from gateway.evidence.xml import from_xml
from gateway.storage import tables as t
from tests.support.client import wait_for
from tests.support.gateway import SENDER, make_settings, smarthost, start
from tests.support.letters import BOB, delivery_state, deposit
from tests.support.sink_mta import SinkMTA


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

            def notified() -> list[str]:
                with gateway.store.engine.connect() as db:
                    return list(
                        db.execute(
                            select(t.outbound.c.state).where(t.outbound.c.kind == "notification")
                        ).scalars()
                    )

            assert await wait_for(lambda: notified() == ["sent"], what="notification recorded")
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
