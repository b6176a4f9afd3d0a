"""The tables of a simulated NES meter, encoded from the household model.

Written from the guide's table layouts, independently of the reader's decoding
(:mod:`..mep.tables`): the tests then check one against the other. Meter models are data
(:data:`MEP_MODELS`): a direct-connected three-phase meter, a transformer (CT) meter
whose present values are secondary quantities (the post-CT/VT sources and the energies
carry the primary ones, energies in units of 10 Wh), a meter with demands configured
(a demand-reset count in BT23, present demands with time remaining in BT28), and one
whose MEP port requires TLS.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from .household import MeterState, split_watts

# The source ids of BT28's present values, position by position (the guide's BT28 list
# from firmware 4.30, matched by name with the source-id list after BT22).
PRESENT_ORDER: Final[tuple[int, ...]] = (
    *range(8, 26),  # positions 0-17
    *(81, 82, 83, 84),  # 18-21: totals after the CT/VT ratios
    *(104, 105, 106, 107),  # 22-25: reactive power per quadrant
    *range(185, 200),  # 26-40: powers per phase, post-CT/VT powers and currents
    *range(202, 245),  # 41-83: voltages, averages, apparent powers, angles, reactive
)
SUMMATION_ORDER: Final[tuple[int, ...]] = (0, 1, 2, 3, 4, 5, 6, 7, 26, 27, 28)
TIERS: Final = 4
EXTENDED: Final = 2048


@dataclass(frozen=True, slots=True)
class MepModel:
    """A simulated NES meter model."""

    id: str
    model: str  # BT01, 8 characters
    firmware: tuple[int, int, int]
    ct_ratio: int = 1
    energy_unit: int = 1  # ET55: Wh per register step
    present_demands: int = 0  # with time remaining and a demand-reset count when > 0
    requires_tls: bool = False


MEP_MODELS: Final[dict[str, MepModel]] = {
    model.id: model
    for model in (
        MepModel("nes-83335", "83335-3I", (4, 30, 5)),
        MepModel("nes-ct", "83334-3C", (4, 30, 5), ct_ratio=40, energy_unit=10),
        MepModel("nes-demand", "83335-3I", (3, 72, 1), present_demands=2),
        MepModel("nes-tls", "83335-3I", (4, 60, 2), requires_tls=True),
    )
}
DEFAULT_MODEL: Final = "nes-83335"


def _int32(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=True)


def _firmware_bytes(firmware: tuple[int, int, int]) -> bytes:
    major, minor, build = firmware
    return (major << 12 | minor << 5 | build).to_bytes(2, "big")


def et55_unit_offset(model: MepModel) -> int:
    """Where the guide puts ET55's energy register unit (after BT20-sized step tariffs)."""
    step_tariffs = (147 if model.firmware[0] >= 4 else 146) + 4 * (TIERS - 1)
    return step_tariffs + 39


@dataclass(frozen=True, slots=True)
class Measurement:
    """What the simulated meter measures at one instant, in its own integer units."""

    state: MeterState
    present: dict[int, int]  # source id -> BT28 value
    summations: dict[int, int]  # source id -> BT23 total register
    tiers: tuple[dict[int, int], ...]  # per tier
    expected: dict[str, Decimal]  # what a correct reader makes of it (CH-SMR units)


def _phase_reactive(state: MeterState) -> tuple[tuple[int, ...], tuple[int, ...]]:
    weights = tuple(float(p.import_w + p.export_w) or 1.0 for p in state.phases)
    return (
        split_watts(state.reactive_import_var, weights),
        split_watts(state.reactive_export_var, weights),
    )


def _frequency_mhz(seed: int, moment: datetime) -> int:
    noise = random.Random(f"{seed}/frequency/{int(moment.timestamp())}").randint(-25, 25)
    return 50_000 + noise


def measure(model: MepModel, state: MeterState, seed: int) -> Measurement:
    """The meter's view of a household state (primary quantities in ``state``)."""
    ct = model.ct_ratio
    reactive_in, reactive_out = _phase_reactive(state)
    present: dict[int, int] = {}
    expected: dict[str, Decimal] = {}
    milli = Decimal("0.001")
    totals = (state.import_w, state.export_w, state.reactive_import_var, state.reactive_export_var)
    for offset, (source, code) in enumerate(
        ((8, "1.7.0"), (9, "2.7.0"), (10, "3.7.0"), (11, "4.7.0"))
    ):
        present[source] = totals[offset] // ct  # secondary side on a CT meter
        present[81 + offset] = totals[offset]
        expected[code] = totals[offset] * milli
    volt_amperes = 0
    for index, phase in enumerate(state.phases):
        number = 20 * index
        millivolts = int(phase.voltage * 1000)
        milliamps = int(phase.current * 1000)
        active = phase.import_w + phase.export_w
        reactive = reactive_in[index] + reactive_out[index]
        apparent = math.hypot(active, reactive)
        volt_amperes += round(apparent)
        power_factor = round(1000 * active / apparent) if apparent else 1000
        present[12 + index] = milliamps // ct
        present[197 + index] = milliamps
        present[15 + index] = present[202 + index] = present[205 + index] = millivolts
        present[(18, 21, 22)[index]] = power_factor
        present[23 + index] = round(1000 * reactive / apparent) if apparent else 0
        present[185 + index] = phase.import_w // ct
        present[188 + index] = phase.export_w // ct
        present[191 + index] = phase.import_w
        present[194 + index] = phase.export_w
        present[210 + index], present[213 + index] = phase.import_w, phase.export_w
        present[233 + index] = milliamps // ct
        present[236 + index] = 12_000
        present[239 + index] = reactive_in[index]
        present[242 + index] = reactive_out[index]
        expected[f"{32 + number}.7.0"] = Decimal(millivolts) * milli
        expected[f"{31 + number}.7.0"] = Decimal(milliamps) * milli
        expected[f"{21 + number}.7.0"] = phase.import_w * milli
        expected[f"{22 + number}.7.0"] = phase.export_w * milli
        expected[f"{33 + number}.7.0"] = power_factor * milli
        expected[f"{23 + number}.7.0"] = reactive_in[index] * milli
        expected[f"{24 + number}.7.0"] = reactive_out[index] * milli
    present[19] = _frequency_mhz(seed, state.timestamp)
    expected["14.7.0"] = present[19] * milli
    present[20] = volt_amperes // ct
    present[104], present[107] = state.reactive_import_var, state.reactive_export_var
    present[208], present[209] = state.import_w, state.export_w

    unit = model.energy_unit
    registers = (
        sum(state.import_wh),
        sum(state.export_wh),
        state.reactive_import_varh,
        state.reactive_export_varh,
    )
    summations = {source: registers[source] // unit for source in range(4)}
    for source, code in enumerate(("1.8.0", "2.8.0", "3.8.0", "4.8.0")):
        expected[code] = summations[source] * unit * milli
    summations.update(
        {4: 0, 5: 0, 6: registers[0] + registers[1], 7: max(registers[0] - registers[1], 0)}
    )
    tiers = tuple(
        {
            0: state.import_wh[tier] // unit if tier < 2 else 0,
            1: state.export_wh[tier] // unit if tier < 2 else 0,
        }
        for tier in range(TIERS)
    )
    return Measurement(state, present, summations, tiers, expected)


# -- the tables ------------------------------------------------------------------------


def bt00() -> bytes:
    """General configuration: little-endian, ASCII, INT32 formats, "NES"."""
    return bytes((0x02, 0x0A, 0x88)) + b"NES " + bytes((2, 0, 255, 12, 1, 0, 10, 20, 2, 12, 9, 4))


def bt01(model: MepModel) -> bytes:
    """Manufacturer, model, hardware and firmware versions."""
    return (
        b"NES "
        + model.model.encode("ascii")[:8].ljust(8)
        + b"\x02\x01"
        + _firmware_bytes(model.firmware)
        + b"\x00"
    )


def bt15(model: MepModel) -> bytes:
    """Constants: multiplier 1, offset 0, ratios applied, CT and VT ratios."""
    return (
        _int32(1)
        + _int32(0)
        + bytes((1 if model.ct_ratio != 1 else 0,))
        + _int32(model.ct_ratio)
        + _int32(1)
    )


def _dimensions(model: MepModel, *, maximum: bool) -> bytes:
    demands = model.present_demands
    flags = 0x03 | (0x44 if demands else 0)  # season, date/time; demand reset, time remaining
    summations = len(SUMMATION_ORDER)
    present_values = 84 if maximum else len(PRESENT_ORDER)
    return bytes((flags, 0x0C, 0, summations, 0, 0, 1, TIERS, demands, present_values))


def bt20(model: MepModel) -> bytes:
    """Dimension register: the maxima."""
    return _dimensions(model, maximum=True)


def bt21(model: MepModel) -> bytes:
    """Actual register: the dimensions in use."""
    return _dimensions(model, maximum=False)


def bt22() -> bytes:
    """Summation sources."""
    return bytes(SUMMATION_ORDER)


def bt27(model: MepModel) -> bytes:
    """Present-demand sources, then present-value sources."""
    return bytes((8,) * model.present_demands) + bytes(PRESENT_ORDER)


def bt23(model: MepModel, measurement: Measurement) -> bytes:
    """Current register data: [demand resets] totals, then the tier blocks."""
    head = bytes((3,)) if model.present_demands else b""
    blocks = [measurement.summations, *measurement.tiers]
    return head + b"".join(
        _int32(block.get(source, 0)) for block in blocks for source in SUMMATION_ORDER
    )


def bt28(model: MepModel, measurement: Measurement) -> bytes:
    """Present register data: present demands (time remaining, value), present values."""
    demands = b"".join(bytes((0, 7, 30)) + _int32(1234) for _ in range(model.present_demands))
    return demands + b"".join(_int32(measurement.present.get(s, 0)) for s in PRESENT_ORDER)


def bt52(moment: datetime) -> bytes:
    """UTC clock: LTIME_DATE and the day-of-week/flags byte."""
    utc = moment.astimezone(UTC)
    weekday = (utc.weekday() + 1) % 7  # 0 = Sunday
    return bytes(
        (utc.year - 2000, utc.month, utc.day, utc.hour, utc.minute, utc.second, weekday | 0x10)
    )


def et03(serial: str) -> bytes:
    """Utility information: the utility serial number, reserved bytes, image CRC."""
    return serial.encode("ascii")[:29].ljust(30, b"\x00") + bytes(107) + b"\x12\x34" + bytes(4)


def et04(seed: int) -> bytes:
    """System information: sequence number, transceiver id, ..."""
    transceiver = random.Random(f"{seed}/neuron").randbytes(6)
    return bytes(4) + transceiver + bytes(70)


def et55(model: MepModel) -> bytes:
    """Meter configuration, as far as the energy register unit (and a little beyond)."""
    offset = et55_unit_offset(model)
    return bytes(offset) + bytes((model.energy_unit,)) + bytes(20)


def table_ids() -> dict[str, int]:
    """The ids of the tables the simulated meter serves, by the guide's names."""
    basic = {f"BT{n:02d}": n for n in (0, 1, 15, 20, 21, 22, 23, 27, 28, 52)}
    return basic | {f"ET{n:02d}": EXTENDED + n for n in (3, 4, 55)}
