"""PAdES sealing of proof certificates and their archive timestamps (pyHanko).

`PdfSealer` is built once per process from the seal key and certificate objects the gateway
already holds (pyHanko's stock SimpleSigner re-parses the key on every signature). Each
certificate is sealed PAdES-B-LTA at issue: the seal signature with an RFC 3161 signature
timestamp from the gateway's TSA, the chain and the CA's CRL of the seal and of the TSA in the
Document Security Store, then a document timestamp over all of that. The document timestamp is
the proof of existence that lets a validator check the seal as of its time, with the embedded
CRL, at any later date: only the newest timestamp's TSA certificate must still be valid then.
`archive()` adds another document timestamp with fresh validation data, to be run before that
TSA certificate expires (gateway.pdf.expiry).

The issue-time seal is written by the gateway's own `PadesWriter` (gateway.pdf.pades: the same
three updates pyHanko writes, several times faster); pyHanko seals what that writer does not
take (`seal_with_pyhanko`, also the benchmark's "before"), adds the archive timestamps and
validates everything in the tests and in `lre-gateway verify`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from asn1crypto import cms, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from gateway.errors import EvidenceError, SignatureError, TimestampError
from gateway.evidence.pki import PrivateKey
from gateway.evidence.tsa import Timestamper
from gateway.pdf.pades import SEAL_FIELD, PadesWriter, Unsupported
from gateway.pdf.pdfa import PdfA3Writer  # keeps the sealed PDF at 1.7, PDF/A-3

log = logging.getLogger(__name__)
FIELD_NAME: Final = SEAL_FIELD
_DER: Final = serialization.Encoding.DER


def asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(_DER))


class _KeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner signing with an already loaded `cryptography` key."""

    def __init__(self, key: PrivateKey, cert: x509.Certificate, chain: Sequence[x509.Certificate]):
        info = keys.PrivateKeyInfo.load(
            key.private_bytes(_DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        super().__init__(
            signing_cert=asn1_certificate(cert),
            signing_key=info,
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                [asn1_certificate(c) for c in chain]
            ),
        )
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        algorithm = getattr(hashes, digest_algorithm.upper())()
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(algorithm))
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), algorithm)
        raise SignatureError(f"unsupported key type {type(self._key).__name__}")

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        return self.sign_raw(data, digest_algorithm)


class _GatewayTimeStamper(TimeStamper):
    """pyHanko's view of the gateway's own RFC 3161 client (built-in TSA or HTTP)."""

    def __init__(self, timestamper: Timestamper) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self._timestamper = timestamper

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
        if md_algorithm.lower() != "sha256":
            raise TimestampRequestError(
                f"the gateway's TSA stamps SHA-256 only, not {md_algorithm}"
            )
        try:
            token = await self._timestamper.timestamp(message_digest)
        except TimestampError as exc:
            raise TimestampRequestError(str(exc)) from exc
        return cms.ContentInfo.load(token)


class PdfSealer:
    """Seals certificates PAdES-B-LTA and adds further archive timestamps when due."""

    def __init__(
        self,
        *,
        key: PrivateKey,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate],
        anchors: Sequence[x509.Certificate],
        timestamper: Timestamper,
        crls: Callable[[], Sequence[bytes]],
        provider_name: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._signer = _KeySigner(key, cert, [*chain, *anchors])
        self._writer = PadesWriter(
            key=key,
            cert=cert,
            chain=chain,
            anchors=anchors,
            timestamper=timestamper,
            provider_name=provider_name,
        )
        self._seal_cert = cert
        self._checked_crls: tuple[bytes, ...] | None = None
        self._timestamper = _GatewayTimeStamper(timestamper)
        self._roots = [asn1_certificate(a) for a in anchors]
        self._others = [asn1_certificate(c) for c in chain]
        self._crls = crls
        self._provider_name = provider_name
        self._clock = clock

    def validation_context(self, at: datetime | None = None) -> ValidationContext:
        """Offline validation against the anchors with the CA's current CRLs (hard fail).

        As of `at`, else of the sealer's clock, else of now.
        """
        if at is None and self._clock is not None:
            at = self._clock()
        return ValidationContext(
            trust_roots=self._roots,
            other_certs=self._others,
            crls=list(self._crls()),
            allow_fetching=False,
            revocation_mode="hard-fail",
            moment=at,
        )

    def _now(self) -> datetime:
        return self._clock() if self._clock is not None else datetime.now(UTC)

    async def seal(self, pdf: bytes, *, reason: str) -> bytes:
        """Return `pdf` sealed PAdES-B-LTA: signed, validation data, then a document timestamp."""
        now = self._now()
        crls = tuple(self._crls())
        self._check_seal_certificate(now, crls)
        try:
            return await self._writer.seal(pdf, reason=reason, now=now, crls=crls)
        except Unsupported as exc:
            log.info("sealing with pyHanko: %s", exc)
        except TimestampError:
            raise
        except (ValueError, KeyError, IndexError) as exc:
            raise EvidenceError(f"the PDF could not be sealed: {exc}") from exc
        return await self.seal_with_pyhanko(pdf, reason=reason)

    def _check_seal_certificate(self, now: datetime, crls: tuple[bytes, ...]) -> None:
        """Refuse to seal with an expired or revoked seal certificate (pyHanko checks it too).

        The CRLs are read once per version; the validity period at every seal.
        """
        cert = self._seal_cert
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise SignatureError(
                f"the seal certificate is not valid at {now:%Y-%m-%d %H:%M:%S} UTC "
                f"({cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
            )
        if crls == self._checked_crls:
            return
        for der in crls:
            crl = x509.load_der_x509_crl(der)
            if crl.issuer != cert.issuer:
                continue
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                raise SignatureError("the seal certificate is revoked by its CA's CRL")
        self._checked_crls = crls

    async def seal_with_pyhanko(self, pdf: bytes, *, reason: str) -> bytes:
        """`seal()` as pyHanko makes it: for documents the own writer does not take."""
        context = self.validation_context()
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            reason=reason,
            name=self._provider_name,
            embed_validation_info=True,
            validation_context=context,
        )
        signer = signers.PdfSigner(meta, signer=self._signer, timestamper=self._timestamper)
        try:
            out = await signer.async_sign_pdf(PdfA3Writer(io.BytesIO(pdf)), output=io.BytesIO())
        except TimestampRequestError as exc:
            raise TimestampError(str(exc)) from exc
        except Exception as exc:  # pyHanko raises many kinds; the job retries later
            raise EvidenceError(f"the PDF could not be sealed: {exc}") from exc
        return await self._document_timestamp(bytes(out.getvalue()), context)

    async def archive(self, pdf: bytes) -> bytes:
        """Return `pdf` with fresh validation data and a new document timestamp (PAdES-LTA)."""
        context = self.validation_context()
        stamper = signers.PdfTimeStamper(self._timestamper)
        try:
            reader = PdfFileReader(io.BytesIO(pdf))
            if any(
                s.sig_object.get("/Type") == "/DocTimeStamp" for s in reader.embedded_signatures
            ):
                out = await stamper.async_update_archival_timestamp_chain(
                    reader, context, in_place=False, output=io.BytesIO()
                )
                return bytes(out.getvalue())
        except TimestampRequestError as exc:
            raise TimestampError(str(exc)) from exc
        except Exception as exc:
            raise EvidenceError(f"the archive timestamp could not be added: {exc}") from exc
        # a PAdES-B-LT proof of old: its signature timestamp dates the seal, this document
        # timestamp dates the validation data (the CRL) in its DSS
        return await self._document_timestamp(pdf, context)

    async def _document_timestamp(self, pdf: bytes, context: ValidationContext) -> bytes:
        """`pdf` with a document timestamp and the validation data of its TSA (pyHanko's LTA)."""
        stamper = signers.PdfTimeStamper(self._timestamper)
        try:
            out = await stamper.async_timestamp_pdf(
                IncrementalPdfFileWriter(io.BytesIO(pdf)),
                "sha256",
                validation_context=context,
                output=io.BytesIO(),
            )
        except TimestampRequestError as exc:
            raise TimestampError(str(exc)) from exc
        except Exception as exc:
            raise EvidenceError(f"the document timestamp could not be added: {exc}") from exc
        return bytes(out.getvalue())
