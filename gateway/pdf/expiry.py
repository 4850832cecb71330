"""When a sealed PDF's last timestamp stops being verifiable on its own (pure)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader

from gateway.errors import EvidenceError


def renewal_due(pdf: bytes) -> datetime:
    """The earliest expiry of the certificates behind the PDF's latest timestamp and signer.

    For a signature, that is its signer and the TSA of its signature timestamp; for a document
    timestamp, its TSA. An archive timestamp must be added before this moment.
    """
    try:
        signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
        if not signatures:
            raise EvidenceError("the PDF is not signed")
        last = signatures[-1]
        expiries = [_not_after(last.signer_cert)]
        signer_info = last.signer_info
        for attr in signer_info["unsigned_attrs"] or ():
            if attr["type"].native == "signature_time_stamp_token":
                token: cms.ContentInfo = attr["values"][0]
                expiries += [
                    _not_after(c.chosen)
                    for c in token["content"]["certificates"] or ()
                    if not c.chosen.ca
                ]
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"cannot read the PDF's signatures: {exc}") from exc
    return min(expiries)


def _not_after(cert: object) -> datetime:
    value: datetime = cert["tbs_certificate"]["validity"]["not_after"].native  # type: ignore[index]
    return value.astimezone(UTC)
