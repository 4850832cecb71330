"""A proof mail (.eml), verified offline: its S/MIME signature, then every proof it carries.

The signed entity of a multipart/signed mail is taken byte for byte between the first two
boundaries, in canonical CRLF form (RFC 8551 §3.1.1), as openssl does; its signature must be
the seal certificate's, chaining to the anchors. Then each evidence.xml / evidence.xml.p7s pair
and each PDF inside is verified on its own.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Final

from cryptography import x509

from gateway.content_replies import content_refused
from gateway.core.problems import Problem, Reason
from gateway.errors import ContentRefused
from gateway.evidence.report import problem
from gateway.evidence.verify import Verdict, verify_detached, verify_evidence
from gateway.i18n import N_
from gateway.mime.limits import MimeLimits, check_limits
from gateway.verification.pdf import verify_pdf

SIGNED: Final = "multipart/signed"
P7S: Final = ".p7s"
_NEWLINE: Final = re.compile(rb"\r?\n")


def verify_mail(
    raw: bytes, anchors: Sequence[x509.Certificate], *, source: str, at: datetime | None = None
) -> list[Verdict]:
    """The S/MIME verdict first, then one verdict per evidence pair and PDF found inside.

    The S/MIME signature is checked at its signing time; the proofs inside as of `at`.
    """
    data = _NEWLINE.sub(b"\r\n", raw)
    try:  # the bounded pre-scan of SMTP DATA: an uploaded mail is as untrusted as a letter
        check_limits(data, MimeLimits())
    except ContentRefused as beyond:
        sentence = content_refused(beyond).text
        unread = problem(
            N_("verify.problem.mail_beyond"), Reason.DAMAGED, source=source, error=sentence
        )
        return [_smime_invalid(source, unread)]
    message = _parse(data)
    signature, entity = _check_signature(data, message, anchors, source)
    inner = _parse(entity) if entity is not None else message
    return [signature, *_verify_parts(inner, anchors, source, at)]


def _parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, _class=EmailMessage, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # noqa: S101 - _class makes it so
    return message


def _check_signature(
    data: bytes, message: EmailMessage, anchors: Sequence[x509.Certificate], source: str
) -> tuple[Verdict, bytes | None]:
    label = source
    if message.get_content_type() != SIGNED:
        unsigned = problem(N_("verify.problem.mail_unsigned"), Reason.UNSIGNED, source=source)
        return _smime_invalid(label, unsigned), None
    boundary = message.get_boundary()
    parts = message.get_payload()
    if not boundary or not isinstance(parts, list) or len(parts) != 2:
        return _smime_invalid(label, _unreadable(source)), None
    entity = _signed_entity(data, boundary.encode())
    signature = parts[1].get_payload(decode=True) if isinstance(parts[1], EmailMessage) else None
    if entity is None or not isinstance(signature, bytes) or not signature:
        return _smime_invalid(label, _unreadable(source)), None
    verdict = verify_detached(entity, signature, anchors, source=label, kind="smime")
    return verdict, entity


def _signed_entity(data: bytes, boundary: bytes) -> bytes | None:
    """The exact bytes of the first body part of a multipart (CRLF data)."""
    body_at = data.find(b"\r\n\r\n")
    if body_at < 0:
        return None
    body = b"\r\n" + data[body_at + 4 :]
    delimiter = b"\r\n--" + boundary
    start = body.find(delimiter + b"\r\n")
    if start < 0:
        return None
    start += len(delimiter) + 2
    end = body.find(delimiter, start)
    return body[start:end] if end >= 0 else None


def _smime_invalid(source: str, problem: Problem) -> Verdict:
    return Verdict(source, False, (problem,), None, None, None, None, None, kind="smime")


def _verify_parts(
    message: EmailMessage, anchors: Sequence[x509.Certificate], source: str, at: datetime | None
) -> list[Verdict]:
    files: dict[str, bytes] = {}
    pdfs: list[tuple[str, bytes]] = []
    for part in message.walk():
        name = part.get_filename()
        if part.is_multipart() or not name:
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if part.get_content_type() == "application/pdf" or name.lower().endswith(".pdf"):
            pdfs.append((name, content))
        else:
            files[name] = content
    verdicts = []
    for name in sorted(files):
        if name.endswith(P7S) or name + P7S not in files:
            continue
        verdicts.append(
            verify_evidence(
                files[name], files[name + P7S], anchors, source=f"{source} → {name}", at=at
            )
        )
    if not verdicts:
        verdicts.append(
            Verdict(
                f"{source} → evidence.xml",
                False,
                (problem(N_("verify.problem.mail_no_evidence"), Reason.MISSING),),
                None,
                None,
                None,
                None,
                None,
            )
        )
    verdicts += [verify_pdf(pdf, anchors, source=f"{source} → {name}", at=at) for name, pdf in pdfs]
    return verdicts


def _unreadable(source: str) -> Problem:
    return problem(N_("verify.problem.mail_damaged"), Reason.DAMAGED, source=source)
