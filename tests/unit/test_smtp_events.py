"""An SMTP process's events reach the main process counted, one datagram for many letters.

ForwardedMetrics (the child's side) over a real datagram socket pair, read by the main
process's side (`_count`) into a real Metrics: every reply, deposit and DATA timing is counted
once; the first deposit's datagram leaves with its DATA reply, and the deposits that follow
within WAKE_GAP share the next datagram.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
import uvloop

from gateway.metrics import Metrics
from gateway.smtp_in.processes import WAKE_GAP, ForwardedMetrics, _count


def _session(metrics: Metrics, recipients: int) -> None:
    """The events of one session that deposits a letter, in the order the child makes them."""
    for code in ("220", "250", "220", "250", "235", "250", "250", "354"):
        metrics.smtp_reply("submission", code)
    metrics.deposited("SMTP AUTH PLAIN over STARTTLS (TLSv1.3)", recipients)
    metrics.data_answered("submission", 0.004)
    metrics.smtp_reply("submission", "250")  # the DATA reply: the deposit is told now


def _datagrams(end: socket.socket) -> list[dict[str, object]]:
    found = []
    while True:
        try:
            found.append(json.loads(end.recv(65536)))
        except BlockingIOError:
            return [counts for kind, counts in found if kind == "events"]


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_letters_deposited_together_are_counted_each_and_told_in_one_datagram() -> None:
    mine, theirs = socket.socketpair(type=socket.SOCK_DGRAM)
    mine.setblocking(False)
    with mine, theirs:
        child = ForwardedMetrics(theirs)

        _session(child, recipients=2)
        first = _datagrams(mine)
        for _ in range(4):  # the next letters, within WAKE_GAP of the first's datagram
            _session(child, recipients=1)
        held = _datagrams(mine)
        child.flush()  # as the timer at WAKE_GAP does
        rest = _datagrams(mine)

        main = Metrics()
        told = [_count(main, counts) for counts in first + rest]

    assert len(first) == 1
    assert told[0] == 1  # the first letter woke the scheduler at once
    assert held == []  # the four after it waited for the gap ...
    assert len(rest) == 1
    assert told[1:] == [4]  # ... and went together
    assert _value(main, "lre_letters_deposited_total", door="smtp") == 5
    assert _value(main, "lre_evidence_issued_total", type="SubmissionAcceptance") == 6
    assert _value(main, "lre_smtp_replies_total", listener="submission", code="250") == 5 * 5
    assert _value(main, "lre_smtp_replies_total", listener="submission", code="354") == 5
    assert _value(main, "lre_smtp_data_seconds_count", listener="submission") == 5


async def test_replies_without_a_deposit_wait_for_the_flush() -> None:
    mine, theirs = socket.socketpair(type=socket.SOCK_DGRAM)
    mine.setblocking(False)
    with mine, theirs:
        child = ForwardedMetrics(theirs)
        child.smtp_reply("submission", "535")
        child.smtp_reply("submission", "535")
        assert _datagrams(mine) == []  # nothing to wake anyone for: sent FLUSH_AFTER later
        child.flush()
        main = Metrics()
        assert [_count(main, counts) for counts in _datagrams(mine)] == [0]
    assert _value(main, "lre_smtp_replies_total", listener="submission", code="535") == 2


def test_events_not_understood_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    assert _count(Metrics(), {"replies": [["submission"]]}) == 0
    assert any("not understood" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_deposits_told_when_the_gap_ends_within_a_millisecond(loop: str) -> None:
    """The SMTP processes' loop (uvloop) gives a timer due in under a millisecond as a plain
    handle, without when(): the events that follow before it runs are gathered all the same
    (the next one failed the DATA reply of a letter already committed: 451 for a kept letter)."""

    async def letters() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        mine, theirs = socket.socketpair(type=socket.SOCK_DGRAM)
        mine.setblocking(False)
        with mine, theirs:
            child = ForwardedMetrics(theirs)
            _session(child, recipients=1)  # told at once
            # the next deposit comes as the gap after that datagram ends: in 0.1 ms
            child._sent_at = asyncio.get_running_loop().time() - WAKE_GAP + 0.0001
            _session(child, recipients=1)
            _session(child, recipients=1)
            first = _datagrams(mine)
            child.flush()  # as its timer does
            return first, _datagrams(mine)

    run = uvloop.run if loop == "uvloop" else asyncio.run
    first, later = run(letters())
    main = Metrics()
    told = [_count(main, counts) for counts in first + later]
    assert sum(told) == 3
    assert _value(main, "lre_letters_deposited_total", door="smtp") == 3
    assert _value(main, "lre_smtp_data_seconds_count", listener="submission") == 3
