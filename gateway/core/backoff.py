"""When to try a deferred delivery again, and when to stop trying (pure: time is an argument)."""

from __future__ import annotations

from datetime import datetime, timedelta

_MAX_DOUBLINGS = 64  # beyond this every sane maximum has long been reached


def next_attempt(
    attempts: int,
    now: datetime,
    *,
    base: timedelta,
    maximum: timedelta,
    jitter: float = 0.0,
) -> datetime:
    """The time of the next try after `attempts` failed ones: base * 2**(attempts-1), capped.

    `jitter` is a number in [0, 1) chosen by the caller (e.g. `random.random()`); it shortens the
    delay by up to a quarter so deliveries deferred together do not all come back at once.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    doublings = min(attempts - 1, _MAX_DOUBLINGS)
    seconds = min(base.total_seconds() * 2.0**doublings, maximum.total_seconds())
    return now + timedelta(seconds=seconds * (1.0 - jitter / 4))


def should_give_up(first_attempt: datetime, now: datetime, give_up_after: timedelta) -> bool:
    """True once a delivery has been failing for give_up_after or longer."""
    return now - first_attempt >= give_up_after
