"""JSON log lines: one object per line, the letter's reference, no link token."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logs.configure("json", stream=out)
    yield out
    logging.getLogger().removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_naming_a_reference_carries_it_and_link_tokens_are_masked(
    stream: io.StringIO,
) -> None:
    """The reference in the message becomes the `letter` field; /l/<token> never gets out."""
    log = logging.getLogger("gateway.test")
    log.info("letter %s opened at https://lre.example/l/%s", "LRE-20261130-ABCDEFGH", "s3cr3tT0ken")
    log.warning("no letter here")
    first, second = lines(stream)
    assert first["letter"] == "LRE-20261130-ABCDEFGH"
    assert first["level"] == "INFO"
    assert first["logger"] == "gateway.test"
    assert "s3cr3tT0ken" not in stream.getvalue()
    assert "letter" not in second


def test_the_tasks_letter_labels_its_lines_and_stays_in_its_task(stream: io.StringIO) -> None:
    """about_letter() labels the rest of its task's lines, and no other task's."""
    log = logging.getLogger("gateway.test")

    async def one_mail() -> None:
        logs.about_letter("LRE-20261130-QRSTUVWX")
        log.info("proof 1234 handed over")

    async def main() -> None:
        await asyncio.create_task(one_mail())
        log.info("scheduler round done")

    asyncio.run(main())
    mail, after = lines(stream)
    assert mail["letter"] == "LRE-20261130-QRSTUVWX"
    assert "letter" not in after


def test_an_error_keeps_its_traceback_inside_the_json_line(stream: io.StringIO) -> None:
    """An exception's traceback is the `error` field of its one line."""
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("gateway.test").exception("it failed")
    [line] = lines(stream)
    assert "ValueError: boom" in str(line["error"])


@given(
    created=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    later=st.floats(min_value=0, max_value=3, allow_nan=False),
)
def test_a_text_lines_time_is_the_logging_packages_own(created: float, later: float) -> None:
    """The text format writes each second's date and time once: any line's time reads as the
    logging package writes it, whichever line came before it."""
    formatter, reference = logs.TextFormatter(), logging.Formatter(logs.TEXT_FORMAT)
    for when in (created, created + later):
        record = logging.makeLogRecord({"msg": "m"})
        record.created, record.msecs = when, int((when - int(when)) * 1000)
        assert formatter.formatTime(record) == reference.formatTime(record)
        assert formatter.format(record) == reference.format(record)
