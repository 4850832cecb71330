"""The RFC 5322 message of a deposit made with JSON fields and attachments (pure, deterministic).

The same fields and files always give the same bytes: the date is the deposit's, the
Message-ID and the MIME boundary derive from the request's digest. Recipients' mobile numbers
and languages become the LRE-Recipient-Phone and LRE-Recipient-Language headers, read then by
the same code as an SMTP deposit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any, Final

MAX_TEXT: Final = 1_000_000  # characters of the letter's text


class FieldError(ValueError):
    """A field of the JSON part is missing or wrong; the message names it."""


@dataclass(frozen=True)
class Recipient:
    address: str
    phone: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Fields:
    subject: str
    text: str
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class File:
    name: str
    content_type: str
    data: bytes


def read_fields(raw: Any) -> Fields:
    """The JSON part's fields, checked: {"subject", "text", "recipients": [{"address", ...}]}."""
    if not isinstance(raw, dict):
        raise FieldError("the letter part must be a JSON object")
    unknown = set(raw) - {"subject", "text", "recipients"}
    if unknown:
        raise FieldError(f"unknown field(s): {', '.join(sorted(unknown))}")
    subject, text, recipients = raw.get("subject"), raw.get("text", ""), raw.get("recipients")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 998:
        raise FieldError("subject: a non-empty string of at most 998 characters is required")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise FieldError(f"text: a string of at most {MAX_TEXT} characters is required")
    if not isinstance(recipients, list) or not recipients:
        raise FieldError("recipients: a non-empty list of {address, phone?, language?} is required")
    read = []
    for n, item in enumerate(recipients):
        if isinstance(item, str):
            item = {"address": item}
        if not isinstance(item, dict) or not isinstance(item.get("address"), str):
            raise FieldError(f"recipients[{n}]: an object with an address is required")
        if set(item) - {"address", "phone", "language"}:
            raise FieldError(f"recipients[{n}]: only address, phone and language are known")
        phone, language = item.get("phone"), item.get("language")
        for name, value in (("phone", phone), ("language", language)):
            if value is not None and (not isinstance(value, str) or not value.isprintable()):
                raise FieldError(f"recipients[{n}].{name}: a string is required")
        read.append(Recipient(item["address"].strip(), phone, language))
    if any(ch in subject for ch in "\r\n"):
        raise FieldError("subject: one line is required")
    return Fields(subject.strip(), text, tuple(read))


def compose(
    fields: Fields,
    files: list[File],
    *,
    sender: str,
    sender_name: str,
    domain: str,
    at: datetime,
    digest: str,
) -> bytes:
    """The message, CRLF line ends; `digest` (of the request) names its Message-ID and boundary."""
    message = EmailMessage(policy=SMTP)
    try:
        local, _, host = sender.rpartition("@")
        message["From"] = Address(sender_name, local, host)
        message["To"] = ", ".join(r.address for r in fields.recipients)
    except (ValueError, IndexError) as err:
        raise FieldError(f"recipients: an address cannot be read ({err})") from None
    message["Subject"] = fields.subject
    message["Date"] = format_datetime(at)
    message["Message-ID"] = f"<{digest[:32]}@{domain}>"
    message["MIME-Version"] = "1.0"
    for r in fields.recipients:
        if r.phone:
            message["LRE-Recipient-Phone"] = f"{r.address} {r.phone}"
        if r.language:
            message["LRE-Recipient-Language"] = f"{r.address} {r.language}"
    message.set_content(fields.text or " ", charset="utf-8")
    for file in files:
        maintype, _, subtype = file.content_type.partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=file.name)
    if files:
        message.set_boundary("=_lre_" + hashlib.sha256(digest.encode()).hexdigest()[:32])
    return message.as_bytes(policy=SMTP)
