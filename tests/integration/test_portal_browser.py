"""The sender's portal in a real browser: Debian's chromium driven by chromium-driver (Selenium).

The browser runs in a worker thread (Selenium blocks) while the gateway serves in the test's
loop. With LRE_PORTAL_SCREENSHOTS=DIR set, the SQLite run also saves the screenshots shown in
README (phone and desktop widths, one in Arabic).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiohttp
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import select

from gateway.app import Running
from gateway.storage import tables as t
from tests.support.browser import DESKTOP, PHONE, chromium, needs_chromium
from tests.support.client import letter_bytes, submit, wait_for
from tests.support.gateway import PASSWORD, SENDER

pytestmark = needs_chromium
BOB = "bob.martin@example.ma"
CAROL = "carol.haddad@example.org"


def downloaded(folder: Path, within: float = 20.0) -> Path:
    """The first complete file in folder (Chromium writes .crdownload files meanwhile)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError("no download finished")


def sign_in(driver: WebDriver, base: str) -> None:
    driver.get(f"{base}/portal/")
    driver.find_element(By.ID, "email").send_keys(SENDER)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()


def heading(driver: WebDriver, text: str) -> None:
    """Wait for the page whose h1 is text (a click's navigation finishes after click returns)."""
    # read the headings in one script run: an element found in one WebDriver call may belong to
    # the old page by the next one (stale element, or chromium's "node does not belong")
    script = "return Array.from(document.querySelectorAll('h1'), h => h.innerText.trim())"
    WebDriverWait(driver, 15).until(
        lambda d: text in (d.execute_script(script) or []),
        message=f"no page titled {text!r}",
    )


def fits_the_width(driver: WebDriver) -> bool:
    """No horizontal scrolling: the page is no wider than the window."""
    width = driver.execute_script("return document.documentElement.scrollWidth")
    inner = driver.execute_script("return window.innerWidth")
    return bool(width <= inner)


def scenario(base: str, references: list[str], xml: bytes, work: Path, shots: Path | None) -> str:
    """Sign in on a phone, search a reference, open the letter, download its evidence.xml,
    then create an API token on the tokens page; the token shown."""
    downloads = work / "downloads"
    downloads.mkdir()
    with chromium(downloads, PHONE) as phone:
        phone.get(f"{base}/portal/?lang=en")
        assert fits_the_width(phone)
        if shots:
            phone.save_screenshot(str(shots / "portal-signin-phone.png"))
        sign_in(phone, base)
        heading(phone, "Letters sent")
        listed = [
            a.text for a in phone.find_elements(By.CSS_SELECTOR, ".portal-letters .reference")
        ]
        assert sorted(listed) == sorted(references)
        box = phone.find_element(By.ID, "q")
        box.send_keys(references[0][-8:])
        phone.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
        WebDriverWait(phone, 15).until(lambda d: "q=" in d.current_url)
        listed = [
            a.text for a in phone.find_elements(By.CSS_SELECTOR, ".portal-letters .reference")
        ]
        assert listed == [references[0]]
        assert fits_the_width(phone)
        phone.find_element(By.LINK_TEXT, references[0]).click()
        heading(phone, references[0])
        events = phone.find_element(By.CSS_SELECTOR, ".events").text
        assert "Proof of deposit" in events
        assert "(Africa/Casablanca)" in events
        assert fits_the_width(phone)
        phone.find_element(By.LINK_TEXT, "evidence.xml").click()
        assert downloaded(downloads).read_bytes() == xml
        token = create_token(phone, shots)
        if shots:
            phone.get(f"{base}/portal/letters/{references[0]}?lang=ar")
            assert phone.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
            assert fits_the_width(phone)
            phone.save_screenshot(str(shots / "portal-letter-ar-phone.png"))
    if shots:
        with chromium(work / "desktop", DESKTOP) as desktop:
            sign_in(desktop, base)
            heading(desktop, "Letters sent")
            desktop.get(f"{base}/portal/letters?lang=en")
            desktop.save_screenshot(str(shots / "portal-letters-desktop.png"))
    return token


def create_token(phone: WebDriver, shots: Path | None) -> str:
    """From the portal's menu, create an API token; it is shown once, readable on a phone."""
    phone.find_element(By.LINK_TEXT, "API tokens and webhooks").click()
    heading(phone, "API tokens and webhooks")
    phone.find_element(By.ID, "label").send_keys("Logiciel du cabinet")
    phone.find_element(By.ID, "create-token").click()
    WebDriverWait(phone, 15).until(
        lambda d: d.find_elements(By.ID, "new-token"), message="no new token shown"
    )
    token = str(phone.find_element(By.ID, "new-token").text).strip()
    assert fits_the_width(phone)
    if shots:
        phone.save_screenshot(str(shots / "portal-access-phone.png"))
    return token


async def test_sender_signs_in_searches_and_downloads_a_proof_in_chromium(
    gateway: Running, tmp_path: Path
) -> None:
    """In Chromium at phone width a sender signs in, finds a letter by its reference, sees its
    dated events, downloads the deposit's evidence.xml byte for byte, and creates an API token
    that the API then takes."""
    references = []
    for to in ([BOB], [CAROL]):
        data = letter_bytes(SENDER, to, "Mise en demeure", "Je vous mets en demeure de payer.")
        code, reply = await submit(gateway, SENDER, PASSWORD, to, data)
        assert code == 250, reply
    with gateway.store.engine.connect() as db:
        references = list(db.execute(select(t.letters.c.reference)).scalars())

    def sealed() -> list[bytes]:
        with gateway.store.engine.connect() as db:
            query = (
                select(t.evidence.c.xml)
                .join(t.letters, t.letters.c.id == t.evidence.c.letter_id)
                .where(t.letters.c.reference == references[0], t.evidence.c.p7s.is_not(None))
            )
            return list(db.execute(query).scalars())

    xml = (await wait_for(sealed, within=60, what="sealed deposit proof"))[0]
    target = os.environ.get("LRE_PORTAL_SCREENSHOTS")
    shots = Path(target) if target and gateway.settings.database.url.startswith("sqlite") else None
    token = await asyncio.to_thread(scenario, gateway.web_url, references, xml, tmp_path, shots)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(gateway.web_url, headers=headers) as session,
        session.get("/api/v1/letters") as response,
    ):
        assert response.status == 200
        listed = await response.json()
    assert sorted(item["reference"] for item in listed["letters"]) == sorted(references)
