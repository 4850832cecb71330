"""/metrics on the admin listener and JSON log lines, through a real letter's whole life."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import logs
from gateway.app import Running
from tests.support.client import (
    code_in,
    decide,
    email_code,
    letter_bytes,
    link_in,
    login,
    notification_for,
    proofs_for,
    request_code,
    submit,
    wait_for,
)
from tests.support.gateway import PASSWORD, SENDER, free_port, make_settings, start
from tests.support.recipients import (
    BOB_WITH_MOBILE,
    SECRET,
    deposit_to,
    notice_link,
    session,
    sms_settings,
)
from tests.support.sms_server import start_sms_server

BOB = "bob.martin@example.ma"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The gateway's log as `logging.format = "json"` writes it, captured."""
    stream = io.StringIO()
    handler = logs.configure("json", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return samples(await response.text())


async def test_a_letters_life_shows_in_metrics_and_its_log_holds_no_secret(
    tmp_path: Path, database_url: str, json_log: io.StringIO
) -> None:
    """Deposit, proof, code, acceptance: /metrics counts them; every log line is JSON, lines
    about the letter carry its reference, and no line holds the password, code or link token."""
    settings = make_settings(
        tmp_path, database_url, web={"admin_listen": f"127.0.0.1:{free_port()}"}
    )
    async with start(settings) as gateway:
        gateway_: Running = gateway
        assert gateway_.admin_url is not None
        before = await scrape(gateway_.admin_url)
        assert before[("lre_queue_depth", (("queue", "mail"),))] == 0
        assert before[("lre_letters_deposited_total", (("door", "smtp"),))] == 0

        assert (await login(gateway_, SENDER, "wrong password"))[0] == 535
        data = letter_bytes(SENDER, [BOB], "Mise en demeure", "Madame, Monsieur, ...")
        code, reply = await submit(gateway_, SENDER, PASSWORD, [BOB], data)
        assert code == 250, reply
        found = re.search(r"LRE-\d{8}-[A-Z2-7]{8}", reply)
        assert found
        reference = found.group(0)
        await wait_for(
            lambda: proofs_for(gateway_, SENDER, "SubmissionAcceptance"),
            what="proof of deposit",
            within=90,
        )
        notice = (
            await wait_for(lambda: notification_for(gateway_, BOB), what="notice", within=90)
        )[0]
        link = link_in(notice)
        token = link.rsplit("/", 1)[1]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            one_time_code = await email_code(gateway_, session, link, BOB)
            status, _ = await decide(session, link, "accept", one_time_code)
            assert status == 303
        await wait_for(
            lambda: proofs_for(gateway_, SENDER, "ConsignmentAcceptance"), what="receipt", within=90
        )

        for _ in range(1200):  # the receipt's mail is counted once its outcome is recorded
            after = await scrape(gateway_.admin_url)
            if after[("lre_mails_handed_over_total", (("kind", "proof"),))] >= 2:
                break
            await asyncio.sleep(0.05)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{gateway_.web_url}/metrics") as public,
        ):
            assert public.status == 404  # never on the public site

    def value(name: str, **labels: str) -> float:
        return after[(name, tuple(sorted(labels.items())))]

    assert value("lre_letters_deposited_total", door="smtp") == 1
    assert value("lre_evidence_issued_total", type="SubmissionAcceptance") == 1
    assert value("lre_evidence_issued_total", type="NotificationForAcceptance") == 1
    assert value("lre_evidence_issued_total", type="ConsignmentAcceptance") == 1
    assert value("lre_delivery_outcomes_total", outcome="accepted") == 1
    assert value("lre_delivery_outcomes_total", outcome="refused") == 0
    # the client tried PLAIN, then LOGIN, with the wrong password
    assert value("lre_smtp_replies_total", listener="submission", code="535") == 2
    assert value("lre_smtp_replies_total", listener="submission", code="250") >= 3
    assert value("lre_smtp_data_seconds_count", listener="submission") == 1
    assert value("lre_proof_of_deposit_mailed_seconds_count") == 1
    assert value("lre_mails_handed_over_total", kind="notification") == 1
    assert value("lre_mails_handed_over_total", kind="code") == 1
    assert value("lre_deliveries", state="accepted") == 1
    assert value("lre_deliveries", state="notified") == 0
    for queue in ("seal", "pdf", "mail", "sms", "webhook"):
        assert value("lre_queue_depth", queue=queue) >= 0
        assert value("lre_queue_oldest_age_seconds", queue=queue) >= 0

    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    about = [line for line in lines if reference in line["message"]]
    assert len(about) >= 3  # deposited, notified, accepted
    assert all(line.get("letter") == reference for line in about)
    handed_over = [line for line in lines if "handed over to" in line["message"]]
    assert handed_over
    assert all(line.get("letter") == reference for line in handed_over)
    for secret in (PASSWORD, "wrong password", one_time_code, token):
        assert secret not in text


async def test_a_provider_echoing_the_sms_puts_no_code_or_link_in_the_log(
    tmp_path: Path, database_url: str, json_log: io.StringIO
) -> None:
    """The SMS provider refuses the notice and the code, quoting them: the log holds neither the
    link token, nor the code, nor the provider's API secret."""
    async with start_sms_server(statuses=[400, 400]) as sms:
        sms.echo = True
        settings = make_settings(tmp_path, database_url, sms=sms_settings(tmp_path, sms.url))
        async with start(settings) as gateway:
            status, reply = await deposit_to(gateway, [BOB_WITH_MOBILE], [BOB])
            assert status == 250, reply
            await wait_for(lambda: len(sms.requests) == 1, what="the notice SMS", within=90)
            token = re.findall(r"/l/([A-Za-z0-9_-]+)", sms.requests[0].json["text"])[0]
            link = await notice_link(gateway)
            async with session() as http:
                assert await request_code(http, link) == 303
            await wait_for(lambda: len(sms.requests) == 2, what="the code SMS", within=90)
            one_time_code = code_in(sms.requests[1].json["text"])
            await wait_for(
                lambda: json_log.getvalue().count("SMS provider answered HTTP 400") == 2,
                what="both failures logged",
                within=90,
            )
    text = json_log.getvalue()
    assert token in link
    for secret in (token, one_time_code, SECRET, PASSWORD):
        assert secret not in text
