"""The certificate's QR code: segno's symbol, written without segno for the next URLs.

A certificate's QR code holds its verification URL, error correction M, in byte mode; the
URLs of one gateway differ only by their evidence id, so they have one length. segno makes the
symbol of the first URL of each length (it chooses the version, the error correction level and
the data mask, ISO/IEC 18004 §7.8), and from it a *template*: every module of the symbol with
its message bits all zero (finder, timing and alignment patterns, format and version
information, the mask) and where each message bit goes (§7.7.3). The next URL of that length
is then written as segno writes it with that mask: data codewords (§7.4), Reed-Solomon
error correction per block (§7.5.2, one table look-up per codeword), interleaved (§7.6) and
placed on the template.

A template is checked once against segno's symbol of another URL of its length; a URL it
cannot write (not ASCII, or digits and capitals that segno writes in another mode) is left to
segno. segno wrote each symbol in ~1.7 ms, the template writes it in ~0.06 ms (each
codeword placed by two look-ups, `_Template._nibbles`).
tests/unit/test_pdf_qr.py compares the two for many URLs, zbar decodes the printed code.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final

import segno
from segno import consts as segno_consts
from segno import encoder as segno_encoder

__all__ = ["qr_rows"]
log = logging.getLogger(__name__)
# segno's tables and encoder steps (untyped): the symbol's layout, placement and polynomials
consts: Any = segno_consts
encoder: Any = segno_encoder

BYTE_MODE: Final = 0b0100  # mode indicator (ISO/IEC 18004 table 2)
PAD_CODEWORDS: Final = (0xEC, 0x11)  # §7.4.10
MAX_TEMPLATES: Final = 64  # URL lengths remembered per process (one public URL: one length)


@dataclass(frozen=True)
class _Template:
    """What a symbol of one version, error correction level and mask needs, made once."""

    width: int
    count_bits: int  # of the character count indicator (§7.4.1)
    data_words: int
    blocks: tuple[tuple[int, int], ...]  # data codewords, error correction codewords
    base: tuple[int, ...]  # each row's modules (1 dark, leftmost the highest bit)
    places: tuple[tuple[tuple[int, int], ...], ...]  # per codeword: each bit's row and module
    tables: dict[int, tuple[int, ...]]  # per error codeword count: remainder of coef·g(x)

    def rows(self, data: bytes) -> tuple[int, ...]:
        """The symbol of `data`: the base with each codeword's bits placed (`_placed`)."""
        symbol = self._symbol()
        high, low = self._nibbles()
        for codeword, value in enumerate(self._message(data)):
            if value:
                symbol ^= high[codeword][value >> 4] ^ low[codeword][value & 15]
        width, row = self.width, (1 << self.width) - 1
        return tuple((symbol >> (width * (width - 1 - r))) & row for r in range(width))

    def _symbol(self) -> int:
        """The base, every row in one integer (the first row the highest bits)."""
        found = self.__dict__.get("_symbol_made")
        if found is None:
            found = 0
            for row in self.base:
                found = found << self.width | row
            object.__setattr__(self, "_symbol_made", found)
        return int(found)

    def _nibbles(self) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]:
        """Per codeword, for each value of its high and of its low four bits, the modules
        they turn dark in the whole symbol (`_symbol`'s layout): two look-ups a codeword
        rather than eight tests of a bit (~0.25 ms a symbol). ~0.7 MB for a version 5 symbol,
        made once per URL length."""
        found = self.__dict__.get("_nibbles_made")
        if found is None:
            width = self.width

            def at(row: int, module: int) -> int:
                return module << (width * (width - 1 - row))

            halves = []
            for bits in (range(4), range(4, 8)):
                halves.append(
                    tuple(
                        tuple(
                            _xor(at(*places[bit]) for bit in bits if value & (0x80 >> bit))
                            for value in (range(0, 256, 16) if bits.start == 0 else range(16))
                        )
                        for places in self.places
                    )
                )
            found = (halves[0], halves[1])
            object.__setattr__(self, "_nibbles_made", found)
        return found

    def _message(self, data: bytes) -> list[int]:
        """The final message codewords of `data` (§7.4 to §7.6)."""
        value = (BYTE_MODE << self.count_bits | len(data)) << 8 * len(data)
        value |= int.from_bytes(data, "big")
        size = 4 + self.count_bits + 8 * len(data)
        terminator = min(4, 8 * self.data_words - size)  # §7.4.9
        size += terminator
        padding = -size % 8
        value <<= terminator + padding
        size += padding
        words = list(value.to_bytes(size // 8, "big"))
        words += [PAD_CODEWORDS[i % 2] for i in range(self.data_words - len(words))]
        data_blocks, error_blocks = [], []
        at = 0
        for data_count, error_count in self.blocks:
            block = words[at : at + data_count]
            at += data_count
            data_blocks.append(block)
            error_blocks.append(self._errors(block, error_count))
        return [*_interleaved(data_blocks), *_interleaved(error_blocks)]

    def _errors(self, block: list[int], count: int) -> list[int]:
        """The block's error correction codewords: its remainder by the generator polynomial
        (the register of a linear feedback shift register, as one integer)."""
        table = self.tables[count]
        shift = 8 * (count - 1)
        full = (1 << 8 * count) - 1
        register = 0
        for word in block:
            register = ((register << 8) & full) ^ table[word ^ (register >> shift)]
        return list(register.to_bytes(count, "big"))


def _xor(values: Iterable[int]) -> int:
    made = 0
    for value in values:
        made ^= value
    return made


def _interleaved(blocks: list[list[int]]) -> list[int]:
    longest = max(len(block) for block in blocks)
    return [block[i] for i in range(longest) for block in blocks if i < len(block)]


def _table(count: int) -> tuple[int, ...]:
    """For each codeword value c: c times the generator polynomial of `count` error
    codewords, less its leading term, as one integer (segno's polynomial, in log form)."""
    generator = consts.GEN_POLY[count]
    log, exp = consts.GALIOS_LOG, consts.GALIOS_EXP
    table = [0]
    for coef in range(1, 256):
        words = bytes(exp[log[coef] + generator[n]] for n in range(count))
        table.append(int.from_bytes(words, "big"))
    return tuple(table)


def _rows(matrix: Iterable[Iterable[int]]) -> tuple[int, ...]:
    """Each row's modules as one integer, leftmost the highest bit."""
    return tuple(int("".join("1" if module else "0" for module in row), 2) for row in matrix)


def _template(code: segno.QRCode) -> _Template:
    """The template of segno's QR code `code`, its base not yet known (zero)."""
    version = int(code.version)
    error = consts.ERROR_MAPPING[str(code.error).upper()]
    width = encoder.calc_matrix_size(version)
    blocks = tuple(
        (info.num_data, info.num_total - info.num_data)
        for info in consts.ECC[version][error]
        for _ in range(info.num_blocks)
    )
    # where each bit goes: segno's placement of a message whose bits are their own numbers
    free = [list(row) for row in encoder.make_matrix(width, width)]
    encoder.add_finder_patterns(free, width, width)
    encoder.add_alignment_patterns(free, width, width)
    cells = sum(row.count(0x2) for row in free)
    encoder.add_codewords(free, [-1 - k for k in range(cells)], version)
    spot = {
        -1 - value: (i, 1 << (width - 1 - j))
        for i, row in enumerate(free)
        for j, value in enumerate(row)
        if value < 0
    }
    codewords = sum(data + errors for data, errors in blocks)
    return _Template(
        width=width,
        count_bits=8 if version <= 9 else 16,  # byte mode (ISO/IEC 18004 table 3)
        data_words=sum(data for data, _ in blocks),
        blocks=blocks,
        base=(0,) * width,
        places=tuple(tuple(spot[8 * c + bit] for bit in range(8)) for c in range(codewords)),
        tables={errors: _table(errors) for errors in {e for _, e in blocks}},
    )


def _made_from(url: str, code: segno.QRCode) -> _Template | None:
    """The template of `url`'s symbol, checked on another URL of its length; None when it
    does not write segno's symbols (then segno writes them)."""
    if not _in_byte_mode(url) or code.is_micro or code.mode != "byte":
        return None
    blank = _template(code)
    placed = blank.rows(url.encode("ascii"))
    template = replace(
        blank, base=tuple(a ^ b for a, b in zip(_rows(code.matrix), placed, strict=True))
    )
    other = url[:-1] + ("a" if url[-1] != "a" else "b")  # byte mode too
    expected = segno.make(other, error="m", micro=False, mask=code.mask)
    if expected.version != code.version or expected.error != code.error:
        return None
    if template.rows(other.encode("ascii")) != _rows(expected.matrix):
        log.warning("QR code template for %d characters differs from segno's", len(url))
        return None
    return template


def _in_byte_mode(url: str) -> bool:
    """Whether segno writes `url` as bytes (ASCII), not as digits or upper-case letters."""
    return (
        bool(url) and url.isascii() and encoder.find_mode(url.encode("ascii")) == consts.MODE_BYTE
    )


# per URL length: the template made from its first URL (None: segno writes them), the mask
_TEMPLATES: dict[int, tuple[_Template | None, int]] = {}
_LOCK = threading.Lock()


def qr_rows(url: str, *, remember: bool = True) -> tuple[int, ...]:
    """The QR code of `url`, error correction M, each row's modules as one integer (leftmost
    the highest bit; the symbol is as wide as it has rows).

    The first URL of a length is segno's symbol; the next ones keep its data mask (any mask
    decodes the same) and are written from its template, or by segno when there is none.
    `remember=False`: segno chooses afresh (bench.pdf's --before).
    """
    if not remember:
        return _rows(segno.make(url, error="m", micro=False).matrix)
    with _LOCK:
        made = _TEMPLATES.get(len(url))
        if made is None:
            code = segno.make(url, error="m", micro=False)
            if len(_TEMPLATES) >= MAX_TEMPLATES:
                _TEMPLATES.clear()
            _TEMPLATES[len(url)] = (_made_from(url, code), int(code.mask))
            return _rows(code.matrix)
    template, mask = made
    if template is not None and _in_byte_mode(url):
        return template.rows(url.encode("ascii"))
    return _rows(segno.make(url, error="m", micro=False, mask=mask).matrix)
