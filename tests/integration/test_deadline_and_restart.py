"""Deadlines and queued mail live in the database: negligence, restarts, several processes."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

import aiohttp
import dkim
from sqlalchemy import select

from gateway.app import running
from gateway.evidence.pki import pki_paths
from gateway.evidence.tsa import TimestampAuthority
from gateway.smtp_out.dkim import DkimSigner
from gateway.storage import tables as t
from tests.support.client import (
    attachments_of,
    csrf_field,
    email_code,
    notification_for,
    proofs_for,
    wait_for,
)
from tests.support.evidence import texts
from tests.support.gateway import SENDER, Clock, free_port, make_settings, smarthost, start
from tests.support.letters import BOB, BODY, anchors, deposit, open_link
from tests.support.openssl import assert_proof_verifies
from tests.support.queues import mail_attempts, seal_attempts, tried
from tests.support.sink_mta import SinkMTA
from tests.support.tsa import start_tsa_server


async def test_silence_until_the_deadline_yields_the_proof_of_negligence(
    tmp_path: Path, database_url: str
) -> None:
    """No decision within negligence_after: proof of negligence, link expired, content sealed."""
    clock = Clock()
    settings = make_settings(tmp_path, database_url, letters={"negligence_after": "1h"})
    async with (
        start(settings, clock) as gateway,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):
        await deposit(gateway)
        link = await open_link(gateway)
        code = await email_code(gateway, session, link, BOB)  # asked in time, used too late
        async with session.get(link) as page:
            fields = {**csrf_field(await page.text(), "/accept"), "code": code}
        clock.advance(timedelta(hours=1, seconds=1))
        proof = (
            await wait_for(
                lambda: proofs_for(gateway, SENDER, "AcceptanceRejectionExpiry"),
                within=20,
                what="proof of negligence",
            )
        )[0]
        assert_proof_verifies(proof.xml, proof.p7s, anchors(gateway), tmp_path / "neg")
        reason = "etsi:EventReasons/etsi:EventReason"
        assert texts(proof.xml, f"{reason}/etsi:Code") == [
            "urn:lre-gateway:event-reason:acceptance-period-expired"
        ]
        assert texts(proof.xml, f"{reason}/etsi:Details")[0].endswith("the acceptance deadline.")
        async with session.get(link) as page:
            html = await page.text()
            assert page.status == 200
            assert BODY not in html
            assert '/accept"' not in html  # no form posts to Accept any more
        async with session.get(f"{link}/letter.eml") as original:
            assert original.status == 403
        late = await session.post(f"{link}/accept", data=fields, allow_redirects=False)
        assert late.status == 409
        await gateway.scheduler.tick()
        assert len(proofs_for(gateway, SENDER, "AcceptanceRejectionExpiry")) == 1
        assert not proofs_for(gateway, SENDER, "ConsignmentAcceptance")


async def test_a_deadline_passing_while_stopped_is_honoured_after_restart(
    tmp_path: Path, database_url: str
) -> None:
    """The deadline passes while the gateway is stopped: the restart issues the proof."""
    clock = Clock()
    settings = make_settings(tmp_path, database_url, letters={"negligence_after": "1h"})
    async with start(settings, clock) as gateway:
        await deposit(gateway)
        await open_link(gateway)
    clock.advance(timedelta(hours=1, seconds=1))
    async with running(settings, clock=clock) as gateway:
        await wait_for(
            lambda: proofs_for(gateway, SENDER, "AcceptanceRejectionExpiry"),
            within=20,
            what="proof of negligence after restart",
        )


async def test_queued_notification_survives_restart_and_reaches_the_smarthost(
    tmp_path: Path, database_url: str
) -> None:
    """Smarthost down: the notification waits in the queue, through a restart, until it is up."""
    port = free_port()
    settings = make_settings(
        tmp_path,
        database_url,
        delivery=smarthost(port, retry_base="1s", retry_max="1s"),
    )
    clock = Clock()
    async with start(settings, clock) as gateway:
        await deposit(gateway)
        for count in (1, 2):  # a few failed attempts against the closed port
            await wait_for(
                partial(tried, count, partial(mail_attempts, gateway, "notification")),
                within=20,
                what=f"failed attempt {count}",
            )
            clock.advance(timedelta(seconds=2))  # past retry_max: the next try is due
        assert len(mail_attempts(gateway, "notification")) == 1
    async with SinkMTA(port=port) as sink, running(settings, clock=clock) as gateway:
        await wait_for(
            lambda: any(BOB in m.rcpt_tos for m in sink.messages),
            within=20,
            what="notification at the smarthost",
        )
        await wait_for(
            lambda: any(SENDER in m.rcpt_tos for m in sink.messages),
            within=20,
            what="proof of deposit at the smarthost",
        )


async def test_a_proof_mail_refused_for_now_goes_again_from_the_queue_with_the_same_bytes(
    tmp_path: Path, database_url: str
) -> None:
    """The proof of deposit is handed over as soon as its PDF is stored (no claim, no read):
    refused for now by the next hop, it waits in the queue like any mail and goes again,
    its PDF read back from the proofs, byte for byte the mail first offered."""
    async with SinkMTA() as sink:
        sink.reject[SENDER.lower()] = "451 4.3.0 Try again later"
        settings = make_settings(
            tmp_path, database_url, delivery=smarthost(sink.port, retry_base="1s", retry_max="1s")
        )
        clock = Clock()
        async with start(settings, clock) as gateway:
            await deposit(gateway)
            await wait_for(
                partial(tried, 1, partial(mail_attempts, gateway, "proof")),
                within=20,
                what="the proof mail refused once",
            )
            assert not any(SENDER in m.rcpt_tos for m in sink.messages)
            del sink.reject[SENDER.lower()]
            clock.advance(timedelta(seconds=2))  # past retry_max: the next try is due
            gateway.scheduler.wake()
            proofs = await wait_for(
                lambda: [m for m in sink.messages if SENDER in m.rcpt_tos],
                within=20,
                what="the proof of deposit at the smarthost",
            )
            assert len(proofs) == 1
            assert b"SubmissionAcceptance" in attachments_of(proofs[0].data)["evidence.xml"]
            # made whole again from what was stored: the PDF of the proofs, the signed bytes
            with gateway.store.engine.connect() as db:
                stored = db.execute(select(t.proof_pdfs.c.pdf)).scalars().all()
            assert attachments_of(proofs[0].data)["proof.pdf"] == bytes(stored[0])
            signer = DkimSigner.from_file(
                settings.gateway.domain, "lre", settings.gateway.data_dir / "pki" / "dkim.key"
            )
            assert dkim.verify(
                proofs[0].data, dnsfunc=lambda *_, **__: signer.dns_record().encode()
            )


async def test_permanent_refusal_of_the_notification_yields_proof_of_non_delivery(
    tmp_path: Path, database_url: str
) -> None:
    """The next hop refuses the recipient for good (5xx): the sender gets the failure proof."""
    async with SinkMTA(reject={BOB: "550 5.1.1 No such mailbox here"}) as sink:
        settings = make_settings(
            tmp_path,
            database_url,
            delivery=smarthost(sink.port),
        )
        async with start(settings) as gateway:
            await deposit(gateway)

            def failure_proofs() -> list[bytes]:
                files = [attachments_of(received.data) for received in sink.messages]
                return [
                    f["evidence.xml"]
                    for f in files
                    if b"NotificationForAcceptanceFailure" in f.get("evidence.xml", b"")
                ]

            xml = (await wait_for(failure_proofs, within=20, what="proof of non-delivery"))[0]
            assert b"No such mailbox here" in xml
            assert_proof_verifies(
                xml, proof_signature(sink, xml), anchors(gateway), tmp_path / "ndn"
            )


async def test_two_gateway_processes_issue_each_proof_once(
    tmp_path: Path, database_url: str
) -> None:
    """Two gateways sharing one database and data dir never issue the same proof twice."""
    first = make_settings(tmp_path, database_url, letters={"negligence_after": "3s"})
    second = make_settings(tmp_path, database_url, letters={"negligence_after": "3s"})
    async with start(first) as one, running(second) as two:
        await deposit(one)
        await open_link(one)
        await wait_for(
            lambda: proofs_for(one, SENDER, "AcceptanceRejectionExpiry"),
            within=20,
            what="proof of negligence",
        )
        for _ in range(3):
            await one.scheduler.tick()
            await two.scheduler.tick()
        assert len(proofs_for(one, SENDER, "AcceptanceRejectionExpiry")) == 1
        assert len(proofs_for(one, SENDER, "SubmissionAcceptance")) == 1
        assert len(notification_for(one, BOB)) == 1


def proof_signature(sink: SinkMTA, xml: bytes) -> bytes:
    """The evidence.xml.p7s mailed beside xml."""
    for received in sink.messages:
        files = attachments_of(received.data)
        if files.get("evidence.xml") == xml:
            return files["evidence.xml.p7s"]
    raise AssertionError("no signature beside the evidence")


async def test_a_tsa_that_is_down_delays_proofs_and_loses_none(
    tmp_path: Path, database_url: str
) -> None:
    """External TSA unreachable: the letter is still deposited; its proof follows once it is up."""
    port = free_port()
    settings = make_settings(
        tmp_path, database_url, evidence={"tsa_url": f"http://127.0.0.1:{port}/tsa"}
    )
    clock = Clock()
    async with start(settings, clock) as gateway:
        await deposit(gateway)
        await open_link(gateway)  # the notification does not wait for the proof
        await wait_for(
            partial(tried, 1, partial(seal_attempts, gateway)), what="a failed timestamp request"
        )
        assert not proofs_for(gateway, SENDER, "SubmissionAcceptance")
        pki = pki_paths(settings.gateway.data_dir)
        runner, _ = await start_tsa_server(
            TimestampAuthority.from_files(pki.tsa_cert, pki.tsa_key), port
        )
        clock.advance(timedelta(minutes=1))  # past the next try (5 s, doubling at each failure)
        try:
            proof = (
                await wait_for(
                    lambda: proofs_for(gateway, SENDER, "SubmissionAcceptance"),
                    within=30,
                    what="proof of deposit once the TSA is up",
                )
            )[0]
        finally:
            await runner.cleanup()
        assert_proof_verifies(proof.xml, proof.p7s, anchors(gateway), tmp_path / "late")
