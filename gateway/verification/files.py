"""Which proof each file is, and the verdicts for all of them (CLI arguments or web uploads).

A file is recognised by its content, not its name: a PDF (`%PDF-`), an XML evidence record, a
DER signature (the .p7s, paired with the XML named like it, or with the only XML given), or a
mail (RFC 5322 header fields). Anything else gets an invalid verdict saying so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

from cryptography import x509

from gateway.core.problems import Problem, Reason
from gateway.evidence.report import problem
from gateway.evidence.verify import Verdict, verify_evidence
from gateway.i18n import N_

P7S: Final = ".p7s"
_HEADER: Final = re.compile(rb"^[!-9;-~]{1,76}:[ \t]?[^\r\n]*\r?\n", re.ASCII)
_MAIL_FIELDS: Final = (b"content-type:", b"mime-version:", b"from:", b"subject:")


def kind_of(data: bytes) -> str:
    """pdf, xml, p7s, mail or unknown."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"<"):
        return "xml"
    if head[:1] == b"\x30":
        return "p7s"
    if _HEADER.match(head) and any(field in head.lower() for field in _MAIL_FIELDS):
        return "mail"
    return "unknown"


def verify_files(
    files: Sequence[tuple[str, bytes]],
    anchors: Sequence[x509.Certificate],
    *,
    at: datetime | None = None,
) -> list[Verdict]:
    """One verdict per proof found in `files` ((name, bytes) pairs), in the order given.

    Each is judged as of `at` (default now): see gateway.verification.pdf and
    gateway.evidence.verify for what validity at a later date means.
    """
    kinds = [(name, data, kind_of(data)) for name, data in files]
    xmls = [(name, data) for name, data, kind in kinds if kind == "xml"]
    seals = {name: data for name, data, kind in kinds if kind == "p7s"}
    verdicts: list[Verdict] = []
    used: set[str] = set()
    for name, data, kind in kinds:
        # pyHanko (a fifth of a second to import) only for a PDF, or a mail that carries one:
        # `lre-gateway verify evidence.xml` starts without it
        if kind == "pdf":
            from gateway.verification.pdf import verify_pdf

            verdicts.append(verify_pdf(data, anchors, source=name, at=at))
        elif kind == "mail":
            from gateway.verification.mail import verify_mail

            verdicts += verify_mail(data, anchors, source=name, at=at)
        elif kind == "xml":
            seal_name = _seal_for(name, xmls, seals)
            if seal_name is None:
                lacking = problem(
                    N_("verify.problem.needs_seal"), Reason.MISSING, name=name, seal=name + P7S
                )
                verdicts.append(_invalid(name, lacking))
                continue
            used.add(seal_name)
            verdicts.append(verify_evidence(data, seals[seal_name], anchors, source=name, at=at))
        elif kind == "unknown":
            verdicts.append(
                _invalid(
                    name,
                    problem(N_("verify.problem.not_a_proof"), Reason.UNKNOWN_FILE, name=name),
                )
            )
    for name in seals:
        if name not in used:
            xml = name.removesuffix(P7S) if name.endswith(P7S) else "evidence.xml"
            verdicts.append(
                _invalid(
                    name,
                    problem(N_("verify.problem.seal_alone"), Reason.MISSING, name=name, xml=xml),
                )
            )
    return verdicts


def _seal_for(name: str, xmls: list[tuple[str, bytes]], seals: dict[str, bytes]) -> str | None:
    if name + P7S in seals:
        return name + P7S
    if len(xmls) == 1 and len(seals) == 1:
        return next(iter(seals))
    return None


def _invalid(source: str, problem: Problem) -> Verdict:
    return Verdict(source, False, (problem,), None, None, None, None, None)


def verify_paths(
    paths: Sequence[Path], anchors: Sequence[x509.Certificate], *, at: datetime | None = None
) -> list[Verdict]:
    """Verify files named on a command line as of `at`; evidence.xml finds its .p7s beside it."""
    named = list(dict.fromkeys(paths))
    for path in list(named):
        sibling = _sibling(path)
        if sibling is not None and sibling not in named and sibling.is_file():
            named.append(sibling)
    files: list[tuple[str, bytes]] = []
    unreadable: list[Verdict] = []
    for path in named:
        try:
            files.append((str(path), path.read_bytes()))
        except OSError as exc:
            missing = isinstance(exc, FileNotFoundError)
            if missing:
                lost = problem(N_("verify.problem.file_missing"), Reason.MISSING, path=str(path))
            else:
                error = str(exc.strerror)
                lost = problem(
                    N_("verify.problem.file_unread"), Reason.DAMAGED, path=str(path), error=error
                )
            unreadable.append(_invalid(str(path), lost))
    return unreadable + verify_files(files, anchors, at=at)


def _sibling(path: Path) -> Path | None:
    """X.p7s for an evidence X, X for a seal X.p7s (by name only; content decides later)."""
    if path.name.endswith(P7S) and len(path.name) > len(P7S):
        return path.with_name(path.name.removesuffix(P7S))
    if path.suffix.lower() == ".xml":
        return path.with_name(path.name + P7S)
    return None
