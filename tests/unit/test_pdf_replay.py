"""A certificate drawn from the last page of its kind (gateway.pdf.replay) is byte for byte the
certificate drawn in full, whatever the letters before it; a page that is not of the kind is
drawn in full."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core.evidence import Attachment, EvidenceRecord, EvidenceType
from gateway.pdf.render import CertificateRenderer
from tests.support.proofs import ORDER, proof_record, render

LANGUAGES = ("fr", "en", "ar")
# names, addresses and subjects as senders write them: Latin with accents, Arabic, digits,
# punctuation, a rarer letter now and then (a glyph no document starts with)
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèàçôÉŒœ"
ALPHABET = LETTERS + "0123456789 .,'-@_/()«»—" + "محمدبنعبداللهإنذار" + "ĞŞğşŽžĀ"


def sha(label: object) -> str:
    return hashlib.sha256(repr(label).encode()).hexdigest()


words = st.text(ALPHABET, min_size=1, max_size=60).map(str.strip).filter(bool)
times = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis's bounds are naive
    max_value=datetime(2040, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@st.composite
def values(draw: st.DrawFn, record: EvidenceRecord) -> EvidenceRecord:
    """`record` with what differs from one letter to the next drawn anew."""
    n = draw(st.integers(0, 10**6))
    submitted = draw(times)
    attachments = tuple(
        Attachment(draw(words) + ".pdf", "application/pdf", draw(st.integers(0, 10**8)), sha(i))
        for i in range(draw(st.sampled_from((len(record.attachments), 0, 1, 3))))
    )
    return replace(
        record,
        evidence_id=f"{sha(n)[:8]}-{sha(n)[8:12]}-4{sha(n)[13:16]}-a{sha(n)[17:20]}-{sha(n)[20:32]}",
        letter_reference=f"LRE-{submitted.year}-{n:06d}",
        sender_name=draw(st.sampled_from((record.sender_name, ""))) or draw(words),
        recipient_address=draw(st.sampled_from((record.recipient_address, "x@y.ma")))
        or draw(words),
        subject=draw(st.one_of(st.just(record.subject), words, st.just(""))),
        message_size=draw(st.integers(0, 10**9)),
        message_sha256=sha(("message", n)),
        submission_time=submitted,
        event_time=submitted + draw(st.sampled_from((timedelta(0), timedelta(days=3, seconds=7)))),
        acceptance_deadline=submitted + timedelta(days=15),
        previous_evidence_sha256=record.previous_evidence_sha256 and sha(("previous", n)),
        attachments=attachments,
    )


@st.composite
def letters(draw: st.DrawFn) -> tuple[EvidenceRecord, EvidenceRecord]:
    record = proof_record(draw(st.sampled_from(ORDER)), draw(st.sampled_from((0, 1, 2))))
    return draw(values(record)), draw(values(record))


@pytest.fixture(scope="module")
def replaying() -> CertificateRenderer:
    return CertificateRenderer()


@pytest.fixture(scope="module")
def full() -> CertificateRenderer:
    return CertificateRenderer(replayed=False)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pair=letters(), lang=st.sampled_from(LANGUAGES))
def test_a_page_drawn_from_the_last_of_its_kind_is_the_page_drawn_in_full(
    replaying: CertificateRenderer,
    full: CertificateRenderer,
    pair: tuple[EvidenceRecord, EvidenceRecord],
    lang: str,
) -> None:
    first, second = pair
    render(replaying, first, lang)  # the template for the second, when of its kind
    assert render(replaying, second, lang) == render(full, second, lang)
    assert render(replaying, first, lang) == render(full, first, lang)


def pdftotext(tmp_path: Path, pdf: bytes) -> str:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def two_letters(event: EvidenceType, attachments: int = 2) -> tuple[EvidenceRecord, ...]:
    record = proof_record(event, attachments)
    return record, replace(
        record,
        evidence_id="5b2c9e7d-1f3a-4b8c-8d6e-0a9b8c7d6e5f",
        letter_reference="LRE-2026-000043",
        recipient_address="carla.diaz@example.org",
        reason=record.reason and record.reason.replace("bob.martin", "carla.diaz"),
        message_sha256="7e" * 32,
        submission_time=record.submission_time + timedelta(minutes=1),
        event_time=record.event_time + timedelta(minutes=1),
    )


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", ORDER, ids=lambda e: e.value)
def test_the_next_certificate_of_a_kind_is_drawn_from_the_last_one(
    tmp_path: Path, full: CertificateRenderer, event: EvidenceType, lang: str
) -> None:
    renderer = CertificateRenderer()
    first, second = two_letters(event)
    render(renderer, first, lang)
    pdf = render(renderer, second, lang)
    assert (renderer.replays, renderer.diverged) == (1, 0)
    # every row, section title and table row taken whole: 4 section titles, 12 to 14 rows,
    # the table's caption, the message and its 2 attachments; and the header, the line
    # counting the attachments, the box saying how to verify, the footer
    assert renderer.units >= 4 + 12 + 4 + 4
    # the values the same as the first letter's taken from it (the sender, the identifications,
    # the provider, the policy, the message's name and size...)
    assert renderer.copied >= 8
    assert pdf == render(full, second, lang)
    words = pdftotext(tmp_path, pdf)
    assert "LRE-2026-000043" in words
    assert "carla.diaz@example.org" in words
    assert "LRE-2026-000042" not in words
    assert "bob.martin@example.com" not in words


def test_a_value_taking_more_lines_draws_the_page_in_full(
    tmp_path: Path, full: CertificateRenderer
) -> None:
    renderer = CertificateRenderer()
    first, second = two_letters(EvidenceType.SubmissionAcceptance)
    second = replace(second, subject="Relance — " * 30 + "fin")
    render(renderer, first, "fr")
    pdf = render(renderer, second, "fr")
    assert (renderer.replays, renderer.diverged) == (0, 1)
    assert pdf == render(full, second, "fr")
    assert "fin" in pdftotext(tmp_path, pdf)


def test_a_certificate_of_several_pages_is_always_drawn_in_full(full: CertificateRenderer) -> None:
    renderer = CertificateRenderer()
    first, second = two_letters(EvidenceType.SubmissionAcceptance, attachments=24)
    render(renderer, first, "fr")
    pdf = render(renderer, second, "fr")
    assert (renderer.replays, renderer.diverged) == (0, 0)
    assert pdf == render(full, second, "fr")
    assert b"/Count 2" in pdf


def test_a_template_that_fails_to_draw_from_leaves_the_page_drawn_in_full(
    full: CertificateRenderer, caplog: pytest.LogCaptureFixture
) -> None:
    """A fault of the replay itself (here a template naming a font the document has not) is
    logged, and the certificate is drawn in full: a proof is never lost to the fast path."""
    renderer = CertificateRenderer()
    first, second = two_letters(EvidenceType.SubmissionAcceptance)
    render(renderer, first, "fr")
    ((kind, template),) = renderer._templates.items()
    broken = replace(template.values[3].snapshot, font="no-such-font")
    values = (
        *template.values[:3],
        replace(template.values[3], snapshot=broken, drawn=None),  # drawn, not taken whole
        *template.values[4:],
    )
    renderer._templates[kind] = replace(template, values=values)
    with caplog.at_level("ERROR", logger="gateway.pdf.render"):
        pdf = render(renderer, second, "fr")
    assert pdf == render(full, second, "fr")
    assert (renderer.replays, renderer.diverged) == (0, 1)
    assert "drawn in full" in caplog.text
    assert second.evidence_id in caplog.text
    # the broken template was replaced by the page drawn in full: the next one replays from it
    assert render(renderer, first, "fr") == render(full, first, "fr")
    assert (renderer.replays, renderer.diverged) == (1, 1)


def test_graphics_state_copied_as_fpdf2_copies_it() -> None:
    """`graphics_copy` (field by field) makes what fpdf2's own `GraphicsState.copy()` makes:
    every field equal, the text shaping a dict of its own (the next value call changes it)."""
    from fpdf.enums import TextMode
    from fpdf.graphics_state import GraphicsState

    from gateway.pdf.replay import graphics_copy

    state = GraphicsState(
        font_family="dejavu", font_size_pt=9.5, line_width=0.2, text_mode=TextMode.STROKE,
        text_shaping={"use_shaping_engine": True, "direction": "rtl", "script": "arab"},
    )  # fmt: skip
    copied = graphics_copy(state)
    assert copied == state.copy()
    assert copied is not state
    assert copied.text_shaping == state.text_shaping
    assert copied.text_shaping is not state.text_shaping
    assert copied.dash_pattern is state.dash_pattern  # shared, as fpdf2's shallow copy shares it
    assert graphics_copy(GraphicsState()) == GraphicsState()


def test_a_value_drawn_from_what_the_templates_was_is_taken_from_it_in_the_glyphs_all_start_with(
    full: CertificateRenderer,
) -> None:
    """A row's value drawn from the same text as the template's is not laid out again: its
    bytes are the template's. Not once a value has drawn a letter no document starts with (ğ):
    it gets a code of that document's own, so the subject that repeats the template's, drawn
    after a recipient that brought the ğ there, is drawn anew (the next recipient has none)."""
    record = proof_record(EvidenceType.SubmissionAcceptance, 1)
    first = replace(record, recipient_address="ğul@example.com.tr", subject="ğ: mise en demeure")
    second = replace(
        first,
        evidence_id="5b2c9e7d-1f3a-4b8c-8d6e-0a9b8c7d6e5f",
        letter_reference="LRE-2026-000043",
        recipient_address="alice@example.org",
    )
    renderer = CertificateRenderer()
    render(renderer, first, "fr")
    assert render(renderer, second, "fr") == render(full, second, "fr")
    assert (renderer.replays, renderer.diverged) == (1, 0)
    # the header's sentence (the same event time), the sender and how it was identified:
    # drawn before the ğ
    assert renderer.copied == 3
