"""The recipient proves who they are with a one-time code (SMS or email) before any decision.

The SMS provider is a real HTTP server on loopback (tests/support/sms_server.py) driven by the
gateway's `http` provider exactly as configured in TOML; codes are read from what it received.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from gateway.app import Running
from gateway.core.letter import State
from gateway.evidence.xml import from_xml
from gateway.storage import tables as t
from tests.support.client import (
    csrf_field,
    decide,
    email_code,
    notification_for,
    proofs_for,
    request_code,
    wait_for,
)
from tests.support.gateway import SENDER, Clock, free_port, make_settings, start
from tests.support.letters import BOB, anchors
from tests.support.openssl import assert_proof_verifies
from tests.support.recipients import (
    BOB_MOBILE,
    BOB_WITH_MOBILE,
    SECRET,
    deposit_to,
    notice_link,
    session,
    sms_code,
    sms_settings,
)
from tests.support.sms_server import start_sms_server

CARLA = "carla@example.com"


def states(gateway: Running) -> set[State]:
    with gateway.store.engine.connect() as db:
        return {State(s) for s in db.execute(select(t.deliveries.c.state)).scalars()}


def decisions(gateway: Running) -> int:
    """Evidence of decisions recorded, sealed or not (a proof would follow each)."""
    kinds = ("ConsignmentAcceptance", "ConsignmentRejection")
    with gateway.store.engine.connect() as db:
        query = select(func.count()).where(t.evidence.c.type.in_(kinds))
        return int(db.execute(query).scalar_one())


def sms_evidence(gateway: Running) -> list[Any]:
    with gateway.store.engine.connect() as db:
        rows = db.execute(select(t.evidence).where(t.evidence.c.channel == "sms")).all()
    return [(row.type, from_xml(row.xml)) for row in rows]


async def test_accept_with_the_code_received_by_sms(tmp_path: Path, database_url: str) -> None:
    """Mobile in the display name: SMS notice (recorded), code by SMS, acceptance with the code."""
    async with start_sms_server() as sms:
        settings = make_settings(tmp_path, database_url, sms=sms_settings(tmp_path, sms.url))
        async with start(settings) as gateway:
            status, reply = await deposit_to(gateway, [BOB_WITH_MOBILE], [BOB])
            assert status == 250, reply
            notice = (await wait_for(lambda: sms.to(BOB_MOBILE), what="the notice SMS"))[0]
            assert notice.headers["Authorization"] == f"Bearer {SECRET}"
            assert notice.headers["Content-Type"] == "application/json"
            with gateway.store.engine.connect() as db:  # the SMS's id, the same on a resend
                ids = set(db.execute(select(t.sms_outbound.c.id)).scalars())
            assert notice.headers["Idempotency-Key"] in ids
            reference = re.search(r"LRE-\d{8}-[A-Z2-7]{8}", reply)
            assert reference
            assert reference.group(0) in notice.json["text"]
            assert "Dupont" not in notice.json["text"]  # reveal_sender = after_acceptance
            link = await notice_link(gateway)
            assert link in notice.json["text"]
            mail = notification_for(gateway, BOB)[0]
            for _, value in mail.items():  # the display name's number stays out of the headers
                assert "612345678" not in value.replace(" ", "")
            recorded = await wait_for(lambda: sms_evidence(gateway), what="SMS evidence")
            kind, record = recorded[0]
            assert kind == "NotificationForAcceptance"
            assert record.recipient_phone == BOB_MOBILE
            assert ("NotificationChannel", "sms") in record.extensions

            async with session() as http:
                async with http.get(link) as page:
                    html = await page.text()
                    assert "+212 6••••••78" in html  # where the code will go, masked
                code = await sms_code(gateway, sms, http, link, BOB_MOBILE)
                status, _ = await decide(http, link, "accept", code)
                assert status == 303
                async with http.get(link) as page:
                    assert "Payez." in await page.text()
                again = {**csrf_field(html, "/accept"), "code": code}
                async with http.post(f"{link}/refuse", data=again) as second:
                    assert second.status == 409  # decided; a used code decides nothing more

            receipt = (
                await wait_for(
                    lambda: proofs_for(gateway, SENDER, "ConsignmentAcceptance"), what="receipt"
                )
            )[0]
            assert_proof_verifies(receipt.xml, receipt.p7s, anchors(gateway), tmp_path / "acc")
            evidence = from_xml(receipt.xml)
            assert evidence.recipient_phone == BOB_MOBILE
            extensions = dict(evidence.extensions)
            assert extensions["RecipientIdentification.Channel"] == "sms"
            assert extensions["RecipientIdentification.Destination"] == "+212 6••••••78"
            assert extensions["RecipientIdentification.CodeCheckTime"].endswith("Z")
            assert "one-time code sent by SMS" in evidence.recipient_identification


async def test_refuse_with_the_code_from_the_phone_header_and_sender_revealed(
    tmp_path: Path, database_url: str
) -> None:
    """LRE-Recipient-Phone header; reveal_sender in_notification names the sender in the SMS."""
    async with start_sms_server() as sms:
        settings = make_settings(
            tmp_path,
            database_url,
            sms=sms_settings(tmp_path, sms.url),
            letters={"reveal_sender": "in_notification"},
        )
        async with start(settings) as gateway:
            header = f"LRE-Recipient-Phone: {BOB} 06 12 34 56 78\r\n".encode()
            status, reply = await deposit_to(gateway, [BOB], [BOB], extra=header)
            assert status == 250, reply
            notice = (await wait_for(lambda: sms.to(BOB_MOBILE), what="the notice SMS"))[0]
            assert "Maître Dupont" in notice.json["text"]
            link = await notice_link(gateway)
            async with session() as http:
                code = await sms_code(gateway, sms, http, link, BOB_MOBILE)
                status, _ = await decide(http, link, "refuse", code)
                assert status == 303
            proof = (
                await wait_for(
                    lambda: proofs_for(gateway, SENDER, "ConsignmentRejection"), what="refusal"
                )
            )[0]
            assert dict(from_xml(proof.xml).extensions)["RecipientIdentification.Channel"] == "sms"
            assert not proofs_for(gateway, SENDER, "ConsignmentAcceptance")


async def test_wrong_codes_then_too_many_tries_then_a_wait(
    tmp_path: Path, database_url: str
) -> None:
    """Wrong code: tries left; 5 wrong: the code is dead; 3 codes an hour, then a wait message."""
    settings = make_settings(tmp_path, database_url)
    async with start(settings) as gateway:
        assert (await deposit_to(gateway, [BOB], [BOB]))[0] == 250
        link = await notice_link(gateway)
        async with session() as http:
            status, page = await decide(http, link, "accept", "123456")
            assert status == 403
            assert "First ask for a code" in page
            code = await email_code(gateway, http, link, BOB)
            wrong = f"{(int(code) + 1) % 10**6:06d}"
            status, page = await decide(http, link, "accept", wrong)
            assert status == 400
            assert "You have 4 more tries with this code." in page
            for _ in range(3):
                status, page = await decide(http, link, "refuse", wrong)
                assert status == 400
            status, page = await decide(http, link, "accept", wrong)
            assert status == 429
            assert "Ask for a new code" in page
            status, page = await decide(http, link, "accept", code)  # right, but too late
            assert status == 429
            assert decisions(gateway) == 0

            await email_code(gateway, http, link, BOB)  # second code this hour
            third = await email_code(gateway, http, link, BOB)  # third
            assert await request_code(http, link) == 429  # a fourth is refused, with a time
            async with http.get(link) as page_now:
                assert page_now.status == 200
            status, page = await decide(http, link, "accept", third)
            assert status == 303
        assert states(gateway) <= {State.ACCEPTED, State.HANDED_OVER}
        await wait_for(lambda: proofs_for(gateway, SENDER, "ConsignmentAcceptance"), what="receipt")


async def test_a_code_typed_in_arabic_digits_is_accepted(tmp_path: Path, database_url: str) -> None:
    """A phone's Arabic keyboard types the code in Arabic-Indic digits: they are read as the
    digits they are, and the letter is accepted."""
    settings = make_settings(tmp_path, database_url)
    async with start(settings) as gateway:
        assert (await deposit_to(gateway, [BOB], [BOB]))[0] == 250
        link = await notice_link(gateway)
        async with session() as http:
            code = await email_code(gateway, http, link, BOB)
            arabic = "".join(chr(0x660 + int(digit)) for digit in code)
            status, _ = await decide(http, link, "accept", arabic)
            assert status == 303
        await wait_for(lambda: proofs_for(gateway, SENDER, "ConsignmentAcceptance"), what="receipt")


async def test_fourth_code_in_an_hour_gets_a_wait_message(
    tmp_path: Path, database_url: str
) -> None:
    """After 3 codes in an hour the page says from when a new code can be asked for."""
    settings = make_settings(tmp_path, database_url)
    async with start(settings) as gateway:
        assert (await deposit_to(gateway, [BOB], [BOB]))[0] == 250
        link = await notice_link(gateway)
        async with session() as http:
            for _ in range(3):
                await email_code(gateway, http, link, BOB)
            async with http.get(link) as page:
                html = await page.text()
            fields = {**csrf_field(html, "/code"), "send": "code"}
            async with http.post(f"{link}/code", data=fields, allow_redirects=False) as refused:
                assert refused.status == 429
                text = await refused.text()
                assert "you can ask for a new code from" in text
                assert "Nothing was recorded" in text
        assert decisions(gateway) == 0


async def test_an_expired_code_decides_nothing(tmp_path: Path, database_url: str) -> None:
    """A code given back more than 10 minutes after it was sent is refused; a new one works."""
    clock = Clock()
    settings = make_settings(tmp_path, database_url)
    async with start(settings, clock=clock) as gateway:
        assert (await deposit_to(gateway, [BOB], [BOB]))[0] == 250
        link = await notice_link(gateway)
        async with session() as http:
            code = await email_code(gateway, http, link, BOB)
            clock.advance(timedelta(minutes=10, seconds=1))
            status, page = await decide(http, link, "accept", code)
            assert status == 400
            assert "expired" in page
            assert decisions(gateway) == 0
            fresh = await email_code(gateway, http, link, BOB)
            status, _ = await decide(http, link, "refuse", fresh)
            assert status == 303
        await wait_for(lambda: proofs_for(gateway, SENDER, "ConsignmentRejection"), what="proof")


async def test_a_code_of_one_delivery_does_not_open_another(
    tmp_path: Path, database_url: str
) -> None:
    """Bob's code typed on Carla's page is a wrong code there: Carla's letter stays undecided."""
    settings = make_settings(tmp_path, database_url)
    async with start(settings) as gateway:
        assert (await deposit_to(gateway, [BOB, CARLA], [BOB, CARLA]))[0] == 250
        bob_link = await notice_link(gateway, BOB)
        carla_link = await notice_link(gateway, CARLA)
        async with session() as bob, session() as carla:
            bob_code = await email_code(gateway, bob, bob_link, BOB)
            await email_code(gateway, carla, carla_link, CARLA)
            status, page = await decide(carla, carla_link, "accept", bob_code)
            assert status == 400
            assert "not right" in page
            assert decisions(gateway) == 0
            status, _ = await decide(bob, bob_link, "accept", bob_code)
            assert status == 303
        assert decisions(gateway) == 1
        assert State.NOTIFIED in states(gateway)


async def test_a_number_that_is_not_a_mobile_refuses_the_letter(
    tmp_path: Path, database_url: str
) -> None:
    """A landline (display name) or a short number (header): 550 5.1.3, nothing kept."""
    settings = make_settings(tmp_path, database_url)
    async with start(settings) as gateway:
        landline = f'"Bob Martin (+212 5 22 12 34 56)" <{BOB}>'
        code, reply = await deposit_to(gateway, [landline], [BOB])
        assert code == 550
        assert "5.1.3" in reply
        assert "not a valid mobile number" in reply
        assert BOB in reply
        header = f"LRE-Recipient-Phone: {BOB} 12345\r\n".encode()
        code, reply = await deposit_to(gateway, [BOB], [BOB], extra=header)
        assert code == 550
        assert "5.1.3" in reply
        with gateway.store.engine.connect() as db:
            assert db.execute(select(func.count()).select_from(t.letters)).scalar_one() == 0
        await gateway.scheduler.tick()
        assert not proofs_for(gateway, SENDER, "SubmissionAcceptance")


async def test_sms_required_refuses_a_recipient_without_a_mobile(
    tmp_path: Path, database_url: str
) -> None:
    """letters.recipient_verification = sms_required: a recipient without a number is refused."""
    settings = make_settings(
        tmp_path, database_url, letters={"recipient_verification": "sms_required"}
    )
    async with start(settings) as gateway:
        code, reply = await deposit_to(gateway, [BOB], [BOB])
        assert code == 550
        assert "5.1.0" in reply
        assert "mobile number" in reply
        code, _ = await deposit_to(gateway, [BOB_WITH_MOBILE], [BOB])
        assert code == 250


async def test_sms_provider_5xx_is_retried_and_4xx_is_a_recorded_failure(
    tmp_path: Path, database_url: str
) -> None:
    """503 then 200: the notice SMS arrives; 400: no retry, the failure is recorded, no proof."""
    async with start_sms_server(statuses=[503, 400]) as sms:
        settings = make_settings(tmp_path, database_url, sms=sms_settings(tmp_path, sms.url))
        async with start(settings) as gateway:
            carla = f'"Carla (+212 6 98 76 54 32)" <{CARLA}>'
            assert (await deposit_to(gateway, [BOB_WITH_MOBILE], [BOB]))[0] == 250
            await wait_for(lambda: len(sms.requests) >= 1, what="first SMS request")
            assert (await deposit_to(gateway, [carla], [CARLA]))[0] == 250
            await wait_for(lambda: sms.to(BOB_MOBILE), within=20, what="the retried SMS")
            failures = await wait_for(
                lambda: [e for kind, e in sms_evidence(gateway) if "Failure" in kind],
                what="the recorded SMS failure",
            )
            assert "HTTP 400" in (failures[0].reason or "")
            assert [r.json["to"] for r in sms.requests].count("+212698765432") == 1
            await notice_link(gateway, CARLA)
            await wait_for(lambda: states(gateway) == {State.NOTIFIED}, what="both notified")
            await gateway.scheduler.tick()
            assert not proofs_for(gateway, SENDER, "NotificationForAcceptanceFailure")


async def test_a_rate_limited_provider_is_asked_again(tmp_path: Path, database_url: str) -> None:
    """429 Too Many Requests means "later", not "never": the notice SMS goes out on a retry."""
    async with start_sms_server(statuses=[429]) as sms:
        settings = make_settings(tmp_path, database_url, sms=sms_settings(tmp_path, sms.url))
        async with start(settings) as gateway:
            assert (await deposit_to(gateway, [BOB_WITH_MOBILE], [BOB]))[0] == 250
            await wait_for(lambda: sms.to(BOB_MOBILE), within=20, what="the retried SMS")
            assert len(sms.requests) == 2
            assert not [e for kind, e in sms_evidence(gateway) if "Failure" in kind]


async def test_queued_sms_survive_a_restart(tmp_path: Path, database_url: str) -> None:
    """The provider is down, the gateway stops; once both are back the notice SMS goes out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/send"
    settings = make_settings(tmp_path, database_url, sms=sms_settings(tmp_path, url))
    async with start(settings) as gateway:
        assert (await deposit_to(gateway, [BOB_WITH_MOBILE], [BOB]))[0] == 250

        def attempted() -> bool:
            with gateway.store.engine.connect() as db:
                query = select(t.sms_outbound.c.attempts)
                return bool(db.execute(query).scalar_one())

        await wait_for(attempted, what="a failed SMS attempt")
    async with start_sms_server() as sms:
        settings = make_settings(tmp_path, database_url, sms=sms_settings(tmp_path, sms.url))
        async with start(settings):
            received = await wait_for(lambda: sms.to(BOB_MOBILE), within=20, what="the SMS")
            assert "/l/" in received[0].json["text"]


async def test_dev_outbox_shows_the_sms(tmp_path: Path, database_url: str) -> None:
    """The default provider (outbox) shows each SMS on /dev/outbox; the code can be read there."""
    settings = make_settings(tmp_path, database_url)
    async with start(settings) as gateway:
        assert (await deposit_to(gateway, [BOB_WITH_MOBILE], [BOB]))[0] == 250
        link = await notice_link(gateway)

        async def outbox_page() -> str:
            async with http.get(f"{gateway.web_url}/dev/outbox") as page:
                return await page.text()

        async with session() as http:
            await wait_for(lambda: sms_evidence(gateway), what="the SMS hand-over")
            html = await outbox_page()
            assert BOB_MOBILE in html
            assert link in html
            assert await request_code(http, link) == 303
            found: list[str] = []
            for _ in range(200):
                found = re.findall(r"code[^<]*?(\d{6})", await outbox_page())
                if found:
                    break
                await asyncio.sleep(0.05)
            assert found, "the code SMS never showed on /dev/outbox"
            status, _ = await decide(http, link, "accept", found[0])
            assert status == 303


async def test_a_busy_round_claims_no_sms_its_first_read_did_not_find_due(
    tmp_path: Path, database_url: str
) -> None:
    """SMS are queued by deposits and code requests, never by the round's other workers: the
    rounds that seal and mail a letter without a mobile number make no SMS claim; a letter
    with one gets its notice SMS."""
    from sqlalchemy import event

    claims: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith(("SELECT sms_outbound.id", "UPDATE sms_outbound")):
            claims.append(statement)

    async with start_sms_server() as sms:
        settings = make_settings(tmp_path, database_url, sms=sms_settings(tmp_path, sms.url))
        async with start(settings) as gateway:
            event.listen(gateway.store.engine, "before_cursor_execute", seen)
            assert (await deposit_to(gateway, [BOB], [BOB]))[0] == 250
            await wait_for(lambda: notification_for(gateway, BOB), what="the notification")
            await wait_for(
                lambda: proofs_for(gateway, SENDER, "SubmissionAcceptance"), what="the proof"
            )
            await gateway.scheduler.tick()
            assert claims == []
            assert (await deposit_to(gateway, [BOB_WITH_MOBILE], [BOB]))[0] == 250
            await wait_for(lambda: sms.to(BOB_MOBILE), what="the notice SMS")
            assert claims
