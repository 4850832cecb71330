"""The recipient's pages under attack, each attack a named regression test (issue 10, 3 and 4).

Everything goes through the real web server on loopback (aiohttp clients, raw sockets for what
clients normalise away) and the real database; what is checked is what a recipient, a sender
or an auditor would see: status codes, pages, headers, downloads, mails and recorded evidence.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import resource
import time
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from sqlalchemy import func, select

from gateway.app import Running
from gateway.storage import tables as t
from tests.support.client import (
    code_mails_for,
    csrf_field,
    decide,
    email_code,
    letter_bytes,
    link_in,
    notification_for,
    outbox,
    proofs_for,
    request_code,
    submit,
    wait_for,
)
from tests.support.gateway import PASSWORD, SENDER, Clock, make_settings, start

BOB = "bob.martin@example.ma"
BODY = "Je vous mets en demeure de payer 12 000 dirhams."
CONTRACT = b"%PDF-1.4 contract \x00\x01"
RLO_NAME = "invoice\u202efdp.exe"  # shows as "invoiceexe.pdf" where the override is honoured
BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept-Language": "en"}
    )


async def deposit(
    gateway: Running,
    attachments: list[tuple[str, str, bytes]] | None = None,
    *,
    subject: str = "Mise en demeure",
    replace: dict[bytes, bytes] | None = None,
) -> bytes:
    files = (
        attachments if attachments is not None else [("contrat.pdf", "application/pdf", CONTRACT)]
    )
    data = letter_bytes(SENDER, [BOB], subject, BODY, files)
    for old, new in (replace or {}).items():
        assert old in data, old
        data = data.replace(old, new, 1)
    code, reply = await submit(gateway, SENDER, PASSWORD, [BOB], data)
    assert code == 250, reply
    return data


async def notice_link(gateway: Running) -> str:
    notices = await wait_for(lambda: notification_for(gateway, BOB), within=60, what="notification")
    return link_in(notices[0])


def count(gateway: Running, table: Any, *where: Any) -> int:
    with gateway.store.engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def decisions(gateway: Running) -> int:
    kinds = ("ConsignmentAcceptance", "ConsignmentRejection")
    return count(gateway, t.evidence, t.evidence.c.type.in_(kinds))


def handovers(gateway: Running) -> int:
    return count(gateway, t.evidence, t.evidence.c.type == "ContentHandover")


def releases(gateway: Running) -> list[str]:
    with gateway.store.engine.connect() as db:
        query = select(t.content_releases.c.what).order_by(t.content_releases.c.released_at)
        return list(db.execute(query).scalars())


async def raw_request(gateway: Running, request: bytes) -> tuple[int, bytes]:
    """Send request bytes as they are (no client normalising the path); (status, whole reply)."""
    url = urlsplit(gateway.web_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    status = int(reply.split(b" ", 2)[1])
    return status, reply


async def accepted_by_bob(gateway: Running, http: aiohttp.ClientSession) -> str:
    """Bob asks for a code and accepts in this browser; the letter's link."""
    link = await notice_link(gateway)
    code = await email_code(gateway, http, link, BOB)
    status, _ = await decide(http, link, "accept", code)
    assert status == 303
    return link


# guessing ---------------------------------------------------------------------------------


async def test_guessed_links_get_one_identical_404_then_429(
    tmp_path: Path, database_url: str
) -> None:
    """300 guessed links: one identical 404 page, then 429 with Retry-After, even on a real link."""
    clock = Clock()
    async with start(make_settings(tmp_path, database_url), clock=clock) as gateway:
        await deposit(gateway)
        link = await notice_link(gateway)
        well_formed = [base64.urlsafe_b64encode(bytes([n]) * 32).decode() for n in range(150)]
        guesses = [f"{gateway.web_url}/l/{token}" for token in well_formed]
        guesses += [f"{gateway.web_url}/l/{'x' * n}" for n in range(1, 151)]
        statuses, bodies = [], set()
        async with aiohttp.ClientSession() as http:
            for guess in guesses:
                async with http.get(guess) as page:
                    statuses.append(page.status)
                    if page.status == 404:
                        bodies.add(await page.text())
                    if page.status == 429:
                        retry_after = int(page.headers["Retry-After"])
            assert statuses[:20] == [404] * 20
            assert statuses[20:] == [429] * 280
            assert len(bodies) == 1  # nothing tells a guessed token from another
            assert 0 < retry_after <= 600
            async with http.get(link) as page:
                assert page.status == 429  # the limit is on the address, not on the guess
            async with http.get(f"{link}/letter.eml") as download:
                assert download.status == 429
            clock.advance(timedelta(minutes=10, seconds=1))
            async with http.get(link) as page:
                assert page.status == 200


# mail scanners ----------------------------------------------------------------------------


async def scan(http: aiohttp.ClientSession, link: str) -> dict[str, int]:
    """What a mail scanner does: HEAD and GET the link, GET every link on the page, and
    submit every form with its default values (hidden fields, empty inputs, no button);
    returns the status each form's post got, by the last segment of its action."""
    async with http.head(link) as head:
        assert head.status == 200
    async with http.get(link) as page:
        html = await page.text()
    for href in set(re.findall(r'href="([^"]+)"', html)):
        async with http.get(urljoin(link, href.replace("&amp;", "&"))) as followed:
            await followed.read()
    statuses = {}
    for action, body in re.findall(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', html, re.S):
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body))
        for name in re.findall(r'<input[^>]*name="([^"]+)"', body):
            fields.setdefault(name, "")
        async with http.post(urljoin(link, action), data=fields) as submitted:
            statuses[action.rsplit("/", 1)[-1]] = submitted.status
    return statuses


async def test_mail_scanner_prefetch_decides_nothing_and_mails_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """HEAD, GET of every link and every form posted with its defaults: no decision, no code."""
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway)
        link = await notice_link(gateway)
        to_bob = t.outbound.c.rcpt == BOB  # the sender's proof of deposit may come meanwhile
        mails_before = count(gateway, t.outbound, to_bob)
        assert mails_before == 1  # the notification
        async with browser() as scanner:
            for _ in range(2):  # "no code was sent" (200); Accept with the defaults refused (403)
                assert await scan(scanner, link) == {"code": 200, "accept": 403}
        await gateway.scheduler.tick()
        assert decisions(gateway) == 0
        assert count(gateway, t.recipient_codes) == 0
        assert count(gateway, t.outbound, to_bob) == mails_before
        assert not code_mails_for(gateway, BOB)


async def test_a_scanner_posting_send_me_a_code_burns_none_of_the_recipients_codes(
    tmp_path: Path, database_url: str
) -> None:
    """Five default posts of "Send me a code" send nothing; Bob still gets his three codes."""
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway)
        link = await notice_link(gateway)
        async with browser() as scanner:
            for _ in range(5):
                async with scanner.get(link) as page:
                    fields = csrf_field(await page.text(), "/code")
                async with scanner.post(f"{link}/code", data=fields) as answer:
                    assert answer.status == 200
                    assert "No code was sent" in await answer.text()
        assert count(gateway, t.recipient_codes) == 0
        async with browser() as bob:
            for _ in range(3):
                await email_code(gateway, bob, link, BOB)
            assert await request_code(bob, link) == 429  # the person's limit still holds


# cross-site request forgery ---------------------------------------------------------------


async def test_forged_decisions_get_403_and_decide_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """Missing or foreign token, foreign or null Origin, cross-site: 403, even with the code."""
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway)
        await deposit(gateway)

        def two_links() -> list[str]:
            links = [link_in(m) for m in notification_for(gateway, BOB)]
            return links if len(links) == 2 else []

        links = await wait_for(two_links, within=60, what="two notifications")
        assert len(set(links)) == 2
        link, other = links
        async with browser() as bob:
            code = await email_code(gateway, bob, link, BOB)
            async with bob.get(link) as page:
                good = {**csrf_field(await page.text(), "/accept"), "code": code}
            async with bob.get(other) as page:
                foreign = {**csrf_field(await page.text(), "/accept"), "code": code}
            forgeries: list[tuple[dict[str, str], dict[str, str]]] = [
                ({"code": code}, {}),  # no token
                (foreign, {}),  # the token of another letter
                ({**good, "csrf": "0" * 64}, {}),  # a made-up token
                (good, {"Origin": "https://evil.example"}),
                (good, {"Origin": "null"}),
                (good, {"Sec-Fetch-Site": "cross-site"}),
            ]
            for fields, headers in forgeries:
                for action in ("accept", "refuse"):
                    async with bob.post(
                        f"{link}/{action}", data=fields, headers=headers, allow_redirects=False
                    ) as forged:
                        assert forged.status == 403, (fields, headers)
                        assert "did not come from this site" in await forged.text()
            async with (  # no CSRF cookie at all
                aiohttp.ClientSession() as stranger,
                stranger.post(f"{link}/accept", data=good) as forged,
            ):
                assert forged.status == 403
            assert decisions(gateway) == 0
            status, _ = await decide(bob, link, "accept", code)  # the genuine form still works
            assert status == 303
        assert decisions(gateway) == 1


# headers ----------------------------------------------------------------------------------


async def test_every_page_forbids_framing_and_sniffing_and_letter_pages_are_not_stored(
    tmp_path: Path, database_url: str
) -> None:
    """frame-ancestors 'none', nosniff, Referrer-Policy and a strict CSP everywhere; no-store."""
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway)
        async with browser() as bob:
            link = await accepted_by_bob(gateway, bob)
            base = gateway.web_url
            pages = [
                (f"{base}/", "GET"),
                (f"{base}/healthz", "GET"),
                (f"{base}/static/site.css", "GET"),
                (f"{base}/pki/anchors.pem", "GET"),
                (f"{base}/verify", "GET"),
                (f"{base}/dev/outbox", "GET"),
                (f"{base}/no/such/page", "GET"),
                (f"{base}/l/{'A' * 43}", "GET"),
                (link, "GET"),
                (f"{link}/letter.eml", "GET"),
                (f"{link}/attachments/0", "GET"),
                (f"{link}/attachments/9", "GET"),
                (f"{link}/accept", "PUT"),
                (f"{link}/accept", "POST"),
            ]
            for url, method in pages:
                async with bob.request(method, url, allow_redirects=False) as answer:
                    headers = answer.headers
                    csp = headers["Content-Security-Policy"]
                    assert "frame-ancestors 'none'" in csp, url
                    assert "default-src 'none'" in csp
                    assert "unsafe-inline" not in csp
                    assert "unsafe-eval" not in csp
                    assert "script-src" not in csp  # no script at all (default-src 'none')
                    assert headers["X-Content-Type-Options"] == "nosniff"
                    assert headers["X-Frame-Options"] == "DENY"
                    assert headers["Referrer-Policy"] == "no-referrer"
                    if urlsplit(url).path.startswith("/l/"):
                        assert headers["Cache-Control"] == "no-store", url


# markup -----------------------------------------------------------------------------------


def _b(text: str) -> bytes:
    return b"=?UTF-8?B?" + base64.b64encode(text.encode()) + b"?="


async def test_markup_in_subject_names_and_file_names_is_escaped_on_pages_and_in_mails(
    tmp_path: Path, database_url: str
) -> None:
    """<script> in an RFC 2047 subject, the From display name and a file name stays text."""
    settings = make_settings(tmp_path, database_url, letters={"reveal_sender": "in_notification"})
    async with start(settings) as gateway:
        await deposit(
            gateway,
            [('<img src=x onerror="alert(3)">.pdf', "application/pdf", CONTRACT)],
            subject="PLACEHOLDER",
            replace={
                b"Subject: PLACEHOLDER": b"Subject: " + _b("<script>alert(1)</script> é"),
                b"From: ": b"From: "
                + _b('<img src=x onerror="alert(2)">')
                + b" <"
                + SENDER.encode()
                + b">\r\nX-Old-From: ",
            },
        )
        async with browser() as bob:
            link = await notice_link(gateway)
            async with bob.get(link) as page:
                before = await page.text()
            await accepted_by_bob(gateway, bob)
            async with bob.get(link) as page:
                after = await page.text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in before + after
        for html in (before, after):
            assert "<script" not in html
            assert "<img" not in html
        await wait_for(
            lambda: proofs_for(gateway, SENDER, "ConsignmentAcceptance"), what="the receipt"
        )
        html_parts = [
            str(part.get_content())
            for message in outbox(gateway)
            for part in message.walk()
            if part.get_content_type() == "text/html"
        ]
        assert html_parts
        for html in html_parts:
            assert "<script" not in html
            assert "<img src=x" not in html


# downloads and bidi -----------------------------------------------------------------------


async def test_downloads_are_inert_attachments_with_clean_names_and_bidi_is_neutralised(
    tmp_path: Path, database_url: str
) -> None:
    """A right-to-left override, a path and an HTML file: shown and offered without them."""
    page_html = b"<html><script>alert(document.cookie)</script></html>"
    files = [
        (RLO_NAME, "application/pdf", CONTRACT),
        ("../../etc/pass\u2066wd.html", "text/html", page_html),
    ]
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway, files)
        async with browser() as bob:
            link = await accepted_by_bob(gateway, bob)
            async with bob.get(link) as page:
                html = await page.text()
            assert "invoicefdp.exe" in html
            assert "passwd.html" in html
            assert not BIDI.search(html.replace("\u2066", "").replace("\u2069", ""))
            for index, (expected, data) in enumerate(
                [("invoicefdp.exe", CONTRACT), ("passwd.html", page_html)]
            ):
                async with bob.get(f"{link}/attachments/{index}") as download:
                    assert download.status == 200
                    assert await download.read() == data
                    disposition = download.headers["Content-Disposition"]
                    assert disposition == f'attachment; filename="{expected}"'
                    assert download.headers["Content-Type"] == "application/octet-stream"
                    assert download.headers["X-Content-Type-Options"] == "nosniff"
                    assert "frame-ancestors 'none'" in download.headers["Content-Security-Policy"]
            async with bob.get(f"{link}/letter.eml") as original:
                assert original.headers["Content-Disposition"].startswith("attachment;")
                assert original.headers["Content-Type"].startswith("message/rfc822")
        receipt = (
            await wait_for(
                lambda: proofs_for(gateway, SENDER, "ConsignmentAcceptance"), what="the receipt"
            )
        )[0]
        assert "invoicefdp.exe" in receipt.text
        assert not BIDI.search(receipt.text)


# a decision race --------------------------------------------------------------------------


async def test_accept_and_refuse_at_the_same_moment_one_wins_the_other_gets_409(
    tmp_path: Path, database_url: str
) -> None:
    """Posted together with the same code: one 303, one 409 page naming the decision, one proof."""
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway)
        link = await notice_link(gateway)
        async with browser() as bob:
            code = await email_code(gateway, bob, link, BOB)
            async with bob.get(link) as page:
                fields = {**csrf_field(await page.text(), "/accept"), "code": code}

            async def press(action: str) -> tuple[int, str]:
                async with bob.post(
                    f"{link}/{action}", data=fields, allow_redirects=False
                ) as answer:
                    return answer.status, await answer.text()

            (accepted, accept_page), (refused, refuse_page) = await asyncio.gather(
                press("accept"), press("refuse")
            )
        assert sorted([accepted, refused]) == [303, 409]
        loser = refuse_page if refused == 409 else accept_page
        winner = "Accepted" if accepted == 303 else "Refused"
        assert "A decision has already been recorded" in loser
        assert f">{winner}<" in loser  # the page's state badge names what was decided
        assert decisions(gateway) == 1
        event = "ConsignmentAcceptance" if accepted == 303 else "ConsignmentRejection"
        await wait_for(lambda: proofs_for(gateway, SENDER, event), what="the proof")
        await gateway.scheduler.tick()
        assert (
            len(proofs_for(gateway, SENDER, "ConsignmentAcceptance"))
            + len(proofs_for(gateway, SENDER, "ConsignmentRejection"))
            == 1
        )


# content bound to the identified browser --------------------------------------------------


async def test_after_acceptance_a_link_holder_without_the_session_gets_no_content(
    tmp_path: Path, database_url: str
) -> None:
    """curl with the link only: no content; another browser opens it with a new code only."""
    clock = Clock()
    async with start(make_settings(tmp_path, database_url), clock=clock) as gateway:
        data = await deposit(gateway)
        async with browser() as bob:
            link = await notice_link(gateway)
            code = await email_code(gateway, bob, link, BOB)
            async with bob.get(link) as page:
                fields = {**csrf_field(await page.text(), "/accept"), "code": code}
            async with bob.post(f"{link}/accept", data=fields, allow_redirects=False) as answer:
                assert answer.status == 303
                cookie = next(
                    c for c in answer.headers.getall("Set-Cookie") if c.startswith("lre_content=")
                )
            token = urlsplit(link).path
            attributes = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")}
            assert "httponly" in attributes
            assert attributes["samesite"].strip() == "SameSite=Strict"
            assert attributes["path"].strip() == f"Path={token}"
            assert attributes["max-age"].strip() == "Max-Age=1800"
            assert len(cookie.split(";")[0].split("=", 1)[1]) >= 43  # at least 256 bits
            async with bob.get(f"{link}/letter.eml") as original:
                assert await original.read() == data
            for path in ("/letter.eml", "/attachments/0"):
                async with bob.head(link + path) as head:
                    assert head.status == 200  # a HEAD answers, and records nothing
                    assert head.headers["Content-Disposition"].startswith("attachment;")

            async with aiohttp.ClientSession() as curl:  # the forwarded link, no cookie
                async with curl.get(link) as page:
                    html = await page.text()
                    assert page.status == 200
                    assert BODY not in html
                    assert "contrat.pdf" not in html
                for path in ("/letter.eml", "/attachments/0"):
                    async with curl.get(link + path) as download:
                        assert download.status == 403
                        assert CONTRACT not in await download.read()
                    async with curl.head(link + path) as head:
                        assert head.status == 403
            async with browser() as scanner:
                # defaults posted on the accepted letter open nothing: no code, no session
                assert await scan(scanner, link) == {"code": 200, "open": 403}
            assert releases(gateway) == ["session", "letter.eml"]

            async with browser() as other:  # Bob on his phone: a new code opens the letter
                async with other.get(link) as page:
                    html = await page.text()
                    assert "Open the letter in this browser" in html
                    assert BODY not in html
                new_code = await email_code(gateway, other, link, BOB)
                async with other.get(link) as page:
                    opening = {**csrf_field(await page.text(), "/open"), "code": new_code}
                async with other.post(f"{link}/open", data=opening) as opened:
                    assert BODY in await opened.text()
                async with other.get(f"{link}/attachments/0") as attachment:
                    assert await attachment.read() == CONTRACT
                async with other.post(f"{link}/open", data=opening) as again:
                    assert again.status == 403  # a code opens one session only
            assert decisions(gateway) == 1
            assert handovers(gateway) == 1
            assert releases(gateway) == ["session", "letter.eml", "session", "attachment:0"]

            clock.advance(timedelta(minutes=31))  # sessions are short-lived
            async with bob.get(f"{link}/letter.eml") as late:
                assert late.status == 403
                assert "ask for a new code" in await late.text()
            async with bob.get(link) as page:
                assert BODY not in await page.text()


async def test_without_a_code_step_only_a_posted_open_releases_the_content(
    tmp_path: Path, database_url: str
) -> None:
    """recipient_verification = none: a GET of the link never releases; the Open button does."""
    settings = make_settings(tmp_path, database_url, letters={"recipient_verification": "none"})
    async with start(settings) as gateway:
        await deposit(gateway)
        link = await notice_link(gateway)
        async with browser() as bob:
            status, _ = await decide(bob, link, "accept", None)
            assert status == 303
        async with browser() as other:
            async with other.get(link) as page:
                html = await page.text()
                assert BODY not in html
            async with other.get(f"{link}/letter.eml") as download:
                assert download.status == 403
            async with other.post(f"{link}/open", data=csrf_field(html, "/open")) as opened:
                assert BODY in await opened.text()
        assert decisions(gateway) == 1


# bodies and paths -------------------------------------------------------------------------


def bomb(wbits: int, size: int = 256 << 20) -> bytes:
    """size bytes of zeros, compressed (gzip for wbits 31, zlib for 15): a few hundred KB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


async def test_compressed_body_bombs_get_a_quick_415_in_bounded_memory(
    tmp_path: Path, database_url: str
) -> None:
    """256 MB of zeros gzip- or deflate-encoded, posted to every POST address: 415 at once."""
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway)
        link = await notice_link(gateway)
        bombs = {"gzip": bomb(31), "deflate": bomb(15)}
        targets = [f"{link}/{a}" for a in ("accept", "refuse", "code", "open")]
        targets += [f"{gateway.web_url}/verify", f"{gateway.web_url}/tsa"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        async with browser() as http:
            for url in targets:
                for encoding, body in bombs.items():
                    headers = {
                        "Content-Encoding": encoding,
                        "Content-Type": "application/x-www-form-urlencoded",
                    }
                    async with http.post(url, data=io.BytesIO(body), headers=headers) as answer:
                        assert answer.status == 415, (url, encoding)
            plain = {"Content-Type": "application/x-www-form-urlencoded"}
            big_body = io.BytesIO(b"a=" + bytes(2 << 20))
            async with http.post(targets[0], data=big_body, headers=plain) as big:
                assert big.status == 413  # an uncompressed body over the limit
        assert time.monotonic() - started < 5
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
        assert grown_kb < 64 * 1024
        assert decisions(gateway) == 0
        assert count(gateway, t.recipient_codes) == 0


async def test_raw_path_traversal_reaches_no_file(tmp_path: Path, database_url: str) -> None:
    """../, %2e%2e, %2f and backslashes in raw request paths: 4xx, no file of the system or keys."""
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway)
        link_path = urlsplit(await notice_link(gateway)).path
        master = {p.read_bytes() for p in (tmp_path / "var" / "keys").rglob("*") if p.is_file()}
        paths = [
            "/static/../../../../etc/passwd",
            "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/static/..%2f..%2f..%2fetc%2fpasswd",
            "/static/..%5c..%5c..%5cetc%5cpasswd",
            "/dev/outbox/..%2f..%2fkeys",
            "/dev/outbox/%2e%2e%2f%2e%2e%2fkeys%2fmaster.key/raw",
            "/dev/outbox/../../../etc/passwd/raw",
            f"{link_path}/attachments/..%2f..%2f..%2fetc%2fpasswd",
            f"{link_path}/..%2f..%2fetc%2fpasswd",
            "/l/..%2f..%2f..%2fetc%2fpasswd/letter.eml",
            "/pki/..%2f..%2fkeys",
            "//etc/passwd",
        ]
        host = urlsplit(gateway.web_url).netloc
        for path in paths:
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            status, reply = await raw_request(gateway, request.encode())
            assert 400 <= status < 500, (path, status)
            assert b"root:" not in reply, path
            assert not any(key in reply for key in master if len(key) >= 16), path


async def test_behind_the_local_proxy_a_guesser_does_not_lock_out_other_recipients(
    tmp_path: Path, database_url: str
) -> None:
    """Through a proxy on loopback (X-Forwarded-For), only the guessing address gets 429."""
    async with start(make_settings(tmp_path, database_url)) as gateway:
        await deposit(gateway)
        link = await notice_link(gateway)
        guesser = {"X-Forwarded-For": "192.0.2.10, 203.0.113.7"}  # the proxy appended the last
        recipient = {"X-Forwarded-For": "198.51.100.9"}
        async with aiohttp.ClientSession() as proxy:
            for n in range(25):
                async with proxy.get(f"{gateway.web_url}/l/{'g' * (n + 1)}", headers=guesser):
                    pass
            async with proxy.get(link, headers=guesser) as page:
                assert page.status == 429
            async with proxy.get(link, headers=recipient) as page:
                assert page.status == 200
            spoofed = {"X-Forwarded-For": "203.0.113.7, 198.51.100.9"}  # a forged first entry
            async with proxy.get(link, headers=spoofed) as page:
                assert page.status == 200
