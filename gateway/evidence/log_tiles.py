"""Log entries and the C2SP tlog-tiles layout (pure).

An entry states one sealed evidence and nothing personal: its id, type, event time and the
SHA-256 of its evidence.xml and of its seal (evidence.xml.p7s). Tiles: `tile/L/N[.p/W]` holds
the hashes of the complete subtrees of height 8·L numbered 256·N … 256·N+W-1 (W = 256 when
the tile is full); `tile/entries/N[.p/W]` holds those entries, each as a 2-byte big-endian
length and its bytes. N is written in three-digit groups, all but the last prefixed by `x`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

TILE_WIDTH = 256  # C2SP tlog-tiles: tile height 8
TILE_HEIGHT = 8
ENTRY_HEADER = "lre-evidence/v1"
MAX_ENTRY = 0xFFFF  # entry bundles carry 16-bit lengths


class TileError(ValueError):
    """A tile path or bundle that is not well formed."""


@dataclass(frozen=True)
class Entry:
    evidence_id: str
    type: str
    event_time: datetime
    xml_sha256: str
    p7s_sha256: str

    def encode(self) -> bytes:
        when = self.event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return (
            f"{ENTRY_HEADER}\nid {self.evidence_id}\ntype {self.type}\ntime {when}\n"
            f"xml-sha256 {self.xml_sha256}\np7s-sha256 {self.p7s_sha256}\n"
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> Entry:
        try:
            lines = data.decode("ascii").split("\n")
            if lines[0] != ENTRY_HEADER or lines[-1] != "" or len(lines) != 7:
                raise ValueError
            fields = dict(line.split(" ", 1) for line in lines[1:-1])
            return cls(
                evidence_id=fields["id"],
                type=fields["type"],
                event_time=datetime.strptime(fields["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=UTC
                ),
                xml_sha256=fields["xml-sha256"],
                p7s_sha256=fields["p7s-sha256"],
            )
        except (ValueError, KeyError):
            raise TileError("not an evidence log entry") from None


def encode_index(n: int) -> str:
    digits = str(n)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


_INDEX = re.compile(r"^(?:x\d{3}/)*\d{3}$")


def parse_index(text: str) -> int:
    if not _INDEX.match(text):
        raise TileError(f"{text!r} is not a tile index")
    return int("".join(part.lstrip("x") for part in text.split("/")))


def tile_path(level: int | str, index: int, width: int) -> str:
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(index)}{suffix}"


def parse_tile_rest(rest: str) -> tuple[int, int]:
    """`N[.p/W]` (the part after `tile/L/`) → (N, W)."""
    index, width = rest, TILE_WIDTH
    if ".p/" in rest:
        index, w = rest.split(".p/", 1)
        if not w.isdigit() or not 1 <= int(w) < TILE_WIDTH or w != str(int(w)):
            raise TileError(f"{w!r} is not a partial tile width")
        width = int(w)
    return parse_index(index), width


def bundle(entries: list[bytes]) -> bytes:
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY:
            raise TileError("entry too long for a bundle")
        out += struct.pack(">H", len(entry)) + entry
    return bytes(out)


def unbundle(data: bytes) -> list[bytes]:
    entries, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError("truncated entry bundle")
        (length,) = struct.unpack_from(">H", data, at)
        if at + 2 + length > len(data):
            raise TileError("truncated entry bundle")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries
