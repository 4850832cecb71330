"""Why a negative event happened: the EventReason code URI and its standard wording (pure).

ETSI EN 319 522 carries the reason of a negative event as `EventReasons/EventReason` with a code
URI and free `Details`. The standard's own reason URIs were not available to this project, so the
codes are URIs under the gateway's namespace (`urn:lre-gateway:event-reason:`); docs/evidence.md
lists them. Details are the diagnostic when there is one (a remote server's reply), else the
sentence below.
"""

from __future__ import annotations

from typing import Final

from gateway.core.evidence import EvidenceType

REASON_URI: Final = "urn:lre-gateway:event-reason:"
RECIPIENT_REFUSED: Final = REASON_URI + "recipient-refused"
ACCEPTANCE_PERIOD_EXPIRED: Final = REASON_URI + "acceptance-period-expired"
NOTIFICATION_UNDELIVERABLE: Final = REASON_URI + "notification-undeliverable"
SMS_NOTIFICATION_UNDELIVERABLE: Final = REASON_URI + "sms-notification-undeliverable"
RETENTION_PERIOD_ENDED: Final = REASON_URI + "retention-period-ended"

NEGATIVE_EVENTS: Final = frozenset(
    {
        EvidenceType.ConsignmentRejection,
        EvidenceType.AcceptanceRejectionExpiry,
        EvidenceType.NotificationForAcceptanceFailure,
    }
)

DETAILS: Final = {
    RECIPIENT_REFUSED: "The recipient refused the letter.",
    ACCEPTANCE_PERIOD_EXPIRED: (
        "The recipient neither accepted nor refused the letter before the acceptance deadline."
    ),
    NOTIFICATION_UNDELIVERABLE: "The notification mail could not be delivered to the recipient.",
    SMS_NOTIFICATION_UNDELIVERABLE: "The notification SMS could not be delivered to the recipient.",
    RETENTION_PERIOD_ENDED: (
        "The retention period ended: the letter's content and personal data were erased."
    ),
}


def default_reason_code(event: EvidenceType, *, channel: str | None = None) -> str | None:
    """The reason code of `event` (None for the events that are not negative)."""
    if event is EvidenceType.ConsignmentRejection:
        return RECIPIENT_REFUSED
    if event is EvidenceType.AcceptanceRejectionExpiry:
        return ACCEPTANCE_PERIOD_EXPIRED
    if event is EvidenceType.NotificationForAcceptanceFailure:
        return SMS_NOTIFICATION_UNDELIVERABLE if channel == "sms" else NOTIFICATION_UNDELIVERABLE
    if event is EvidenceType.ContentPurged:
        return RETENTION_PERIOD_ENDED
    return None


def reason_details(code: str, diagnostic: str | None) -> str:
    """The Details of an EventReason: the diagnostic when given, else the code's sentence."""
    if diagnostic:
        return diagnostic
    return DETAILS.get(code, "")
