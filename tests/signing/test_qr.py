"""FastQR reuses segno's encoder internals (signing/pdf/qr.py): it must draw exactly what
``segno.make`` draws for the same version, error level and mask, bit for bit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhengyin.signing.pdf.qr import FastQR, segno_rows


@settings(max_examples=150, deadline=None)
@given(version=st.integers(min_value=1, max_value=40), error=st.sampled_from("LMQH"),
       mask=st.integers(min_value=0, max_value=7), data=st.data())
def test_fast_qr_matches_segno_bit_for_bit(version: int, error: str, mask: int,
                                           data: st.DataObject) -> None:
    encoder = FastQR(version=version, error=error, mask=mask)
    payload = data.draw(st.binary(min_size=0, max_size=encoder.max_bytes))
    assert encoder.rows(payload) == segno_rows(payload, version=version, error=error,
                                                mask=mask)


@pytest.mark.parametrize("version", [1, 2, 5, 6, 7, 9, 10, 27, 40])
def test_a_full_symbol_matches_segno(version: int) -> None:
    encoder = FastQR(version=version, error="M", mask=0)
    payload = bytes(range(256)) * (encoder.max_bytes // 256 + 1)
    payload = payload[:encoder.max_bytes]
    assert encoder.rows(payload) == segno_rows(payload, version=version, error="M", mask=0)


def test_a_licence_url_matches_segno() -> None:
    url = (b"https://zz.example.gov.cn/v/"
           b"1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F")
    encoder = FastQR(version=6, error="M", mask=0)
    assert encoder.rows(url) == segno_rows(url, version=6, error="M", mask=0)


def test_a_payload_too_long_for_the_symbol_is_refused() -> None:
    encoder = FastQR(version=1, error="H", mask=0)
    with pytest.raises(ValueError, match="do not fit"):
        encoder.rows(b"x" * (encoder.max_bytes + 1))
