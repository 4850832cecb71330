"""The recipient's letter page in a real browser: Debian's chromium (chromium-driver, Selenium).

The browser runs in worker threads, one step at a time (Selenium blocks), while the gateway
serves in the test's loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import select

from gateway.app import Running
from gateway.core.letter import State
from gateway.storage import tables as t
from tests.support.browser import PHONE, chromium, needs_chromium
from tests.support.client import code_in, code_mails_for, letter_bytes, submit, text_of, wait_for
from tests.support.gateway import PASSWORD, SENDER
from tests.support.letters import BOB
from tests.support.recipients import notice_link

pytestmark = needs_chromium
ARABIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"


def ask_for_a_code(driver: WebDriver, link: str) -> None:
    driver.get(link)
    driver.find_element(By.CSS_SELECTOR, "form.send-code button").click()
    WebDriverWait(driver, 15).until(
        lambda d: d.find_elements(By.ID, "code-input"), message="no code field after the request"
    )


def type_and_accept(driver: WebDriver, code: str) -> bool:
    """Type `code` into the code field; whether the browser takes it as valid; then Accept."""
    field = driver.find_element(By.ID, "code-input")
    field.send_keys(code)
    valid = bool(driver.execute_script("return arguments[0].checkValidity()", field))
    driver.find_element(By.CSS_SELECTOR, "form.decide button.accept").click()
    WebDriverWait(driver, 15).until(
        lambda d: d.find_elements(By.CLASS_NAME, "status-line"), message="not accepted"
    )
    return valid


async def test_a_code_typed_in_arabic_digits_accepts_the_letter_in_chromium(
    gateway: Running, tmp_path: Path
) -> None:
    """At phone width a recipient asks for a code, types it with an Arabic keyboard (Arabic-Indic
    digits): the browser's own check lets the form go, and the letter is accepted."""
    data = letter_bytes(SENDER, [BOB], "Mise en demeure", "Je vous mets en demeure de payer.")
    code, reply = await submit(gateway, SENDER, PASSWORD, [BOB], data)
    assert code == 250, reply
    link = await notice_link(gateway)
    with chromium(tmp_path, PHONE) as driver:
        await asyncio.to_thread(ask_for_a_code, driver, link)
        mails = await wait_for(lambda: code_mails_for(gateway, BOB), what="the code mail")
        typed = "".join(ARABIC_DIGITS[int(digit)] for digit in code_in(text_of(mails[0])))
        assert await asyncio.to_thread(type_and_accept, driver, typed)
    with gateway.store.engine.connect() as db:
        states = {State(s) for s in db.execute(select(t.deliveries.c.state)).scalars()}
    assert len(states) == 1  # the one delivery
    assert states <= {State.ACCEPTED, State.HANDED_OVER}
