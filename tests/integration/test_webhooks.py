"""Webhooks: each event of a sender's letters POSTed, signed, to a real receiver on loopback."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event, select

from gateway.app import Running, utcnow
from gateway.settings import Settings
from gateway.storage import tables as t
from gateway.storage.api_store import NOTICE_KIND
from gateway.webhooks import worker as worker_module
from tests.support.client import letter_bytes, mails_to, wait_for
from tests.support.dns import DnsServer
from tests.support.gateway import SENDER, Clock, make_settings, start
from tests.support.webhook_receiver import Receiver

BOB = "bob.martin@example.ma"
FIRST_EVENTS = ["SubmissionAcceptance", "NotificationForAcceptance"]


async def token_for(gateway: Running) -> str:
    registry, api = gateway.registry, gateway.api
    assert api is not None
    account = await registry.io(registry.senders.account_record, SENDER)
    assert account is not None
    return (await registry.io(api.create_token, account, "hooks", utcnow())).token


async def register(gateway: Running, token: str, receiver: Receiver, url: str = "") -> str:
    """Register the receiver (at url, else its own) through the API; keep the secret shown once."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(gateway.web_url, headers=headers) as session,
        session.post("/api/v1/webhooks", json={"url": url or receiver.url}) as response,
    ):
        assert response.status == 201
        endpoint = await response.json()
    assert endpoint["secret"].startswith("whsec_")
    receiver.secret = endpoint["secret"]
    return str(endpoint["id"])


async def deposit(gateway: Running, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"}
    message = letter_bytes(SENDER, [BOB], "Mise en demeure", "Madame, Monsieur, ...")
    async with (
        aiohttp.ClientSession(gateway.web_url, headers=headers) as session,
        session.post("/api/v1/letters", data=message) as response,
    ):
        assert response.status == 201
        return str((await response.json())["reference"])


async def enable(gateway: Running, token: str, endpoint: str) -> tuple[int, Any]:
    """POST /api/v1/webhooks/{id}/enable: the status and the endpoint's disabled_at."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(gateway.web_url, headers=headers) as session,
        session.post(f"/api/v1/webhooks/{endpoint}/enable") as response,
    ):
        return response.status, (await response.json()).get("disabled_at")


def queue(gateway: Running, endpoint: str) -> list[tuple[str, str, int]]:
    assert gateway.api is not None
    return list(gateway.api.api.webhook_states(endpoint))


async def failed_posts(receiver: Receiver, count: int) -> None:
    def enough() -> bool:
        return len(receiver.refused) >= count

    await wait_for(enough, what=f"{count} failed post(s)")


def retry_now(gateway: Running, clock: Clock) -> None:
    """Move the gateway's clock past any backoff and wake the webhook worker."""
    clock.advance(timedelta(hours=1, minutes=1))
    assert gateway.webhooks is not None
    gateway.webhooks.wake()


@pytest.fixture
def hooks_settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path, database_url, api={"webhook_max_failures": 3, "webhook_private_hosts": True}
    )


async def test_events_arrive_signed_in_order_after_failures_and_restarts(
    hooks_settings: Settings,
) -> None:
    """A receiver that fails twice, then is down while the gateway itself restarts, still gets
    every event once, signed, in order per letter."""
    clock = Clock()
    receiver = Receiver(clock=clock, fail_next=2)
    await receiver.start()
    try:
        async with start(hooks_settings, clock) as gateway:
            token = await token_for(gateway)
            endpoint = await register(gateway, token, receiver)
            first = await deposit(gateway, token)
            for tries in (1, 2):
                await failed_posts(receiver, tries)
                retry_now(gateway, clock)
            await wait_for(lambda: receiver.events(first) == FIRST_EVENTS, what="events")
            assert receiver.refused[0] == receiver.accepted[0].id  # the same event, retried
            await receiver.stop()  # the receiver goes down
            second = await deposit(gateway, token)
            await wait_for(
                lambda: any(
                    state == "pending" and n > 0 for _, state, n in queue(gateway, endpoint)
                ),
                what="a post that failed on a closed port",
            )
        await receiver.start()  # both come back
        async with start(hooks_settings, clock) as gateway:
            retry_now(gateway, clock)
            await wait_for(lambda: receiver.events(second) == FIRST_EVENTS, what="queued events")
            await wait_for(
                lambda: {state for _, state, _ in queue(gateway, endpoint)} == {"sent"},
                what="every queued event recorded as sent",
            )
    finally:
        await receiver.stop()
    assert receiver.bad_signatures == 0
    assert len({r.id for r in receiver.accepted}) == len(receiver.accepted) == 4
    assert receiver.accepted[0].body["data"]["recipient"] == BOB


async def test_an_endpoint_failing_again_and_again_is_disabled_and_its_sender_told(
    hooks_settings: Settings,
) -> None:
    """After webhook_max_failures failed posts in a row the endpoint is disabled, the sender
    gets a mail saying so (queued, DKIM-signed), and events, even of a letter deposited while
    it is disabled, wait until the endpoint is enabled again."""
    clock = Clock()
    receiver = Receiver(clock=clock, always_fail=True)
    await receiver.start()
    try:
        async with start(hooks_settings, clock) as gateway:
            token = await token_for(gateway)
            endpoint = await register(gateway, token, receiver)
            reference = await deposit(gateway, token)
            for tries in (1, 2, 3):
                await failed_posts(receiver, tries)
                retry_now(gateway, clock)
            told = await wait_for(
                lambda: [m for m in mails_to(gateway, SENDER) if "Webhook" in str(m["Subject"])],
                what="the mail telling the sender",
            )
            assert receiver.url in told[0].get_content()
            assert "a échoué trop de fois de suite" in told[0].get_content()  # the account: fr
            assert "d=lre.localhost" in str(told[0]["DKIM-Signature"])
            await wait_for(  # queued in the durable outbound table, then recorded as sent
                lambda: notices(gateway) == [("sent", SENDER)], what="the notice recorded as sent"
            )
            api = gateway.api
            assert api is not None
            account = await gateway.registry.io(gateway.registry.senders.account_record, SENDER)
            assert account is not None
            listed = await gateway.registry.io(api.api.endpoints, account.id)
            assert listed[0].disabled_at is not None
            retry_now(gateway, clock)
            meanwhile = await deposit(gateway, token)  # its events wait for the endpoint
            await wait_for(lambda: len(queue(gateway, endpoint)) >= 4, what="events kept")
            assert len(receiver.refused) == 3  # disabled: nothing more is posted
            receiver.always_fail = False
            assert await enable(gateway, token, "0" * 32) == (404, None)
            assert await enable(gateway, token, endpoint) == (200, None)  # disabled_at cleared
            retry_now(gateway, clock)
            await wait_for(lambda: receiver.events(reference) == FIRST_EVENTS, what="events")
            await wait_for(lambda: receiver.events(meanwhile) == FIRST_EVENTS, what="kept events")
    finally:
        await receiver.stop()


async def test_one_event_per_letter_is_leased_to_one_process_at_a_time(
    hooks_settings: Settings,
) -> None:
    """Only the first pending event of a letter is handed out, and once leased no other
    process gets it until the lease runs out."""
    async with start(hooks_settings) as gateway:
        await leases(gateway)


async def leases(gateway: Running) -> None:
    assert gateway.webhooks is not None
    gateway.webhooks.stop()  # this test plays the worker processes itself
    receiver = Receiver()
    token = await token_for(gateway)
    await register(gateway, token, receiver)
    reference = await deposit(gateway, token)
    store = gateway.api.api if gateway.api else None
    assert store is not None

    def queued() -> int:
        return len(store.webhook_states(store.endpoints(account_id())[0].id))

    def account_id() -> str:
        record = gateway.registry.senders.account_record(SENDER)
        assert record is not None
        return record.id

    await wait_for(lambda: queued() >= 2, what="the notification's event queued too")
    now = utcnow()
    first = store.due_webhooks(now)
    assert [(job.reference, job.event.value) for job in first] == [
        (reference, "SubmissionAcceptance")
    ]
    assert store.due_webhooks(now) == []  # another process finds it leased
    later = store.due_webhooks(now + timedelta(minutes=3))  # the first process died
    assert [job.id for job in later] == [first[0].id]


def notices(gateway: Running) -> list[tuple[str, str]]:
    """(state, rcpt) of each "endpoint disabled" mail in the outbound table."""
    o = t.outbound.c
    with gateway.store.engine.connect() as db:
        rows = db.execute(select(o.state, o.rcpt).where(o.kind == NOTICE_KIND)).all()
    return [(row.state, row.rcpt) for row in rows]


def last_errors(gateway: Running) -> list[str]:
    d = t.webhook_deliveries
    with gateway.store.engine.connect() as db:
        found = db.execute(select(d.c.last_error).where(d.c.attempts > 0)).scalars().all()
    return [str(error) for error in found]


@pytest.mark.parametrize("allowed", [False, True], ids=["refused", "allowed-by-config"])
async def test_dns_rebinding_a_public_name_now_resolving_to_loopback_gets_no_post(
    tmp_path: Path, database_url: str, allowed: bool
) -> None:
    """A webhook host name accepted at registration is looked up again at each post: when it
    now resolves to a loopback address nothing is posted (the failure is recorded) unless
    api.webhook_private_hosts allows it, and then the post goes to that very address."""
    receiver = Receiver()
    await receiver.start()
    try:
        with DnsServer() as dns_server:
            dns_server.add("hooks.erp-client.ma", "A", "127.0.0.1")
            settings = make_settings(
                tmp_path,
                database_url,
                api={"webhook_private_hosts": allowed},
                delivery={"resolver": dns_server.address},
            )
            async with start(settings) as gateway:
                token = await token_for(gateway)
                url = f"http://hooks.erp-client.ma:{receiver.port}/hook"
                await register(gateway, token, receiver, url)
                reference = await deposit(gateway, token)
                if allowed:
                    await wait_for(lambda: receiver.events(reference), what="a post")
                else:
                    errors = await wait_for(lambda: last_errors(gateway), what="a refused post")
                    assert "127.0.0.1" in errors[0]
                    assert "private" in errors[0]
            assert ("hooks.erp-client.ma.", "A") in dns_server.queries
    finally:
        await receiver.stop()
    assert bool(receiver.accepted) is allowed


async def test_a_worker_woken_again_soon_after_an_empty_look_waits_out_its_quiet(
    hooks_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every deposit and outcome wakes the webhook worker; after a look that posted nothing
    it looks again only once its quiet (here made long) has passed, however often it is
    woken meanwhile; a stop ends the quiet wait at once."""
    monkeypatch.setattr(worker_module, "QUIET", 3600.0)
    looks: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT webhook_deliveries.id"):
            looks.append(statement)

    async with start(hooks_settings) as gateway:
        event.listen(gateway.store.engine, "before_cursor_execute", seen)
        assert gateway.webhooks is not None
        for _ in range(20):
            gateway.registry.wake()
            await asyncio.sleep(0.01)
        assert len(looks) <= 1  # at most the first wake's look, if the start's was not yet
        stopping = asyncio.get_running_loop().time()
        gateway.webhooks.stop()
    assert asyncio.get_running_loop().time() - stopping < 60  # not the hour of quiet
