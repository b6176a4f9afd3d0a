"""What a MEP reader learns about one meter, and the readings it makes of table data.

Shared by the poller (which asks) and the dialogue decoder (which reads a captured
dialogue): both hand every successful read answer to :meth:`MeterKnowledge.learn`. The
configuration tables (BT00, BT01, BT15, BT20, BT21, BT22, BT27, ET03, ET04, ET55) update
what is known; the register tables (BT23, BT28) and the clock (BT52) fill the reading
being gathered (:class:`Gathered`), which :meth:`MeterKnowledge.reading` turns into a
:class:`~..model.Reading`. Until BT21/BT22/BT27 are known, the guide's default layout is
assumed (a capture may start after them), and the reading says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ..errors import FrameError
from ..model import Reading, TimeSource
from ..numbers import to_float
from ..spec import DecoderOptions
from .tables import (
    DEFAULT_DIMENSIONS,
    DEFAULT_PRESENT_ORDER,
    DEFAULT_SUMMATION_ORDER,
    ENERGY_UNITS,
    ET04_TRANSCEIVER_ID,
    FIXED_READS,
    ByteOrder,
    Constants,
    Dimensions,
    Field,
    Formats,
    Identity,
    Read,
    Table,
    decode_fields,
    et55_energy_unit_offset,
    parse_bt00,
    parse_bt01,
    parse_bt15,
    parse_bt20_tiers,
    parse_bt21,
    parse_bt22,
    parse_bt27,
    parse_bt52,
    parse_et03,
    plan_reads,
    present_fields,
    summation_fields,
)

DEFAULT_LAYOUT_NOTICE: Final = (
    "the meter's register layout (BT21, BT22, BT27) was not read: the guide's default "
    "order is assumed"
)
INVALID_CLOCK_NOTICE: Final = "the meter's clock (BT52) is not set: the host's time is used"
# ET55's energy register unit exists on transformer meters from firmware 3.70.
_ENERGY_UNIT_FIRMWARE: Final = (3, 70)


@dataclass(slots=True)
class Gathered:
    """The data of one reading cycle so far: raw values, the meter's clock, the answers."""

    values: dict[str, tuple[int, int]] = field(default_factory=dict)
    clock: datetime | None = None
    frames: list[bytes] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing to make a reading of."""
        return not self.values


@dataclass(slots=True)
class MeterKnowledge:
    """The meter's identity and register layout, as far as read (see the module docstring)."""

    formats: Formats | None = None
    identity: Identity | None = None
    meter_id: str | None = None
    transceiver_id: str | None = None
    constants: Constants | None = None
    max_tiers: int | None = None
    energy_unit: int | None = None
    dimensions: Dimensions | None = None
    summation_sources: tuple[int, ...] | None = None
    present_sources: tuple[int, ...] | None = None
    # The layout is the guide's default because the meter refused to tell its own.
    assumed_layout: bool = False
    _fields: list[Field] | None = field(default=None, repr=False)

    # -- what to read -----------------------------------------------------------------

    @property
    def byteorder(self) -> ByteOrder:
        """BT00's data order (little-endian until read)."""
        return self.formats.byteorder if self.formats else "little"

    @property
    def transformer(self) -> bool:
        """A CT/VT meter (BT15)."""
        return self.constants is not None and self.constants.transformer

    def identification_reads(self) -> list[Read]:
        """What is still to be read once per connection, in order; empty when all is known.

        The list depends on the answers (BT22/BT27 are sized by BT21; ET55 only for a
        transformer meter with firmware 3.70 or later; ET04 only when ET03 is blank).
        """
        reads: list[Read] = []
        for table, known in (
            (Table.BT00, self.formats),
            (Table.BT01, self.identity),
            (Table.ET03, self.meter_id),
            (Table.BT21, self.dimensions),
            (Table.BT15, self.constants),
        ):
            if known is None:
                reads.append(Read(table, 0, FIXED_READS[table]))
        if self.meter_id == "" and self.transceiver_id is None:
            reads.append(Read(Table.ET04, *ET04_TRANSCEIVER_ID))
        if self.dimensions is not None:
            if self.summation_sources is None:
                reads.append(Read(Table.BT22, 0, self.dimensions.summations))
            if self.present_sources is None:
                size = self.dimensions.present_demands + self.dimensions.present_values
                reads.append(Read(Table.BT27, 0, size))
        if self._needs_energy_unit():
            if self.max_tiers is None:
                reads.append(Read(Table.BT20, 0, FIXED_READS[Table.BT20]))
            elif self.identity is not None and self.identity.firmware is not None:
                offset = et55_energy_unit_offset(self.identity.firmware[0], self.max_tiers)
                reads.append(Read(Table.ET55, offset, 1))
        return reads

    def _needs_energy_unit(self) -> bool:
        if not self.transformer or self.energy_unit is not None or self.identity is None:
            return False
        firmware = self.identity.firmware
        return firmware is not None and firmware[:2] >= _ENERGY_UNIT_FIRMWARE

    @property
    def fields(self) -> list[Field]:
        """The register fields of a reading (the guide's defaults for what is not known)."""
        if self._fields is None:
            dimensions = self.dimensions or DEFAULT_DIMENSIONS
            energy = ENERGY_UNITS.get(self.energy_unit or 1, 0)
            # BT28 before BT23: the cycle's reads follow this order, and a captured
            # dialogue's cycle ends with the energies (see .dialogue).
            self._fields = present_fields(
                dimensions,
                self.present_sources or DEFAULT_PRESENT_ORDER,
                transformer=self.transformer,
            ) + summation_fields(
                dimensions, self.summation_sources or DEFAULT_SUMMATION_ORDER, energy
            )
        return self._fields

    def cycle_reads(self) -> list[Read]:
        """The reads of one reading cycle: the clock, then BT28, then BT23."""
        return [Read(Table.BT52, 0, FIXED_READS[Table.BT52]), *plan_reads(self.fields)]

    @property
    def layout_known(self) -> bool:
        """BT21, BT22 and BT27 were read (no default assumed)."""
        return not self.assumed_layout and None not in (
            self.dimensions,
            self.summation_sources,
            self.present_sources,
        )

    # -- what the answers say ---------------------------------------------------------

    def learn(self, read: Read, data: bytes, gathered: Gathered) -> None:
        """Take in the data of a successful read (a :class:`FrameError` when it makes no
        sense: the knowledge is then unchanged)."""
        table, offset = read.table, read.offset
        if table in (Table.BT23, Table.BT28):
            gathered.values.update(decode_fields(self.fields, table, offset, data, self.byteorder))
            return
        if offset != 0 and table not in (Table.ET55, Table.ET04):
            return  # a part of a configuration table that this reader does not use
        if table is Table.BT52:
            try:
                gathered.clock = parse_bt52(data)
            except FrameError:
                # A meter whose clock was never set still measures: host time instead.
                gathered.notices.append(INVALID_CLOCK_NOTICE)
            return
        if table is Table.BT00:
            self.formats = parse_bt00(data)
        elif table is Table.BT01:
            self.identity = parse_bt01(data)
        elif table is Table.ET03:
            self.meter_id = parse_et03(data)
        elif table is Table.ET04 and offset == ET04_TRANSCEIVER_ID[0]:
            self.transceiver_id = data[: ET04_TRANSCEIVER_ID[1]].hex().upper()
        elif table is Table.BT15:
            self.constants = parse_bt15(data, self.byteorder)
        elif table is Table.BT20:
            self.max_tiers = parse_bt20_tiers(data)
        elif table is Table.BT21:
            self.dimensions = parse_bt21(data)
        elif table is Table.BT22 and self.dimensions is not None:
            self.summation_sources = parse_bt22(data, self.dimensions)
        elif table is Table.BT27 and self.dimensions is not None:
            self.present_sources = parse_bt27(data, self.dimensions)
        elif table is Table.ET55 and data:
            self.energy_unit = data[0] if data[0] in ENERGY_UNITS else 1
        self._fields = None

    def give_up(self, read: Read) -> None:
        """The meter refused an identification read: go on without it (unknown id, no
        transformer, the guide's default layout), so that the list of reads empties."""
        table = read.table
        if table is Table.BT00:
            self.formats = Formats("little", "")
        elif table is Table.BT01:
            self.identity = Identity("", "", None)
        elif table is Table.ET03:
            self.meter_id = ""
        elif table is Table.ET04:
            self.transceiver_id = ""
        elif table is Table.BT15:
            self.constants = Constants(1, 1, applied=False)
        elif table is Table.BT21:
            self.dimensions = DEFAULT_DIMENSIONS
            self.assumed_layout = True
        elif table is Table.BT22:
            self.summation_sources = DEFAULT_SUMMATION_ORDER
            self.assumed_layout = True
        elif table is Table.BT27:
            self.present_sources = DEFAULT_PRESENT_ORDER
            self.assumed_layout = True
        elif table is Table.BT20:
            self.max_tiers = 0
            self.energy_unit = 1
        elif table is Table.ET55:
            self.energy_unit = 1
        self._fields = None

    def reading(self, gathered: Gathered, options: DecoderOptions) -> Reading:
        """The reading of a cycle's data (``gathered`` must not be empty)."""
        values = {
            code: to_float(raw, exponent) for code, (raw, exponent) in gathered.values.items()
        }
        if gathered.clock is not None:
            timestamp, source = gathered.clock.astimezone(options.timezone), TimeSource.METER
        else:
            timestamp, source = options.clock().astimezone(options.timezone), TimeSource.HOST
        identity = self.identity
        manufacturer = identity.manufacturer if identity else None
        if not manufacturer and self.formats is not None:
            manufacturer = self.formats.manufacturer
        return Reading(
            timestamp=timestamp,
            meter_id=self.meter_id or self.transceiver_id or "unknown",
            values=values,
            time_source=source,
            manufacturer=manufacturer or None,
            model=identity.model if identity else None,
            frame=b"".join(gathered.frames),
            notices=(
                *gathered.notices,
                *(() if self.layout_known else (DEFAULT_LAYOUT_NOTICE,)),
            ),
        )

    def diagnostics(self) -> dict[str, Any]:
        """What is known, for diagnostics (no key material is ever held here)."""
        identity = self.identity
        return {
            "meter_id": self.meter_id or self.transceiver_id,
            "manufacturer": identity.manufacturer if identity else None,
            "model": identity.model if identity else None,
            "firmware": identity.firmware_text if identity else None,
            "dimensions": None if self.dimensions is None else _dimensions(self.dimensions),
            "summation_sources": self.summation_sources,
            "present_sources": self.present_sources,
            "ct_ratio": self.constants.ct_ratio if self.constants else None,
            "vt_ratio": self.constants.vt_ratio if self.constants else None,
            "ratios_applied": self.constants.applied if self.constants else None,
            "energy_unit": self.energy_unit,
            "codes": sorted({f.code for f in self.fields}),
        }


def _dimensions(dimensions: Dimensions) -> dict[str, int]:
    return {
        "flags": dimensions.flags,
        "summations": dimensions.summations,
        "present_demands": dimensions.present_demands,
        "present_values": dimensions.present_values,
    }


def learn_quietly(
    knowledge: MeterKnowledge, read: Read, data: bytes, gathered: Gathered
) -> FrameError | None:
    """:meth:`MeterKnowledge.learn`, returning the error instead of raising it."""
    try:
        knowledge.learn(read, data, gathered)
    except FrameError as err:
        return err
    return None
