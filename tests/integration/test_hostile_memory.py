"""Memory stays bounded after hostile letters: no gateway process keeps hundreds of MB.

The real `lre-gateway serve` runs as a subprocess (bench/crash.py's `CrashRun`, with its
smarthost and SMS sinks) in its own process group; the resident memory of each process of that
group (the server, and the forkserver and certificate processes it started) is read from /proc
once an ordinary letter has gone the whole way (everything warmed up), then again after:
- letters at the edge of the `[mime]` limits, accepted and taken the whole way (parsed, sealed,
  a PDF certificate made, proof mailed): a folded 60 kB Subject (a 200 kB one once grew the
  certificate process by 700 MB), 999 flat parts, 31 levels of nesting, 99 parameters;
- the hostile letters over the limits (a folded 200 kB Subject, 80 kB of parameters, 100,000
  parts, depth 1,000), refused at DATA.
No process may have grown by more than GROWTH, and none may hold more than CEILING; each letter
is answered at DATA within ANSWER seconds. Measured on the 2-vCPU CI machine (SQLite): the
server 137 -> 144 MB, the certificate processes 163-173 MB, unchanged or +4 MB (a folded
200 kB Subject once grew one by 700 MB).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from bench.crash import SENDER, CrashRun, Letter, make_letter
from tests.support.memory import group_rss, megabytes

GROWTH = 100_000_000  # bytes one process may have grown by after all these letters
CEILING = 400_000_000  # bytes any one process may hold at all
ANSWER = 10.0  # seconds within which every one of these letters is answered at DATA


def _letter(number: int, head: bytes, body: bytes) -> Letter:
    recipient = f"mem{number}@example.com"
    data = (
        f"From: Mem <{SENDER}>\r\nTo: {recipient}\r\n"
        f"Message-ID: <mem-{number}-{hashlib.sha256(head).hexdigest()[:8]}@example.ma>\r\n"
    ).encode()
    return Letter(9, number, (recipient,), {}, data + head + b"\r\n" + body)


def _parts(count: int) -> tuple[bytes, bytes]:
    body = b"".join(b"--zz\r\n\r\npart\r\n" for _ in range(count)) + b"--zz--\r\n"
    return b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=zz\r\n", body


def _nested(depth: int) -> tuple[bytes, bytes]:
    head = b"Subject: nested\r\nContent-Type: multipart/mixed; boundary=b0\r\n"
    body = b"--b0\r\n"
    for level in range(1, depth):
        body += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level)
    return head, body + b"\r\ninnermost\r\n"


EDGE: dict[str, tuple[bytes, bytes]] = {
    "60 kB folded Subject": (b"Subject: " + b"word word\r\n " * 5_000 + b"end\r\n", b"x\r\n"),
    "999 flat parts": _parts(999),
    "31 levels of nesting": _nested(31),
    "99 Content-Type parameters": (
        b"Subject: params\r\nContent-Type: text/plain" + b";\r\n a=b" * 98 + b"\r\n",
        b"x\r\n",
    ),
}

HOSTILE: dict[str, tuple[bytes, bytes]] = {
    "200 kB folded Subject": (b"Subject: " + b"word word\r\n " * 20_000 + b"end\r\n", b"x\r\n"),
    "80 kB Content-Type of parameters": (
        b"Subject: p\r\nContent-Type: text/plain" + b";\r\n a=b" * 11_500 + b"\r\n",
        b"x\r\n",
    ),
    "100,000 flat parts": _parts(100_000),
    "nesting depth 1,000": _nested(1_000),
}


async def test_no_gateway_process_keeps_hundreds_of_mb_after_hostile_letters(
    tmp_path: Path, database_url: str
) -> None:
    crash = CrashRun(tmp_path, database_url, clients=0)
    gateway = await crash.setup()
    try:
        warm = await crash.send(make_letter(0, 0))
        assert warm.outcome == "acked", warm.reply
        await crash.wait(crash.complete, "the ordinary letter's proof and notification", 120)
        assert gateway.process is not None
        before = group_rss(gateway.process.pid)
        for number, (name, (head, body)) in enumerate(EDGE.items(), start=1):
            started = time.monotonic()
            letter = await crash.send(_letter(number, head, body))
            assert letter.outcome == "acked", f"{name}: {letter.reply}"
            assert time.monotonic() - started < ANSWER, name
        for number, (name, (head, body)) in enumerate(HOSTILE.items(), start=100):
            started = time.monotonic()
            letter = await crash.send(_letter(number, head, body))
            assert letter.outcome == "refused", f"{name}: {letter.reply}"
            assert time.monotonic() - started < ANSWER, name
        await crash.wait(crash.complete, "the edge letters' proofs and notifications", 300)
        after = group_rss(gateway.process.pid)
    finally:
        report = await crash.finish()
    assert report.ok, report.summary()
    sizes = {pid: (megabytes(before.get(pid, 0)), megabytes(size)) for pid, size in after.items()}
    measured = f"RSS in MB, pid: (before, after): {sizes}"
    for pid, size in after.items():
        assert size <= CEILING, f"process {pid} holds {megabytes(size):.0f} MB; {measured}"
        if pid in before:
            grown = size - before[pid]
            assert grown <= GROWTH, f"process {pid} grew {megabytes(grown):.0f} MB; {measured}"
    assert gateway.process.pid in before  # the server itself was measured both times
