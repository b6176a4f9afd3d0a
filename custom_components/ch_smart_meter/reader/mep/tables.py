"""The C12.19 tables a MEP reader needs, their layouts and the sources they carry.

Every table is read with partial reads (offset and count, BT00's data access method 1).
Table data is little-endian (BT00 data order 0); NI_FMAT1/2 are INT32 (BT00 formats 8).
Layouts follow the guide's pp. 198-224: BT21 sizes BT22/BT23/BT27/BT28; BT23 starts with a
demand-reset count byte when BT21.0 bit 2 is set, then one INT32 summation per BT22
source; BT28 starts with BT21.8 present-demand records (a 3-byte time remaining when
BT21.0 bit 6 is set, and an INT32), then one INT32 present value per BT27 source. The
guide prints the present-value offset as ``(A+4)*BT21.8 + number``; the number counts
INT32 values, so the byte offset is ``(A+4)*BT21.8 + 4*number``.

What a source means is data: :data:`SUMMATION_SOURCES` (BT22 ids) and
:data:`PRESENT_SOURCES` (BT27 ids) map the guide's source ids (its list after BT22) to
CH-SMR codes and decimal exponents. Which reads a meter needs follows from them
(:func:`plan_fields`), so nothing here asks which meter it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Final, Literal, NamedTuple

from ..errors import MalformedFrame, TruncatedFrame, UnsupportedFrame
from .message import MAX_READ_COUNT

EXTENDED: Final = 2048  # ETn is table 2048 + n

type ByteOrder = Literal["little", "big"]


class Table(IntEnum):
    """The tables this reader reads (ids as on the wire)."""

    BT00 = 0  # general configuration: data order, formats, manufacturer
    BT01 = 1  # manufacturer, model, firmware
    BT15 = 15  # constants: CT and VT ratios
    BT20 = 20  # dimension register: the maximum number of tiers (sizes ET55)
    BT21 = 21  # actual register: dimensions and flags of BT22, BT23, BT27, BT28
    BT22 = 22  # summation source ids (of BT23)
    BT23 = 23  # current register data: energies
    BT27 = 27  # present-value source ids (of BT28)
    BT28 = 28  # present register data: powers, voltages, currents...
    BT52 = 52  # UTC clock
    ET03 = EXTENDED + 3  # utility information: utility serial number
    ET04 = EXTENDED + 4  # system information: transceiver (Neuron) id
    ET55 = EXTENDED + 55  # meter configuration: energy register unit

    @property
    def label(self) -> str:
        """``BT23`` or ``ET03``, as the guide names it."""
        number = self.value
        return f"ET{number - EXTENDED:02d}" if number >= EXTENDED else f"BT{number:02d}"


# How many bytes of each identification or configuration table are read (None: sized by BT21).
FIXED_READS: Final[dict[Table, int]] = {
    Table.BT00: 7,  # flags, formats, manufacturer
    Table.BT01: 16,  # manufacturer, model, firmware
    Table.BT15: 17,  # multiplier, offset, flags, CT ratio, VT ratio
    Table.BT20: 8,  # ...maximum number of tiers at offset 7
    Table.BT21: 10,
    Table.BT52: 6,  # LTIME_DATE
    Table.ET03: 30,  # utility serial number
}
ET04_TRANSCEIVER_ID: Final = (4, 6)  # offset, count
INT32: Final = 4
_NI_FORMAT_INT32: Final = 8


class Source(NamedTuple):
    """A source id's CH-SMR code and the decimal exponent from the meter's integer to the
    CH-SMR unit; ``transformer`` marks values after the CT/VT ratios (preferred on
    transformer meters); ``uncertain`` says what the guide does not settle."""

    code: str
    exponent: int
    transformer: bool = False
    uncertain: str | None = None


# BT23 summations (BT22 ids): registers in Wh / varh, CT/VT ratios always applied.
SUMMATION_SOURCES: Final[dict[int, Source]] = {
    0: Source("1.8.0", -3),  # Fwd Active Wh L1L2L3
    1: Source("2.8.0", -3),  # Rev Active Wh L1L2L3
    2: Source("3.8.0", -3),  # Import Reactive VArh L1L2L3
    3: Source("4.8.0", -3),  # Export Reactive VArh L1L2L3
}

_PER_PHASE_REACTIVE = "per-phase reactive power: firmware 4.30 and later, if BT27 lists it"

# BT28 present values (BT27 ids): W, var, mA, mV, 1/1000, mHz; CT/VT ratios not applied
# except in the "post CT/VT" sources.
PRESENT_SOURCES: Final[dict[int, Source]] = {
    8: Source("1.7.0", -3),  # Fwd Active W L1L2L3
    9: Source("2.7.0", -3),  # Rev Active W L1L2L3
    10: Source("3.7.0", -3),  # Import Reactive Var L1L2L3
    11: Source("4.7.0", -3),  # Export Reactive Var L1L2L3
    12: Source("31.7.0", -3),  # RMS Current L1 (mA)
    13: Source("51.7.0", -3),
    14: Source("71.7.0", -3),
    15: Source("32.7.0", -3),  # RMS Voltage L1 (mV)
    16: Source("52.7.0", -3),
    17: Source("72.7.0", -3),
    18: Source("33.7.0", -3),  # Power Factor L1 (1/1000)
    19: Source("14.7.0", -3),  # Frequency (mHz)
    21: Source("53.7.0", -3),  # Power Factor L2
    22: Source("73.7.0", -3),  # Power Factor L3
    81: Source("1.7.0", -3, transformer=True),  # Fwd Active W L1L2L3 post CT/VT
    82: Source("2.7.0", -3, transformer=True),
    83: Source("3.7.0", -3, transformer=True),
    84: Source("4.7.0", -3, transformer=True),
    185: Source("21.7.0", -3),  # Fwd Active W L1 (firmware 3.50 and later)
    186: Source("41.7.0", -3),
    187: Source("61.7.0", -3),
    188: Source("22.7.0", -3),  # Rev Active W L1
    189: Source("42.7.0", -3),
    190: Source("62.7.0", -3),
    191: Source("21.7.0", -3, transformer=True),  # Fwd Active W L1 post CT/VT
    192: Source("41.7.0", -3, transformer=True),
    193: Source("61.7.0", -3, transformer=True),
    194: Source("22.7.0", -3, transformer=True),
    195: Source("42.7.0", -3, transformer=True),
    196: Source("62.7.0", -3, transformer=True),
    197: Source("31.7.0", -3, transformer=True),  # RMS Current L1 post CT
    198: Source("51.7.0", -3, transformer=True),
    199: Source("71.7.0", -3, transformer=True),
    239: Source("23.7.0", -3, uncertain=_PER_PHASE_REACTIVE),  # Imp Reactive VAr A
    240: Source("43.7.0", -3, uncertain=_PER_PHASE_REACTIVE),
    241: Source("63.7.0", -3, uncertain=_PER_PHASE_REACTIVE),
    242: Source("24.7.0", -3, uncertain=_PER_PHASE_REACTIVE),  # Exp Reactive VAr A
    243: Source("44.7.0", -3, uncertain=_PER_PHASE_REACTIVE),
    244: Source("64.7.0", -3, uncertain=_PER_PHASE_REACTIVE),
}

# The source ids of BT28's positions 0-83 as the guide lists them (firmware 4.30), matched
# by name with the source-id list: the layout assumed when a capture lacks BT27.
DEFAULT_PRESENT_ORDER: Final[tuple[int, ...]] = (
    *range(8, 26),
    *range(81, 85),
    *range(104, 108),
    *range(185, 200),
    *range(202, 245),
)
# BT22 in its default order: the first summations are the sources 0, 1, 2, 3...
DEFAULT_SUMMATION_ORDER: Final[tuple[int, ...]] = tuple(range(11))


@dataclass(frozen=True, slots=True)
class Formats:
    """BT00: how table data is written, and who made the meter."""

    byteorder: ByteOrder  # "little" (data order 0) or "big"
    manufacturer: str


@dataclass(frozen=True, slots=True)
class Identity:
    """BT01: manufacturer, model and the firmware version (x, yy, zz)."""

    manufacturer: str
    model: str
    firmware: tuple[int, int, int] | None

    @property
    def firmware_text(self) -> str | None:
        """``x.yy.zz``, as NES writes it."""
        if self.firmware is None:
            return None
        major, minor, build = self.firmware
        return f"{major}.{minor:02d}.{build:02d}"


@dataclass(frozen=True, slots=True)
class Constants:
    """BT15: the transformer ratios, and whether the meter applies them."""

    ct_ratio: int
    vt_ratio: int
    applied: bool

    @property
    def transformer(self) -> bool:
        """A CT/VT meter: its present values need the post-CT/VT sources."""
        return self.ct_ratio not in (0, 1) or self.vt_ratio not in (0, 1)


@dataclass(frozen=True, slots=True)
class Dimensions:
    """BT21: the actual sizes of BT22, BT23, BT27 and BT28."""

    flags: int
    summations: int
    demands: int
    coincidents: int
    occurrences: int
    tiers: int
    present_demands: int
    present_values: int

    @property
    def demand_reset_count(self) -> bool:
        """BT23 starts with a one-byte demand-reset count (BT21.0 bit 2)."""
        return bool(self.flags & 0x04)

    @property
    def time_remaining(self) -> bool:
        """Each present demand carries a 3-byte time remaining (BT21.0 bit 6)."""
        return bool(self.flags & 0x40)

    @property
    def summations_offset(self) -> int:
        """Where BT23's summations start."""
        return 1 if self.demand_reset_count else 0

    @property
    def present_values_offset(self) -> int:
        """Where BT28's present values start."""
        return ((3 if self.time_remaining else 0) + INT32) * self.present_demands


# What a capture without BT21 is read with: the guide's example 1 (BT23 from offset 0,
# 11 summations, no demand-reset count) and no present demands.
DEFAULT_DIMENSIONS: Final = Dimensions(0, 11, 0, 0, 0, 4, 0, len(DEFAULT_PRESENT_ORDER))


def _need(data: bytes, size: int, table: Table) -> None:
    if len(data) < size:
        raise TruncatedFrame(f"{table.label}: {len(data)} bytes, {size} needed")


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip()


def parse_bt00(data: bytes) -> Formats:
    """Data order and the non-integer formats (both must be INT32)."""
    _need(data, FIXED_READS[Table.BT00], Table.BT00)
    if data[2] & 0x0F != _NI_FORMAT_INT32 or data[2] >> 4 != _NI_FORMAT_INT32:
        raise UnsupportedFrame(f"BT00: non-integer formats 0x{data[2]:02X}, not INT32")
    return Formats("big" if data[0] & 0x01 else "little", _text(data[3:7]))


def firmware_version(main: int, revision: int) -> tuple[int, int, int]:
    """BT01's main firmware version byte (the high one) and revision byte as (x, yy, zz):
    bits 15-12, 11-5 and 4-0 of the two together; the guide's 3.00.24 is 0x3018."""
    value = main << 8 | revision
    return value >> 12, (value >> 5) & 0x7F, value & 0x1F


def parse_bt01(data: bytes) -> Identity:
    """Manufacturer, model and firmware."""
    _need(data, FIXED_READS[Table.BT01], Table.BT01)
    return Identity(_text(data[0:4]), _text(data[4:12]), firmware_version(data[14], data[15]))


def parse_bt15(data: bytes, byteorder: ByteOrder = "little") -> Constants:
    """CT and VT ratios (INT32) and the "applied" flag."""
    _need(data, FIXED_READS[Table.BT15], Table.BT15)
    return Constants(
        ct_ratio=int.from_bytes(data[9:13], byteorder, signed=True),
        vt_ratio=int.from_bytes(data[13:17], byteorder, signed=True),
        applied=bool(data[8] & 0x01),
    )


def parse_bt20_tiers(data: bytes) -> int:
    """BT20's maximum number of tiers (offset 7, as BT21's actual number)."""
    _need(data, FIXED_READS[Table.BT20], Table.BT20)
    return data[7]


def parse_bt21(data: bytes) -> Dimensions:
    """The dimensions of the register tables."""
    _need(data, FIXED_READS[Table.BT21], Table.BT21)
    return Dimensions(data[0], *data[3:10])


def parse_bt22(data: bytes, dimensions: Dimensions) -> tuple[int, ...]:
    """The source ids of BT23's summations, in order."""
    _need(data, dimensions.summations, Table.BT22)
    return tuple(data[: dimensions.summations])


def parse_bt27(data: bytes, dimensions: Dimensions) -> tuple[int, ...]:
    """The source ids of BT28's present values, in order (present demands skipped)."""
    start = dimensions.present_demands
    _need(data, start + dimensions.present_values, Table.BT27)
    return tuple(data[start : start + dimensions.present_values])


def parse_bt52(data: bytes) -> datetime:
    """The meter's UTC clock (LTIME_DATE: two-digit year from 2000, month... second)."""
    _need(data, FIXED_READS[Table.BT52], Table.BT52)
    year, month, day, hour, minute, second = data[:6]
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as err:
        raise MalformedFrame(f"BT52: not a valid time ({err})") from err


def parse_et03(data: bytes) -> str:
    """The utility serial number (NUL-terminated, blank-padded)."""
    return _text(data[: FIXED_READS[Table.ET03]])


def et55_energy_unit_offset(firmware_major: int, max_tiers: int) -> int:
    """Where ET55's "Energy Register Unit" is: A + 39, A = 146 (147 from firmware 4) +
    4 x (BT20.7 - 1), the step-tariff thresholds before it being sized by BT20."""
    base = 147 if firmware_major >= 4 else 146
    return base + INT32 * (max(max_tiers, 1) - 1) + 39


ENERGY_UNITS: Final = {1: 0, 10: 1, 100: 2}  # ET55 value -> extra decimal exponent


class Field(NamedTuple):
    """One INT32 of a register table: where it is, and what it becomes."""

    table: Table
    offset: int
    code: str
    exponent: int


def summation_fields(
    dimensions: Dimensions, sources: Sequence[int], energy_exponent: int = 0
) -> list[Field]:
    """BT23's fields this reader maps (the totals of the sources it knows)."""
    base = dimensions.summations_offset
    return [
        Field(Table.BT23, base + INT32 * index, source.code, source.exponent + energy_exponent)
        for index, source_id in enumerate(sources[: dimensions.summations])
        if (source := SUMMATION_SOURCES.get(source_id)) is not None
    ]


def present_fields(
    dimensions: Dimensions, sources: Sequence[int], *, transformer: bool = False
) -> list[Field]:
    """BT28's fields this reader maps. A code given by several sources takes the post-CT/VT
    one on a transformer meter and the plain one otherwise (the first listed, if equal)."""
    base = dimensions.present_values_offset
    chosen: dict[str, tuple[Source, int]] = {}
    for index, source_id in enumerate(sources[: dimensions.present_values]):
        source = PRESENT_SOURCES.get(source_id)
        if source is None:
            continue
        held = chosen.get(source.code)
        if held is None or (
            held[0].transformer != transformer and source.transformer == transformer
        ):
            chosen[source.code] = (source, index)
    return sorted(
        (
            Field(Table.BT28, base + INT32 * index, source.code, source.exponent)
            for source, index in chosen.values()
        ),
        key=lambda field: field.offset,
    )


class Read(NamedTuple):
    """One partial read: table, offset and length (the request's count)."""

    table: Table
    offset: int
    length: int


def plan_reads(fields: Iterable[Field]) -> list[Read]:
    """The partial reads covering ``fields``: one span per table from its first to its last
    field, cut where an answer would exceed the guide's message size; tables in the order
    of their first field."""
    spans: dict[Table, tuple[int, int]] = {}
    for field in fields:
        low, high = spans.get(field.table, (field.offset, field.offset + INT32))
        spans[field.table] = (min(low, field.offset), max(high, field.offset + INT32))
    reads: list[Read] = []
    for table, (low, high) in spans.items():
        step = MAX_READ_COUNT - MAX_READ_COUNT % INT32
        reads.extend(
            Read(table, start, min(step, high - start)) for start in range(low, high, step)
        )
    return reads


def decode_fields(
    fields: Iterable[Field],
    table: Table,
    offset: int,
    data: bytes,
    byteorder: ByteOrder = "little",
) -> dict[str, tuple[int, int]]:
    """The fields of ``table`` that a read at ``offset`` returned: code -> (raw, exponent)."""
    end = offset + len(data)
    return {
        field.code: (
            int.from_bytes(
                data[field.offset - offset : field.offset - offset + INT32],
                byteorder,
                signed=True,
            ),
            field.exponent,
        )
        for field in fields
        if field.table is table and offset <= field.offset and field.offset + INT32 <= end
    }
