"""bench.throughput prints what a measured gateway logged as an error (a 451 the load generator
stops on says why): the ERROR and CRITICAL records of its text log, tracebacks included."""

from __future__ import annotations

from pathlib import Path

from bench.throughput import logged_errors

LOG = """\
2026-12-05 15:24:51,957 INFO gateway.services.deposit: letter LRE-20261205-3COG3SSP deposited
2026-12-05 15:24:51,957 ERROR gateway.smtp_in.handler: unexpected error in an SMTP session
Traceback (most recent call last):
  File "gateway/smtp_in/processes.py", line 394, in _add
    elif self._timer is None or self._timer.when() > due:
AttributeError: 'uvloop.loop.Handle' object has no attribute 'when'
2026-12-05 15:24:51,968 WARNING gateway.smtp_in.handler: letter deposited but the client left
2026-12-05 15:24:52,197 CRITICAL gateway: the database is gone
2026-12-05 15:24:52,246 INFO gateway.scheduler: notification handed over to r1@example.com
"""


def test_the_errors_come_with_their_tracebacks_and_nothing_else(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(LOG)
    lines = LOG.splitlines()
    assert logged_errors(log) == [*lines[1:6], lines[7]]
    assert logged_errors(log, most=2) == lines[1:3]


def test_a_clean_log_gives_nothing(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(LOG.splitlines(keepends=True)[0])
    assert logged_errors(log) == []
