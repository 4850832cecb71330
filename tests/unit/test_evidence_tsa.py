"""RFC 3161: the built-in TSA, response checking, and the HTTP client against a real server."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import cms, tsp

from gateway.errors import TimestampError
from gateway.evidence.tsa import (
    HttpTimestamper,
    LocalTimestamper,
    TimeStampResponse,
    build_request,
    check_response,
)
from tests.support.pki import EvidencePki, make_pki
from tests.support.tsa import start_tsa_server

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DIGEST = hashlib.sha256(b"signature value").digest()

openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture
def pki(tmp_path: Path) -> EvidencePki:
    return make_pki(tmp_path / "data")


def test_granted_response_passes_the_check(pki: EvidencePki) -> None:
    """A request answered by the built-in TSA yields a token carrying our imprint and nonce."""
    response = pki.authority.respond(build_request(DIGEST, nonce=7), now=NOW, serial=1)
    token = check_response(response, digest=DIGEST, nonce=7)
    info = tsp.TimeStampResp.load(response)["time_stamp_token"]["content"]
    tst = info["encap_content_info"]["content"].parsed
    assert tst["gen_time"].native == NOW
    assert tst["serial_number"].native == 1
    assert token == tsp.TimeStampResp.load(response)["time_stamp_token"].dump()
    assert len(info["certificates"]) == 1


def test_certificate_is_left_out_when_not_requested(pki: EvidencePki) -> None:
    """certReq=False: the token carries no certificate (RFC 3161 §2.4.1)."""
    request = tsp.TimeStampReq.load(build_request(DIGEST, nonce=1))
    request["cert_req"] = False
    response = pki.authority.respond(request.dump(), now=NOW, serial=1)
    token = tsp.TimeStampResp.load(response)["time_stamp_token"]["content"]
    assert token["certificates"].native is None


@pytest.mark.parametrize(
    ("digest", "nonce", "message"),
    [
        (hashlib.sha256(b"other").digest(), 7, "another digest"),
        (DIGEST, 8, "nonce"),
    ],
)
def test_mismatched_response_is_refused(
    pki: EvidencePki, digest: bytes, nonce: int, message: str
) -> None:
    """Replay or mix-up: a response for another imprint or nonce raises TimestampError."""
    response = pki.authority.respond(build_request(DIGEST, nonce=7), now=NOW, serial=1)
    with pytest.raises(TimestampError, match=message):
        check_response(response, digest=digest, nonce=nonce)


def test_garbage_request_gets_a_rejection(pki: EvidencePki) -> None:
    """A malformed request is answered with status rejection/badDataFormat, not an exception."""
    response = pki.authority.respond(b"garbage", now=NOW, serial=1)
    status = TimeStampResponse.load(response)["status"]
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {"bad_data_format"}
    with pytest.raises(TimestampError, match="refused the request: rejection"):
        check_response(response, digest=DIGEST, nonce=1)


def test_unsupported_hash_gets_bad_alg(pki: EvidencePki) -> None:
    """A SHA-1 imprint is rejected with badAlg."""
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha1"},
                "hashed_message": hashlib.sha1(b"x").digest(),  # noqa: S324
            },
        }
    )
    response = pki.authority.respond(request.dump(), now=NOW, serial=1)
    assert TimeStampResponse.load(response)["status"]["fail_info"].native == {"bad_alg"}


@openssl
def test_openssl_reads_and_verifies_the_reply(pki: EvidencePki, tmp_path: Path) -> None:
    """openssl ts -reply prints the response and ts -verify accepts it for the query."""
    request = build_request(DIGEST, nonce=0x1234)
    (tmp_path / "query.tsq").write_bytes(request)
    (tmp_path / "reply.tsr").write_bytes(pki.authority.respond(request, now=NOW, serial=99))
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(tmp_path / "reply.tsr"), "-text"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert "Status: Granted." in text
    assert "Serial number: 0x63" in text
    assert "Nonce: 0x1234" in text
    assert "Time stamp: Jun  1 12:00:00 2025 GMT" in text
    verified = subprocess.run(
        ["openssl", "ts", "-verify", "-queryfile", str(tmp_path / "query.tsq"),
         "-in", str(tmp_path / "reply.tsr"), "-CAfile", str(pki.anchors_file)],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "Verification: OK" in verified.stdout


@openssl
def test_openssl_reads_a_rejection(pki: EvidencePki, tmp_path: Path) -> None:
    """openssl ts -reply -text shows a rejection with its reason."""
    (tmp_path / "reply.tsr").write_bytes(pki.authority.respond(b"\x30\x00", now=NOW, serial=1))
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(tmp_path / "reply.tsr"), "-text"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert "Status: Rejected." in text


async def test_local_timestamper(pki: EvidencePki) -> None:
    """The in-process timestamper returns a token over the digest at the injected time."""
    token = await LocalTimestamper(pki.authority, lambda: NOW).timestamp(DIGEST)
    assert token.startswith(b"\x30")


async def test_http_timestamper_against_a_real_server(pki: EvidencePki) -> None:
    """RFC 3161 over HTTP to a real aiohttp TSA returns a token over our digest."""
    runner, url = await start_tsa_server(pki.authority)
    try:
        token = await HttpTimestamper(url).timestamp(DIGEST)
    finally:
        await runner.cleanup()
    signed = cms.ContentInfo.load(token)["content"]
    tst = signed["encap_content_info"]["content"].parsed
    assert tst["message_imprint"]["hashed_message"].native == DIGEST


async def test_http_timestamper_wrong_path_is_a_timestamp_error(pki: EvidencePki) -> None:
    """An HTTP error status from the TSA becomes a TimestampError."""
    runner, url = await start_tsa_server(pki.authority)
    try:
        with pytest.raises(TimestampError, match="HTTP 404"):
            await HttpTimestamper(url + "/nowhere").timestamp(DIGEST)
    finally:
        await runner.cleanup()


async def test_http_timestamper_server_down_is_a_timestamp_error(pki: EvidencePki) -> None:
    """A TSA that refuses connections raises TimestampError chained to the cause."""
    runner, url = await start_tsa_server(pki.authority)
    await runner.cleanup()
    with pytest.raises(TimestampError, match="could not be reached") as caught:
        await HttpTimestamper(url, timeout=2).timestamp(DIGEST)
    assert caught.value.__cause__ is not None


def test_the_in_process_stamp_is_the_token_respond_grants(pki: EvidencePki) -> None:
    """stamp(): the same TSTInfo as a granted certReq request, without request or response."""
    response = pki.authority.respond(build_request(DIGEST, nonce=2**63 + 5), now=NOW, serial=128)
    granted = check_response(response, digest=DIGEST, nonce=2**63 + 5)
    stamped = pki.authority.stamp(DIGEST, now=NOW, serial=128, nonce=2**63 + 5)
    check_response(  # what the HTTP client checks holds for it too
        tsp.TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(stamped)}
        ).dump(),
        digest=DIGEST,
        nonce=2**63 + 5,
    )

    def tst_info(token: bytes) -> bytes:
        econtent: bytes = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"]
        return econtent.contents  # type: ignore[attr-defined,no-any-return]

    assert tst_info(stamped) == tst_info(granted)
    with pytest.raises(TimestampError):
        pki.authority.stamp(b"short", now=NOW, serial=1, nonce=1)
