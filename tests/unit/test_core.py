"""The pure core: transitions (table-driven, illegal pairs generated) and deadlines."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.core.evidence import EvidenceType as E
from gateway.core.letter import State as S
from gateway.core.lifecycle import TRANSITIONS, acceptance_deadline, advance
from gateway.errors import IllegalTransition

CASABLANCA = ZoneInfo("Africa/Casablanca")

# The whole table, spelled out here rather than read from TRANSITIONS (h11's tests do the same):
# a wrong extra entry in the code makes the complement test below fail.
EXPECTED: dict[tuple[S, E], S] = {
    (S.DEPOSITED, E.NotificationForAcceptance): S.NOTIFIED,
    (S.NOTIFIED, E.NotificationForAcceptance): S.NOTIFIED,
    (S.ACCEPTED, E.NotificationForAcceptance): S.ACCEPTED,
    (S.HANDED_OVER, E.NotificationForAcceptance): S.HANDED_OVER,
    (S.REFUSED, E.NotificationForAcceptance): S.REFUSED,
    (S.DEPOSITED, E.NotificationForAcceptanceFailure): S.UNDELIVERABLE,
    (S.NOTIFIED, E.NotificationForAcceptanceFailure): S.UNDELIVERABLE,
    (S.DEPOSITED, E.ConsignmentAcceptance): S.ACCEPTED,
    (S.NOTIFIED, E.ConsignmentAcceptance): S.ACCEPTED,
    (S.DEPOSITED, E.ConsignmentRejection): S.REFUSED,
    (S.NOTIFIED, E.ConsignmentRejection): S.REFUSED,
    (S.NOTIFIED, E.AcceptanceRejectionExpiry): S.NEGLECTED,
    (S.ACCEPTED, E.ContentHandover): S.HANDED_OVER,
}


@pytest.mark.parametrize(("state", "event", "after"), [(s, e, a) for (s, e), a in EXPECTED.items()])
def test_allowed_transitions(state: S, event: E, after: S) -> None:
    """Each pair of the expected table leads to the expected state."""
    assert advance(state, event) is after


# The complement of the literal table above, not of TRANSITIONS.
ILLEGAL = [(s, e) for s in S for e in E if (s, e) not in EXPECTED]


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_every_other_pair_is_refused(state: S, event: E) -> None:
    """Every pair missing from the expected table raises IllegalTransition."""
    with pytest.raises(IllegalTransition):
        advance(state, event)


def test_the_table_is_exactly_the_expected_one() -> None:
    """TRANSITIONS holds exactly the pinned pairs and outcomes, nothing more."""
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize("final", [S.REFUSED, S.NEGLECTED, S.UNDELIVERABLE, S.HANDED_OVER])
def test_terminal_states_take_no_second_decision(final: S) -> None:
    """A decided letter never yields a second decision's proof."""
    for event in (E.ConsignmentAcceptance, E.ConsignmentRejection, E.AcceptanceRejectionExpiry):
        with pytest.raises(IllegalTransition):
            advance(final, event)


def test_fifteen_days_end_at_the_end_of_the_fifteenth_day_after_notification() -> None:
    """CPCE R53-3: notified on 27 Nov (Casablanca) → decide until 12 Dec 23:59:59 local."""
    notified = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)  # 23:30 in Casablanca (UTC+1)
    deadline = acceptance_deadline(notified, timedelta(days=15), CASABLANCA, whole_days=15)
    local = deadline.astimezone(CASABLANCA)
    assert (local.year, local.month, local.day, local.hour, local.minute) == (2026, 12, 12, 23, 59)


def test_late_evening_utc_counts_in_the_gateways_day() -> None:
    """23:30 UTC on 27 Nov is already 28 Nov in Casablanca: the days count from 29 Nov."""
    notified = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    deadline = acceptance_deadline(notified, timedelta(days=1), CASABLANCA, whole_days=1)
    assert deadline.astimezone(CASABLANCA).day == 29


def test_short_periods_run_exactly() -> None:
    """A period that is not whole days ends exactly that long after the notification."""
    notified = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    assert acceptance_deadline(notified, timedelta(seconds=3), CASABLANCA, whole_days=None) == (
        notified + timedelta(seconds=3)
    )


def test_core_is_pure() -> None:
    """gateway/core imports only pure standard modules and gateway.errors / gateway.core."""
    allowed = {
        "__future__",
        "dataclasses",
        "datetime",
        "enum",
        "re",
        "typing",
        "urllib.parse",
        "zoneinfo",
    }
    for path in (Path(__file__).parents[2] / "gateway" / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert module in allowed or module.startswith(("gateway.core", "gateway.errors")), (
                    f"{path.name} imports {module}"
                )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name in allowed, f"{path.name} imports {alias.name}"
