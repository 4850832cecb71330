"""Sealing evidence (CAdES-T) and verifying it: with the real openssl CLI and with verify.py."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms

from gateway.errors import EvidenceError
from gateway.evidence.cms import (
    add_timestamp,
    append_timestamp,
    certificates_of,
    signature_value,
    timestamp_token,
)
from gateway.evidence.pki import anchors_pem, ensure_dev_pki, load_certificate, load_certificates
from gateway.evidence.tsa import LocalTimestamper, seal
from gateway.evidence.verify import verify_evidence, verify_paths
from gateway.evidence.xml import to_xml
from tests.support.pki import EvidencePki, make_pki
from tests.support.records import sample_record

SIGNED = datetime(2025, 6, 1, 10, 0, 1, tzinfo=UTC)
STAMPED = SIGNED + timedelta(milliseconds=3)

openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture
def pki(tmp_path: Path) -> EvidencePki:
    return make_pki(tmp_path / "data")


@pytest.fixture
async def sealed(pki: EvidencePki, tmp_path: Path) -> tuple[Path, Path]:
    """evidence.xml and evidence.xml.p7s written side by side."""
    xml = to_xml(sample_record())
    p7s = await seal(
        pki.sealer, LocalTimestamper(pki.authority, lambda: STAMPED), xml, signing_time=SIGNED
    )
    xml_path = tmp_path / "evidence.xml"
    xml_path.write_bytes(xml)
    p7s_path = tmp_path / "evidence.xml.p7s"
    p7s_path.write_bytes(p7s)
    return xml_path, p7s_path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False, timeout=30
    )


@openssl
def test_openssl_cms_verifies_the_seal(sealed: tuple[Path, Path], pki: EvidencePki) -> None:
    """openssl cms -verify accepts the detached seal over evidence.xml with the anchors."""
    xml, p7s = sealed
    for purpose in (["-purpose", "any"], []):
        result = _run(
            "cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", xml,
            "-CAfile", pki.anchors_file, *purpose, "-out", "/dev/null",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "Verification successful" in result.stderr


@openssl
def test_openssl_cms_rejects_a_modified_xml(
    sealed: tuple[Path, Path], pki: EvidencePki, tmp_path: Path
) -> None:
    """One changed byte of evidence.xml makes openssl refuse the seal."""
    xml, p7s = sealed
    xml.write_bytes(xml.read_bytes().replace(b"bob@", b"bOb@"))
    result = _run(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", xml,
        "-CAfile", pki.anchors_file, "-purpose", "any", "-out", "/dev/null",
    )  # fmt: skip
    assert result.returncode != 0


@openssl
def test_openssl_ts_verifies_the_token(
    sealed: tuple[Path, Path], pki: EvidencePki, tmp_path: Path
) -> None:
    """openssl ts -verify accepts the embedded token over the seal's signature value."""
    _, p7s_path = sealed
    p7s = p7s_path.read_bytes()
    token = timestamp_token(p7s)
    assert token is not None
    (tmp_path / "token.der").write_bytes(token)
    (tmp_path / "signature.bin").write_bytes(signature_value(p7s))
    result = _run(
        "ts", "-verify", "-data", tmp_path / "signature.bin", "-in", tmp_path / "token.der",
        "-token_in", "-CAfile", pki.anchors_file,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Verification: OK" in result.stdout
    text = _run("ts", "-reply", "-in", tmp_path / "token.der", "-token_in", "-text").stdout
    assert "Time stamp: Jun  1 10:00:01.003 2025 GMT" in text
    assert "Policy OID: 1.3.6.1.4.1.99999.1.1" in text


async def test_seal_is_cades_t(sealed: tuple[Path, Path]) -> None:
    """The seal is detached SignedData with the CAdES-BES attributes and a timestamp token."""
    _, p7s_path = sealed
    signed_data = cms.ContentInfo.load(p7s_path.read_bytes())["content"]
    assert signed_data["encap_content_info"]["content"].native is None
    signer = signed_data["signer_infos"][0]
    names = {attr["type"].native for attr in signer["signed_attrs"]}
    assert names == {"content_type", "signing_time", "message_digest", "signing_certificate_v2"}
    assert [a["type"].native for a in signer["unsigned_attrs"]] == ["signature_time_stamp_token"]


def test_verify_evidence_accepts_the_seal(sealed: tuple[Path, Path], pki: EvidencePki) -> None:
    """A fresh seal verifies and the verdict tells what it proves in words."""
    xml, p7s = sealed
    verdict = verify_evidence(xml.read_bytes(), p7s.read_bytes(), pki.anchors)
    assert verdict.problems == ()
    assert verdict.valid
    assert verdict.record == sample_record()
    assert verdict.signer == "lre.localhost evidence seal"
    assert verdict.signed_at == SIGNED
    assert verdict.timestamped_at == STAMPED
    assert verdict.tsa == "lre.localhost timestamping authority"
    text = verdict.describe()
    for fact in (
        "VALID",
        "Proof of deposit",
        "LRE-2025-000001",
        "bob@example.net",
        "a" * 64,
        "contrat.pdf",
        "b" * 64,
        "2025-06-01 10:00:01 UTC",
    ):
        assert fact in text


def test_one_changed_byte_is_detected(sealed: tuple[Path, Path], pki: EvidencePki) -> None:
    """Tampering: evidence.xml changed after sealing is invalid, and says so in words."""
    xml, p7s = sealed
    data = bytearray(xml.read_bytes())
    data[data.index(b"2048")] = ord("9")  # the message size
    verdict = verify_evidence(bytes(data), p7s.read_bytes(), pki.anchors)
    assert not verdict.valid
    assert any("modified after sealing" in problem for problem in verdict.problems)
    assert "INVALID" in verdict.describe()
    assert "NOT certified" in verdict.describe()


def test_untrusted_anchor_is_refused(sealed: tuple[Path, Path], tmp_path: Path) -> None:
    """A seal from another gateway's PKI does not verify against our anchors."""
    xml, p7s = sealed
    other = load_certificates(anchors_pem(ensure_dev_pki(tmp_path / "other", "evil.example")))
    verdict = verify_evidence(xml.read_bytes(), p7s.read_bytes(), other)
    assert not verdict.valid
    assert any("not issued by a trusted authority" in p for p in verdict.problems)


def test_seal_without_timestamp_is_refused(pki: EvidencePki) -> None:
    """A CAdES-BES signature alone (no timestamp) is not enough."""
    xml = to_xml(sample_record())
    verdict = verify_evidence(xml, pki.sealer.sign(xml, signing_time=SIGNED), pki.anchors)
    assert not verdict.valid
    assert verdict.problems == ("the seal carries no timestamp (it is not CAdES-T)",)


async def test_timestamp_of_another_signature_is_refused(
    sealed: tuple[Path, Path], pki: EvidencePki
) -> None:
    """Token transplant: a valid token taken from another seal does not cover this one."""
    xml, p7s = sealed
    other = await seal(
        pki.sealer, LocalTimestamper(pki.authority, lambda: STAMPED), b"<x/>", signing_time=SIGNED
    )
    token = timestamp_token(other)
    assert token is not None
    grafted = add_timestamp(p7s.read_bytes(), token)
    verdict = verify_evidence(xml.read_bytes(), grafted, pki.anchors)
    assert verdict.problems == ("the timestamp does not cover this seal's signature",)


async def test_certificate_expired_at_timestamp_time_is_refused(tmp_path: Path) -> None:
    """A seal timestamped after its certificate expired is invalid."""
    old = make_pki(tmp_path / "old", now=datetime(2000, 1, 1, tzinfo=UTC))
    xml = to_xml(sample_record())
    late = datetime(2015, 1, 1, tzinfo=UTC)
    stamper = LocalTimestamper(old.authority, lambda: late)
    p7s = await seal(old.sealer, stamper, xml, signing_time=late)
    verdict = verify_evidence(xml, p7s, old.anchors)
    assert not verdict.valid
    assert any("was not valid at 2015-01-01" in problem for problem in verdict.problems)


def test_damaged_p7s_is_invalid_not_an_exception(pki: EvidencePki) -> None:
    """Garbage instead of a .p7s yields an invalid verdict with a reason."""
    verdict = verify_evidence(to_xml(sample_record()), b"\x30\x03garbage", pki.anchors)
    assert not verdict.valid
    assert verdict.problems


def test_verify_paths_pairs_files(sealed: tuple[Path, Path], pki: EvidencePki) -> None:
    """Given X, X.p7s or both, each evidence is verified once."""
    xml, p7s = sealed
    for given in ([xml], [p7s], [xml, p7s], [p7s, xml]):
        verdicts = verify_paths(given, pki.anchors)
        assert [(v.source, v.valid) for v in verdicts] == [(str(xml), True)]


def test_verify_paths_reports_a_missing_partner(
    sealed: tuple[Path, Path], pki: EvidencePki
) -> None:
    """A lone evidence.xml without its .p7s is invalid, naming the missing file."""
    xml, p7s = sealed
    p7s.unlink()
    (verdict,) = verify_paths([xml], pki.anchors)
    assert not verdict.valid
    assert verdict.problems == (f"{p7s} not found",)


def test_add_timestamp_refuses_garbage() -> None:
    """Attaching a token to something that is not a CMS signature is an EvidenceError."""
    with pytest.raises(EvidenceError):
        add_timestamp(b"nope", b"nope")


def test_replacing_a_timestamp_gives_the_same_bytes(sealed: tuple[Path, Path]) -> None:
    """Re-attaching the token (slow, re-encoding path) equals the fast byte-splicing path."""
    _, p7s_path = sealed
    p7s = p7s_path.read_bytes()
    token = timestamp_token(p7s)
    assert token is not None
    assert add_timestamp(p7s, token) == p7s


def test_seal_verifies_years_later_while_its_tsa_certificate_is_valid(
    sealed: tuple[Path, Path], pki: EvidencePki
) -> None:
    """As of a year and nine years after its timestamp, the CAdES-T seal is still valid."""
    xml, p7s = sealed
    for years in (1, 9):
        at = STAMPED + timedelta(days=366 * years)
        verdict = verify_evidence(xml.read_bytes(), p7s.read_bytes(), pki.anchors, at=at)
        assert verdict.valid, (years, verdict.problems)


def test_seal_is_invalid_as_of_after_its_tsa_certificate_expired(
    sealed: tuple[Path, Path], pki: EvidencePki
) -> None:
    """As of a day after the TSA certificate's expiry, the timestamp no longer proves anything."""
    xml, p7s = sealed
    at = load_certificate(pki.paths.tsa_cert).not_valid_after_utc + timedelta(days=1)
    verdict = verify_evidence(xml.read_bytes(), p7s.read_bytes(), pki.anchors, at=at)
    assert not verdict.valid
    assert any(
        "in the timestamp chain was not valid at" in problem for problem in verdict.problems
    ), verdict.problems


def test_seal_is_invalid_as_of_before_it_was_timestamped(
    sealed: tuple[Path, Path], pki: EvidencePki
) -> None:
    """A validation date before the timestamp gets a refusal naming both dates."""
    xml, p7s = sealed
    at = STAMPED - timedelta(days=1)
    verdict = verify_evidence(xml.read_bytes(), p7s.read_bytes(), pki.anchors, at=at)
    assert not verdict.valid
    assert any("after the validation date 2025-05-31" in problem for problem in verdict.problems)


def test_the_unparsed_helpers_match_the_parsing_ones(sealed: tuple[Path, Path]) -> None:
    """append_timestamp equals add_timestamp; certificates_of lists what asn1crypto reads."""
    _, p7s_path = sealed
    p7s = p7s_path.read_bytes()
    token = timestamp_token(p7s)
    assert token is not None
    info = cms.ContentInfo.load(p7s)
    info["content"]["signer_infos"][0]["unsigned_attrs"] = None
    bare = info.dump(force=True)
    assert append_timestamp(bare, token) == add_timestamp(bare, token) == p7s
    for signed in (p7s, token):
        parsed = cms.ContentInfo.load(signed)["content"]["certificates"]
        assert certificates_of(signed) == [c.chosen.dump() for c in parsed]
        assert certificates_of(signed)
