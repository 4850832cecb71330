"""proof.pdf, verified offline: pyHanko for the PAdES seal, verify.py for the embedded evidence.

The seal's signature must be intact, made by a certificate chaining to the anchors, carry a
trusted RFC 3161 signature timestamp, and cover the whole document but for PAdES-LTA updates
(validation data and document timestamps). Certificates are checked at the signature
timestamp's time against the CRLs in the PDF's Document Security Store (no fetching); each
archive (document) timestamp is checked as of the validation moment with the same data.

Validity as of a moment (`at`, default now) is pyHanko's AdES long-term validation
(ETSI EN 319 102-1 §5.6), run as `pyhanko sign adesverify --validation-time` does: revocation
data required and fresh at the time it is used, the document timestamps proving when the seal
and its validation data existed, so that a CRL stale at `at` still counts for the seal as of
the newest timestamp that covers it. The newest timestamp must be valid as of `at`: its TSA
certificate is a trust anchor still valid then (the archive job renews it before it expires).
The associated files evidence.xml and evidence.xml.p7s must verify on their own, as of the
oldest document timestamp that covers them, and be the proof the PDF states.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESStatus
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
    FreshnessReqType,
)
from pyhanko_certvalidator.registry import SimpleTrustManager

from gateway.core.problems import Problem, Reason
from gateway.evidence.report import problem, when
from gateway.evidence.verify import Verdict, verify_evidence
from gateway.i18n import N_

EVIDENCE_XML: Final = "evidence.xml"
EVIDENCE_P7S: Final = "evidence.xml.p7s"
SIGNATURE_TIMESTAMP: Final = "signature_time_stamp_token"
# what may follow the seal: validation data and document timestamps (PAdES-LTA), nothing else
ARCHIVE_UPDATES: Final = frozenset({ModificationLevel.NONE, ModificationLevel.LTA_UPDATES})

log = logging.getLogger(__name__)
# AdES validation first tries each certificate as of the validation moment and only then, with
# the timestamps' proof of existence, as of the past: at a later date the first attempt fails
# as expected (the embedded CRL is stale) and pyHanko logs it as a warning with a traceback
for _logger in (
    "pyhanko.sign.validation.generic_cms",
    "pyhanko.sign.validation.ades",
    "pyhanko_certvalidator.ltv.ades_past",  # INFO: the control time it found
):
    logging.getLogger(_logger).setLevel(logging.ERROR)


def verify_pdf(
    data: bytes,
    anchors: Sequence[x509.Certificate],
    *,
    source: str,
    at: datetime | None = None,
) -> Verdict:
    """Verify a proof certificate as of `at` (default now); never raises.

    Not to be called from a running event loop.
    """
    problems: list[Problem] = []
    try:
        reader = PdfFileReader(io.BytesIO(data))
        signatures = reader.embedded_regular_signatures
        stamps = reader.embedded_timestamp_signatures
    except Exception as exc:  # noqa: BLE001 - any parse failure of untrusted bytes is a verdict
        return _invalid(
            source,
            problem(
                N_("verify.problem.pdf_damaged"), Reason.DAMAGED, source=source, error=str(exc)
            ),
        )
    if len(signatures) != 1:
        return _invalid(
            source, problem(N_("verify.problem.pdf_unsigned"), Reason.UNSIGNED, source=source)
        )
    roots = [_asn1(cert) for cert in anchors]
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except Exception:  # noqa: BLE001 - no DSS: validation below reports the missing data
        dss = None
    seal = signatures[0]
    facts = _check_seal(seal, dss, roots, problems, source)
    archived = tuple(
        when
        for stamp in stamps
        if (when := _check_archive(stamp, dss, roots, problems, at)) is not None
    )
    if not problems:  # the long-term view only adds to a seal sound in itself
        _check_long_term(seal, roots, at, problems, source)
    files, file_problem = _associated_files(reader)
    record = None
    digests = None
    if file_problem:
        problems.append(file_problem)
    else:
        # the oldest document timestamp proves the attached files existed then (all of them
        # come after the seal, which covers the files): their own seal is judged as of then
        inner = verify_evidence(
            files[EVIDENCE_XML],
            files[EVIDENCE_P7S],
            anchors,
            source=f"{source} → {EVIDENCE_XML}",
            at=min(archived) if archived and not problems else at,
        )
        problems += [
            problem(N_("verify.problem.embedded"), p.reason, name=EVIDENCE_XML, problem=p)
            for p in inner.problems
        ]
        record = inner.record
        digests = inner.digests
    return Verdict(
        source=source,
        valid=not problems,
        problems=tuple(problems),
        record=record,
        signer=facts.get("signer"),
        signed_at=facts.get("signed_at"),
        timestamped_at=facts.get("timestamped_at"),
        tsa=facts.get("tsa"),
        kind="pdf",
        archived=archived,
        digests=digests,
    )


def _invalid(source: str, problem: Problem) -> Verdict:
    return Verdict(source, False, (problem,), None, None, None, None, None, kind="pdf")


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _context(
    dss: DocumentSecurityStore | None, roots: list[asn1_x509.Certificate], at: datetime | None
) -> ValidationContext:
    """Offline: the anchors, the PDF's own certificates and CRLs, revocation data required."""
    kwargs: dict[str, Any] = {
        "trust_roots": roots,
        "allow_fetching": False,
        "revocation_mode": "hard-fail",
        "moment": at,
        "retroactive_revinfo": True,
    }
    return dss.as_validation_context(kwargs) if dss else ValidationContext(**kwargs)


def _timestamp_time(seal: EmbeddedPdfSignature) -> datetime | None:
    for attr in seal.signer_info["unsigned_attrs"] or ():
        if attr["type"].native == SIGNATURE_TIMESTAMP:
            token = attr["values"][0]
            info = token["content"]["encap_content_info"]["content"].parsed
            at: datetime = info["gen_time"].native
            return at
    return None


def _check_seal(
    seal: EmbeddedPdfSignature,
    dss: DocumentSecurityStore | None,
    roots: list[asn1_x509.Certificate],
    problems: list[Problem],
    source: str,
) -> dict[str, Any]:
    try:
        at = _timestamp_time(seal)
        context = _context(dss, roots, at)
        status = asyncio.run(
            async_validate_pdf_signature(
                seal, signer_validation_context=context, ts_validation_context=context
            )
        )
    except Exception as exc:  # noqa: BLE001 - pyHanko raises many kinds on hostile input
        log.debug("PDF seal validation failed: %s", exc)
        problems.append(
            problem(
                N_("verify.problem.pdf_seal_damaged"), Reason.DAMAGED, source=source, error=str(exc)
            )
        )
        return {}
    facts: dict[str, Any] = {
        "signer": status.signing_cert.subject.native.get("common_name"),
        "signed_at": status.signer_reported_dt,
    }
    if not status.intact or not status.valid:
        problems.append(problem(N_("verify.problem.pdf_modified"), Reason.MODIFIED, source=source))
    elif not status.trusted:
        problems.append(
            problem(N_("verify.problem.pdf_untrusted"), Reason.UNTRUSTED, source=source)
        )
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE and not (
        status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and status.docmdp_ok
        and status.modification_level in ARCHIVE_UPDATES
    ):
        problems.append(problem(N_("verify.problem.pdf_added"), Reason.MODIFIED, source=source))
    stamp = status.timestamp_validity
    if at is None or stamp is None:
        problems.append(
            problem(N_("verify.problem.pdf_no_timestamp"), Reason.TIMESTAMP, source=source)
        )
    else:
        facts["timestamped_at"] = stamp.timestamp
        facts["tsa"] = stamp.signing_cert.subject.native.get("common_name")
        if not (stamp.intact and stamp.valid and stamp.trusted):
            problems.append(
                problem(N_("verify.problem.pdf_bad_timestamp"), Reason.TIMESTAMP, source=source)
            )
    return facts


def _check_archive(
    stamp: EmbeddedPdfSignature,
    dss: DocumentSecurityStore | None,
    roots: list[asn1_x509.Certificate],
    problems: list[Problem],
    at: datetime | None,
) -> datetime | None:
    try:
        status = asyncio.run(
            async_validate_pdf_timestamp(stamp, validation_context=_context(dss, roots, at))
        )
    except Exception as exc:  # noqa: BLE001
        problems.append(
            problem(N_("verify.problem.archive_damaged"), Reason.DAMAGED, error=str(exc))
        )
        return None
    if not (status.intact and status.valid):
        problems.append(problem(N_("verify.problem.archive_modified"), Reason.MODIFIED))
    elif not status.trusted:
        problems.append(problem(N_("verify.problem.archive_untrusted"), Reason.UNTRUSTED))
    stamped: datetime = status.timestamp
    return stamped


def long_term_spec(roots: Sequence[asn1_x509.Certificate]) -> PdfSignatureValidationSpec:
    """What `pyhanko sign adesverify --trust anchors.pem --trust-replace` checks, offline.

    Revocation data is required for every certificate that is not an anchor, fresh as of its
    use (the CRL's own update interval), and only what the PDF carries is used (no fetching);
    anchors are valid only within their validity period.
    """
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(
            trust_roots=[
                CertTrustAnchor(root, derive_default_quals_from_cert=True) for root in roots
            ]
        ),
        revinfo_policy=CertRevTrustPolicy(
            REQUIRE_REVINFO,
            freshness=None,
            freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION,
        ),
    )
    offline = RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(cert_validation_policy=policy, revinfo_gathering_policy=offline),
        diff_policy=DEFAULT_DIFF_POLICY,
    )


def timing(at: datetime | None) -> ValidationTimingInfo:
    """pyHanko's validation moment: `at` (a point-in-time validation) or now."""
    if at is None:
        return ValidationTimingInfo.now(tz=UTC)
    return ValidationTimingInfo(at, at, point_in_time_validation=True)


def _check_long_term(
    seal: EmbeddedPdfSignature,
    roots: list[asn1_x509.Certificate],
    at: datetime | None,
    problems: list[Problem],
    source: str,
) -> None:
    """The seal must validate as of `at` with the PDF's own data and timestamps (AdES-LTA)."""
    when = _when(at or datetime.now(UTC))
    try:
        result = asyncio.run(
            ades_lta_validation(seal, long_term_spec(roots), timing_info=timing(at))
        )
    except Exception as exc:  # noqa: BLE001 - pyHanko raises many kinds on hostile input
        log.debug("AdES validation failed: %s", exc)
        problems.append(
            problem(
                N_("verify.problem.pdf_not_validated"), source=source, time=when, error=str(exc)
            )
        )
        return
    status = result.api_status
    if result.ades_subindic.status == AdESStatus.PASSED and status and status.bottom_line:
        return
    problems.append(
        problem(N_("verify.problem.pdf_expired"), Reason.EXPIRED, source=source, time=when)
    )


def _when(at: datetime) -> str:
    return when(at)


def _associated_files(reader: PdfFileReader) -> tuple[dict[str, bytes], Problem | None]:
    """evidence.xml and evidence.xml.p7s as embedded in the PDF, or a problem."""
    found: dict[str, bytes] = {}
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        for index in range(0, len(names) - 1, 2):
            name = str(names[index])
            if name in (EVIDENCE_XML, EVIDENCE_P7S):
                found[name] = bytes(names[index + 1]["/EF"]["/F"].data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return found, problem(
            N_("verify.problem.pdf_files_damaged"),
            Reason.DAMAGED,
            name=EVIDENCE_XML,
            error=str(exc),
        )
    missing = [name for name in (EVIDENCE_XML, EVIDENCE_P7S) if name not in found]
    if missing:
        if len(missing) == 1:
            return found, problem(N_("verify.problem.pdf_lacks"), Reason.MISSING, name=missing[0])
        first, second = missing
        return found, problem(
            N_("verify.problem.pdf_lacks_both"), Reason.MISSING, first=first, second=second
        )
    return found, None
