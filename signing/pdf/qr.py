"""QR codes drawn as vector rectangles in a PDF content stream.

Two ways to get the module matrix:

* :func:`segno_rows` -- the reference: ``segno.make`` with a pinned version, error level and mask.
  Correct but ~2.5 ms per code (12 ms if segno also evaluates the 8 masks).
* :class:`FastQR` -- ~0.1 ms.  Everything that does not depend on the data is computed once per
  (version, error level, mask) *with segno's own encoder functions*: the function patterns, the
  format/version information, the mask, and the codeword placement order.  Per code it only does
  byte-mode bit packing, Reed-Solomon (table driven, on Python ints) and one ``itemgetter`` scatter.
  The output is bit-identical to segno for the same parameters (tests/signing/test_qr.py
  checks this).

Pinning the mask skips segno's mask-penalty evaluation; every mask is valid per ISO/IEC 18004
s7.8, the penalty only tunes scanning robustness.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Any

import segno
from segno import consts, encoder

__all__ = ["FastQR", "rects_ops", "segno_rows"]

_ERRORS = {"L": consts.ERROR_LEVEL_L, "M": consts.ERROR_LEVEL_M,
           "Q": consts.ERROR_LEVEL_Q, "H": consts.ERROR_LEVEL_H}
_RUNS = re.compile("1+")


def segno_rows(data: bytes, *, version: int, error: str, mask: int) -> list[str]:
    """Module rows ('1' dark) computed by segno itself (reference path)."""
    code = segno.make(data, version=version, error=error, mask=mask, boost_error=False,
                      mode="byte", micro=False)
    return ["".join("1" if v else "0" for v in row) for row in code.matrix]


def _gf_tables() -> tuple[list[int], list[int]]:
    exp = [0] * 512
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _gf_tables()


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


def _rs_table(num_ec: int) -> list[int]:
    """For each lead byte c, c * g(x) without its leading term, packed into an int."""
    gen = [1]
    for i in range(num_ec):  # g(x) = prod (x - a^i)
        nxt = [0] * (len(gen) + 1)
        for j, coef in enumerate(gen):
            nxt[j] ^= coef
            nxt[j + 1] ^= _gf_mul(coef, _EXP[i])
        gen = nxt
    tail = gen[1:]
    return [int.from_bytes(bytes(_gf_mul(c, g) for g in tail), "big") for c in range(256)]


class FastQR:
    """Precomputed QR encoder for one (version, error level, mask); byte mode only."""

    def __init__(self, *, version: int, error: str = "M", mask: int = 0) -> None:
        if not 1 <= version <= 40:
            raise ValueError("FastQR supports QR versions 1..40 (no Micro QR)")
        self.version, self.error, self.mask = version, error, mask
        err = _ERRORS[error]
        self.width = width = int(encoder.calc_matrix_size(version))  # type: ignore[no-untyped-call]
        capacity: dict[int, dict[int, int]] = consts.SYMBOL_CAPACITY  # type: ignore[assignment]
        self._capacity_bits: int = capacity[version][err]
        self._count_bits = 8 if version < 10 else 16
        self._blocks: list[tuple[int, int]] = []  # (data codewords, ec codewords) per block
        ecc: dict[int, dict[int, Any]] = consts.ECC  # type: ignore[assignment]
        for ec in ecc[version][err]:
            self._blocks += [(ec.num_data, ec.num_total - ec.num_data)] * ec.num_blocks
        self._rs = {n_ec: _rs_table(n_ec) for _, n_ec in self._blocks}
        total_cw = sum(d + e for d, e in self._blocks)
        remainder = {2: 7, 3: 7, 4: 7, 5: 7, 6: 7}.get(version, 0)
        if 14 <= version <= 20 or 28 <= version <= 34:
            remainder = 3
        elif 21 <= version <= 27:
            remainder = 4
        self._remainder = remainder
        self._nbits = 8 * total_cw + remainder

        # 1. Placement order: let segno place probe values 1000+k into a list-based matrix.
        probe = encoder.make_matrix(width, width)  # type: ignore[no-untyped-call]
        encoder.add_finder_patterns(probe, width, width)  # type: ignore[no-untyped-call]
        encoder.add_alignment_patterns(probe, width, width)  # type: ignore[no-untyped-call]
        cells = [list(row) for row in probe]
        encoder.add_codewords(cells, [1000 + k for k in range(self._nbits)], version)  # type: ignore[no-untyped-call]
        # 2. The finished symbol for all-zero data: function patterns, mask, format, version.
        zero = encoder.make_matrix(width, width)  # type: ignore[no-untyped-call]
        encoder.add_finder_patterns(zero, width, width)  # type: ignore[no-untyped-call]
        encoder.add_alignment_patterns(zero, width, width)  # type: ignore[no-untyped-call]
        encoder.add_codewords(zero, bytearray(self._nbits), version)  # type: ignore[no-untyped-call]
        _, zero = encoder.find_and_apply_best_mask(zero, width, width, mask)  # type: ignore[no-untyped-call]
        encoder.add_format_info(zero, version, err, mask)  # type: ignore[no-untyped-call]
        encoder.add_version_info(zero, version)  # type: ignore[no-untyped-call]
        # 3. perm[p] indexes a bit string: k for data bit k, nbits/nbits+1 for a fixed 0/1.
        perm: list[int] = []
        mask_int = 0
        for i in range(width):
            for j in range(width):
                v = cells[i][j]
                if v >= 1000:
                    k = v - 1000
                    perm.append(k)
                    if zero[i][j]:
                        mask_int |= 1 << (self._nbits - 1 - k)
                else:
                    perm.append(self._nbits + (1 if zero[i][j] else 0))
        self._mask_int = mask_int
        self._gather = itemgetter(*perm)

    @property
    def max_bytes(self) -> int:
        """Largest payload (bytes) that fits this symbol."""
        return (self._capacity_bits - 4 - self._count_bits) // 8

    def _codewords(self, data: bytes) -> bytes:
        n = len(data)
        if n > self.max_bytes or (n >= 256 and self._count_bits == 8):
            raise ValueError(f"{n} bytes do not fit QR version {self.version}-{self.error}")
        # Bit stream, mirroring segno: mode, count, data, terminator, zero padding, pad bytes.
        length = 4 + self._count_bits + 8 * n
        value = (((0b0100 << self._count_bits) | n) << 8 * n) | int.from_bytes(data, "big")
        term = min(self._capacity_bits - length, 4)
        value <<= term
        length += term
        padding = 8 - length % 8  # segno writes 8 zero bits when already aligned
        value <<= padding
        length += padding
        cap_bytes = self._capacity_bits // 8
        stream = value.to_bytes(length // 8, "big")
        pads = cap_bytes - length // 8
        stream += (b"\xec\x11" * (pads // 2 + 1))[:pads]

        # Reed-Solomon per block (LFSR on an int of n_ec bytes).
        data_blocks: list[bytes] = []
        ec_blocks: list[bytes] = []
        pos = 0
        for n_data, n_ec in self._blocks:
            block = stream[pos:pos + n_data]
            pos += n_data
            table = self._rs[n_ec]
            shift = 8 * (n_ec - 1)
            keep = (1 << shift) - 1
            rem = 0
            for byte in block:
                rem = ((rem & keep) << 8) ^ table[(rem >> shift) ^ byte]
            data_blocks.append(block)
            ec_blocks.append(rem.to_bytes(n_ec, "big"))
        out = bytearray()
        for blocks in (data_blocks, ec_blocks):
            longest = max(len(b) for b in blocks)
            for i in range(longest):
                out.extend(b[i] for b in blocks if i < len(b))
        return bytes(out)

    def rows(self, data: bytes) -> list[str]:
        """Module rows of the symbol for *data* ('1' = dark), top row first."""
        bits = int.from_bytes(self._codewords(data), "big") << self._remainder
        bitstr = format(bits ^ self._mask_int, f"0{self._nbits}b") + "01"
        flat = "".join(self._gather(bitstr))
        w = self.width
        return [flat[i:i + w] for i in range(0, w * w, w)]


_NUM = [str(i) for i in range(178)]  # 177 = width of a version-40 symbol
_span = re.Match.span


def rects_ops(rows: list[str], *, x: float, y_top: float, module: float) -> str:
    """Content-stream operators that fill the dark modules (horizontal runs merged).

    Coordinates are emitted in module units under one ``cm`` (y axis flipped so row r spans
    [r, r+1]), so rectangles are small integers taken from a table of preformatted numbers;
    formatting ~450 rectangles is the dominant cost.  The quiet zone is left to the layout.
    """
    num = _NUM
    out = [f"q 0 g {module:.4f} 0 0 {-module:.4f} {x:.2f} {y_top:.2f} cm"]
    extend = out.extend
    finditer = _RUNS.finditer
    for r, row in enumerate(rows):
        mid = " " + num[r] + " "
        extend([num[a] + mid + num[b - a] + " 1 re" for a, b in map(_span, finditer(row))])
    out.append("f Q")
    return "\n".join(out)
