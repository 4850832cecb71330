"""The issue-time PAdES-B-LTA seal written by hand: three incremental updates, no PDF library.

pyHanko spends tens of milliseconds per certificate re-encoding ASN.1 and re-validating the
same chain; what it writes is small and fixed. `PadesWriter` writes the same thing directly
onto a freshly rendered certificate (a classic xref table, one page tree, no form yet):

1. the signature: the catalog with /AcroForm and the ESIC extension, the first page with the
   invisible widget in /Annots, the AcroForm, the widget (field `GatewaySeal`) and the
   signature dictionary (/ETSI.CAdES.detached). Its /Contents is a CMS SignedData from the
   gateway's `CmsSigner` over the /ByteRange (everything but the /Contents hex string) with the
   PAdES signed attributes (content-type, message-digest, signing-certificate-v2; no
   signingTime, the time is /M) and the signature timestamp as unsigned attribute;
2. the Document Security Store: every certificate (seal, chain, anchors, TSA) and the CRLs;
3. the document timestamp (/DocTimeStamp, /ETSI.RFC3161) over all of that.

The certificate and CRL streams and the signer's attributes are encoded once (CRL streams
again when the CRL changes); a seal costs two ECDSA signatures (the seal and the TSA's), two
more for the document timestamp's token, and hashing the document twice. A document this
writer does not expect (`Unsupported`) is sealed by pyHanko instead (gateway.pdf.seal).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.errors import SignatureError
from gateway.evidence.cms import CmsSigner, append_timestamp, certificates_of
from gateway.evidence.pki import PrivateKey
from gateway.evidence.tsa import Timestamper

SEAL_FIELD: Final = "GatewaySeal"
TIMESTAMP_FIELD: Final = "GatewayTimestamp"
SIGNATURE_SPACE: Final = 8192  # bytes first reserved for the seal's CMS
TIMESTAMP_SPACE: Final = 4096  # for the document timestamp token
SLACK: Final = 256  # then the last one's size and this; a bigger one is signed once more
_BYTE_RANGE_SLOT: Final = 48  # "[0 a b c]" padded with spaces, a..c up to 10 digits each
_ESIC: Final = (
    b"/Extensions <</ESIC <</Type /DeveloperExtensions /BaseVersion /1.7 /ExtensionLevel 1>>>>"
)
_DER: Final = serialization.Encoding.DER


class Unsupported(Exception):
    """The document is not one this writer appends to (xref stream, existing form, ...)."""


@dataclass(frozen=True)
class _Object:
    number: int
    body: bytes  # between "N 0 obj" and "endobj", stripped


@dataclass(frozen=True)
class _Document:
    """What the updates need from the original: trailer entries, catalog and first page."""

    data: bytes
    startxref: int
    size: int
    root: _Object
    page: _Object
    info: bytes  # "/Info n 0 R" or b""
    first_id: bytes  # hex of the first /ID string
    version: tuple[int, int]  # of the header


_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_REF = rb"(\d+)\s+0\s+R"
_OBJ_HEADER = re.compile(rb"(\d+)\s+(\d+)\s+obj\b")


def _entries(data: bytes, offset: int) -> tuple[dict[int, int], bytes]:
    """The in-use objects (number: offset) of the xref table at `offset`, and its trailer."""
    if not data.startswith(b"xref", offset):
        raise Unsupported("the cross-reference section is not a table (an xref stream?)")
    trailer_at = data.find(b"trailer", offset)
    if trailer_at < 0:
        raise Unsupported("no trailer")
    lines = data[offset + 4 : trailer_at].split()
    objects: dict[int, int] = {}
    at = 0
    while at < len(lines):
        start, count = int(lines[at]), int(lines[at + 1])
        at += 2
        for number in range(start, start + count):
            where, _generation, kind = lines[at : at + 3]
            at += 3
            if kind == b"n":
                objects[number] = int(where)
    end = data.find(b"startxref", trailer_at)
    return objects, data[trailer_at + 7 : end]


def _object(data: bytes, offsets: dict[int, int], number: int) -> _Object:
    if number not in offsets:
        raise Unsupported(f"object {number} is not in the cross-reference table")
    at = offsets[number]
    header = _OBJ_HEADER.match(data, at)
    if header is None or int(header[1]) != number or header[2] != b"0":
        raise Unsupported(f"object {number} is not where the table says")
    end = data.find(b"endobj", header.end())
    body = data[header.end() : end].strip()
    if not (body.startswith(b"<<") and body.endswith(b">>")) or b"stream" in body:
        raise Unsupported(f"object {number} is not a dictionary")
    return _Object(number, body)


def _ref(body: bytes, key: bytes) -> int | None:
    found = re.search(rb"/" + key + rb"\s+" + _REF, body)
    return int(found[1]) if found else None


def read_document(data: bytes) -> _Document:
    """The parts of `data` the updates rewrite; `Unsupported` for anything unexpected."""
    try:
        return _read(data)
    except (ValueError, IndexError) as exc:  # a damaged table: pyHanko may still read it
        raise Unsupported(f"an unreadable cross-reference table ({exc})") from exc


def _read(data: bytes) -> _Document:
    tail = _STARTXREF.search(data, max(0, len(data) - 64))
    if tail is None or not data.startswith(b"%PDF-1."):
        raise Unsupported("no PDF header or startxref")
    startxref = int(tail[1])
    offsets, trailer = _entries(data, startxref)
    prev, seen = _ref_int(trailer, b"Prev"), {startxref}
    while prev is not None:  # older sections: the newest entry of each object wins
        if prev in seen:
            raise Unsupported("a loop in the cross-reference chain")
        seen.add(prev)
        older, older_trailer = _entries(data, prev)
        offsets = {**older, **offsets}
        prev = _ref_int(older_trailer, b"Prev")
    size, root_number = _ref_int(trailer, b"Size"), _ref(trailer, b"Root")
    if size is None or root_number is None or b"/Encrypt" in trailer:
        raise Unsupported("the trailer has no /Size or /Root, or the document is encrypted")
    if b"/XRefStm" in trailer:
        raise Unsupported("a hybrid file: some objects are only in an xref stream")
    root = _object(data, offsets, root_number)
    if any(key in root.body for key in (b"/AcroForm", b"/DSS", b"/Extensions", b"/Perms")):
        raise Unsupported("the document already has a form, a DSS or extensions")
    node = _ref(root.body, b"Pages")
    page = None
    for _ in range(32):  # the first leaf of the page tree
        if node is None:
            break
        candidate = _object(data, offsets, node)
        if re.search(rb"/Type\s*/Page\b", candidate.body):
            page = candidate
            break
        kids = re.search(rb"/Kids\s*\[\s*" + _REF, candidate.body)
        node = int(kids[1]) if kids else None
    if page is None:
        raise Unsupported("no page found")
    if b"/Annots" in page.body:
        _with_annotation(page.body, 0)  # Unsupported unless an array of references
    info = re.search(rb"/Info\s+" + _REF, trailer)
    first_id = re.search(rb"/ID\s*\[\s*<([0-9A-Fa-f]*)>", trailer)
    return _Document(
        data=data,
        startxref=startxref,
        size=size,
        root=root,
        page=page,
        info=b"/Info %d 0 R" % int(info[1]) if info else b"",
        first_id=first_id[1]
        if first_id
        else hashlib.md5(data, usedforsecurity=False).hexdigest().encode(),
        version=(1, int(data[7:8])) if data[7:8].isdigit() else (1, 0),
    )


def _ref_int(trailer: bytes, key: bytes) -> int | None:
    found = re.search(rb"/" + key + rb"\s+(\d+)(?!\s+\d+\s+R)", trailer)
    return int(found[1]) if found else None


def _with(body: bytes, extra: bytes) -> bytes:
    """The dictionary `body` with `extra` entries appended."""
    return body[:-2].rstrip() + b"\n" + extra + b"\n>>"


_ANNOTS = re.compile(rb"/Annots\s*\[((?:\s*\d+\s+0\s+R)*)\s*\]")


def _with_annotation(body: bytes, widget: int) -> bytes:
    """The page dictionary `body` with the widget `widget` added to its /Annots.

    Only an array of references is extended: pyHanko's difference analysis refuses a later
    update to an array holding annotation dictionaries (fpdf2 writes links that way).
    """
    ref = b"%d 0 R" % widget
    found = _ANNOTS.search(body)
    if found is None:
        if b"/Annots" in body:
            raise Unsupported("the page's /Annots is not an array of references")
        return _with(body, b"/Annots [" + ref + b"]")
    inner = found[1].strip()
    return body[: found.start()] + b"/Annots [" + inner + b" " + ref + b"]" + body[found.end() :]


def pdf_text(value: str) -> bytes:
    """A PDF text string: literal when ASCII, else UTF-16BE hex with its byte order mark."""
    if value.isascii():
        escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        escaped = escaped.replace("\r", "\\r").replace("\n", "\\n")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode() + b">"


def pdf_date(when: datetime) -> bytes:
    return when.astimezone(UTC).strftime("(D:%Y%m%d%H%M%SZ)").encode()


def _stream(der: bytes) -> bytes:
    return b"<</Length %d>>\nstream\n" % len(der) + der + b"\nendstream"


class _Update:
    """One incremental update being written: objects, then the xref table and the trailer."""

    def __init__(self, base: bytes) -> None:
        self.out = bytearray(base)
        if not self.out.endswith(b"\n"):
            self.out += b"\n"
        self._offsets: dict[int, int] = {}

    def add(self, number: int, body: bytes) -> int:
        """Append object `number`; return the offset of its body in the file."""
        self._offsets[number] = len(self.out)
        self.out += b"%d 0 obj\n" % number
        at = len(self.out)
        self.out += body + b"\nendobj\n"
        return at

    def finish(self, *, size: int, trailer: bytes, prev: int) -> bytes:
        xref_at = len(self.out)
        numbers = sorted(self._offsets)
        self.out += b"xref\n0 1\n0000000000 65535 f \n"
        run: list[int] = []
        for number in [*numbers, -1]:
            if run and number != run[-1] + 1:
                self.out += b"%d %d\n" % (run[0], len(run))
                self.out += b"".join(b"%010d 00000 n \n" % self._offsets[n] for n in run)
                run = []
            run.append(number)
        self.out += b"trailer\n<</Size %d %s /Prev %d>>\nstartxref\n%d\n%%%%EOF\n" % (
            size,
            trailer,
            prev,
            xref_at,
        )
        return bytes(self.out)


def _placeholder(space: int) -> bytes:
    return b"/Contents <" + b"0" * (2 * space) + b">\n/ByteRange " + b" " * _BYTE_RANGE_SLOT


def _fill(out: bytearray, at: int, space: int, value: bytes) -> None:
    """Write the byte range and /Contents `value` of the signature dictionary body at `at`."""
    start = out.index(b"/Contents <", at) + len(b"/Contents ")
    stop = start + 2 * space + 2
    byte_range = b"[0 %d %d %d]" % (start, stop, len(out) - stop)
    slot = out.index(b"/ByteRange ", stop) + len(b"/ByteRange ")
    out[slot : slot + _BYTE_RANGE_SLOT] = byte_range.ljust(_BYTE_RANGE_SLOT)
    hex_value = value.hex().upper().encode()
    out[start + 1 : start + 1 + len(hex_value)] = hex_value


def _digest(out: bytearray, at: int, space: int) -> bytes:
    start = out.index(b"/Contents <", at) + len(b"/Contents ")
    stop = start + 2 * space + 2
    view = memoryview(out)
    hashed = hashlib.sha256(view[:start])
    hashed.update(view[stop:])
    return hashed.digest()


class PadesWriter:
    """Writes the issue-time PAdES-B-LTA seal onto a certificate; built once per process."""

    def __init__(
        self,
        *,
        key: PrivateKey,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate],
        anchors: Sequence[x509.Certificate],
        timestamper: Timestamper,
        provider_name: str,
    ) -> None:
        self._signer = CmsSigner(key, cert, [*chain, *anchors])
        self._timestamper = timestamper
        self._name = pdf_text(provider_name)
        self._known: dict[bytes, bytes] = {}  # DER: its stream object body, encoded once
        self._certificates = [c.public_bytes(_DER) for c in (cert, *chain, *anchors)]
        self._signature_space = SIGNATURE_SPACE
        self._timestamp_space = TIMESTAMP_SPACE

    def _stream_of(self, der: bytes) -> bytes:
        body = self._known.get(der)
        if body is None:
            if len(self._known) > 64:  # CRLs come and go: keep the cache bounded
                self._known.clear()
            body = self._known[der] = _stream(der)
        return body

    async def seal(self, pdf: bytes, *, reason: str, now: datetime, crls: Sequence[bytes]) -> bytes:
        """`pdf` sealed PAdES-B-LTA; `Unsupported` if it is not a document this writer takes."""
        document = read_document(pdf)
        signed, token = await self._signature(document, reason=reason, now=now)
        certificates = [*self._certificates]
        for der in certificates_of(token):
            if der not in certificates:
                certificates.append(der)
        with_dss, dss_size = self._dss(document, signed, certificates, crls)
        return await self._document_timestamp(document, with_dss, dss_size)

    @staticmethod
    def _ids(document: _Document) -> bytes:
        """The trailer's /Info, /Root and /ID: the first ID kept, a fresh second one."""
        second = secrets.token_hex(16).upper().encode()
        return b"%s /Root %d 0 R /ID [<%s><%s>]" % (
            document.info,
            document.root.number,
            document.first_id,
            second,
        )

    def _catalog(self, document: _Document) -> bytes:
        extra = b"/AcroForm %d 0 R\n" % document.size + _ESIC
        if document.version < (1, 7) and b"/Version" not in document.root.body:
            extra += b"\n/Version /1.7"
        return _with(document.root.body, extra)

    async def _signature(
        self, document: _Document, *, reason: str, now: datetime
    ) -> tuple[bytes, bytes]:
        """The first update, signed and timestamped, and the signature timestamp token."""
        form, widget, signature = document.size, document.size + 1, document.size + 2
        while True:
            space = self._signature_space
            update = _Update(document.data)
            update.add(document.root.number, self._catalog(document))
            update.add(document.page.number, _with_annotation(document.page.body, widget))
            update.add(form, b"<</Fields [%d 0 R] /SigFlags 3>>" % widget)
            update.add(widget, self._widget(SEAL_FIELD, document.page.number, signature))
            at = update.add(
                signature,
                b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached\n/M "
                + pdf_date(now)
                + b" /Name "
                + self._name
                + b" /Reason "
                + pdf_text(reason)
                + b"\n"
                + _placeholder(space)
                + b">>",
            )
            out = bytearray(
                update.finish(
                    size=signature + 1,
                    trailer=self._ids(document),
                    prev=document.startxref,
                )
            )
            _fill(out, at, space, b"")
            p7s, value = self._signer.signed_data(
                content_type="data", digest=_digest(out, at, space), signing_time=None
            )
            token = await self._timestamper.timestamp(hashlib.sha256(value).digest())
            p7s = append_timestamp(p7s, token)
            self._signature_space = len(p7s) + SLACK  # the next seal's space, grown or shrunk
            if len(p7s) <= space:
                _fill(out, at, space, p7s)
                return bytes(out), token

    @staticmethod
    def _widget(name: str, page: int, value: int) -> bytes:
        return (
            b"<</FT /Sig /T "
            + pdf_text(name)
            + b" /Type /Annot /Subtype /Widget /F 132 /Rect [0 0 0 0] /P %d 0 R /V %d 0 R>>"
            % (page, value)
        )

    def _dss(
        self,
        document: _Document,
        signed: bytes,
        certificates: Sequence[bytes],
        crls: Sequence[bytes],
    ) -> tuple[bytes, int]:
        """The second update: the catalog with /DSS, its certificates and CRLs. And /Size."""
        first = document.size + 3
        update = _Update(signed)
        numbers = []
        for offset, der in enumerate([*certificates, *crls]):
            update.add(first + offset, self._stream_of(der))
            numbers.append(first + offset)
        dss = first + len(numbers)
        refs = [b"%d 0 R" % n for n in numbers]
        update.add(
            dss,
            b"<</Certs [%s] /CRLs [%s]>>"
            % (b" ".join(refs[: len(certificates)]), b" ".join(refs[len(certificates) :])),
        )
        update.add(document.root.number, _with(self._catalog(document), b"/DSS %d 0 R" % dss))
        return (
            update.finish(
                size=dss + 1,
                trailer=self._ids(document),
                prev=_xref_offset(signed),
            ),
            dss + 1,
        )

    async def _document_timestamp(self, document: _Document, pdf: bytes, size: int) -> bytes:
        """The third update: a document timestamp field over everything before it."""
        seal_widget = document.size + 1
        widget, value = size, size + 1
        prev = _xref_offset(pdf)
        while True:
            space = self._timestamp_space
            update = _Update(pdf)
            page = _with_annotation(_with_annotation(document.page.body, seal_widget), widget)
            update.add(document.page.number, page)
            update.add(
                document.size, b"<</Fields [%d 0 R %d 0 R] /SigFlags 3>>" % (seal_widget, widget)
            )
            update.add(widget, self._widget(TIMESTAMP_FIELD, document.page.number, value))
            at = update.add(
                value,
                b"<</Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161\n"
                + _placeholder(space)
                + b">>",
            )
            out = bytearray(update.finish(size=value + 1, trailer=self._ids(document), prev=prev))
            _fill(out, at, space, b"")
            token = await self._timestamper.timestamp(_digest(out, at, space))
            self._timestamp_space = len(token) + SLACK
            if len(token) <= space:
                _fill(out, at, space, token)
                return bytes(out)


def _xref_offset(pdf: bytes) -> int:
    found = _STARTXREF.search(pdf, max(0, len(pdf) - 64))
    if found is None:
        raise SignatureError("the update just written has no startxref")
    return int(found[1])
