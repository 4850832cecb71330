"""evidence.xml: exact round trip, deterministic bytes, and refusal of dangerous XML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.evidence import Attachment
from gateway.errors import EvidenceError
from gateway.evidence.xml import NAMESPACE, from_xml, to_xml
from tests.support.evidence_tree import elementtree_xml
from tests.support.records import sample_record


def test_round_trip_is_exact() -> None:
    """Parsing the XML gives back the very record, and serialising it again the very bytes."""
    record = sample_record()
    data = to_xml(record)
    assert from_xml(data) == record
    assert to_xml(from_xml(data)) == data


def test_round_trip_of_minimal_record() -> None:
    """Optional parts absent stay absent; empty strings stay empty."""
    record = sample_record(
        recipient_phone=None,
        attachments=(),
        previous_evidence_sha256=None,
        acceptance_deadline=None,
        reason=None,
        extensions=(),
        subject="",
        message_id=None,
        sender_declared_name=None,
        sender_ip=None,
    )
    assert from_xml(to_xml(record)) == record
    assert b"PhoneNumber" not in to_xml(record)
    assert b"AppLayerIdentifier" not in to_xml(record)
    assert b"DeclaredName" not in to_xml(record)


def test_strings_xml_cannot_carry_survive() -> None:
    """Control characters and stray whitespace in a subject round-trip exactly."""
    record = sample_record(
        subject="  tab\there\x01\x1b[31m red \r\n",
        sender_name="\x00",
        message_id="<\x07@x>",
        attachments=(Attachment("a\x0cb.pdf", "application/pdf", 1, "e" * 64),),
    )
    assert from_xml(to_xml(record)) == record


def test_output_is_deterministic_and_etsi_shaped() -> None:
    """Same record, same bytes: UTF-8, declaration, ETSI default namespace and names, Z times."""
    data = to_xml(sample_record())
    assert data == to_xml(sample_record())
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Evidence xmlns="')
    assert f'xmlns="{NAMESPACE}"'.encode() in data
    for name in (
        b"<EvidenceIdentifier>ev-0001</EvidenceIdentifier>",
        b"<ERDSEventId>http://uri.etsi.org/19522/Event/SubmissionAcceptance</ERDSEventId>",
        b"<EventTime>2025-06-01T10:00:00.250000Z</EventTime>",
        b"<SubmissionTime>2025-06-01T10:00:00Z</SubmissionTime>",
        b"<lre:LetterReference>LRE-2025-000001</lre:LetterReference>",
    ):
        assert name in data
    for gone in (b"EventCode", b"<LetterReference", b"<Reason>", b"<PreviousEvidenceDigest"):
        assert gone not in data
    data.decode("utf-8")


def test_times_are_written_in_utc() -> None:
    """A time given in another zone is written as the same instant in UTC."""
    plus_one = timezone(timedelta(hours=1))
    record = sample_record(event_time=datetime(2025, 6, 1, 11, 0, tzinfo=plus_one))
    assert b"<EventTime>2025-06-01T10:00:00Z</EventTime>" in to_xml(record)
    assert from_xml(to_xml(record)).event_time == record.event_time


def test_naive_time_is_refused() -> None:
    """A naive datetime cannot be serialised (it would be ambiguous)."""
    with pytest.raises(EvidenceError):
        to_xml(sample_record(event_time=datetime(2025, 6, 1)))  # noqa: DTZ001


def test_billion_laughs_is_refused() -> None:
    """Entity expansion attack: a DOCTYPE or ENTITY declaration is refused before parsing."""
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Evidence>&lol2;</Evidence>'
    )
    with pytest.raises(EvidenceError, match="DOCTYPE"):
        from_xml(bomb)


@pytest.mark.parametrize(
    "data",
    [
        b"not xml",
        b"<Other/>",
        b'<Evidence xmlns="http://uri.etsi.org/19522/v1#"/>',
        to_xml(sample_record()).replace(b"SubmissionAcceptance", b"Nonsense"),
        to_xml(sample_record()).replace(b"<ComposingParts>3<", b"<ComposingParts>2<"),
        to_xml(sample_record()).replace(b"qqqqqqqq", b"!!!!!!!!"),
        to_xml(sample_record()).replace(b"<lre:PartSize>12</lre:PartSize>", b""),
        to_xml(sample_record()).replace(b"legalperson/LegalName", b"legalperson/Other"),
        to_xml(sample_record()).replace(b'version="2"', b'version="3"'),
        to_xml(sample_record()).replace(b"lre:GatewayDetails>", b"lre:Other>"),
    ],
)
def test_garbage_is_an_evidence_error(data: bytes) -> None:
    """Anything that is not an evidence record raises EvidenceError, never something else."""
    with pytest.raises(EvidenceError):
        from_xml(data)


@pytest.mark.parametrize("digest", ["", "a" * 63, "A" * 64, "g" * 64, "a" * 66])
def test_a_digest_that_is_not_sha256_hex_is_refused(digest: str) -> None:
    """A content digest must be 64 lower-case hex digits, else the evidence is not written."""
    with pytest.raises(EvidenceError, match="not a lower-case hex SHA-256"):
        to_xml(sample_record(message_sha256=digest))


def test_an_extension_of_another_system_is_left_alone() -> None:
    """Another Extension before the gateway's (e.g. added by a relay) does not hide it."""
    data = to_xml(sample_record())
    other = b'<Extensions>\n    <Extension><x:Note xmlns:x="urn:example">hi</x:Note></Extension>'
    assert from_xml(data.replace(b"<Extensions>", other)) == sample_record()


_TEXT = st.text(
    st.one_of(
        st.sampled_from(["&", "<", ">", '"', "'", "\r", "\n", "\t", " ", "\x00", "\x1b", "é"]),
        st.characters(codec="utf-8"),
    ),
    max_size=12,
)
_HEX = st.binary(min_size=32, max_size=32).map(bytes.hex)
_TIME = st.datetimes(timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(_TEXT, min_size=14, max_size=14),
    optional=st.lists(st.one_of(st.none(), _TEXT), min_size=5, max_size=5),
    attachments=st.lists(st.tuples(_TEXT, _TEXT, st.integers(0, 10**9), _HEX), max_size=3),
    extensions=st.lists(st.tuples(_TEXT, _TEXT), max_size=2),
    times=st.tuples(_TIME, _TIME, st.one_of(st.none(), _TIME)),
    reason_code=st.one_of(st.none(), st.just("http://uri.etsi.org/19522/EventReason/X"), _TEXT),
    previous=st.one_of(st.none(), _HEX),
    digest=_HEX,
)
def test_the_document_is_what_elementtree_writes_of_its_tree(
    texts: list[str],
    optional: list[str | None],
    attachments: list[tuple[str, str, int, str]],
    extensions: list[tuple[str, str]],
    times: tuple[datetime, datetime, datetime | None],
    reason_code: str | None,
    previous: str | None,
    digest: str,
) -> None:
    """Byte for byte, on records of any strings (markup, control characters, empty, absent)."""
    record = sample_record(
        evidence_id=texts[0], letter_id=texts[1], letter_reference=texts[2],
        delivery_id=texts[3], provider_name=texts[4], provider_domain=texts[5],
        policy_id=texts[6], sender_account=texts[7], sender_address=texts[8],
        sender_name=texts[9], sender_authentication=texts[10], recipient_address=texts[11],
        recipient_identification=texts[12], subject=texts[13],
        recipient_phone=optional[0], reason=optional[1], message_id=optional[2],
        sender_declared_name=optional[3], sender_ip=optional[4],
        attachments=tuple(Attachment(*a) for a in attachments), extensions=tuple(extensions),
        event_time=times[0], submission_time=times[1], acceptance_deadline=times[2],
        reason_code=reason_code, previous_evidence_sha256=previous, message_sha256=digest,
    )  # fmt: skip
    assert to_xml(record) == elementtree_xml(record)
    assert from_xml(to_xml(record)) == record


def test_the_sample_is_what_elementtree_writes_of_its_tree() -> None:
    for record in (sample_record(), sample_record(subject="", attachments=(), extensions=())):
        assert to_xml(record) == elementtree_xml(record)
