"""Offline verification of sealed evidence (evidence.xml + evidence.xml.p7s), in plain words (pure).

Checks, in order: the sealed digest matches the XML, the seal signature is valid and binds its
certificate, that certificate chains to a trust anchor and was valid when timestamped, the
timestamp token is valid, issued by a timestamping certificate chaining to an anchor, and covers
this very signature, and the XML is an evidence record.

Validity as of a moment (`at`, default now) for this CAdES-T seal: the timestamp is the proof
that the seal existed at its time, so the seal certificate is judged at the timestamp's time
(whatever CRL is current later, its revocation after that time does not undo the seal); the
timestamp itself must still be verifiable as of `at`: made before `at`, its TSA certificate
and chain valid both when it stamped and at `at` (the TSA certificate is a trust anchor, so no
revocation data is needed for it). Past the TSA certificate's expiry the evidence needs the
PDF certificate's archive timestamps, which vouch for it as of their own time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.core.evidence import EvidenceRecord
from gateway.core.problems import Message, Problem, Reason
from gateway.errors import EvidenceError, VerificationError
from gateway.evidence import report
from gateway.evidence.cms import SIGNATURE_TIMESTAMP_TOKEN
from gateway.evidence.report import failure, from_error, problem, role_of
from gateway.evidence.xml import from_xml
from gateway.i18n import N_, Np_

P7S_SUFFIX: Final = ".p7s"
MAX_CHAIN: Final = 8
CLOCK_SKEW: Final = timedelta(minutes=5)  # signing time may precede the timestamp by this much

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one evidence: valid or not, why, and what it states."""

    source: str
    valid: bool
    problems: tuple[Problem, ...]  # each a sentence with its reason code
    record: EvidenceRecord | None
    signer: str | None
    signed_at: datetime | None
    timestamped_at: datetime | None
    tsa: str | None
    kind: str = "evidence"  # evidence | pdf | smime (see gateway.verification)
    archived: tuple[datetime, ...] = ()  # a PDF's archive (document) timestamps
    # SHA-256 (hex) of the evidence.xml and evidence.xml.p7s verified (a PDF's embedded ones):
    # what the public evidence log's entry must state (gateway.verification.log_inclusion)
    digests: tuple[str, str] | None = None

    def describe(self, lang: str = report.DEFAULT) -> str:
        """Plain-language report for people, several lines, in lang (gateway.evidence.report)."""
        return report.describe(self, lang)


def verify_evidence(
    xml: bytes,
    p7s: bytes,
    anchors: Sequence[x509.Certificate],
    *,
    source: str = "evidence.xml",
    at: datetime | None = None,
) -> Verdict:
    """Verify `p7s` (CAdES-T, detached) over `xml` against `anchors` as of `at`; never raises."""
    moment = at or datetime.now(UTC)
    problems: list[Problem] = []
    record = None
    xml_problem: Problem | None = None
    try:
        record = from_xml(xml)
    except EvidenceError as exc:
        xml_problem = problem(
            N_("verify.problem.unreadable_record"), Reason.DAMAGED, source=source, error=str(exc)
        )
    signer: str | None = None
    tsa: str | None = None
    signed_at: datetime | None = None
    timestamped_at: datetime | None = None
    try:
        seal = _Signed.load(p7s, "seal")
    except VerificationError as exc:
        problems.append(from_error(exc))
    else:
        signer, signed_at = _name(seal.certificate), seal.signing_time
        _collect(problems, lambda: seal.check_content(xml, source))
        _collect(problems, seal.check_signature)
        stamp = _collect(problems, lambda: _check_timestamp(seal, anchors, moment))
        if stamp is not None:
            timestamped_at, tsa = stamp
            if signed_at is not None and signed_at > timestamped_at + CLOCK_SKEW:
                problems.append(problem(N_("verify.problem.signed_after_stamp"), Reason.TIMESTAMP))
        at = timestamped_at or signed_at
        _collect(problems, lambda: _check_chain(seal.certificate, seal.pool, anchors, at, "seal"))
    if xml_problem:
        problems.append(xml_problem)
    return Verdict(
        source=source,
        valid=not problems,
        problems=tuple(problems),
        record=record,
        signer=signer,
        signed_at=signed_at,
        timestamped_at=timestamped_at,
        tsa=tsa,
        digests=(hashlib.sha256(xml).hexdigest(), hashlib.sha256(p7s).hexdigest()),
    )


def verify_detached(
    content: bytes,
    p7s: bytes,
    anchors: Sequence[x509.Certificate],
    *,
    source: str,
    kind: str,
) -> Verdict:
    """Verify a detached CMS signature (no timestamp required, e.g. S/MIME); never raises.

    The signer's chain is checked at the signature's own signing time.
    """
    problems: list[Problem] = []
    signer: str | None = None
    signed_at: datetime | None = None
    try:
        signed = _Signed.load(p7s, "signature")
    except VerificationError as exc:
        problems.append(from_error(exc))
    else:
        signer, signed_at = _name(signed.certificate), signed.signing_time
        _collect(problems, lambda: signed.check_content(content, source))
        _collect(problems, signed.check_signature)
        _collect(
            problems,
            lambda: _check_chain(signed.certificate, signed.pool, anchors, signed_at, "signature"),
        )
    return Verdict(
        source=source,
        valid=not problems,
        problems=tuple(problems),
        record=None,
        signer=signer,
        signed_at=signed_at,
        timestamped_at=None,
        tsa=None,
        kind=kind,
    )


def verify_paths(paths: Sequence[Path], anchors: Sequence[x509.Certificate]) -> list[Verdict]:
    """Verify each evidence named by `paths` (X, X.p7s or both), once per pair, in given order."""
    pairs: dict[Path, Path] = {}
    for path in paths:
        xml = path.with_name(path.name.removesuffix(P7S_SUFFIX)) if _is_p7s(path) else path
        pairs.setdefault(xml, xml.with_name(xml.name + P7S_SUFFIX))
    return [_verify_pair(xml, p7s, anchors) for xml, p7s in pairs.items()]


def _is_p7s(path: Path) -> bool:
    return path.name.endswith(P7S_SUFFIX) and len(path.name) > len(P7S_SUFFIX)


def _verify_pair(xml: Path, p7s: Path, anchors: Sequence[x509.Certificate]) -> Verdict:
    missing = [path for path in (xml, p7s) if not path.is_file()]
    if missing:
        return _invalid(
            str(xml),
            *(
                problem(N_("verify.problem.not_found"), Reason.MISSING, path=str(p))
                for p in missing
            ),
        )
    try:
        xml_data, p7s_data = xml.read_bytes(), p7s.read_bytes()
    except OSError as exc:
        return _invalid(
            str(xml), problem(N_("verify.problem.cannot_read"), Reason.DAMAGED, error=str(exc))
        )
    return verify_evidence(xml_data, p7s_data, anchors, source=str(xml))


def _reason(role: str) -> Reason:
    """A fault in the structure of a seal or signature; in a timestamp's, a timestamp problem."""
    return Reason.TIMESTAMP if role == "timestamp" else Reason.OTHER


def _invalid(source: str, *problems: Problem) -> Verdict:
    return Verdict(source, False, problems, None, None, None, None, None)


_T = TypeVar("_T")


def _collect(problems: list[Problem], check: Callable[[], _T]) -> _T | None:
    """Run one check; a VerificationError becomes a problem and the result None."""
    try:
        return check()
    except VerificationError as exc:
        problems.append(from_error(exc))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        problems.append(problem(N_("verify.problem.p7s_damaged"), Reason.DAMAGED, error=str(exc)))
    return None


class _Signed:
    """One parsed CMS SignedData with a single signer (a seal or a timestamp token)."""

    def __init__(self, role: str, signed_data: cms.SignedData) -> None:
        self.role = role
        self.signed_data = signed_data
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise failure(
                Np_("verify.problem.signers"), _reason(role), role=_role(role), n=len(signer_infos)
            )
        self.signer_info: cms.SignerInfo = signer_infos[0]
        self.pool = [
            x509.load_der_x509_certificate(choice.chosen.dump())
            for choice in signed_data["certificates"] or ()
            if choice.name == "certificate"
        ]
        self.attributes = {
            attr["type"].native: attr["values"] for attr in self.signer_info["signed_attrs"] or ()
        }
        if "message_digest" not in self.attributes or "content_type" not in self.attributes:
            raise failure(N_("verify.problem.no_digest"), _reason(role), role=_role(role))
        algorithm = self.signer_info["digest_algorithm"]["algorithm"].native
        if algorithm not in _HASHES:
            raise failure(
                N_("verify.problem.digest_algorithm"),
                _reason(role),
                role=_role(role),
                algorithm=str(algorithm),
            )
        self.hash = _HASHES[algorithm]
        self.certificate = self._find_signer()

    @classmethod
    def load(cls, der: bytes, role: str) -> _Signed:
        try:
            info = cms.ContentInfo.load(der)
            if info["content_type"].native != "signed_data":
                raise failure(N_("verify.problem.not_cms"), _reason(role), role=_role(role))
            return cls(role, info["content"])
        except (ValueError, TypeError, KeyError) as exc:
            raise failure(
                N_("verify.problem.damaged"), Reason.DAMAGED, role=_role(role), error=str(exc)
            ) from exc

    @property
    def content_type(self) -> str:
        return str(self.signed_data["encap_content_info"]["content_type"].native)

    @property
    def signature(self) -> bytes:
        value: bytes = self.signer_info["signature"].native
        return value

    @property
    def signing_time(self) -> datetime | None:
        values = self.attributes.get("signing_time")
        return values[0].native if values else None

    def unsigned(self, oid: str) -> core.Asn1Value | None:
        for attr in self.signer_info["unsigned_attrs"] or ():
            if attr["type"].dotted == oid and len(attr["values"]):
                return attr["values"][0]
        return None

    def check_content(self, content: bytes, source: str | Message) -> None:
        """The sealed digest must be that of `content`, and the content type must match."""
        if self.attributes["content_type"][0].native != self.content_type:
            raise failure(
                N_("verify.problem.content_type"), Reason.MODIFIED, role=role_of(self.role)
            )
        digest = hashes.Hash(self.hash())
        digest.update(content)
        if digest.finalize() != self.attributes["message_digest"][0].native:
            raise failure(
                N_("verify.problem.digest_mismatch"),
                Reason.MODIFIED,
                source=source,
                role=_role(self.role),
            )

    def check_signature(self) -> None:
        """The signature over the signed attributes verifies with the signer certificate's key."""
        signed = b"\x31" + self.signer_info["signed_attrs"].dump()[1:]  # SET OF, RFC 5652 §5.4
        algorithm = self.signer_info["signature_algorithm"]
        try:
            _verify_signature(self.certificate, self.signature, signed, algorithm, self.hash())
        except InvalidSignature:
            raise failure(
                N_("verify.problem.bad_signature"), Reason.MODIFIED, role=role_of(self.role)
            ) from None
        self._check_signing_certificate()

    def _find_signer(self) -> x509.Certificate:
        sid = self.signer_info["sid"]
        for cert in self.pool:
            if sid.name == "issuer_and_serial_number":
                parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
                chosen = sid.chosen
                if (
                    parsed.serial_number == chosen["serial_number"].native
                    and parsed.issuer == chosen["issuer"]
                ):
                    return cert
            elif sid.name == "subject_key_identifier":
                try:
                    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
                except x509.ExtensionNotFound:
                    continue
                if ski.value.digest == sid.chosen.native:
                    return cert
        raise failure(
            N_("verify.problem.no_signer_certificate"), _reason(self.role), role=_role(self.role)
        )

    def _check_signing_certificate(self) -> None:
        """ESS signing-certificate(-v2): the signed attributes name the signer's certificate."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        if "signing_certificate_v2" in self.attributes:
            cert_id = self.attributes["signing_certificate_v2"][0]["certs"][0]
            algorithm = cert_id["hash_algorithm"]["algorithm"].native
            if algorithm not in _HASHES:
                raise failure(
                    N_("verify.problem.certificate_digest"),
                    _reason(self.role),
                    role=_role(self.role),
                    algorithm=str(algorithm),
                )
            digest = hashes.Hash(_HASHES[algorithm]())
            digest.update(der)
            expected = digest.finalize()
        elif "signing_certificate" in self.attributes:
            cert_id = self.attributes["signing_certificate"][0]["certs"][0]
            expected = hashlib.sha1(der).digest()  # noqa: S324 - ESS v1 is defined with SHA-1
        else:
            raise failure(
                N_("verify.problem.no_certificate_identity"),
                _reason(self.role),
                role=_role(self.role),
            )
        if cert_id["cert_hash"].native != expected:
            raise failure(
                N_("verify.problem.other_certificate"), Reason.MODIFIED, role=_role(self.role)
            )


def _verify_signature(
    cert: x509.Certificate,
    signature: bytes,
    data: bytes,
    algorithm: algos.SignedDigestAlgorithm,
    digest: hashes.HashAlgorithm,
) -> None:
    key = cert.public_key()
    name: str = algorithm["algorithm"].native
    if isinstance(key, ec.EllipticCurvePublicKey) and "ecdsa" in name:
        key.verify(signature, data, ec.ECDSA(_hash_of(name, digest)))
    elif isinstance(key, rsa.RSAPublicKey) and (name.endswith("_rsa") or name == "rsassa_pkcs1v15"):
        key.verify(signature, data, padding.PKCS1v15(), _hash_of(name, digest))
    elif isinstance(key, ed25519.Ed25519PublicKey) and name == "ed25519":
        key.verify(signature, data)
    else:
        raise failure(N_("verify.problem.signature_algorithm"), Reason.OTHER, algorithm=name)


def _hash_of(name: str, default: hashes.HashAlgorithm) -> hashes.HashAlgorithm:
    prefix = name.split("_", 1)[0]
    return _HASHES[prefix]() if prefix in _HASHES else default


def _check_timestamp(
    seal: _Signed, anchors: Sequence[x509.Certificate], moment: datetime
) -> tuple[datetime, str]:
    """Return (time, TSA name) of the seal's signature timestamp, checked as of `moment`."""
    token = seal.unsigned(SIGNATURE_TIMESTAMP_TOKEN)
    if token is None:
        raise failure(N_("verify.problem.no_timestamp"), Reason.TIMESTAMP)
    stamp = _Signed.load(token.dump(), "timestamp")
    if stamp.content_type != "tst_info":
        raise failure(N_("verify.problem.not_a_timestamp"), Reason.TIMESTAMP)
    try:
        content = stamp.signed_data["encap_content_info"]["content"]
        econtent = bytes(content)
        info = content.parsed
        imprint = info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        at: datetime = info["gen_time"].native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise failure(
            N_("verify.problem.damaged"), Reason.DAMAGED, role=_role("timestamp"), error=str(exc)
        ) from exc
    stamp.check_content(econtent, _role("timestamp"))
    stamp.check_signature()
    if algorithm not in _HASHES:
        raise failure(
            N_("verify.problem.digest_algorithm"),
            Reason.TIMESTAMP,
            role=_role("timestamp"),
            algorithm=str(algorithm),
        )
    digest = hashes.Hash(_HASHES[algorithm]())
    digest.update(seal.signature)
    if digest.finalize() != hashed:
        raise failure(N_("verify.problem.stamp_not_over_seal"), Reason.TIMESTAMP)
    _check_timestamping_usage(stamp.certificate)
    _check_chain(stamp.certificate, stamp.pool, anchors, at, "timestamp")
    if moment < at - CLOCK_SKEW:
        raise failure(
            N_("verify.problem.stamped_after"),
            Reason.TIMESTAMP,
            time=_when(at),
            moment=_when(moment),
        )
    _check_chain(stamp.certificate, stamp.pool, anchors, moment, "timestamp")
    return at, _name(stamp.certificate)


def _check_timestamping_usage(cert: x509.Certificate) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.TIME_STAMPING not in eku:
        raise failure(N_("verify.problem.not_a_tsa"), Reason.TIMESTAMP, name=_name(cert))


def _check_chain(
    leaf: x509.Certificate,
    pool: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: datetime | None,
    role: str,
) -> None:
    """`leaf` must chain through `pool` to one of `anchors`, every link valid at `at`."""
    current = leaf
    for _ in range(MAX_CHAIN):
        _check_validity(current, at, role)
        if current in anchors:
            return
        issuer = _issuer_of(current, anchors) or _issuer_of(current, pool)
        if issuer is None:
            raise failure(
                N_("verify.problem.untrusted"),
                Reason.UNTRUSTED,
                role=role_of(role),
                name=_name(leaf),
            )
        _check_is_ca(issuer, role)
        if issuer in anchors:
            _check_validity(issuer, at, role)
            return
        current = issuer
    raise failure(N_("verify.problem.chain_too_long"), _reason(role), role=role_of(role))


def _issuer_of(
    cert: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != cert.issuer or candidate == cert:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _check_validity(cert: x509.Certificate, at: datetime | None, role: str) -> None:
    if at is None:
        return
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise failure(
            N_("verify.problem.not_valid_at"),
            Reason.EXPIRED,
            name=_name(cert),
            role=role_of(role),
            time=_when(at),
        )


def _check_is_ca(cert: x509.Certificate, role: str) -> None:
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        can_sign = cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        can_sign = True
    if not (is_ca and can_sign):
        raise failure(
            N_("verify.problem.not_a_ca"), Reason.UNTRUSTED, name=_name(cert), role=role_of(role)
        )


def _name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _when(at: datetime | None) -> str:
    return report.when(at)


def _role(name: str) -> Message:
    """ "the seal", "the timestamp": the subject of a problem's sentence."""
    return report.role(name)


def check_timestamp_token(
    token: bytes, digest: bytes, anchors: Sequence[x509.Certificate], moment: datetime
) -> tuple[datetime, str]:
    """(time, TSA name) of an RFC 3161 token over a SHA-256 digest (the evidence log's
    checkpoints), checked as of `moment` like a seal's timestamp."""
    stamp = _Signed.load(token, "timestamp")
    if stamp.content_type != "tst_info":
        raise failure(N_("verify.problem.not_a_timestamp"), Reason.TIMESTAMP)
    try:
        content = stamp.signed_data["encap_content_info"]["content"]
        econtent = bytes(content)
        imprint = content.parsed["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        at: datetime = content.parsed["gen_time"].native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise failure(
            N_("verify.problem.damaged"), Reason.DAMAGED, role=_role("timestamp"), error=str(exc)
        ) from exc
    stamp.check_content(econtent, _role("timestamp"))
    stamp.check_signature()
    if algorithm != "sha256" or hashed != digest:
        raise failure(N_("verify.problem.stamp_not_over_checkpoint"), Reason.TIMESTAMP)
    _check_timestamping_usage(stamp.certificate)
    _check_chain(stamp.certificate, stamp.pool, anchors, at, "timestamp")
    _check_chain(stamp.certificate, stamp.pool, anchors, moment, "timestamp")
    return at, _name(stamp.certificate)
