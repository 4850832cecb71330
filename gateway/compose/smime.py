"""S/MIME signing of proof mails (RFC 8551 multipart/signed, application/pkcs7-signature).

The signed entity is the mail's MIME body with its Content-* headers, made 7-bit first (8bit
text parts become quoted-printable) so that no relay can alter the signed bytes; the signature
is the seal certificate's CMS detached signature. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import email
import re
import secrets
from datetime import datetime
from email.message import EmailMessage
from typing import Final

from gateway.compose.mail import POLICY
from gateway.compose.parts import base64_lines
from gateway.evidence.cms import Sealer

SIGNATURE_NAME: Final = "smime.p7s"
_EIGHT_BIT: Final = re.compile(rb"^content-transfer-encoding:\s*8bit", re.IGNORECASE | re.MULTILINE)
# "8bit" in any case, ASCII letters only (as bytes.lower() folds them), without a lowered copy of
# the whole mail: ~40 us for a proof mail against ~120
_8BIT: Final = re.compile(rb"8bit", re.IGNORECASE)


def smime_sign(
    message: bytes, sealer: Sealer, *, signing_time: datetime, seven_bit: bool = False
) -> bytes:
    """Return `message` (RFC 5322, CRLF) as multipart/signed by `sealer`.

    `seven_bit`: the caller composed every part 7-bit (gateway.compose.proof's mails, as
    tests/unit/test_compose_proof.py checks), so no 8bit part is looked for: a search of the
    whole mail, ~50 µs for a proof mail with its PDF."""
    head, _, body = (message if seven_bit else _seven_bit(message)).partition(b"\r\n\r\n")
    outer: list[bytes] = []
    inner: list[bytes] = []
    for field in _fields(head):
        name = field.split(b":", 1)[0].strip().lower()
        if name == b"mime-version":
            continue
        (inner if name.startswith(b"content-") else outer).append(field)
    entity = b"".join(inner) + b"\r\n" + body
    if not entity.endswith(b"\r\n"):
        entity += b"\r\n"
    signature = sealer.sign(entity, signing_time=signing_time)
    boundary = f"----=_signed_{secrets.token_hex(12)}".encode()
    encoded = base64_lines(signature)
    return b"".join(
        [
            *outer,
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\r\n',
            b' micalg=sha-256; boundary="' + boundary + b'"\r\n',
            b"\r\n",
            b"This is a signed message (S/MIME).\r\n",
            b"--" + boundary + b"\r\n",
            entity,
            b"\r\n--" + boundary + b"\r\n",
            b'Content-Type: application/pkcs7-signature; name="'
            + SIGNATURE_NAME.encode()
            + b'"\r\n',
            b"Content-Transfer-Encoding: base64\r\n",
            b'Content-Disposition: attachment; filename="' + SIGNATURE_NAME.encode() + b'"\r\n',
            b"\r\n",
            encoded,
            b"\r\n--" + boundary + b"--\r\n",
        ]
    )


def _seven_bit(message: bytes) -> bytes:
    """The message with its 8bit text parts made quoted-printable; as it is when it is all
    7-bit already (compose_proof's mails: no parse, the signed bytes are those composed)."""
    if message.isascii() and (not _8BIT.search(message) or not _EIGHT_BIT.search(message)):
        return message
    msg = email.message_from_bytes(message, _class=EmailMessage, policy=POLICY)
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if str(part.get("Content-Transfer-Encoding", "7bit")).lower() == "8bit":
            _to_quoted_printable(part)
    return msg.as_bytes(policy=POLICY)


def _fields(head: bytes) -> list[bytes]:
    """Header fields with their folded continuation lines, each ending in CRLF."""
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + b"\r\n"
        elif line:
            fields.append(line + b"\r\n")
    return fields


def _to_quoted_printable(part: EmailMessage) -> None:
    content = part.get_content()
    subtype = part.get_content_subtype()
    disposition = part.get("Content-Disposition")
    language = part.get("Content-Language")
    part.set_content(content, subtype=subtype, charset="utf-8", cte="quoted-printable")
    if disposition is not None:
        part.replace_header("Content-Disposition", disposition) if part.get(
            "Content-Disposition"
        ) else part.add_header("Content-Disposition", str(disposition))
    if language is not None and part.get("Content-Language") is None:
        part["Content-Language"] = language
