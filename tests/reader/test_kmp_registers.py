"""The KMP register map: every entry says it rests on community knowledge, the codes and
units agree with the OBIS catalogue, and values convert by the unit code the meter sends."""

from __future__ import annotations

from custom_components.ch_smart_meter.reader.kmp.codec import RegisterValue
from custom_components.ch_smart_meter.reader.kmp.registers import (
    BY_REGISTER,
    REGISTERS,
    VALUE_REGISTERS,
    Evidence,
    convert,
    serial_text,
)
from custom_components.ch_smart_meter.reader.numbers import Exact
from custom_components.ch_smart_meter.reader.obis import BY_CODE


def test_no_register_rests_on_a_specification() -> None:
    assert {r.evidence for r in REGISTERS} <= {Evidence.COMMUNITY, Evidence.UNCERTAIN}
    assert all(r.sources for r in REGISTERS)
    uncertain = {r.register for r in REGISTERS if r.evidence is Evidence.UNCERTAIN}
    assert uncertain == {0x03FF, 0x0400, 0x0540, 0x0541, 0x0542}


def test_codes_units_and_tables_follow_the_catalogue() -> None:
    assert len(BY_REGISTER) == len(REGISTERS)
    for register in REGISTERS:
        entry = BY_CODE[register.code]
        assert register.unit == entry.unit, register
        assert register.table == entry.table, register
    tables = [r.table for r in VALUE_REGISTERS]
    assert tables == sorted(tables)  # Table 1 is asked first
    assert {r.code for r in REGISTERS} == {
        "96.1.1",
        "1.8.0",
        "2.8.0",
        "1.7.0",
        "2.7.0",
        *(f"{c}.7.0" for c in (32, 52, 72, 31, 51, 71, 21, 41, 61, 22, 42, 62)),
    }


def test_values_convert_by_the_unit_code_sent() -> None:
    converted = convert(
        [
            RegisterValue(0x0001, 0x01, Exact(12_345_678, 0)),  # Wh
            RegisterValue(0x0002, 0x03, Exact(12_345, -3)),  # MWh
            RegisterValue(0x03FF, 0x16, Exact(1234, -3)),  # kW
            RegisterValue(0x041E, 0x23, Exact(231, -3)),  # kV
            RegisterValue(0x0434, 0x22, Exact(-5, 0)),  # as sent, sign included
        ]
    )
    assert converted.values == {
        "1.8.0": 12345.678,
        "2.8.0": 12345.0,
        "1.7.0": 1.234,
        "32.7.0": 231.0,
        "31.7.0": -5.0,
    }
    assert converted.problems == ()


def test_high_resolution_wins_in_any_order() -> None:
    low = RegisterValue(0x0001, 0x02, Exact(123, 1))
    high = RegisterValue(0x000D, 0x02, Exact(12_345_678, -4))
    for answers in ([low, high], [high, low]):
        converted = convert(answers)
        assert converted.values == {"1.8.0": 1234.5678}
        assert converted.used == {"1.8.0": 0x000D}
    assert convert([low]).values == {"1.8.0": 1230.0}


def test_a_unit_that_does_not_convert_gives_no_value() -> None:
    converted = convert(
        [
            RegisterValue(0x0434, 0x21, Exact(230, 0)),  # a current in volts
            RegisterValue(0x0435, 0x99, Exact(1, 0)),  # an unknown unit code
            RegisterValue(0x0080, 0x16, Exact(1, 0)),  # not an electricity register
            RegisterValue(0x03E9, 0x33, Exact(12345678, 0)),  # the serial: not a value
        ]
    )
    assert converted.values == {}
    assert converted.problems == (
        "register 0434 (Current L1) answered in V, not convertible to A",
        "register 0435 (Current L2) answered in unit 99, not convertible to A",
    )


def test_serial_number_register() -> None:
    def text(integer: int, power: int) -> str | None:
        return serial_text(RegisterValue(0x03E9, 0x33, Exact(integer, power)))

    assert text(12_345_678, 0) == "12345678"
    assert text(1_234_500, -2) == "12345"
    assert text(1234, 2) == "123400"
    assert text(1234, -1) is None
    assert text(-1, 0) is None
