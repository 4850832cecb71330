"""SMS providers: one small interface, an HTTP provider for commercial SMS APIs, a dev outbox.

A provider hands one SMS over or raises SmsFailed, temporary (5xx, 408 and 429, timeout,
unreachable: the queue retries with backoff) or permanent (other 4xx and anything else: never
retried). 408 Request Timeout and 429 Too Many Requests say "later", not "never".

Every request of the HTTP provider carries the SMS's id (its queue row's, the same on every
attempt) as `Idempotency-Key` (IETF httpapi draft "The Idempotency-Key HTTP Header Field"),
also as `{id}` in the configured headers and `id` in the body's template: when the gateway dies
between the provider's 2xx and recording it, the SMS is sent again after the restart with the
same id, and a provider that honours the key (or a body field) drops the copy.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

import aiohttp
from jinja2.sandbox import SandboxedEnvironment

from gateway.errors import ConfigError, SmsFailed
from gateway.settings import SmsSettings

_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}\.json$")
MAX_REASON: Final = 300  # characters of a provider's answer kept as the failure's reason
IDEMPOTENCY_KEY: Final = "Idempotency-Key"  # the SMS's id, the same on a resend


RETRY_LATER = frozenset({408, 429})  # RFC 9110 §15.5.9, RFC 6585 §4


class SmsProvider(Protocol):
    async def send(self, to: str, text: str, sms_id: str) -> None:
        """Hand the SMS over (to: E.164); raise SmsFailed when it was not taken."""
        ...

    async def close(self) -> None: ...


class HttpSmsProvider:
    """POST (or PUT) a jinja2-rendered body to the provider's URL; 2xx means taken."""

    def __init__(self, settings: SmsSettings) -> None:
        self._settings = settings
        self._secret = _read_secret(settings)
        environment = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
        self._body = environment.from_string(settings.body)
        self._headers = {
            name: value.replace("{secret}", self._secret)
            for name, value in settings.headers.items()
        }
        self._headers.setdefault("Content-Type", settings.content_type)
        if not any(name.lower() == IDEMPOTENCY_KEY.lower() for name in self._headers):
            self._headers[IDEMPOTENCY_KEY] = "{id}"
        self._session: aiohttp.ClientSession | None = None

    def render(self, to: str, text: str, sms_id: str = "") -> bytes:
        return self._body.render(to=to, text=text, secret=self._secret, id=sms_id).encode("utf-8")

    def headers(self, sms_id: str) -> dict[str, str]:
        """The request's headers: `{id}` in a value becomes the SMS's id."""
        return {name: value.replace("{id}", sms_id) for name, value in self._headers.items()}

    async def send(self, to: str, text: str, sms_id: str) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self._settings.timeout.delta.total_seconds())
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.request(
                self._settings.method,
                self._settings.url,
                data=self.render(to, text, sms_id),
                headers=self.headers(sms_id),
                allow_redirects=False,
            ) as response:
                answer = (await response.text(errors="replace"))[:MAX_REASON]
                status = response.status
        except TimeoutError:
            raise SmsFailed("the SMS provider did not answer in time", temporary=True) from None
        except aiohttp.ClientError as err:
            reason = f"the SMS provider could not be reached ({type(err).__name__})"
            raise SmsFailed(reason, temporary=True) from None
        if 200 <= status < 300:
            return
        reason = f"the SMS provider answered HTTP {status}: {' '.join(answer.split())}"
        raise SmsFailed(reason, temporary=status >= 500 or status in RETRY_LATER)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass(frozen=True)
class SmsEntry:
    name: str
    to: str
    text: str
    date: datetime


class OutboxSmsProvider:
    """Development: each SMS becomes a JSON file in data_dir/sms, listed on /dev/outbox."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, to: str, text: str, sms_id: str) -> None:
        if not _SAFE_ID.match(sms_id):
            raise SmsFailed(f"SMS id {sms_id!r} cannot name a file", temporary=False)
        await asyncio.to_thread(self._write, to, text, sms_id)

    def _write(self, to: str, text: str, sms_id: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"to": to, "text": text, "date": datetime.now(UTC).isoformat()}
        tmp = self.directory / f".{sms_id}.{os.getpid()}.tmp"
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.directory / f"{sms_id}.json")

    def list(self) -> builtins.list[SmsEntry]:
        """Every SMS, newest first."""
        if not self.directory.is_dir():
            return []
        files = [p for p in self.directory.iterdir() if p.is_file() and _SAFE_NAME.match(p.name)]
        files.sort(key=lambda path: (path.stat().st_mtime_ns, path.name), reverse=True)
        entries = []
        for path in files:
            record = json.loads(path.read_text(encoding="utf-8"))
            date = datetime.fromisoformat(record["date"])
            entries.append(SmsEntry(path.stem, record["to"], record["text"], date))
        return entries

    async def close(self) -> None:
        return None


def make_sms_provider(settings: SmsSettings, data_dir: Path) -> SmsProvider | None:
    """The configured provider; None when SMS are turned off (sms.provider = "none")."""
    if settings.provider == "none":
        return None
    if settings.provider == "http":
        return HttpSmsProvider(settings)
    return OutboxSmsProvider(data_dir / "sms")


def _read_secret(settings: SmsSettings) -> str:
    uses_secret = "{secret}" in " ".join(settings.headers.values()) or "secret" in settings.body
    if settings.secret_file is None:
        if uses_secret:
            raise ConfigError("sms.secret_file: the headers or body use {secret}; name its file")
        return ""
    try:
        return settings.secret_file.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"sms.secret_file: cannot read {settings.secret_file} ({err})") from None
