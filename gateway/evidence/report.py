"""A verdict in words (`lre-gateway verify --lang`): the report and its problems, in fr, en or ar.

Every sentence is a catalogue message (verify.report.* for the report, verify.problem.* and
verify.role.* for what the verifiers found). A problem is built once with its message
(`problem`, `failure`): its own text is the English wording, what the logs and the web's
technical detail show, and `say` words its message again in any language. Names, dates, digests
and the libraries' error messages are parameters, quoted as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from gateway import i18n
from gateway.core.event_reasons import reason_details
from gateway.core.evidence import EvidenceRecord, EvidenceType
from gateway.core.problems import Message, Problem, Reason
from gateway.errors import VerificationError
from gateway.i18n import N_, Np_

if TYPE_CHECKING:
    from gateway.evidence.verify import Verdict

ENGLISH: Final = "en"  # the language of a problem's own text (logs, technical detail)
DEFAULT: Final = ENGLISH  # the report's language when none is asked for
INDENT: Final = 20  # a multi-line reason's continuation lines start under its first line

EVENTS: Final = {
    EvidenceType.SubmissionAcceptance: N_("verify.report.event.SubmissionAcceptance"),
    EvidenceType.NotificationForAcceptance: N_("verify.report.event.NotificationForAcceptance"),
    EvidenceType.NotificationForAcceptanceFailure: N_(
        "verify.report.event.NotificationForAcceptanceFailure"
    ),
    EvidenceType.ConsignmentAcceptance: N_("verify.report.event.ConsignmentAcceptance"),
    EvidenceType.ConsignmentRejection: N_("verify.report.event.ConsignmentRejection"),
    EvidenceType.AcceptanceRejectionExpiry: N_("verify.report.event.AcceptanceRejectionExpiry"),
    EvidenceType.ContentHandover: N_("verify.report.event.ContentHandover"),
    EvidenceType.ContentPurged: N_("verify.report.event.ContentPurged"),
}
KINDS: Final = {
    "evidence": N_("verify.report.kind.evidence"),
    "pdf": N_("verify.report.kind.pdf"),
    "smime": N_("verify.report.kind.smime"),
}
# who made a signature, as the subject of a sentence ("the seal") and as a complement ("seal",
# "du sceau": "the seal certificate", "le certificat du sceau")
ROLES: Final = {
    "seal": (N_("verify.role.seal"), N_("verify.role.of.seal")),
    "signature": (N_("verify.role.signature"), N_("verify.role.of.signature")),
    "timestamp": (N_("verify.role.timestamp"), N_("verify.role.of.timestamp")),
}


def role(name: str) -> Message:
    """ "the seal", "the signature", "the timestamp" (subject of a sentence)."""
    return Message(ROLES[name][0])


def role_of(name: str) -> Message:
    """ "seal", "signature", "timestamp" as a complement ("the seal certificate")."""
    return Message(ROLES[name][1])


def say(lang: str, key: str, **params: object) -> str:
    """The message `key` in `lang`, its Message and Problem parameters worded in `lang` too;
    a parameter `n` picks the plural form when the message has some."""
    worded = {name: _word(lang, value) for name, value in params.items()}
    if isinstance(i18n.CATALOGUES[ENGLISH].messages.get(key), tuple):
        count = params.get("n")
        if not isinstance(count, int):
            raise TypeError(f"{key} is a plural message: its n must be a count")
        del worded["n"]
        return i18n.ngettext(lang, key, count, **worded)
    return i18n.gettext(lang, key, **worded)


def _word(lang: str, value: object) -> object:
    if isinstance(value, Problem):
        return text(value, lang)
    if isinstance(value, Message):
        return say(lang, value.key, **value.params)
    return value


def text(problem: Problem, lang: str) -> str:
    """A problem in `lang` (its own text when it carries no message)."""
    if problem.message is None:
        return str(problem)
    return say(lang, problem.message.key, **problem.message.params)


def problem(key: str, reason: Reason = Reason.OTHER, **params: object) -> Problem:
    """A problem found by a verifier: message `key` with `params`, English as its text."""
    return Problem(say(ENGLISH, key, **params), reason, Message(key, params))


def failure(key: str, reason: Reason = Reason.OTHER, **params: object) -> VerificationError:
    """The same as an exception, for a check that stops at its first problem."""
    return VerificationError(say(ENGLISH, key, **params), reason, Message(key, params))


def from_error(error: VerificationError) -> Problem:
    """The problem an exception of `failure` (or a plain VerificationError) stands for."""
    words = error.words if isinstance(error.words, Message) else None
    return Problem(str(error), Reason(error.reason), words)


def when(at: datetime | None, lang: str = ENGLISH) -> str:
    """A time as the report writes it, in UTC: "2026-11-30 10:05:00 UTC"."""
    if at is None:
        return say(lang, "verify.report.unknown_time")
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(verdict: Verdict, lang: str = DEFAULT) -> str:
    """The report of one verdict for people, several lines, in `lang`."""
    kind = say(lang, KINDS[verdict.kind]) if verdict.kind in KINDS else verdict.kind
    status = say(lang, N_("verify.report.valid") if verdict.valid else N_("verify.report.invalid"))
    lines = [say(lang, "verify.report.title", source=verdict.source, kind=kind, status=status)]
    lines += ["  " + say(lang, "verify.report.problem", problem=p) for p in verdict.problems]
    if verdict.record is not None:
        lines += _record(verdict.record, verdict.valid, lang)
    if verdict.signer is not None:
        if verdict.signed_at:
            line = say(
                lang,
                "verify.report.sealed_by_on",
                signer=verdict.signer,
                time=when(verdict.signed_at),
            )
        else:
            line = say(lang, "verify.report.sealed_by", signer=verdict.signer)
        lines.append(f"  {line}")
    if verdict.timestamped_at is not None:
        at = when(verdict.timestamped_at)
        lines.append("  " + say(lang, "verify.report.timestamp", time=at, tsa=verdict.tsa))
    if verdict.archived:
        latest = when(max(verdict.archived))
        n = len(verdict.archived)
        lines.append("  " + say(lang, "verify.report.archived", n=n, time=latest))
    return "\n".join(lines)


def _record(record: EvidenceRecord, valid: bool, lang: str) -> list[str]:
    """What the evidence states (marked not certified when the seal is not valid)."""
    lines = [] if valid else [say(lang, "verify.report.not_certified")]
    event = say(lang, EVENTS[record.event])
    lines += [
        f"{event} ({record.event.value})",
        say(lang, "verify.report.event_uri", uri=record.event.uri),
        say(lang, "verify.report.event_time", time=when(record.event_time)),
        say(lang, "verify.report.letter", reference=record.letter_reference),
        say(lang, "verify.report.sender", name=record.sender_name, address=record.sender_address),
    ]
    if record.sender_declared_name is not None:
        lines.append(say(lang, "verify.report.declared_name", name=record.sender_declared_name))
    lines.append(say(lang, "verify.report.recipient", address=record.recipient_address))
    if record.message_id is not None:
        lines.append(say(lang, "verify.report.message_id", message_id=record.message_id))
    lines.append(say(lang, "verify.report.message_sha256", sha256=record.message_sha256))
    if record.reason_code is not None:
        lines.append(say(lang, "verify.report.reason_code", code=record.reason_code))
    details = (
        record.reason
        if record.reason_code is None
        else reason_details(record.reason_code, record.reason)
    )
    if details:  # the sealed reason, quoted as the evidence states it
        reason = details.replace("\r\n", "\n").replace("\n", "\n" + " " * INDENT)
        lines.append(say(lang, "verify.report.reason", reason=reason))
    attachments = record.attachments
    if attachments:
        lines.append(say(lang, "verify.report.attachments", count=len(attachments)))
    else:
        lines.append(say(lang, "verify.report.no_attachments"))
    lines = [f"  {line}" for line in lines]
    lines += [
        "    "
        + say(
            lang,
            Np_("verify.report.attachment"),
            n=a.size,
            name=a.name,
            content_type=a.content_type,
            sha256=a.sha256,
        )
        for a in attachments
    ]
    return lines
