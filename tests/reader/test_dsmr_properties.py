"""Property tests of the P1 DSMR decoder (hypothesis; skipped when it is not installed)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from itertools import pairwise

import pytest

from custom_components.ch_smart_meter.reader.model import Reading
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    LINE_FORMATS,
    STATUS_COUNTERS,
    encode_telegram,
)
from tests.reader.test_dsmr_stream import SUMMER, WINTER, _run, _summary, _telegram

pytest.importorskip("hypothesis")
from hypothesis import given, settings
from hypothesis import strategies as st


@st.composite
def _telegram_values(draw: st.DrawFn) -> dict[str, Decimal]:
    codes = draw(st.sets(st.sampled_from(sorted(LINE_FORMATS)), min_size=1))
    values = {}
    for code in codes:
        fmt = LINE_FORMATS[code]
        top = 10 ** (fmt.integer_digits + fmt.decimals)
        values[code] = Decimal(draw(st.integers(0, top - 1))).scaleb(-fmt.decimals)
    return values


@settings(max_examples=150, deadline=None)
@given(
    values=_telegram_values(),
    moment=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59)),
    summer=st.booleans(),
    meter_id=st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=20),
)
def test_property_encode_then_decode_is_exact(
    values: dict[str, Decimal], moment: datetime, summer: bool, meter_id: str
) -> None:
    stamp = moment.replace(microsecond=0, tzinfo=SUMMER if summer else WINTER)
    telegram = encode_telegram(values, timestamp=stamp, equipment_id=meter_id)
    (reading,) = _run([telegram])
    assert isinstance(reading, Reading)
    expected = {code: float(value) for code, value in values.items()}
    for total, registers in (("1.8.0", ("1.8.1", "1.8.2")), ("2.8.0", ("2.8.1", "2.8.2"))):
        present = [values[code] for code in registers if code in values]
        if total not in values and present:
            expected[total] = float(sum(present, Decimal(0)))
    # The encoder's defaults: tariff 1 and the status lines.
    expected |= {"96.14.0": 1.0} | {code: float(n) for code, n in STATUS_COUNTERS.items()}
    assert dict(reading.values) == expected
    assert reading.timestamp.isoformat() == stamp.isoformat()
    assert reading.meter_id == meter_id


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=20))
def test_property_any_bytes_any_chunking(data: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes (with real telegrams mixed in) never raise and never depend on how
    they are chunked."""
    stream = data[: len(data) // 2] + _telegram("8") + data[len(data) // 2 :]
    points = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in pairwise(points)]
    assert [_summary(r) for r in _run(chunks)] == [_summary(r) for r in _run([stream])]
