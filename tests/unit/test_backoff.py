"""Retry timing of outbound deliveries."""

from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.backoff import next_attempt, should_give_up

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BASE = timedelta(seconds=30)
MAXIMUM = timedelta(hours=1)


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (1, timedelta(seconds=30)),
        (2, timedelta(minutes=1)),
        (3, timedelta(minutes=2)),
        (7, timedelta(minutes=32)),
        (8, timedelta(hours=1)),
        (9, timedelta(hours=1)),
        (10_000, timedelta(hours=1)),
    ],
)
def test_delay_doubles_until_the_maximum(attempts, delay):
    """Each failure doubles the wait, never beyond the configured maximum, even after many."""
    assert next_attempt(attempts, NOW, base=BASE, maximum=MAXIMUM) == NOW + delay


def test_jitter_shortens_by_at_most_a_quarter():
    """The caller's random number only ever brings the next try forward, by up to 25%."""
    later = next_attempt(3, NOW, base=BASE, maximum=MAXIMUM, jitter=0.999999)
    assert NOW + timedelta(seconds=90) < later < NOW + timedelta(minutes=2)


@pytest.mark.parametrize(("attempts", "jitter"), [(0, 0.0), (1, 1.0), (1, -0.1)])
def test_nonsense_arguments_are_refused(attempts, jitter):
    """Zero attempts or a jitter outside [0, 1) is a caller's bug."""
    with pytest.raises(ValueError, match="must be"):
        next_attempt(attempts, NOW, base=BASE, maximum=MAXIMUM, jitter=jitter)


def test_give_up_once_the_period_has_passed():
    """A delivery failing for exactly give_up_after is abandoned, one second less is not."""
    period = timedelta(hours=24)
    assert not should_give_up(NOW, NOW + period - timedelta(seconds=1), period)
    assert should_give_up(NOW, NOW + period, period)
