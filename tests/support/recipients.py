"""Recipients with a mobile number, their SMS and their codes: shared by the integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib

from gateway.app import Running
from tests.support.client import (
    code_in,
    letter_bytes,
    link_in,
    notification_for,
    request_code,
    submit,
    wait_for,
)
from tests.support.gateway import PASSWORD, SENDER
from tests.support.letters import BOB
from tests.support.sms_server import SmsServer

BOB_MOBILE = "+212612345678"
BOB_WITH_MOBILE = f'"Bob Martin (+212 6 12 34 56 78)" <{BOB}>'
SECRET = "s3cr3t-api-key"


def sms_settings(tmp_path: Path, url: str, **values: Any) -> dict[str, Any]:
    secret = tmp_path / "sms.secret"
    secret.write_text(SECRET + "\n")
    return {
        "provider": "http",
        "url": url,
        "method": "POST",
        "headers": {"Authorization": "Bearer {secret}"},
        "secret_file": str(secret),
        "body": '{"to": "{{ to }}", "text": {{ text|tojson }}}',
        "content_type": "application/json",
        "retry_base": "1s",
        **values,
    }


async def deposit_to(
    gateway: Running, to_header: list[str], rcpts: list[str], extra: bytes = b""
) -> tuple[int, str]:
    data = extra + letter_bytes(SENDER, to_header, "Mise en demeure", "Payez.", [])
    try:
        return await submit(gateway, SENDER, PASSWORD, rcpts, data)
    except aiosmtplib.SMTPResponseException as refused:
        return refused.code, refused.message


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept-Language": "en"}
    )


async def notice_link(gateway: Running, recipient: str = BOB) -> str:
    notices = await wait_for(lambda: notification_for(gateway, recipient), what="notification")
    return link_in(notices[0])


async def sms_code(gateway: Running, sms: SmsServer, http: Any, link: str, phone: str) -> str:
    """Press "Send me a code" and read the code from the SMS the provider received."""
    before = len(sms.to(phone))
    assert await request_code(http, link) == 303
    received = await wait_for(
        lambda: sms.to(phone) if len(sms.to(phone)) > before else None, what="the code SMS"
    )
    assert received
    text = received[-1].json["text"]
    assert "/l/" not in text  # the code SMS carries the code only
    return code_in(text)
