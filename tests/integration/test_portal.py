"""The sender's portal over HTTP (issue 12 item 3): sign-in, its defences, letters, proofs, CSV.

A real gateway on loopback (SQLite and PostgreSQL), letters deposited over real SMTP, and the
pages read as a browser gets them; proofs downloaded from the portal are checked with openssl.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from yarl import URL

from gateway.app import Running
from gateway.settings import Settings
from gateway.storage import tables as t
from gateway.web import portal_service
from tests.support.client import csrf_field, letter_bytes, submit, wait_for
from tests.support.gateway import PASSWORD, SENDER, Clock, make_settings, start
from tests.support.openssl import assert_proof_verifies
from tests.support.portal import browser, sign_in

BOB = "bob.martin@example.ma"
CAROL = "carol.haddad@example.org"
OTHER = "greffe@tribunal-rabat.ma"
OTHER_PASSWORD = "another long passphrase"


async def deposit(
    gateway: Running, to: list[str], subject: str = "Mise en demeure", sender: str = SENDER
) -> str:
    """Deposit a letter over SMTP; returns its reference."""
    password = PASSWORD if sender == SENDER else OTHER_PASSWORD
    data = letter_bytes(sender, to, subject, "Je vous mets en demeure de payer.")
    code, reply = await submit(gateway, sender, password, to, data)
    assert code == 250, reply
    with gateway.store.engine.connect() as db:
        query = select(t.letters.c.reference).order_by(t.letters.c.deposited_at.desc())
        return str(db.execute(query).scalars().first())


def sealed(gateway: Running) -> int:
    """How many evidence records are sealed so far."""
    with gateway.store.engine.connect() as db:
        query = select(t.evidence.c.id).where(t.evidence.c.p7s.is_not(None))
        return len(db.execute(query).all())


def has_session(session: aiohttp.ClientSession, gateway: Running) -> bool:
    return "lre_portal" in session.cookie_jar.filter_cookies(URL(f"{gateway.web_url}/portal/"))


async def text_of(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


async def test_signed_in_sender_sees_each_recipients_state_and_dated_events(
    gateway: Running, tmp_path: Path
) -> None:
    """After sign-in the sender finds the letter, both recipients' states, the deposit dated in
    local time with its zone, and downloads a proof that openssl verifies."""
    reference = await deposit(gateway, [BOB, CAROL])
    async with browser() as session:
        response = await sign_in(session, gateway)
        assert response.status == 200
        assert response.url.path == "/portal/letters"
        page = await response.text()
        assert reference in page
        assert BOB in page
        assert CAROL in page
        letter_url = f"{gateway.web_url}/portal/letters/{reference}"

        await wait_for(lambda: sealed(gateway) >= 2, within=60, what="sealed deposit proofs")
        status, html = await text_of(session, letter_url)
        assert status == 200
        assert html.count("Proof of deposit") == 2
        assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d \(Africa/Casablanca\)", html)
        proof = re.search(r'href="(/portal/proofs/[0-9a-f]{32}/)evidence\.xml"', html)
        assert proof
        base = gateway.web_url + proof.group(1)
        async with session.get(base + "evidence.xml") as xml_response:
            assert xml_response.status == 200
            assert "attachment" in xml_response.headers["Content-Disposition"]
            xml = await xml_response.read()
        async with session.get(base + "evidence.xml.p7s") as p7s_response:
            p7s = await p7s_response.read()
        async with session.get(f"{gateway.web_url}/pki/anchors.pem") as anchors:
            anchors_pem = await anchors.read()
    assert reference.encode() in xml
    assert_proof_verifies(xml, p7s, anchors_pem, tmp_path)


async def test_wrong_password_is_refused_without_a_session(gateway: Running) -> None:
    """A wrong password gets 401 and the sign-in form again, and no session cookie."""
    async with browser() as session:
        response = await sign_in(session, gateway, password="not the password")
        assert response.status == 401
        assert not has_session(session, gateway)
        status, _ = await text_of(session, f"{gateway.web_url}/portal/letters")
    assert status == 200  # the sign-in form again, after a redirect
    async with browser() as session:
        response = await sign_in(session, gateway, email="nobody@example.ma")
        assert response.status == 401


async def test_password_guessing_on_one_address_gets_429(gateway: Running) -> None:
    """After 5 wrong passwords for one address, even the right one gets 429 with Retry-After."""
    async with browser() as session:
        for _ in range(5):
            assert (await sign_in(session, gateway, password="guess")).status == 401
        response = await sign_in(session, gateway)
        assert response.status == 429
        assert int(response.headers["Retry-After"]) > 0
        assert not has_session(session, gateway)


async def test_password_spraying_from_one_client_gets_429(gateway: Running) -> None:
    """After 20 failed sign-ins from one client address, over many account addresses, that
    client gets 429 even for a right password."""
    async with browser() as session:
        for n in range(20):
            response = await sign_in(session, gateway, f"user{n}@example.ma", "Summer2026!")
            assert response.status == 401
        response = await sign_in(session, gateway)
        assert response.status == 429
        assert not has_session(session, gateway)


async def test_sign_in_without_the_csrf_token_is_refused(gateway: Running) -> None:
    """A sign-in POST without the form's token, or from another site, gets 403."""
    async with browser() as session:
        form = {"email": SENDER, "password": PASSWORD}
        async with session.post(f"{gateway.web_url}/portal/signin", data=form) as response:
            assert response.status == 403
            assert "portal again and retry" in await response.text()
        async with session.get(f"{gateway.web_url}/portal/") as page:
            fields = csrf_field(await page.text(), "/portal/signin")
        headers = {"Origin": "https://evil.example"}
        async with session.post(
            f"{gateway.web_url}/portal/signin", data={**fields, **form}, headers=headers
        ) as response:
            assert response.status == 403
        assert not has_session(session, gateway)


async def test_session_cookie_is_strict_httponly_and_kept_only_hashed(gateway: Running) -> None:
    """The session cookie is HttpOnly, SameSite=Strict, for /portal/ only; the database has
    only its SHA-256."""
    async with browser() as session:
        async with session.get(f"{gateway.web_url}/portal/") as page:
            fields = csrf_field(await page.text(), "/portal/signin")
        form = {**fields, "email": SENDER, "password": PASSWORD}
        async with session.post(
            f"{gateway.web_url}/portal/signin", data=form, allow_redirects=False
        ) as response:
            assert response.status == 303
            cookie = response.cookies["lre_portal"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/portal/"
    assert len(cookie.value) >= 43  # 256 bits in base64url
    with gateway.store.engine.connect() as db:
        stored = db.execute(select(t.portal_sessions.c.token_hash)).scalars().all()
    assert stored == [hashlib.sha256(cookie.value.encode()).hexdigest()]


async def test_idle_session_ends_and_sign_out_ends_it_at_once(settings: Settings) -> None:
    """A session idle for 31 minutes is over; after sign-out the old cookie opens nothing."""
    clock = Clock()
    async with start(settings, clock) as gateway, browser() as session:
        await sign_in(session, gateway)
        letters = f"{gateway.web_url}/portal/letters"
        async with session.get(letters, allow_redirects=False) as response:
            assert response.status == 200
        clock.advance(timedelta(minutes=29))
        async with session.get(letters, allow_redirects=False) as response:
            assert response.status == 200  # activity keeps it alive
        clock.advance(timedelta(minutes=31))
        async with session.get(letters, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/portal/"
        await sign_in(session, gateway)
        token = session.cookie_jar.filter_cookies(URL(letters))["lre_portal"].value
        _, html = await text_of(session, letters)
        fields = csrf_field(html, "/portal/signout")
        async with session.post(f"{gateway.web_url}/portal/signout", data=fields) as response:
            assert response.url.path == "/portal/"
        async with (
            aiohttp.ClientSession(cookies={"lre_portal": token}) as replay,
            replay.get(letters, allow_redirects=False) as response,
        ):
            assert response.status == 303


async def test_https_site_sets_secure_cookies(tmp_path: Path, database_url: str) -> None:
    """When public_url is https, the CSRF and session cookies carry Secure."""
    settings = make_settings(tmp_path, database_url)
    https = replace(settings.gateway, public_url="https://lre.example.ma")
    async with start(replace(settings, gateway=https)) as gateway, browser() as session:
        async with session.get(f"{gateway.web_url}/portal/") as page:
            fields = csrf_field(await page.text(), "/portal/signin")
            assert "Secure" in page.headers["Set-Cookie"]
        form = {**fields, "email": SENDER, "password": PASSWORD}
        headers = {"Cookie": f"lre_csrf={fields['csrf_nonce']}"}
        async with session.post(
            f"{gateway.web_url}/portal/signin", data=form, headers=headers, allow_redirects=False
        ) as response:
            assert response.status == 303
            session_cookie = response.cookies["lre_portal"]
    assert session_cookie["secure"]


async def test_strangers_and_forged_sign_outs_reach_nothing(gateway: Running) -> None:
    """Without a session every portal page sends to the sign-in form; a sign-out posted
    without the form's token is refused and leaves the session open."""
    reference = await deposit(gateway, [BOB])
    with gateway.store.engine.connect() as db:
        evidence_id = db.execute(select(t.evidence.c.id)).scalars().first()
    paths = [
        "letters",
        "letters.csv",
        f"letters/{reference}",
        f"proofs/{evidence_id}/evidence.xml",
    ]
    async with browser() as stranger:
        for path in paths:
            url = f"{gateway.web_url}/portal/{path}"
            async with stranger.get(url, allow_redirects=False) as response:
                assert response.status == 303, path
                assert response.headers["Location"] == "/portal/"
    async with browser() as session:
        await sign_in(session, gateway)
        async with session.post(f"{gateway.web_url}/portal/signout", data={}) as response:
            assert response.status == 403
        status, page = await text_of(session, f"{gateway.web_url}/portal/letters")
    assert status == 200
    assert reference in page


async def test_another_accounts_letter_and_proofs_are_not_found(gateway: Running) -> None:
    """A sender gets 404 for another account's letter reference and proof ids."""
    gateway.registry.senders.save_sender(OTHER, "Greffe", OTHER_PASSWORD)
    theirs = await deposit(gateway, [BOB], sender=OTHER)
    with gateway.store.engine.connect() as db:
        evidence_id = db.execute(select(t.evidence.c.id)).scalars().first()
    async with browser() as session:
        await sign_in(session, gateway)
        status, page = await text_of(session, f"{gateway.web_url}/portal/letters")
        assert theirs not in page
        status, _ = await text_of(session, f"{gateway.web_url}/portal/letters/{theirs}")
        assert status == 404
        # a NUL reaches no query (PostgreSQL refuses one in text: a 500 before)
        status, _ = await text_of(session, f"{gateway.web_url}/portal/letters/LRE-%00")
        assert status == 404
        for name in ("evidence.xml", "evidence.xml.p7s", "proof.pdf"):
            url = f"{gateway.web_url}/portal/proofs/{evidence_id}/{name}"
            status, _ = await text_of(session, url)
            assert status == 404, name
    async with browser() as session:
        await sign_in(session, gateway, OTHER, OTHER_PASSWORD)
        status, _ = await text_of(session, f"{gateway.web_url}/portal/letters/{theirs}")
        assert status == 200


async def test_search_by_reference_recipient_and_state(gateway: Running) -> None:
    """The search box finds a letter by part of its reference or of a recipient's address; the
    state filter keeps letters with a recipient in that state; a bad state is refused."""
    to_bob = await deposit(gateway, [BOB], "Premier")
    to_carol = await deposit(gateway, [CAROL], "Second")
    base = f"{gateway.web_url}/portal/letters"
    async with browser() as session:
        await sign_in(session, gateway)
        _, page = await text_of(session, f"{base}?q={to_bob[-8:]}")
        assert to_bob in page
        assert to_carol not in page
        _, page = await text_of(session, f"{base}?q=EXAMPLE.ORG")
        assert to_carol in page
        assert to_bob not in page
        _, page = await text_of(session, f"{base}?state=refused")
        assert to_bob not in page
        assert to_carol not in page
        assert "No letter matches." in page
        status, _ = await text_of(session, f"{base}?state=lost")
        assert status == 400
        # a NUL reaches no query (PostgreSQL refuses one in text: a 500 before)
        for query in ("q=a%00b", "after=a%00b", "before=a%00b", "state=a%00b"):
            status, _ = await text_of(session, f"{base}?{query}")
            assert status == 400, query
        for query in ("q=a%00b", "state=a%00b"):
            status, _ = await text_of(session, f"{base}.csv?{query}")
            assert status == 400, query


def listed(page: str) -> list[str]:
    return re.findall(r'class="reference" href="/portal/letters/([^"]+)"', page)


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'href="(\?[^"]+)" rel="{rel}"', page)
    return None if found is None else found.group(1).replace("&amp;", "&")


async def test_letters_come_newest_first_twenty_a_page_by_cursor(gateway: Running) -> None:
    """With 23 letters, the first page lists the 20 newest, its next link the 3 oldest, and
    that page's previous link the 20 newest again; a search for a recipient pages over its
    own letters only; a letter deposited meanwhile does not shift a page already linked."""
    references = [
        await deposit(gateway, [CAROL if n in (5, 15) else BOB], f"Lettre {n}") for n in range(23)
    ]
    newest = references[::-1]
    to_bob = [r for n, r in enumerate(references) if n not in (5, 15)][::-1]
    base = f"{gateway.web_url}/portal/letters"
    async with browser() as session:
        await sign_in(session, gateway)
        _, first = await text_of(session, base)
        assert listed(first) == newest[:20]
        assert link(first, "prev") is None
        following = link(first, "next")
        assert following is not None
        assert "after=" in following
        await deposit(gateway, [BOB], "Arrivée pendant la lecture")
        _, second = await text_of(session, base + following)
        assert listed(second) == newest[20:]  # keyset: the new letter shifts nothing
        assert link(second, "next") is None
        back = link(second, "prev")
        assert back is not None
        _, again = await text_of(session, base + back)
        assert listed(again) == newest[:20]
        assert link(again, "prev") is not None  # the letter deposited meanwhile is newer

        _, bob_first = await text_of(session, f"{base}?q=bob.martin")
        assert listed(bob_first)[1:] == to_bob[:19]
        bob_next = link(bob_first, "next")
        assert bob_next is not None
        assert "q=bob.martin" in bob_next
        _, bob_second = await text_of(session, base + bob_next)
        assert listed(bob_second) == to_bob[19:]
        for bad in ("?after=not-a-cursor", "?before=" + "x" * 300, "?state=lost"):
            status, _ = await text_of(session, base + bad)
            assert status == 400


async def test_csv_export_streams_every_letter_over_several_batches(
    gateway: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export is not one page: with batches of 2 letters, 5 letters (one to two
    recipients) all come out once, newest first, after one header, search applied."""
    monkeypatch.setattr(portal_service, "EXPORT_BATCH", 2)  # a parameter, not a behaviour
    references = [
        await deposit(gateway, [BOB, CAROL] if n == 2 else [BOB], f"Lettre {n}") for n in range(5)
    ]
    async with browser() as session:
        await sign_in(session, gateway)
        async with session.get(f"{gateway.web_url}/portal/letters.csv") as response:
            assert response.status == 200
            assert response.content_type == "text/csv"
            text = await response.text()
        async with session.get(f"{gateway.web_url}/portal/letters.csv?q=carol") as response:
            only_carol = list(csv.reader(io.StringIO(await response.text())))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "reference"
    assert [row[0] for row in rows[1:]] == [
        r for r in references[::-1] for _ in range(2 if r == references[2] else 1)
    ]
    assert [row[0] for row in only_carol[1:]] == [references[2], references[2]]


async def test_csv_export_neutralises_spreadsheet_formulas(gateway: Running) -> None:
    """The CSV export has one row per recipient, and a subject starting with = is prefixed."""
    reference = await deposit(gateway, [BOB, CAROL], '=HYPERLINK("https://evil.example","x")')
    async with browser() as session:
        await sign_in(session, gateway)
        async with session.get(f"{gateway.web_url}/portal/letters.csv") as response:
            assert response.status == 200
            assert response.content_type == "text/csv"
            text = await response.text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["reference", "subject", "deposited_at"]
    assert [row[3] for row in rows[1:]] == [BOB, CAROL]
    assert all(row[0] == reference for row in rows[1:])
    assert all(row[1].startswith("'=HYPERLINK") for row in rows[1:])


async def test_portal_speaks_arabic_right_to_left(gateway: Running) -> None:
    """With ?lang=ar the sign-in page is in Arabic, right to left."""
    async with browser("fr") as session:
        status, page = await text_of(session, f"{gateway.web_url}/portal/?lang=ar")
    assert status == 200
    assert 'dir="rtl"' in page
    assert "الدخول إلى فضاء المرسِل" in page
