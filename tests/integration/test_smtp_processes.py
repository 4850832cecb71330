"""SMTP submission served by processes of their own (`smtp.processes`, smtp_in/processes.py).

Each letter is committed by a child process before its 250; the main process's scheduler is
woken by each deposit and its metrics count the children's letters; a child that dies is started
again, and the letters it acknowledged are kept (a crash logged as an error, a SIGTERM not); one
that cannot serve stops the gateway's start with one sentence; when the main process is killed
(SIGKILL), its SMTP processes exit and free the port; one started again serves at the priority
the gateway started with, not the lowered main process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiosmtplib
import pytest

from gateway.app import Running
from gateway.errors import SmtpProcessFailed
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.smtp_in.processes import smtp_processes
from gateway.smtp_in.server import SUBMISSION, listening_sockets
from tests.support.client import letter_bytes, submit, wait_for
from tests.support.gateway import PASSWORD, SENDER, free_port, make_settings, start
from tests.support.letters import kept

BOB = "bob@example.com"


@pytest.fixture
async def gateway(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    settings = make_settings(tmp_path, database_url, smtp={"processes": 2})
    async with start(settings) as running:
        yield running


@pytest.mark.parametrize(("uvloop", "loop"), [(True, "uvloop"), (False, "asyncio")])
async def test_the_smtp_processes_run_on_uvloop_unless_told_not_to(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture, uvloop: bool, loop: str
) -> None:
    """smtp.uvloop (default true): each SMTP process says, once it serves, which event loop it
    runs; letters are deposited over STARTTLS on either."""
    caplog.set_level(logging.INFO, logger="gateway.smtp_in.processes")
    settings = make_settings(tmp_path, database_url, smtp={"processes": 2, "uvloop": uvloop})
    assert settings.smtp.uvloop is uvloop
    async with start(settings) as running:
        said = [r.getMessage() for r in caplog.records if "serves (event loop" in r.getMessage()]
        assert len(said) == 2
        assert all(message.endswith(f"(event loop: {loop})") for message in said)
        replies = [await _send(running, f"Lettre {n}") for n in range(2)]
        assert [code for code, _ in replies] == [250, 250]
        host, port = running.smtp["submissions"]  # TLS from the first byte: the loop's own
        data = letter_bytes(SENDER, [BOB], "Lettre TLS", "Madame, Monsieur,\n")
        async with aiosmtplib.SMTP(
            hostname=host, port=port, use_tls=True, validate_certs=False
        ) as implicit:
            await implicit.login(SENDER, PASSWORD)
            _, reply = await implicit.sendmail(SENDER, [BOB], data)
        assert "deposited" in reply
        how = sorted(stored.letter.sender_authentication for stored in await kept(running))
        assert len(how) == 3
        assert how[0].startswith("SMTP AUTH PLAIN over STARTTLS (TLSv1.")
        assert how[1].startswith("SMTP AUTH PLAIN over STARTTLS (TLSv1.")
        assert how[2].startswith("SMTP AUTH PLAIN over implicit TLS (TLSv1.")


def _pids(gateway: Running) -> list[int]:
    assert gateway.smtp_processes is not None
    return gateway.smtp_processes.pids


async def _send(gateway: Running, subject: str) -> tuple[int, str]:
    data = letter_bytes(SENDER, [BOB], subject, "Madame, Monsieur,\n")
    return await submit(gateway, SENDER, PASSWORD, [BOB], data)


async def test_letters_are_committed_by_the_smtp_processes_and_wake_the_scheduler(
    gateway: Running,
) -> None:
    pids = _pids(gateway)
    assert len(pids) == 2
    assert os.getpid() not in pids
    woken = asyncio.Event()
    gateway.registry.wake = woken.set  # what the main process does after each child's deposit

    replies = [await _send(gateway, f"Lettre {n}") for n in range(3)]

    assert [code for code, _ in replies] == [250, 250, 250]
    letters = await kept(gateway)
    assert sorted(k.letter.subject for k in letters) == ["Lettre 0", "Lettre 1", "Lettre 2"]
    assert all(k.letter.reference in reply for k, (_, reply) in zip(
        sorted(letters, key=lambda k: k.letter.subject), replies, strict=True
    ))  # fmt: skip
    await asyncio.wait_for(woken.wait(), 10)

    # the children's counts reach the main process's /metrics
    def counted() -> str:
        text = gateway.registry.metrics.exposition().decode()
        return text if 'lre_letters_deposited_total{door="smtp"} 3.0' in text else ""

    exposition = await wait_for(counted, what="three deposits counted")
    assert 'lre_smtp_replies_total{code="250",listener="submission"}' in exposition
    assert 'lre_smtp_data_seconds_count{listener="submission"} 3.0' in exposition

    # so do the replies of a session that deposits nothing (gathered, then sent a moment later)
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await submit(gateway, SENDER, "not the password", [BOB], b"")
    refused = re.compile(r'lre_smtp_replies_total\{code="535",listener="submission"\} [1-9]')
    await wait_for(
        lambda: refused.search(gateway.registry.metrics.exposition().decode()),
        what="the refused logins counted",
    )


async def test_an_smtp_process_that_dies_is_started_again(
    gateway: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """kill -9 of an SMTP process: the letters acknowledged before are kept, another serves;
    the log says it crashed (ERROR)."""
    before = [await _send(gateway, f"Avant {n}") for n in range(4)]  # both children, likely
    assert [code for code, _ in before] == [250] * 4
    first = _pids(gateway)
    os.kill(first[0], signal.SIGKILL)

    replaced = await wait_for(
        lambda: (pids := _pids(gateway)) and first[0] not in pids and len(pids) == 2,
        what="the SMTP process started again",
    )
    assert replaced
    assert any(
        r.levelname == "ERROR" and "exited (code -9): starting it again" in r.getMessage()
        for r in caplog.records
    )
    for n in range(4):  # whichever process accepts each connection, every letter is deposited
        code, _ = await _send(gateway, f"Lettre {n}")
        assert code == 250
    subjects = sorted(k.letter.subject for k in await kept(gateway))
    assert subjects == [f"Avant {n}" for n in range(4)] + [f"Lettre {n}" for n in range(4)]


async def test_an_smtp_process_stopped_by_a_sigterm_is_started_again_without_an_error(
    gateway: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM to one SMTP process alone: it says it stops before it ends, so its exit is no
    crash (no ERROR: with systemd's SIGTERM to the whole group the children end before the
    main process has handled its own, and the log stayed clean only by chance); the gateway
    still serves on, with another one started in its place."""
    first = _pids(gateway)
    os.kill(first[0], signal.SIGTERM)
    await wait_for(
        lambda: (pids := _pids(gateway)) and first[0] not in pids and len(pids) == 2,
        what="the SMTP process started again",
    )
    own = [r for r in caplog.records if r.name == "gateway.smtp_in.processes"]
    assert "SMTP process 0 stopped on a SIGTERM of its own: starting it again" in [
        r.getMessage() for r in own if r.levelname == "WARNING"
    ]
    assert [r.getMessage() for r in own if r.levelname == "ERROR"] == []
    code, _ = await _send(gateway, "Après")
    assert code == 250


@contextlib.asynccontextmanager
async def cannot_serve(
    settings: Settings, sockets: Mapping[str, socket.socket], *, metrics: Metrics
) -> AsyncIterator[None]:
    """An SMTP process's entry that fails as it starts (what a broken installation would do)."""
    raise RuntimeError("this SMTP process cannot serve")
    yield  # pragma: no cover - never reached


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_smtp_process_that_cannot_serve_stops_the_start_with_one_sentence(
    tmp_path: Path, database_url: str
) -> None:
    """The start waits for each SMTP process to serve; one that exits first is named, with its
    exit code, instead of a gateway that listens on a port nobody answers."""
    settings = make_settings(tmp_path, database_url, smtp={"processes": 1})
    sockets = listening_sockets(settings.smtp, SUBMISSION)
    try:
        with pytest.raises(SmtpProcessFailed, match=r"^SMTP process 0 exited \(code 1\) before"):
            async with smtp_processes(
                settings, 1, sockets, metrics=Metrics(), wake=lambda: None, serve=cannot_serve
            ):
                pytest.fail("started")  # pragma: no cover
    finally:
        for sock in sockets.values():
            sock.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_when_the_main_process_is_killed_its_smtp_and_certificate_processes_exit(
    tmp_path: Path, database_url: str
) -> None:
    """SIGKILL to the main process alone (not its process group): every process it started
    ends too, the SMTP processes, the certificate processes and their forkserver."""
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
data_dir = "{tmp_path / "var"}"
public_url = "http://127.0.0.1:{free_port()}"
[database]
url = "{database_url}"
[smtp]
submission = "127.0.0.1:{port}"
submissions = ""
inbound = ""
processes = 2
[web]
listen = "127.0.0.1:{free_port()}"
""")
    env = {**os.environ, "LRE_GATEWAY_CONFIG": str(config)}
    gateway = [sys.executable, "-m", "gateway"]
    init = await asyncio.create_subprocess_exec(*gateway, "init", env=env)
    assert await init.wait() == 0
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        server = await asyncio.create_subprocess_exec(*gateway, "serve", env=env, stderr=err)
    try:
        started: list[int] = await wait_for(
            lambda: _started_pids(log) if len(_started_pids(log)) == 2 else [],
            within=180,  # init's and serve's start-up, slow on a loaded machine
            what="two SMTP processes",
        )
        # serving, the main process (background work, web) runs smtp.main_nice (5) nicer than
        # the SMTP processes and under SCHED_IDLE, every thread of it, those started before
        # too, but SQLite's writer (its write lock holds the SMTP processes' deposits) and the
        # thread that starts SMTP processes; the SMTP processes kept the start's priority
        own = (os.nice(0), os.SCHED_OTHER)
        lowered = (min(own[0] + 5, 19), os.SCHED_IDLE)
        await wait_for(lambda: _priority(server.pid) == lowered, what="the main process lowered")
        threads = _threads_priority(server.pid)
        assert (threads.pop("lre-db"), threads.pop("lre-spawn")) == ({own}, {own})
        # the main thread and the others, by name (an unnamed one goes by the process's)
        assert {name: p for name, p in threads.items() if p != {lowered}} == {}
        assert [_priority(pid) for pid in started] == [own, own]
        # one killed is started again, by the thread kept at the start's priority: it serves
        # at that priority (no privilege needed to go back to it)
        os.kill(started[0], signal.SIGKILL)
        restarted: int = await wait_for(
            lambda: _started_pids(log)[2] if len(_started_pids(log)) == 3 else 0,
            within=180,
            what="the SMTP process started again",
        )
        assert _priority(restarted) == own
        serving = [started[1], restarted]
        await wait_for(
            lambda: "certificate processes ready" in log.read_text(errors="replace"),
            within=180,
            what="the certificate processes",
        )
        descendants = _descendants(server.pid)
        assert set(serving) < set(descendants)  # and the forkserver, certificate processes ...
        assert len(descendants) >= len(serving) + 2
        server.kill()
        await server.wait()
        await wait_for(lambda: not any(map(_alive, descendants)), what="every process to exit")
        with socket.create_server(("127.0.0.1", port)):  # the port is free for a restart
            pass
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


def _started_pids(log: Path) -> list[int]:
    """The pids the gateway logged as it started its SMTP processes."""
    return [
        int(line.rsplit("pid ", 1)[1].split(")")[0])
        for line in log.read_text(errors="replace").splitlines()
        if "SMTP process" in line and "started (pid" in line
    ]


def _descendants(pid: int) -> list[int]:
    """The processes `pid` started, and those they started, and so on."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            text = stat.read_text()
            parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2 :].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _priority(pid: int, task: Path | None = None) -> tuple[int, int]:
    """The niceness and scheduling policy of process `pid` (its main thread), or of `task`."""
    stat = ((task or Path(f"/proc/{pid}")) / "stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[16]), int(fields[38])  # fields 19 and 41 of proc(5)


def _threads_priority(pid: int) -> dict[str, set[tuple[int, int]]]:
    """The priorities of the threads of process `pid`, by the name the system knows them by."""
    found: dict[str, set[tuple[int, int]]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # ended meanwhile
            found.setdefault((task / "comm").read_text().strip(), set()).add(_priority(pid, task))
    return found
