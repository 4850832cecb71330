"""README's webhook verification snippets (openssl in sh, and Python) accept what the gateway
signs and refuse a changed body, a wrong secret and a stale timestamp."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.webhook_signing import headers, new_secret

README = Path(__file__).resolve().parents[2] / "README.md"
BODY = b'{"type":"ConsignmentAcceptance","data":{"letter":"LRE-20261130-ABCDEFGH"}}'


def snippet(language: str, first_line: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"README has no {language} block starting {first_line!r}"
    return str(found[0])


def openssl_verdict(tmp_path: Path, secret: str, signed: dict[str, str], body: bytes) -> int:
    (tmp_path / "body.json").write_bytes(body)
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET": secret,
        "ID": signed["webhook-id"],
        "TS": signed["webhook-timestamp"],
        "SIGNATURE": signed["webhook-signature"],
    }
    done = subprocess.run(
        ["/bin/sh", "-c", snippet("sh", "# verify a webhook post")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
    )
    return done.returncode


@pytest.mark.parametrize("language", ["sh", "python"])
def test_the_readme_verifiers_accept_a_signed_post_and_refuse_forgeries(
    tmp_path: Path, language: str
) -> None:
    """A fresh post verifies; a changed body, another secret or an old timestamp does not."""
    secret = new_secret()
    now = int(time.time())
    signed = headers(secret, "msg_2f1c", now, BODY)
    stale = headers(secret, "msg_2f1c", now - 3600, BODY)
    if language == "sh":

        def verify(key: str, heads: dict[str, str], body: bytes) -> bool:
            return openssl_verdict(tmp_path, key, heads, body) == 0

    else:
        scope: dict[str, Any] = {}
        exec(snippet("python", "import base64, hashlib, hmac, time"), scope)  # noqa: S102
        verify = scope["verified"]
    assert verify(secret, signed, BODY)
    assert not verify(secret, signed, BODY.replace(b"Acceptance", b"Rejection"))
    assert not verify(new_secret(), signed, BODY)
    assert not verify(secret, stale, BODY)
