"""The life of a delivery: which evidence-bearing event may happen in which state.

    DEPOSITED|NOTIFIED ──NotificationForAcceptance──► NOTIFIED   (by mail and by SMS)
    DEPOSITED|NOTIFIED ──NotificationForAcceptanceFailure──► UNDELIVERABLE
    DEPOSITED|NOTIFIED ──ConsignmentAcceptance──► ACCEPTED ──ContentHandover──► HANDED_OVER
    DEPOSITED|NOTIFIED ──ConsignmentRejection──► REFUSED
    NOTIFIED ──AcceptanceRejectionExpiry──► NEGLECTED

A decision may arrive while the delivery is still DEPOSITED: the recipient can only hold the link
once the notification was handed over, so this is the short race before the hand-over is recorded,
and a hand-over recorded after a decision leaves the decided state as it is.

The SMS notice is a second notification channel: its hand-over is a NotificationForAcceptance
like the mail's, and its permanent failure is recorded (NotificationForAcceptanceFailure on the
SMS channel) without changing the delivery's state: the letter was still notified by mail.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from gateway.core.evidence import EvidenceType as E
from gateway.core.letter import State as S
from gateway.errors import IllegalTransition

TRANSITIONS: Final[dict[tuple[S, E], S]] = {
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


def advance(state: S, event: E) -> S:
    """The state after event, or IllegalTransition when the event cannot happen now."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(state, event) from None


def advance_sms(state: S, event: E) -> S:
    """The state after an event of the SMS channel: only a hand-over may notify a delivery."""
    if event is E.NotificationForAcceptance:
        return TRANSITIONS.get((state, event), state)
    if event is E.NotificationForAcceptanceFailure:
        return state
    raise IllegalTransition(state, event)


def acceptance_deadline(
    notified: datetime, period: timedelta, zone: ZoneInfo, *, whole_days: int | None
) -> datetime:
    """Last instant at which the recipient may still decide (aware UTC).

    Whole days count like the French LRE rule (CPCE R53-3): they run from the day after the
    notification and end at the end of the last day in the gateway's time zone. Shorter or
    uneven periods run exactly.
    """
    if not whole_days:
        return notified + period
    local_day: date = notified.astimezone(zone).date()
    last_day = local_day + timedelta(days=whole_days)
    end = datetime.combine(last_day, time(23, 59, 59), tzinfo=zone)
    return end.astimezone(notified.tzinfo)


def is_expired(deadline: datetime, now: datetime) -> bool:
    return now > deadline
