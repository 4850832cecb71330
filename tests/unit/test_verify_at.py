"""`lre-gateway verify --at`: the validation moment it reads (pure)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from gateway.cli import validation_moment


def test_a_date_alone_means_midnight_utc() -> None:
    """`--at 2031-06-30` validates as of 2031-06-30 00:00 UTC."""
    assert validation_moment("2031-06-30") == datetime(2031, 6, 30, tzinfo=UTC)


def test_a_time_with_an_offset_keeps_its_zone() -> None:
    """An explicit offset is honoured, a time without one is UTC."""
    plus_two = validation_moment("2031-06-30T12:00:00+02:00")
    assert plus_two == datetime(2031, 6, 30, 10, 0, tzinfo=UTC)
    assert plus_two.utcoffset() == timedelta(hours=2)
    assert validation_moment("2031-06-30T12:00") == datetime(2031, 6, 30, 12, tzinfo=UTC)
    assert validation_moment("2031-06-30T12:00Z") == datetime(2031, 6, 30, 12, tzinfo=UTC)


def test_anything_else_is_refused_with_the_expected_form() -> None:
    """`--at next-year` is an argument error that shows a valid example."""
    with pytest.raises(argparse.ArgumentTypeError, match="2031-06-30T12:00:00"):
        validation_moment("next-year")
