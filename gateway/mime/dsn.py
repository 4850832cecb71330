"""Delivery status notifications (RFC 3464): read a multipart/report into plain facts (pure).

Only `multipart/report; report-type=delivery-status` with a `message/delivery-status` part is a
DSN; anything else is None. Each per-recipient block gives its Action (failed, delayed,
delivered, relayed, expanded), its Status (an RFC 3463 code) and its Diagnostic-Code.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


@dataclass(frozen=True)
class DsnRecipient:
    final_recipient: str
    action: str
    status: str
    diagnostic: str

    @property
    def permanent_failure(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


@dataclass(frozen=True)
class Dsn:
    reporting_mta: str
    recipients: tuple[DsnRecipient, ...]


def parse_dsn(content: bytes) -> Dsn | None:
    """The DSN carried by content, or None when content is not an RFC 3464 report."""
    message = email.message_from_bytes(content, policy=email.policy.compat32)
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        return None
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            return _report(part)
    return None


def _report(part: Message) -> Dsn | None:
    blocks = part.get_payload()
    if not isinstance(blocks, list) or len(blocks) < 2:
        return None
    messages = [block for block in blocks if isinstance(block, Message)]
    if len(messages) != len(blocks):
        return None
    per_message, per_recipient = messages[0], messages[1:]
    recipients = []
    for block in per_recipient:
        action = _value(block, "Action").lower()
        status = _value(block, "Status").split()[0] if _value(block, "Status") else ""
        if not action or not _STATUS.match(status):
            continue
        recipients.append(
            DsnRecipient(
                final_recipient=_address(_value(block, "Final-Recipient")),
                action=action,
                status=status,
                diagnostic=_value(block, "Diagnostic-Code"),
            )
        )
    if not recipients:
        return None
    return Dsn(_address(_value(per_message, "Reporting-MTA")), tuple(recipients))


def _value(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _address(field: str) -> str:
    """`rfc822; bob@example.ma` → `bob@example.ma` (the type is dropped)."""
    _, sep, value = field.partition(";")
    return (value if sep else field).strip()
