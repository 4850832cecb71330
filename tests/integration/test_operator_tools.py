"""The operator's command line through the real `lre-gateway` program: sender accounts,
--config anywhere, and start-up refusals in one sentence (busy port, missing keys)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
from pathlib import Path

import aiohttp
import aiosmtplib
import dkim
import pytest
from sqlalchemy import func, select

from gateway.app import Running, running
from gateway.services.senders import ACCOUNT_HELD
from gateway.settings import load_settings
from gateway.storage import tables
from gateway.storage.account_store import AccountStore
from tests.support.client import (
    decide,
    email_code,
    letter_bytes,
    link_in,
    login,
    notification_for,
    proofs_for,
    submit,
    wait_for,
)
from tests.support.gateway import Clock, free_port
from tests.support.mx_world import (
    MX_ADDRESS,
    World,
    dns_server,
    publish_dkim_key,
    send_inbound,
    world,
)

__all__ = ["dns_server", "world"]

SENDER = "maitre.dupont@cabinet-dupont.ma"
OTHER = "etude.alaoui@notaires.ma"
PASSWORD = "correct horse battery staple"
BOB = "bob.martin@example.ma"


def write_config(tmp_path: Path, database_url: str, **extra: str) -> Path:
    """A gateway.toml on loopback, its SMTP served in the gateway's process (so the tests'
    clock reaches the logins' held accounts); extra adds `section.key = "value"` lines."""
    web = free_port()
    sections: dict[str, dict[str, str | int]] = {
        "gateway": {"data_dir": str(tmp_path / "var"), "public_url": f"http://127.0.0.1:{web}"},
        "database": {"url": database_url},
        "smtp": {
            "submission": "127.0.0.1:0",
            "submissions": "127.0.0.1:0",
            "inbound": "",
            "processes": 0,
        },
        "web": {"listen": f"127.0.0.1:{web}"},
    }
    for dotted, value in extra.items():
        section, _, key = dotted.partition("__")
        sections.setdefault(section, {})[key] = value
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
        for name, values in sections.items()
    )
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


async def cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run `python -m gateway ARGS`; (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_sender_accounts_are_listed_disabled_enabled_and_removed(
    tmp_path: Path, database_url: str
) -> None:
    """add checks the address; a disabled sender's login gets 525 5.7.13 (once a login's held
    read of its account is over: ACCOUNT_HELD, a second; its letters are refused at once, see
    test_a_session_logged_in_before_the_disable_cannot_deposit); remove waits for its letters
    to be finished and never touches them; --config works before and after the command."""
    config = write_config(tmp_path, database_url)
    status, _, err = await cli("sender", "add", "maitre dupont@cabinet", "--config", str(config))
    assert status == 2
    assert "is not an email address" in err
    status, _, err = await cli("--config", str(config), "sender", "add", "bob@localhost")
    assert status == 2
    assert "not a full domain name" in err
    for address in (SENDER, OTHER):
        status, out, err = await cli(
            "sender", "add", address, "--password-stdin", "--config", str(config), stdin=PASSWORD
        )
        assert (status, out.strip()) == (0, f"sender {address} saved"), err

    clock = Clock()
    async with running(load_settings(config), clock=clock) as gateway:
        data = letter_bytes(SENDER, [BOB], "Mise en demeure", "Madame, Monsieur, ...")
        code, reply = await submit(gateway, SENDER, PASSWORD, [BOB], data)
        assert code == 250, reply

        status, out, _ = await cli("sender", "list", "--config", str(config))
        assert status == 0
        lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
        assert lines[SENDER][-4:-1] == ["enabled", "1", "1"]  # status, letters, in progress
        assert lines[OTHER][-4:-1] == ["enabled", "0", "0"]

        status, _, err = await cli("sender", "remove", SENDER, "--config", str(config))
        assert status == 1
        assert "letters in progress" in err

        status, out, _ = await cli("sender", "disable", SENDER, "--config", str(config))
        assert status == 0
        assert "disabled" in out
        clock.advance(ACCOUNT_HELD)  # the submission's login read the account: held till then
        assert await login(gateway, SENDER, PASSWORD) == (
            525,
            "5.7.13 This sender account is disabled by the gateway's operator; "
            "no letter can be deposited",
        )
        wrong = await login(gateway, SENDER, "not the password")
        assert wrong[0] == 535  # the account's status is told only to who knows the password
        status, out, _ = await cli("sender", "list", "--config", str(config))
        assert re.search(rf"^{re.escape(SENDER)} .* disabled \d{{4}}-\d\d-\d\d ", out, re.M)

        assert (await cli("sender", "enable", SENDER, "--config", str(config)))[0] == 0
        clock.advance(ACCOUNT_HELD)
        assert (await login(gateway, SENDER, PASSWORD))[0] == 235

        status, out, _ = await cli("--config", str(config), "sender", "remove", OTHER)
        assert (status, out.strip()) == (0, f"sender {OTHER} removed (it had no letters)")
        assert (await login(gateway, OTHER, PASSWORD))[0] == 535
        status, out, _ = await cli("sender", "list", "--config", str(config))
        assert OTHER not in out
        assert SENDER in out
        status, _, err = await cli("sender", "disable", OTHER, "--config", str(config))
        assert status == 1
        assert f"no sender account {OTHER}" in err
        with gateway.store.engine.connect() as db:
            kept = db.execute(select(func.count()).select_from(tables.letters)).scalar_one()
            evidence = db.execute(select(func.count()).select_from(tables.evidence)).scalar_one()
        assert (kept, evidence) >= (1, 1)  # the letter and its evidence stay


async def test_every_command_reads_the_config_given_after_it(
    tmp_path: Path, database_url: str
) -> None:
    """`ca --config F` prints F's anchors (it was refused); the main help is for users."""
    config = write_config(tmp_path, database_url)
    status, after, err = await cli("ca", "--config", str(config))
    assert status == 0, err
    status, before, _ = await cli("--config", str(config), "ca")
    assert status == 0
    assert after == before
    assert after.startswith("-----BEGIN CERTIFICATE-----")
    assert (tmp_path / "var" / "pki" / "root-ca.pem").read_text() in after
    status, out, _ = await cli("dkim-record", "--config", str(config))
    assert status == 0
    assert out.startswith("lre._domainkey.")
    status, out, _ = await cli("--help")
    assert status == 0
    assert "Composition root" not in out
    assert "wires components" not in out
    assert "electronic registered mail" in out
    for command in ("init", "serve", "sender", "ca", "verify", "dkim-record", "keys"):
        assert re.search(rf"^    {command} +\w", out, re.M), command


async def test_a_busy_port_is_named_by_its_key_in_one_line(
    tmp_path: Path, database_url: str
) -> None:
    """serve on a port another program holds: exit 2, one line naming web.listen, no traceback."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = write_config(tmp_path, database_url, web__listen=f"127.0.0.1:{port}")
        status, _out, err = await cli("serve", "--config", str(config))
        assert status == 2
        lines = [line for line in err.splitlines() if "ERROR" in line or "error" in line]
        assert lines == [
            f"configuration error: web.listen: 127.0.0.1:{port} is already in use "
            "(another program, or another gateway, listens there)"
        ]
        assert "Traceback" not in err
        config = write_config(tmp_path, database_url, smtp__submission=f"127.0.0.1:{port}")
        status, _, err = await cli("serve", "--config", str(config))
        assert status == 2
        assert f"configuration error: smtp.submission: 127.0.0.1:{port} is already in use" in err
        assert "Traceback" not in err


async def test_missing_keys_stop_the_start_in_one_sentence(
    tmp_path: Path, database_url: str
) -> None:
    """A configured seal key that is not there, or a lost master key once letters exist: exit 2
    with one sentence naming the key, and no new key is made in place of the lost one."""
    config = write_config(
        tmp_path, database_url, evidence__seal_key=str(tmp_path / "absent" / "seal.key")
    )
    status, _, err = await cli("serve", "--config", str(config))
    assert status == 2
    assert f"configuration error: evidence.seal_key: {tmp_path}/absent/seal.key does not exist" in (
        err
    )
    assert "Traceback" not in err

    config = write_config(tmp_path, database_url)
    assert (
        await cli(
            "sender", "add", SENDER, "--password-stdin", "--config", str(config), stdin=PASSWORD
        )
    )[0] == 0
    async with running(load_settings(config)) as gateway:
        data = letter_bytes(SENDER, [BOB], "Mise en demeure", "Madame, Monsieur, ...")
        assert (await submit(gateway, SENDER, PASSWORD, [BOB], data))[0] == 250
    keys = tmp_path / "var" / "keys"
    (keys / "master-1.key").unlink()
    status, _, err = await cli("serve", "--config", str(config))
    assert status == 2
    assert "configuration error: gateway.data_dir: no master key in" in err
    assert "restore the keys directory from the backup" in err
    assert "Traceback" not in err
    status, _, err = await cli("ca", "--config", str(config))  # nor any other command
    assert status == 2
    assert "no master key in" in err
    assert not list(keys.glob("master-*.key"))


async def test_a_damaged_dkim_key_stops_the_start_in_one_sentence(
    tmp_path: Path, database_url: str
) -> None:
    """The DKIM key is only made when absent (loading an RSA key checks it: ~40 ms at every
    command); one that no longer reads stops `serve` with one sentence naming the file, and is
    not replaced."""
    config = write_config(tmp_path, database_url)
    assert (await cli("ca", "--config", str(config)))[0] == 0  # the installation made
    dkim_key = tmp_path / "var" / "pki" / "dkim.key"
    dkim_key.write_text("not a key\n")
    status, _, err = await cli("serve", "--config", str(config))
    assert status == 2
    assert "configuration error: DKIM key: not an unencrypted PEM private key" in err
    assert f"in {dkim_key}" in err
    assert "Traceback" not in err
    assert dkim_key.read_text() == "not a key\n"


async def test_a_disabled_sender_cannot_deposit_by_mx_address(world: World) -> None:
    """A DKIM-signed letter to an MX address from a disabled sender: 550 5.7.13, nothing kept;
    enabled again, the same letter is deposited."""
    private = publish_dkim_key(world.dns, "s2026", "cabinet-dupont.ma")
    message = letter_bytes(SENDER, [BOB], "Mise en demeure", "Madame, Monsieur, ...")
    signed = dkim.sign(message, b"s2026", b"cabinet-dupont.ma", private) + message
    accounts = AccountStore(world.gateway.store.engine)
    assert accounts.set_disabled(SENDER, world.gateway.registry.now())
    code, text = await send_inbound(world, SENDER, MX_ADDRESS, signed)
    assert (code, text) == (
        550,
        "5.7.13 This sender account is disabled by the gateway's operator; nothing was kept",
    )
    with world.gateway.store.engine.connect() as db:
        assert db.execute(select(func.count()).select_from(tables.letters)).scalar_one() == 0
    assert accounts.set_disabled(SENDER, None)
    code, text = await send_inbound(world, SENDER, MX_ADDRESS, signed)
    assert code == 250, text


async def test_a_session_logged_in_before_the_disable_cannot_deposit(gateway: Running) -> None:
    """Disabled between AUTH and DATA: the letter gets 550 5.7.13 and nothing is kept."""
    host, port = gateway.smtp["submission"]
    client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=True, validate_certs=False)
    await client.connect()
    try:
        await client.login(SENDER, PASSWORD)
        await client.mail(SENDER)
        await client.rcpt(BOB)
        AccountStore(gateway.store.engine).set_disabled(SENDER, gateway.registry.now())
        data = letter_bytes(SENDER, [BOB], "Mise en demeure", "Madame, Monsieur, ...")
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(data)
    finally:
        client.close()
    assert (refused.value.code, refused.value.message) == (
        550,
        "5.7.13 This sender account was disabled by the gateway's operator; nothing was kept",
    )
    with gateway.store.engine.connect() as db:
        assert db.execute(select(func.count()).select_from(tables.letters)).scalar_one() == 0


async def test_removing_a_sender_whose_letters_are_done_keeps_them(
    tmp_path: Path, database_url: str
) -> None:
    """Once its letter is accepted and the receipt mailed, remove succeeds: no more login, not
    listed, and the letter and all its evidence are still there."""
    config = write_config(tmp_path, database_url)
    added = await cli(
        "sender", "add", SENDER, "--password-stdin", "--config", str(config), stdin=PASSWORD
    )
    assert added[0] == 0
    clock = Clock()
    async with running(load_settings(config), clock=clock) as gateway:
        data = letter_bytes(SENDER, [BOB], "Mise en demeure", "Madame, Monsieur, ...")
        assert (await submit(gateway, SENDER, PASSWORD, [BOB], data))[0] == 250
        notice = await wait_for(lambda: notification_for(gateway, BOB), what="notice", within=90)
        link = link_in(notice[0])
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            code = await email_code(gateway, http, link, BOB)
            assert (await decide(http, link, "accept", code))[0] == 303
        await wait_for(
            lambda: proofs_for(gateway, SENDER, "ConsignmentAcceptance"), what="receipt", within=90
        )

        def mailed() -> bool:
            with gateway.store.engine.connect() as db:
                query = select(func.count()).where(tables.outbound.c.state == "pending")
                return db.execute(query).scalar_one() == 0

        await wait_for(mailed, what="every mail recorded as sent", within=90)
        with gateway.store.engine.connect() as db:
            evidence_before = db.execute(
                select(func.count()).select_from(tables.evidence)
            ).scalar_one()

        status, out, err = await cli("sender", "remove", SENDER, "--config", str(config))
        assert status == 0, err
        assert out.strip() == (
            f"sender {SENDER} removed: it can no longer log in; its letters and proofs are kept"
        )
        clock.advance(ACCOUNT_HELD)  # past the submission's login's held read of the account
        assert (await login(gateway, SENDER, PASSWORD))[0] == 535
        status, out, _ = await cli("sender", "list", "--config", str(config))
        assert SENDER not in out
        with gateway.store.engine.connect() as db:
            letters = db.execute(select(func.count()).select_from(tables.letters)).scalar_one()
            evidence = db.execute(select(func.count()).select_from(tables.evidence)).scalar_one()
        assert letters == 1
        assert evidence == evidence_before >= 3  # deposit, notification, acceptance
