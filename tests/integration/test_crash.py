"""Crash consistency, checked from outside: the real gateway process is SIGKILLed and restarted.

A short version of `python -m bench.crash` (a few kills, a few clients), then named failure
points where a fault holds the gateway at that point while it is killed (no timing luck): after
the next hop's 250 but before our commit, before the 250 of a deposit, while timestamping.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import itertools
import random
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.crash import CrashRun, Mail, make_letter
from gateway.evidence.pki import pki_paths
from gateway.evidence.tsa import REPLY_TYPE, TimestampAuthority
from tests.support import faults
from tests.support.client import csrf_field, link_in


async def test_sigkills_during_deposits_lose_nothing_and_duplicate_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """Three SIGKILLs while 3 clients deposit: each 250 has exactly one proof, notice and SMS."""
    crash = CrashRun(tmp_path, database_url, clients=3)
    await crash.setup()
    crash.start_clients()
    await crash.kill_loop(3, 1.5, 3.0, random.Random(20261130))  # noqa: S311 - a schedule
    await crash.stop_clients()
    report = await crash.finish()
    assert report.ok, report.summary()
    assert report.kills == 3
    assert report.letters["acked"] >= 3, report.summary()
    # the work the last kill left behind is taken up at once, not when a lease expires
    assert report.first_notification_seconds < 30, report.summary()


async def test_a_mail_handed_over_but_not_recorded_goes_again_byte_identical(
    tmp_path: Path, database_url: str
) -> None:
    """Killed between the smarthost's 250 and our commit: the one resend is the same bytes."""
    crash = CrashRun(tmp_path, database_url, clients=0)
    held = contextlib.ExitStack()
    first: list[Mail] = []

    async def on_data(mail: Mail) -> None:
        if not first:  # the first mail: from now on nothing the gateway records can commit
            first.append(mail)
            held.enter_context(faults.database_locked(database_url))

    async def on_quit() -> None:  # the gateway has read our 250 and waits to record it
        if first and not crash.gateway.kills:
            crash.gateway.kill()
            held.close()

    crash.mails.on_data, crash.mails.on_quit = on_data, on_quit
    await crash.setup()
    letter = await crash.send(make_letter(0, 0))
    assert letter.outcome == "acked"
    await crash.wait(lambda: crash.gateway.kills == 1, "kill after the 250")
    crash.gateway.start()
    await crash.gateway.ready()
    report = await crash.finish()
    assert report.ok, report.summary()
    assert report.resent_mails == 1, report.summary()
    assert [m.data for m in crash.mails.mails].count(first[0].data) == 2


async def test_an_sms_handed_over_but_not_recorded_goes_again_with_the_same_id(
    tmp_path: Path, database_url: str
) -> None:
    """Killed between the SMS provider's 200 and our commit: the one resend is the same text to
    the same number with the same Idempotency-Key, so the provider can drop it."""
    crash = CrashRun(tmp_path, database_url, clients=0)
    held = contextlib.ExitStack()
    first: list[str] = []

    async def on_sms(number: str) -> None:
        if not first:  # from now on nothing the gateway records can commit
            first.append(number)
            held.enter_context(faults.database_locked(database_url))

    crash.sms.on_sms = on_sms
    await crash.setup()
    letter = await crash.send(make_letter(0, 1))  # with a mobile number
    assert letter.outcome == "acked"
    assert letter.phones
    try:
        await crash.wait(lambda: bool(first), "the SMS")
        # whether or not the gateway read the 200 yet, it cannot have recorded it
        crash.gateway.kill()
    finally:
        held.close()
    crash.gateway.start()
    await crash.gateway.ready()
    report = await crash.finish()
    assert report.ok, report.summary()
    assert report.resent_sms == 1, report.summary()
    copies = [(text, key) for number, text, key in crash.sms.sms if number == first[0]]
    assert len(copies) == 2
    assert copies[0] == copies[1]
    assert copies[0][1]  # an Idempotency-Key was sent


async def test_a_letter_killed_before_its_250_leaves_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """Killed while the deposit waits to commit: no 250, and no proof, notification or SMS."""
    crash = CrashRun(tmp_path, database_url, clients=0)
    await crash.setup()
    before = await crash.send(make_letter(0, 0))
    assert before.outcome == "acked"
    await crash.wait(lambda: crash.complete(), "the first letter's mails")
    with faults.database_locked(database_url):
        sending = asyncio.create_task(crash.send(make_letter(0, 1)))
        # the deposit cannot commit while the lock is held; killing even before the gateway
        # read the final dot is a still earlier point with the same expected outcome
        await asyncio.wait({sending}, timeout=1.0)
        crash.gateway.kill()
    killed = await sending
    assert killed.outcome in ("uncertain", "unsent")
    crash.gateway.start()
    await crash.gateway.ready()
    after = await crash.send(make_letter(0, 2))
    assert after.outcome == "acked"
    report = await crash.finish()
    assert report.ok, report.summary()
    seen = crash.seen()
    assert not any(seen.proofs[r] or seen.notifications[r] for r in killed.recipients)


async def test_a_kill_while_timestamping_delays_the_proof_and_loses_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """Killed while the TSA holds the seal's request: after restart exactly one proof."""
    arrived, release = asyncio.Event(), asyncio.Event()
    tsa, url = await _held_tsa(tmp_path / "var", arrived, release)
    try:
        extra = f'[evidence]\ntsa_url = "{url}"\n'
        crash = CrashRun(tmp_path, database_url, clients=0, extra_config=extra)
        await crash.setup()
        letter = await crash.send(make_letter(0, 0))
        assert letter.outcome == "acked"
        await asyncio.wait_for(arrived.wait(), timeout=60)
        crash.gateway.kill()  # the seal's timestamp request is in flight
        release.set()
        crash.gateway.start()
        await crash.gateway.ready()
        report = await crash.finish()
    finally:
        release.set()
        await tsa.cleanup()
    assert report.ok, report.summary()
    assert len(crash.seen().proofs[letter.recipients[0]]) == 1


async def test_a_kill_while_a_decision_is_recorded_yields_one_receipt(
    tmp_path: Path, database_url: str
) -> None:
    """Killed while Accept waits to commit: after restart, Accept again gives one receipt only."""
    extra = '[letters]\nrecipient_verification = "none"\n'
    crash = CrashRun(tmp_path, database_url, clients=0, extra_config=extra)
    await crash.setup()
    letter = await crash.send(make_letter(0, 0))
    recipient = letter.recipients[0]
    await crash.wait(crash.complete, "the letter's proof and notification")
    notice = email.message_from_bytes(
        crash.seen().notices[recipient], _class=EmailMessage, policy=policy.default
    )
    link = link_in(notice)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        fields = await _form(session, link, "accept")
        with faults.database_locked(database_url):
            pressed = asyncio.create_task(_press(session, link, fields))
            # the decision cannot commit while the lock is held; a kill before the POST even
            # arrived is an earlier point with the same expected outcome
            await asyncio.wait({pressed}, timeout=1.0)
            crash.gateway.kill()
        assert await pressed is None  # no answer: the connection died with the gateway
        crash.gateway.start()
        await crash.gateway.ready()
        fields = await _form(session, link, "accept")  # the decision was not recorded
        assert await _press(session, link, fields) == 303
    await crash.wait(
        lambda: bool(crash.seen().events[recipient]["ConsignmentAcceptance"]), "the receipt"
    )
    report = await crash.finish()
    assert report.ok, report.summary()
    assert crash.seen().events[recipient]["ConsignmentAcceptance"] == 1


async def _form(session: aiohttp.ClientSession, link: str, action: str) -> dict[str, str]:
    async with session.get(link) as page:
        return csrf_field(await page.text(), f"/{action}")


async def _press(session: aiohttp.ClientSession, link: str, fields: dict[str, str]) -> int | None:
    """POST Accept; its status, or None when the connection broke."""
    try:
        async with session.post(f"{link}/accept", data=fields, allow_redirects=False) as answer:
            return answer.status
    except aiohttp.ClientError:
        return None


async def _held_tsa(
    data_dir: Path, arrived: asyncio.Event, release: asyncio.Event
) -> tuple[web.AppRunner, str]:
    """A real RFC 3161 server with the gateway's dev TSA keys; holds its first request."""
    serials = itertools.count(1)

    async def handle(request: web.Request) -> web.Response:
        query = await request.read()
        if not arrived.is_set():
            arrived.set()
            await release.wait()
        pki = pki_paths(data_dir)
        authority = TimestampAuthority.from_files(pki.tsa_cert, pki.tsa_key)
        answer = authority.respond(query, now=datetime.now(UTC), serial=next(serials))
        return web.Response(body=answer, content_type=REPLY_TYPE)

    app = web.Application()
    app.router.add_post("/tsa", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/tsa"
