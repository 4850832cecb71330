"""Recognising proof files and explaining problems (pure parts of gateway.verification)."""

from __future__ import annotations

import pytest

from gateway import i18n
from gateway.core.problems import Problem, Reason
from gateway.evidence.report import problem, text
from gateway.verification.files import kind_of, verify_files
from gateway.verification.reasons import REASONS, reason_key


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7\n...", "pdf"),
        (b'\xef\xbb\xbf<?xml version="1.0"?><Evidence/>', "xml"),
        (b"\x30\x82\x05\x00\x06\x09", "p7s"),
        (b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nhi", "mail"),
        (b"hello, not a proof", "unknown"),
        (b"", "unknown"),
    ],
)
def test_a_file_is_recognised_by_its_content(data: bytes, kind: str) -> None:
    """The name does not matter: a PDF, an XML, a DER seal or a mail is told by its bytes."""
    assert kind_of(data) == kind


def test_a_problem_s_reason_code_picks_its_explanation() -> None:
    """The code set by the verifier, never the wording of its sentence, picks the explanation."""
    worded_otherwise = Problem("the seal is damaged and its timestamp was modified", Reason.EXPIRED)
    assert reason_key(worded_otherwise) == "verify.reason.expired"
    embedded = problem("verify.problem.embedded", Reason.EXPIRED, name="e.xml", problem="…")
    assert reason_key(embedded) == "verify.reason.expired"
    assert reason_key("a sentence without a code, even one saying not signed") == (
        "verify.reason.other"
    )


def test_real_problems_carry_their_reason_codes() -> None:
    """Each verifier sets the code where it finds the problem (files, seal, S/MIME)."""
    [pair, unknown] = verify_files(
        [("evidence.xml", b"<x/>"), ("other.p7s", b"\x30\x00"), ("a.txt", b"plain")], []
    )
    [alone] = verify_files([("evidence.xml", b"<x/>")], [])
    [seal_alone] = verify_files([("evidence.xml.p7s", b"\x30\x00")], [])
    [unsigned_mail, no_evidence] = verify_files([("proof.eml", b"Subject: x\r\n\r\nhello")], [])
    codes = {
        "pair": [p.reason for p in pair.problems],
        "unknown": [p.reason for p in unknown.problems],
        "alone": [p.reason for p in alone.problems],
        "seal alone": [p.reason for p in seal_alone.problems],
        "unsigned mail": [p.reason for p in unsigned_mail.problems],
        "no evidence": [p.reason for p in no_evidence.problems],
    }
    assert codes == {
        "pair": [Reason.DAMAGED, Reason.DAMAGED],  # the seal, then the XML, cannot be read
        "unknown": [Reason.UNKNOWN_FILE],
        "alone": [Reason.MISSING],
        "seal alone": [Reason.MISSING],
        "unsigned mail": [Reason.UNSIGNED],
        "no evidence": [Reason.MISSING],
    }


def test_every_reason_is_in_the_catalogues() -> None:
    """The page can explain every reason in French, English and Arabic."""
    for code in REASONS:
        for lang in i18n.LANGUAGES:
            assert i18n.CATALOGUES[lang].get(f"verify.reason.{code}")


def test_a_lone_xml_or_seal_or_unknown_file_is_invalid_with_a_reason() -> None:
    verdicts = verify_files(
        [("evidence.xml", b"<x/>"), ("other.p7s", b"\x30\x00"), ("a.txt", b"plain")], []
    )
    # one XML and one seal are paired whatever their names; the text file is no proof
    assert [v.valid for v in verdicts] == [False, False]
    assert "not a proof" in verdicts[1].problems[0]
    alone = verify_files([("evidence.xml", b"<x/>")], [])
    assert alone[0].problems == ("evidence.xml needs its seal evidence.xml.p7s (not found)",)


def test_a_hostile_uploaded_mail_is_invalid_with_the_limit_it_exceeds() -> None:
    """A mail nested 1,000 deep (RecursionError in the parser) is answered, not parsed."""
    nested = b"From: a@b.example\r\nSubject: x\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 1000
    [verdict] = verify_files([("proof.eml", nested)], [])
    assert not verdict.valid
    assert "nested more than 32 levels" in verdict.problems[0]


def test_the_report_is_worded_in_the_language_asked_for() -> None:
    """`verify --lang`: the same verdicts in French and Arabic, every sentence from the
    catalogue (nested ones too); English, the default, is the report as it always read."""
    verdicts = verify_files(
        [("a.txt", b"plain"), ("e.xml", b"<x/>"), ("e.xml.p7s", b"\x30\x00")], []
    )
    english = "\n".join(v.describe() for v in verdicts)
    assert english.startswith(
        "a.txt (sealed evidence): INVALID\n"
        "  problem: a.txt is not a proof: expected a PDF certificate, a proof mail (.eml), or "
        "evidence.xml with its .p7s\n"
        "e.xml (sealed evidence): INVALID\n"
        "  problem: the seal is damaged and cannot be read ("  # asn1crypto's words follow
    )
    assert "\n  problem: e.xml is not a readable evidence record (" in english
    french = "\n".join(v.describe("fr") for v in verdicts)
    assert "a.txt (preuve scellée) : NON VALIDE" in french
    assert "problème : a.txt n'est pas une preuve" in french
    assert "impossible de lire le sceau : données endommagées" in french
    arabic = "\n".join(v.describe("ar") for v in verdicts)
    assert "a.txt (دليل مختوم): غير صالح" in arabic
    assert "الختم تالف ولا يمكن قراءته" in arabic
    for worded in (french, arabic):
        for sentence in ("INVALID", "problem:", "is not a proof", "the seal", "is damaged"):
            assert sentence not in worded


def test_a_nested_problem_is_worded_in_the_reader_s_language() -> None:
    """A PDF's embedded evidence problem quotes the inner problem in the same language."""
    inner = problem("verify.problem.no_timestamp", Reason.TIMESTAMP)
    outer = problem("verify.problem.embedded", inner.reason, name="evidence.xml", problem=inner)
    assert outer == "the embedded evidence.xml: the seal carries no timestamp (it is not CAdES-T)"
    assert text(outer, "fr") == (
        "le evidence.xml incorporé : le sceau ne porte pas d'horodatage (il n'est pas CAdES-T)"
    )
