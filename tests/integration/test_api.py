"""The REST API under /api/v1 through the real web server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import trust
from gateway.app import Running, utcnow
from gateway.settings import Settings
from gateway.storage.api_store import LetterFilter
from tests.support.client import letter_bytes, notification_for, wait_for
from tests.support.gateway import SENDER, make_settings, start
from tests.support.openssl import assert_proof_verifies
from tests.support.portal import new_token
from tests.support.verifying import pdftotext, pyhanko

BOB = "bob.martin@example.ma"
ALICE = "alice@example.fr"
CONTRACT = b"%PDF-1.4 contract \x00\x01\x02 bytes"


@pytest.fixture
async def client(gateway: Running) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    token = await new_token(gateway)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(gateway.web_url, headers=headers) as session:
        yield session, token


def form(fields: dict[str, Any], files: list[tuple[str, str, bytes]]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("letter", json.dumps(fields), content_type="application/json")
    for name, kind, content in files:
        data.add_field("attachment", content, filename=name, content_type=kind)
    return data


async def deposit_rfc822(session: aiohttp.ClientSession, to: list[str], **headers: str) -> str:
    message = letter_bytes(SENDER, to, "Mise en demeure", "Madame, Monsieur, ...")
    async with session.post(
        "/api/v1/letters", data=message, headers={"Content-Type": "message/rfc822", **headers}
    ) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["reference"])


async def test_deposit_as_rfc822_gives_the_same_sealed_evidence_as_smtp(
    gateway: Running, client: tuple[aiohttp.ClientSession, str], tmp_path: Path
) -> None:
    """A message POSTed with a token becomes a letter whose proofs (XML, its seal, the PDF)
    download and verify, and whose evidence names the API token as the sender's
    authentication, which the certificate words in the sender's language."""
    session, token = client
    reference = await deposit_rfc822(session, [BOB])
    await wait_for(lambda: notification_for(gateway, BOB), what="notification")

    async def sealed() -> dict[str, Any] | None:
        async with session.get(f"/api/v1/letters/{reference}") as response:
            assert response.status == 200
            letter = await response.json()
        events = letter["recipients"][0]["events"]
        return letter if events and events[0]["sealed"] else None

    letter = None
    for _ in range(150):
        letter = await sealed()
        if letter:
            break
        await asyncio.sleep(0.1)
    assert letter is not None, "the deposit evidence was never sealed"
    assert letter["sender"]["authentication"] == f"API token {token[:12]}"
    assert letter["recipients"][0]["address"] == BOB
    event = letter["recipients"][0]["events"][0]
    assert event["type"] == "SubmissionAcceptance"
    async with session.get(event["proofs"]["evidence.xml"]) as response:
        xml = await response.read()
    async with session.get(event["proofs"]["evidence.xml.p7s"]) as response:
        assert response.content_type == "application/pkcs7-signature"
        p7s = await response.read()
    assert f"API token {token[:12]}".encode() in xml
    assert_proof_verifies(xml, p7s, trust.anchors(gateway.settings), tmp_path)

    async def certificate() -> bytes | None:
        async with session.get(event["proofs"]["proof.pdf"]) as response:
            return await response.read() if response.status == 200 else None

    pdf = None
    for _ in range(300):
        if pdf := await certificate():
            break
        await asyncio.sleep(0.1)
    assert pdf is not None, "the PDF certificate was never made"
    (tmp_path / "anchors.pem").write_bytes(trust.anchors(gateway.settings))
    (tmp_path / "proof.pdf").write_bytes(pdf)
    checked = await asyncio.to_thread(
        pyhanko,
        "validate",
        "--trust",
        str(tmp_path / "anchors.pem"),
        "--trust-replace",
        str(tmp_path / "proof.pdf"),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "jeton d'API" in " ".join(pdftotext(tmp_path / "proof.pdf").split())


async def test_a_form_deposit_with_an_idempotency_key_makes_one_letter(
    client: tuple[aiohttp.ClientSession, str],
) -> None:
    """JSON fields and a file make a letter; the same request again gives back the same letter,
    the same key with another body is refused with a problem document."""
    session, _ = client
    fields = {
        "subject": "Résiliation du bail",
        "text": "Madame, je résilie le bail.",
        "recipients": [{"address": BOB, "language": "ar"}, ALICE],
    }
    files = [("bail.pdf", "application/pdf", CONTRACT)]
    key = {"Idempotency-Key": "order-4711"}
    async with session.post("/api/v1/letters", data=form(fields, files), headers=key) as first:
        assert first.status == 201, await first.text()
        reference = (await first.json())["reference"]
    async with session.post("/api/v1/letters", data=form(fields, files), headers=key) as again:
        assert again.status == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert (await again.json())["reference"] == reference
    other = dict(fields, subject="Autre objet")
    async with session.post("/api/v1/letters", data=form(other, files), headers=key) as clash:
        assert clash.status == 422
        assert clash.content_type == "application/problem+json"
        problem = await clash.json()
        assert problem["type"].endswith("idempotency-key-reused")
        assert problem["letter"] == reference
    async with session.get("/api/v1/letters") as listed:
        letters = (await listed.json())["letters"]
    assert [letter["reference"] for letter in letters] == [reference]
    async with session.get(f"/api/v1/letters/{reference}") as response:
        letter = await response.json()
    assert letter["subject"] == "Résiliation du bail"
    assert [a["name"] for a in letter["attachments"]] == ["bail.pdf"]
    assert sorted(r["address"] for r in letter["recipients"]) == [ALICE, BOB]


async def test_listing_filters_and_pages_with_a_cursor(
    gateway: Running, client: tuple[aiohttp.ClientSession, str]
) -> None:
    """Letters list newest first, page by page with the cursor, filtered by recipient and
    state, and another sender's token sees none of them."""
    session, _ = client
    made = [await deposit_rfc822(session, [BOB if n % 2 else ALICE]) for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        async with session.get("/api/v1/letters", params=query) as response:
            page = await response.json()
        seen += [letter["reference"] for letter in page["letters"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert sorted(seen) == sorted(made)
    async with session.get("/api/v1/letters", params={"recipient": BOB.upper()}) as response:
        to_bob = [letter["reference"] for letter in (await response.json())["letters"]]
    assert sorted(to_bob) == sorted(made[1::2])
    async with session.get("/api/v1/letters", params={"state": "refused"}) as response:
        assert (await response.json())["letters"] == []
    async with session.get("/api/v1/letters", params={"state": "lost"}) as response:
        assert response.status == 422
    # a NUL in a parameter (found by test_api_fuzz on PostgreSQL: a 500 before)
    async with session.get("/api/v1/letters", params={"recipient": "b\x00b@x"}) as response:
        assert response.status == 422
        assert "recipient" in (await response.json())["detail"]
    with_other = gateway.registry
    await with_other.io(
        with_other.senders.save_sender, "other@example.org", "Other", "long password 1"
    )
    other = await new_token(gateway, "other@example.org")
    auth = {"Authorization": f"Bearer {other}"}
    async with session.get("/api/v1/letters", headers=auth) as response:
        assert (await response.json())["letters"] == []
    async with session.get(f"/api/v1/letters/{made[0]}", headers=auth) as response:
        assert response.status == 404


async def test_refusals_are_problem_documents(
    gateway: Running, client: tuple[aiohttp.ClientSession, str]
) -> None:
    """No token, a revoked token, a From: that is not the account's, Bcc, a wrong media type,
    an unknown path and method are refused with RFC 9457 problems, and nothing is deposited."""
    session, token = client
    async with (
        aiohttp.ClientSession(gateway.web_url) as anonymous,
        anonymous.get("/api/v1/letters") as response,
    ):
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        assert "Bearer" in response.headers["WWW-Authenticate"]
    forged = letter_bytes("someone@else.ma", [BOB], "Objet", "Texte")
    rfc822 = {"Content-Type": "message/rfc822"}
    async with session.post("/api/v1/letters", data=forged, headers=rfc822) as response:
        assert response.status == 422
        assert SENDER in (await response.json())["detail"]
    blind = letter_bytes(SENDER, [BOB], "Objet", "Texte").replace(
        b"Subject:", b"Bcc: eve@example.org\r\nSubject:", 1
    )
    async with session.post("/api/v1/letters", data=blind, headers=rfc822) as response:
        assert response.status == 422
        assert "Bcc" in (await response.json())["detail"]
    async with session.post(
        "/api/v1/letters", data=b"x", headers={"Content-Type": "text/plain"}
    ) as response:
        assert response.status == 415
    private = {"url": "http://127.0.0.1:8080/hook"}
    async with session.post("/api/v1/webhooks", json=private) as response:
        assert response.status == 422
        assert "webhook_private_hosts" in (await response.json())["detail"]
    async with session.get("/api/v1/nothing") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
    # a NUL in a path reaches no query (PostgreSQL refuses one in text: a 500 before)
    for method, path in [
        ("GET", "/api/v1/letters/LRE-%00"),
        ("DELETE", "/api/v1/webhooks/a%00b"),
        ("POST", "/api/v1/webhooks/a%00b/enable"),
    ]:
        async with session.request(method, path) as response:
            assert response.status == 404, path
            assert response.content_type == "application/problem+json"
    async with session.delete("/api/v1/letters") as response:
        assert response.status == 405
        assert response.content_type == "application/problem+json"
    api = gateway.api
    assert api is not None
    account = await gateway.registry.io(gateway.registry.senders.account_record, SENDER)
    assert account is not None
    assert await gateway.registry.io(api.api.revoke_token, account.id, token[:12], utcnow())
    async with session.get("/api/v1/letters") as response:
        assert response.status == 401
    assert await gateway.registry.io(api.api.letters, account.id, LetterFilter()) == ([], None)


@pytest.fixture
def limited(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, api={"rate_limit": 3, "max_request_size": 4000})


async def test_size_and_rate_limits_answer_413_and_429(limited: Settings) -> None:
    """A body over max_request_size gets 413; past rate_limit requests a minute a token gets
    429 with a Retry-After."""
    async with start(limited) as gateway:
        token = await new_token(gateway)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"}
        async with aiohttp.ClientSession(gateway.web_url, headers=headers) as session:
            big = letter_bytes(SENDER, [BOB], "Objet", "x" * 5000)
            async with session.post("/api/v1/letters", data=big) as response:
                assert response.status == 413
                assert (await response.json())["max_bytes"] == 4000
            statuses = []
            for _ in range(3):
                async with session.get("/api/v1/letters") as response:
                    statuses.append(response.status)
                    retry = response.headers.get("Retry-After")
        assert statuses == [200, 200, 429]
        assert retry is not None
        assert int(retry) >= 1


async def test_the_openapi_document_is_valid_openapi_3_1(gateway: Running) -> None:
    """/api/v1/openapi.json is served without a token and passes an OpenAPI 3.1 validator."""
    from openapi_spec_validator import validate

    async with (
        aiohttp.ClientSession(gateway.web_url) as session,
        session.get("/api/v1/openapi.json") as response,
    ):
        assert response.status == 200
        document = await response.json()
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert {"/letters", "/letters/{reference}", "/evidence/{evidence_id}/{form}"} <= set(
        document["paths"]
    )
