"""The outside contract as a user meets it: configuration errors, `ca`, reveal_sender, outbox."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support.client import notification_for, proofs_for, wait_for
from tests.support.gateway import SENDER, free_port, make_settings, smarthost, start
from tests.support.letters import BOB, anchors, deposit
from tests.support.openssl import assert_proof_verifies
from tests.support.sink_mta import SinkMTA


async def lre_gateway(*args: str, cwd: Path) -> tuple[int | None, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode, out.decode()


async def test_an_unknown_key_stops_start_up_naming_it(tmp_path: Path) -> None:
    """A typo in the configuration file stops every command with a message naming section.key."""
    config = tmp_path / "gateway.toml"
    config.write_text('[letters]\nnegligence_afer = "15d"\n')
    code, out = await lre_gateway("--config", str(config), "init", cwd=tmp_path)
    assert code == 2
    assert "letters.negligence_afer" in out
    assert not (tmp_path / "var").exists()


async def test_bad_value_stops_start_up_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[delivery]\nmode = "pigeon"\n')
    code, out = await lre_gateway("--config", str(config), "serve", cwd=tmp_path)
    assert code == 2
    assert "delivery.mode" in out


async def test_anchors_printed_by_ca_verify_a_proof_with_openssl(
    tmp_path: Path, database_url: str
) -> None:
    """A third party verifies a proof with openssl and the PEM printed by `lre-gateway ca`."""
    settings = make_settings(tmp_path, database_url)
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\ndata_dir = "{settings.gateway.data_dir}"\n[database]\nurl = "{database_url}"\n'
    )
    async with start(settings) as gateway:
        await deposit(gateway)
        proof = (
            await wait_for(
                lambda: proofs_for(gateway, SENDER, "SubmissionAcceptance"), what="proof of deposit"
            )
        )[0]
        code, pem = await lre_gateway("--config", str(config), "ca", cwd=tmp_path)
        assert code == 0
        assert pem.startswith("-----BEGIN CERTIFICATE-----")
        assert pem.encode().strip() == anchors(gateway).strip()
        assert_proof_verifies(proof.xml, proof.p7s, pem.encode(), tmp_path / "third-party")


async def test_in_notification_reveals_sender_and_subject(
    tmp_path: Path, database_url: str
) -> None:
    """reveal_sender = "in_notification": the notification names the sender and the subject."""
    settings = make_settings(tmp_path, database_url, letters={"reveal_sender": "in_notification"})
    async with start(settings) as gateway:
        await deposit(gateway)
        notice = (await wait_for(lambda: notification_for(gateway, BOB), what="notification"))[0]
        text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert SENDER in text
        assert "Mise en demeure" in text


async def test_after_acceptance_hides_sender_until_then(tmp_path: Path, database_url: str) -> None:
    """By default neither the notice nor the page names the sender before acceptance."""
    settings = make_settings(tmp_path, database_url)
    async with start(settings) as gateway:
        await deposit(gateway)
        notice = (await wait_for(lambda: notification_for(gateway, BOB), what="notification"))[0]
        assert SENDER not in notice.as_string()
        assert "Dupont" not in notice.as_string()


async def test_outbox_page_exists_only_in_outbox_mode(tmp_path: Path, database_url: str) -> None:
    """/dev/outbox lists mail in development and does not exist in smarthost mode."""
    async with SinkMTA() as sink:
        settings = make_settings(
            tmp_path / "a",
            database_url,
            delivery=smarthost(sink.port),
        )
        async with (
            start(settings) as gateway,
            aiohttp.ClientSession() as http,
            http.get(f"{gateway.web_url}/dev/outbox") as page,
        ):
            assert page.status == 404
    settings = make_settings(tmp_path / "b", database_url)
    async with start(settings) as gateway, aiohttp.ClientSession() as http:
        await deposit(gateway)
        await wait_for(lambda: notification_for(gateway, BOB), what="notification")
        async with http.get(f"{gateway.web_url}/dev/outbox") as page:
            assert page.status == 200
            assert BOB in await page.text()


async def test_serve_stops_cleanly_on_sigterm(tmp_path: Path, database_url: str) -> None:
    """`lre-gateway serve` listens on its ports, starts its certificate processes before any
    letter asks for a proof (the log says when they are ready), and exits 0 promptly on
    SIGTERM. Run as a service user whose home cannot be written, with no cache directory of
    its own, it keeps the certificate processes' cache in its data directory (and says so)."""
    settings = make_settings(tmp_path, database_url)
    (tmp_path / "home-is-a-file").write_text("")
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("LRE_GATEWAY_CACHE", "CACHE_DIRECTORY", "XDG_CACHE_HOME")
    }
    environment["HOME"] = str(tmp_path / "home-is-a-file" / "home")
    process, logged = await serving(tmp_path, database_url, environment)
    try:
        cache = settings.gateway.data_dir / "cache" / "certificates"
        assert f"kept in {cache}".encode() in logged
        kinds = {path.name.split("-", 1)[1].rsplit("-", 1)[0] for path in cache.glob("*.json")}
        assert kinds >= {"pre-subset", "prepared-glyphs"}
        assert cache.stat().st_mode & 0o777 == 0o700
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    finally:
        await ended(process)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "systemd"])
async def test_serve_stops_quietly_when_its_whole_process_group_is_signalled(
    tmp_path: Path, database_url: str, stop: signal.Signals
) -> None:
    """Ctrl-C in the terminal of `make run` (SIGINT) and systemd stopping the service
    (SIGTERM to every process of its control group) reach the certificate processes and their
    forkserver too: the gateway still stops as it does on a SIGTERM of its own, exit code 0,
    with no traceback and no error in its log, and no process of it is left."""
    process, _ = await serving(tmp_path, database_url, dict(os.environ), new_session=True)
    try:
        os.killpg(process.pid, stop)
        assert await asyncio.wait_for(process.wait(), 15) == 0
        assert process.stderr is not None
        after = (await process.stderr.read()).decode()
        assert "stopping" in after
        for sign in ("Traceback", "ERROR", "KeyboardInterrupt", "another one starts"):
            assert sign not in after, after
        for _ in range(100):  # the forkserver and resource tracker end with the gateway
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("processes of the gateway's group are left")
    finally:
        await ended(process, group=True)


async def serving(
    tmp_path: Path,
    database_url: str,
    environment: dict[str, str],
    *,
    new_session: bool = False,
) -> tuple[asyncio.subprocess.Process, bytes]:
    """`lre-gateway serve` started with a configuration file of its own (in a process group
    of its own with `new_session`), once its SMTP port greets, its web answers and its
    certificate processes are ready; with what it logged until then."""
    settings = make_settings(tmp_path, database_url)
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gateway]\ndata_dir = "{settings.gateway.data_dir}"\n'
        f'public_url = "{settings.gateway.public_url}"\n'
        f'[database]\nurl = "{database_url}"\n'
        f'[smtp]\nsubmission = "127.0.0.1:{port}"\nsubmissions = ""\ninbound = ""\n'
        f'[web]\nlisten = "127.0.0.1:{settings.web.listen[1]}"\n'
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "--config",
        str(config),
        "serve",
        cwd=tmp_path,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=new_session,
    )
    try:
        greeting = await wait_for_greeting(port)
        assert greeting.startswith(b"220 ")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{settings.web.listen[1]}/healthz") as health,
        ):
            assert health.status == 200
        assert process.stderr is not None
        logged = b""
        while b"certificate processes ready" not in logged:
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, logged.decode()  # stderr closed: the gateway exited
            logged += line
    except BaseException:
        await ended(process, group=new_session)
        raise
    return process, logged


async def ended(process: asyncio.subprocess.Process, *, group: bool = False) -> None:
    """Kill `process` (and its process group, with `group`) if it still runs."""
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def wait_for_greeting(port: int) -> bytes:
    for _ in range(200):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        greeting = await reader.readline()
        writer.close()
        return greeting
    raise AssertionError("the gateway never listened")
