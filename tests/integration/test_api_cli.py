"""`lre-gateway sender token ...` and `sender webhook ...`, checked against the running API."""

from __future__ import annotations

import io
from pathlib import Path

import aiohttp
import pytest

from gateway.app import running
from gateway.cli import main
from gateway.settings import load_settings
from tests.support.gateway import PASSWORD, SENDER, free_port


def config_file(tmp_path: Path, database_url: str) -> Path:
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\ndata_dir = "{tmp_path / "var"}"\npublic_url = "http://127.0.0.1:{port}"\n'
        f'[database]\nurl = "{database_url}"\n'
        f'[smtp]\nsubmission = "127.0.0.1:0"\nsubmissions = "127.0.0.1:0"\ninbound = ""\n'
        f'[web]\nlisten = "127.0.0.1:{port}"\n'
    )
    return config


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), "sender", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def status(url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(f"{url}/api/v1/letters") as response,
    ):
        return response.status


async def test_a_token_made_on_the_command_line_opens_the_api_until_revoked(
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`token create` prints a token once that the API accepts, `token list` shows only its
    prefix, and after `token revoke` the API refuses it."""
    config = config_file(tmp_path, database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert run(config, capsys, "add", SENDER, "--password-stdin")[0] == 0
    code, out, _ = run(config, capsys, "token", "create", SENDER, "--label", "ERP")
    assert code == 0
    token = out.splitlines()[0]
    assert token.startswith("lre_")
    code, listed, _ = run(config, capsys, "token", "list", SENDER)
    assert token[:12] in listed
    assert "live" in listed
    assert "ERP" in listed
    assert token not in listed
    settings = load_settings(config)
    async with running(settings) as gateway:
        assert await status(gateway.web_url, token) == 200
        assert run(config, capsys, "token", "revoke", SENDER, token[:12])[0] == 0
        assert await status(gateway.web_url, token) == 401
    assert "revoked" in run(config, capsys, "token", "list", SENDER)[1]
    code, _, err = run(config, capsys, "token", "create", "nobody@example.org")
    assert code == 2
    assert "no sender nobody@example.org" in err


def test_webhooks_are_added_listed_and_removed_on_the_command_line(
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`webhook add` prints the signing secret once, `list` shows the URL, `remove` removes it,
    and a URL that is not http(s) is refused in one sentence."""
    config = config_file(tmp_path, database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert run(config, capsys, "add", SENDER, "--password-stdin")[0] == 0
    url = "https://erp.example.ma/hooks/lre"
    code, out, _ = run(config, capsys, "webhook", "add", SENDER, url)
    assert code == 0
    assert "whsec_" in out
    code, listed, _ = run(config, capsys, "webhook", "list", SENDER)
    assert url in listed
    assert "whsec_" not in listed
    assert run(config, capsys, "webhook", "remove", SENDER, url)[0] == 0
    assert url not in run(config, capsys, "webhook", "list", SENDER)[1]
    code, _, err = run(config, capsys, "webhook", "add", SENDER, "ftp://erp.example.ma/")
    assert code == 2
    assert "http" in err
