"""MEP table layouts and the source map: the guide's pp. 198-224, field by field.

Table bytes are written here by hand from the guide's layouts (and, for whole tables,
taken from the simulated meter, whose encoder is its own).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from custom_components.ch_smart_meter.reader.errors import (
    MalformedFrame,
    TruncatedFrame,
    UnsupportedFrame,
)
from custom_components.ch_smart_meter.reader.mep.message import MAX_READ_COUNT
from custom_components.ch_smart_meter.reader.mep.meter import (
    DEFAULT_LAYOUT_NOTICE,
    INVALID_CLOCK_NOTICE,
    Gathered,
    MeterKnowledge,
)
from custom_components.ch_smart_meter.reader.mep.tables import (
    DEFAULT_PRESENT_ORDER,
    PRESENT_SOURCES,
    SUMMATION_SOURCES,
    Dimensions,
    Field,
    Read,
    Table,
    decode_fields,
    et55_energy_unit_offset,
    firmware_version,
    parse_bt00,
    parse_bt01,
    parse_bt15,
    parse_bt21,
    parse_bt27,
    parse_bt52,
    parse_et03,
    plan_reads,
    present_fields,
    summation_fields,
)
from custom_components.ch_smart_meter.reader.model import TimeSource
from custom_components.ch_smart_meter.reader.obis import BY_CODE
from custom_components.ch_smart_meter.reader.simulate import mep_tables
from custom_components.ch_smart_meter.reader.simulate.household import HouseholdModel
from custom_components.ch_smart_meter.reader.spec import DecoderOptions

MOMENT = datetime(2026, 6, 17, 10, 30, 5, tzinfo=UTC)


def int32(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=True)


def test_table_ids_and_labels() -> None:
    assert Table.ET03 == 0x0803 and Table.ET55 == 0x0837 and Table.BT52 == 0x34
    assert Table.ET03.label == "ET03" and Table.BT23.label == "BT23"


def test_bt00_formats() -> None:
    formats = parse_bt00(bytes((0x02, 0x0A, 0x88)) + b"NES ")
    assert (formats.byteorder, formats.manufacturer) == ("little", "NES")
    assert parse_bt00(bytes((0x03, 0x0A, 0x88)) + b"ELON").byteorder == "big"
    with pytest.raises(UnsupportedFrame):
        parse_bt00(bytes((0x02, 0x0A, 0x28)) + b"NES ")  # NI_FMAT1 not INT32
    with pytest.raises(TruncatedFrame):
        parse_bt00(b"\x02\x0a")


@pytest.mark.parametrize(
    ("high", "low", "version"),
    [(0x30, 0x18, (3, 0, 24)), (0x31, 0x55, (3, 10, 21)), (0x43, 0xC5, (4, 30, 5))],
)
def test_firmware_versions_as_the_guide_encodes_them(
    high: int, low: int, version: tuple[int, int, int]
) -> None:
    assert firmware_version(high, low) == version


def test_bt01_identity() -> None:
    identity = parse_bt01(b"NES 83335-3I" + b"\x02\x01\x31\x55")
    assert (identity.manufacturer, identity.model) == ("NES", "83335-3I")
    assert identity.firmware_text == "3.10.21"


def test_bt15_bt21_bt27_bt52_et03() -> None:
    constants = parse_bt15(int32(1) + int32(0) + b"\x01" + int32(40) + int32(1))
    assert (constants.ct_ratio, constants.vt_ratio, constants.applied) == (40, 1, True)
    assert constants.transformer
    assert not parse_bt15(int32(1) + int32(0) + b"\x00" + int32(1) + int32(1)).transformer

    dimensions = parse_bt21(bytes((0x47, 0x0C, 0, 19, 1, 2, 1, 4, 2, 84)))
    assert dimensions == Dimensions(0x47, 19, 1, 2, 1, 4, 2, 84)
    assert dimensions.demand_reset_count and dimensions.time_remaining
    assert dimensions.summations_offset == 1
    assert dimensions.present_values_offset == (3 + 4) * 2  # (A + 4) x BT21.8, A = 3
    plain = parse_bt21(bytes((0x03, 0, 0, 11, 0, 0, 0, 4, 1, 30)))
    assert plain.summations_offset == 0 and plain.present_values_offset == 4

    assert parse_bt27(bytes((88, 89, 8, 9, 10)), replace(dimensions, present_values=3)) == (
        8,
        9,
        10,
    )
    assert parse_bt52(bytes((26, 6, 17, 10, 30, 5, 0x13))) == MOMENT
    with pytest.raises(MalformedFrame):
        parse_bt52(bytes((26, 13, 1, 0, 0, 0)))
    assert parse_et03(b"CH1234567890\x00garbage".ljust(30, b"\x00")) == "CH1234567890"
    assert parse_et03(b"  CH42  ".ljust(30, b" ")) == "CH42"


def test_et55_offset_follows_the_step_tariff_array() -> None:
    assert et55_energy_unit_offset(4, 4) == 147 + 12 + 39
    assert et55_energy_unit_offset(3, 8) == 146 + 28 + 39


def test_source_map_is_data_and_fits_the_catalogue() -> None:
    assert {s.code for s in SUMMATION_SOURCES.values()} == {"1.8.0", "2.8.0", "3.8.0", "4.8.0"}
    for source in (*SUMMATION_SOURCES.values(), *PRESENT_SOURCES.values()):
        assert source.exponent == -3
        assert source.code in BY_CODE or source.code in {"33.7.0", "53.7.0", "73.7.0"}
    # Every Table 1 value comes from a plain source and, on CT meters, a post-CT/VT one.
    for code in ("1.7.0", "2.7.0", "31.7.0", "51.7.0", "71.7.0", "21.7.0", "62.7.0"):
        kinds = {s.transformer for s in PRESENT_SOURCES.values() if s.code == code}
        assert kinds == {False, True}, code
    assert len(DEFAULT_PRESENT_ORDER) == 84
    assert DEFAULT_PRESENT_ORDER[:2] == (8, 9) and DEFAULT_PRESENT_ORDER[78:] == tuple(
        range(239, 245)
    )
    uncertain = {s.code for s in PRESENT_SOURCES.values() if s.uncertain}
    assert uncertain == {"23.7.0", "43.7.0", "63.7.0", "24.7.0", "44.7.0", "64.7.0"}


def test_fields_offsets_and_transformer_preference() -> None:
    dimensions = Dimensions(0x44, 11, 0, 0, 0, 4, 2, 4)  # reset count, 2 present demands
    summations = summation_fields(dimensions, (0, 4, 1, 3))
    assert [(f.offset, f.code) for f in summations] == [(1, "1.8.0"), (9, "2.8.0"), (13, "4.8.0")]
    assert summation_fields(dimensions, (0,), energy_exponent=1)[0].exponent == -2
    present = present_fields(dimensions, (8, 81, 15, 99))
    assert [(f.offset, f.code) for f in present] == [(14, "1.7.0"), (22, "32.7.0")]
    transformer = present_fields(dimensions, (8, 81, 15, 99), transformer=True)
    assert [(f.offset, f.code) for f in transformer] == [(18, "1.7.0"), (22, "32.7.0")]


def test_plan_reads_spans_and_splits() -> None:
    fields = [Field(Table.BT28, 4 * k, f"{k}.7.0", -3) for k in range(0, 200, 3)]
    fields += [Field(Table.BT23, 1, "1.8.0", -3), Field(Table.BT23, 13, "4.8.0", -3)]
    reads = plan_reads(fields)
    bt28 = [r for r in reads if r.table is Table.BT28]
    assert all(r.length <= MAX_READ_COUNT and r.length % 4 == 0 for r in bt28)
    assert bt28[0].offset == 0 and sum(r.length for r in bt28) == 4 * 199
    assert Read(Table.BT23, 1, 16) in reads


def test_decode_fields_of_the_guide_example_data() -> None:
    """Example 1's BT23 data: summations 4 (outage seconds), 5 (outages), 10 (errors)."""
    data = bytes.fromhex(
        "0000000000000000000000000000000008000000030000000000000000000000000000000000000006000000"
    )
    fields = [Field(Table.BT23, 4 * k, str(k), 0) for k in range(11)]
    values = decode_fields(fields, Table.BT23, 0, data)
    assert {code: raw for code, (raw, _) in values.items() if raw} == {"4": 8, "5": 3, "10": 6}
    # A read that covers only part of the fields gives just those.
    assert set(decode_fields(fields, Table.BT23, 8, data[8:20])) == {"2", "3", "4"}
    negative = decode_fields([Field(Table.BT28, 0, "x", 0)], Table.BT28, 0, int32(-5))
    assert negative == {"x": (-5, 0)}


def test_knowledge_with_the_simulated_meters_tables() -> None:
    """The reader's parsing of the simulator's own encoding, for every model."""
    for model in mep_tables.MEP_MODELS.values():
        knowledge = MeterKnowledge()
        answers = {
            Table.BT00: mep_tables.bt00(),
            Table.BT01: mep_tables.bt01(model),
            Table.ET03: mep_tables.et03("CH0000000042"),
            Table.BT21: mep_tables.bt21(model),
            Table.BT15: mep_tables.bt15(model),
            Table.BT22: mep_tables.bt22(),
            Table.BT27: mep_tables.bt27(model),
            Table.BT20: mep_tables.bt20(model),
            Table.ET55: mep_tables.et55(model),
        }
        for _ in range(10):
            reads = knowledge.identification_reads()
            if not reads:
                break
            read = reads[0]
            table = answers[read.table]
            knowledge.learn(read, table[read.offset : read.offset + read.length], Gathered())
        assert knowledge.identification_reads() == []
        assert knowledge.meter_id == "CH0000000042" and knowledge.layout_known
        assert knowledge.energy_unit == (model.energy_unit if model.ct_ratio != 1 else None)
        state = HouseholdModel(3).step(MOMENT)
        measurement = mep_tables.measure(model, state, 3)
        contents = {
            Table.BT52: mep_tables.bt52(MOMENT),
            Table.BT23: mep_tables.bt23(model, measurement),
            Table.BT28: mep_tables.bt28(model, measurement),
        }
        assert [r.table for r in knowledge.cycle_reads()] == [Table.BT52, Table.BT28, Table.BT23]
        gathered = Gathered()
        for read in knowledge.cycle_reads():
            data = contents[read.table][read.offset : read.offset + read.length]
            knowledge.learn(read, data, gathered)
        reading = knowledge.reading(gathered, DecoderOptions())
        expected = {code: float(value) for code, value in measurement.expected.items()}
        assert dict(reading.values) == expected, model.id
        assert reading.timestamp == MOMENT and reading.time_source is TimeSource.METER
        assert (reading.manufacturer, reading.model) == ("NES", model.model)
        assert reading.notices == ()


def test_default_layout_is_said_and_refusals_end_the_identification() -> None:
    knowledge = MeterKnowledge()
    for _ in range(12):
        reads = knowledge.identification_reads()
        if not reads:
            break
        knowledge.give_up(reads[0])
    assert knowledge.identification_reads() == []
    assert not knowledge.layout_known and knowledge.meter_id == ""
    gathered = Gathered()
    knowledge.learn(Read(Table.BT23, 0, 16), int32(1234567) + bytes(12), gathered)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    reading = knowledge.reading(gathered, DecoderOptions(clock=lambda: moment))
    assert reading.values["1.8.0"] == 1234.567
    assert reading.time_source is TimeSource.HOST and reading.timestamp == moment
    assert reading.notices == (DEFAULT_LAYOUT_NOTICE,)
    assert reading.meter_id == "unknown"


def test_a_meter_clock_never_set_gives_host_time_with_a_notice() -> None:
    knowledge = MeterKnowledge()
    gathered = Gathered()
    knowledge.learn(Read(Table.BT52, 0, 6), bytes(6), gathered)  # month 0: never set
    knowledge.learn(Read(Table.BT23, 0, 4), int32(5), gathered)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    reading = knowledge.reading(gathered, DecoderOptions(clock=lambda: moment))
    assert reading.time_source is TimeSource.HOST and reading.timestamp == moment
    assert INVALID_CLOCK_NOTICE in reading.notices


def test_a_blank_utility_serial_falls_back_to_the_transceiver_id() -> None:
    knowledge = MeterKnowledge()
    knowledge.learn(Read(Table.ET03, 0, 30), bytes(30), Gathered())
    assert knowledge.meter_id == ""
    assert Read(Table.ET04, 4, 6) in knowledge.identification_reads()
    knowledge.learn(Read(Table.ET04, 4, 6), bytes.fromhex("0102030405A6"), Gathered())
    gathered = Gathered()
    knowledge.learn(Read(Table.BT23, 0, 4), int32(1), gathered)
    assert knowledge.reading(gathered, DecoderOptions()).meter_id == "0102030405A6"
    assert Read(Table.ET04, 4, 6) not in knowledge.identification_reads()
