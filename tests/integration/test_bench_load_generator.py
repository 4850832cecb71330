"""The benchmarks' load generator (bench/loadgen.c, run by bench.throughput.run_load) against a
real SMTP server on loopback: each letter sent whole, in a session of its own, over STARTTLS
and AUTH, as the Python generator of the earlier runs sent it; a refusal stops the run with the
server's words."""

from __future__ import annotations

import asyncio
import re

import pytest

from bench.deposit import PASSWORD, SENDER
from bench.throughput import letter, run_load
from tests.support.sink_mta import SinkMTA


@pytest.mark.parametrize("client", ["c", "aiosmtplib"])
@pytest.mark.parametrize("size", [1024, 102400])
async def test_each_letter_arrives_as_written_over_tls_and_auth(client, size, monkeypatch):
    if client == "aiosmtplib":
        monkeypatch.setenv("LRE_BENCH_CLIENT", "aiosmtplib")
    else:
        monkeypatch.delenv("LRE_BENCH_CLIENT", raising=False)
    async with SinkMTA(tls="starttls", auth=True, user=SENDER, password=PASSWORD) as sink:
        elapsed, sent = await asyncio.to_thread(run_load, [sink.port], 40, 6, 3, size, True, "tag")
        assert sorted(s.n for s in sent) == list(range(40, 46))
        assert elapsed > 0
        assert all(s.data_latency > 0 for s in sent)
        assert (sink.connections, sink.logins, sink.quits) == (6, 6, 6)
        received = {m.rcpt_tos: m for m in sink.messages}
        for n in range(40, 46):
            message = received[(f"r{n}@example.com",)]
            assert (message.mail_from, message.tls, message.login) == (SENDER, True, SENDER)
            written = letter(n, size, "tag")
            # DATA ends the last line where the letter does not (the server keeps that CRLF)
            assert message.data == written + (b"" if written.endswith(b"\r\n") else b"\r\n")


async def test_postfix_sessions_go_without_auth(monkeypatch):
    monkeypatch.delenv("LRE_BENCH_CLIENT", raising=False)
    async with SinkMTA(tls="starttls") as sink:
        _, sent = await asyncio.to_thread(run_load, [sink.port], 0, 2, 2, 1024, False, "p")
        assert len(sent) == 2
        assert sink.logins == 0
        assert all(m.tls and m.login is None for m in sink.messages)


async def test_a_refused_letter_stops_the_run_with_the_servers_reply(monkeypatch):
    monkeypatch.delenv("LRE_BENCH_CLIENT", raising=False)
    refusal = "550 5.7.1 Not from this sender"
    async with SinkMTA(tls="starttls", auth=True, user=SENDER, password=PASSWORD) as sink:
        sink.inject("RCPT", refusal)
        with pytest.raises(RuntimeError, match=re.escape(f'RCPT answered "{refusal}"')):
            await asyncio.to_thread(run_load, [sink.port], 0, 1, 1, 1024, True, "r")
