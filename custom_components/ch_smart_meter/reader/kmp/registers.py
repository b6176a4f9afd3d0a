"""Kamstrup electricity-meter registers (382 family) and the CH-SMR values they give.

No public KMP specification for electricity meters exists: every register id below was
found by people reading their own meters, so each entry says how sure that knowledge is
(``evidence``) and where it comes from (``sources``); the README's register table is
printed from this one (``scripts/kmp_figures.py``).

Values are converted by the unit code the meter sends with each answer, never by the unit
a register is supposed to have: an answer whose unit does not convert to the register's
CH-SMR unit gives no value, and the reason is kept for the diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ..model import Reading, TimeSource
from ..numbers import to_float
from ..spec import DecoderOptions
from .codec import UNITS, MeterType, RegisterValue, unit_name

MANUFACTURER: Final = "Kamstrup"
# The meter id of readings before the meter said its serial number.
UNKNOWN_METER: Final = "unknown"


class Evidence(StrEnum):
    """How a register's meaning is known."""

    # A published specification; no register of an electricity meter has one today.
    SPECIFICATION = "specification"
    # Reverse-engineered, with the same meaning in several independent sources.
    COMMUNITY = "community"
    # Reverse-engineered, and labelled inconsistently or found in a single source.
    UNCERTAIN = "community, uncertain"


# The sources, abbreviated as in docs/protocols.md.
PHK: Final = "PHK kamstrup.py"
FORKS: Final = "PyKamstrup forks"
ESPHOME: Final = "ESPHome Kamstrup382M sketch"
CONPOT: Final = "conpot 382 profile"


@dataclass(frozen=True, slots=True)
class KmpRegister:
    """One register and the CH-SMR value it gives.

    ``unit`` is the CH-SMR unit (``None``: not a value, the meter's serial number);
    ``table`` the recommendation's table (Table 1 is asked first); among registers of the
    same code the answered one of lowest ``rank`` is used (high resolution: 0).
    """

    register: int
    code: str
    name: str
    unit: str | None
    table: int
    evidence: Evidence
    sources: tuple[str, ...]
    rank: int = 0


_C, _U = Evidence.COMMUNITY, Evidence.UNCERTAIN
_ALL = (PHK, FORKS, ESPHOME, CONPOT)

REGISTERS: Final[tuple[KmpRegister, ...]] = (
    # Table 1.
    KmpRegister(0x03E9, "96.1.1", "Serial number", None, 1, _C, (FORKS, CONPOT)),
    KmpRegister(0x000D, "1.8.0", "Energy in, high resolution", "kWh", 1, _C, _ALL),
    KmpRegister(0x000E, "2.8.0", "Energy out, high resolution", "kWh", 1, _C, _ALL),
    KmpRegister(0x0001, "1.8.0", "Energy in", "kWh", 1, _C, _ALL, rank=1),
    KmpRegister(0x0002, "2.8.0", "Energy out", "kWh", 1, _C, _ALL, rank=1),
    # Both 0x03FF and 0x0400 are labelled "Power In" in one of the forks.
    KmpRegister(0x03FF, "1.7.0", "Power in", "kW", 1, _U, (FORKS, ESPHOME, CONPOT)),
    KmpRegister(0x0400, "2.7.0", "Power out", "kW", 1, _U, (FORKS, ESPHOME, CONPOT)),
    KmpRegister(0x041E, "32.7.0", "Voltage L1", "V", 1, _C, _ALL),
    KmpRegister(0x041F, "52.7.0", "Voltage L2", "V", 1, _C, _ALL),
    KmpRegister(0x0420, "72.7.0", "Voltage L3", "V", 1, _C, _ALL),
    KmpRegister(0x0434, "31.7.0", "Current L1", "A", 1, _C, _ALL),
    KmpRegister(0x0435, "51.7.0", "Current L2", "A", 1, _C, _ALL),
    KmpRegister(0x0436, "71.7.0", "Current L3", "A", 1, _C, _ALL),
    # Table 2.
    KmpRegister(0x0438, "21.7.0", "Power in L1", "kW", 2, _C, _ALL),
    KmpRegister(0x0439, "41.7.0", "Power in L2", "kW", 2, _C, _ALL),
    KmpRegister(0x043A, "61.7.0", "Power in L3", "kW", 2, _C, _ALL),
    # Not in conpot's profile of a 382; one fork and the ESPHome sketch only.
    KmpRegister(0x0540, "22.7.0", "Power out L1", "kW", 2, _U, (FORKS, ESPHOME)),
    KmpRegister(0x0541, "42.7.0", "Power out L2", "kW", 2, _U, (FORKS, ESPHOME)),
    KmpRegister(0x0542, "62.7.0", "Power out L3", "kW", 2, _U, (FORKS, ESPHOME)),
)
BY_REGISTER: Final[Mapping[int, KmpRegister]] = {r.register: r for r in REGISTERS}
SERIAL_REGISTER: Final = BY_REGISTER[0x03E9]
# The registers that give values, Table 1 first, the preferred of each code first.
VALUE_REGISTERS: Final = tuple(
    sorted((r for r in REGISTERS if r.unit is not None), key=lambda r: (r.table, r.rank))
)


@dataclass(frozen=True, slots=True)
class Converted:
    """What a set of register answers gives: CH-SMR values, which register gave each code,
    and the answers left out with the reason (an unexpected unit)."""

    values: dict[str, float]
    used: dict[str, int]
    problems: tuple[str, ...] = ()


def convert(answers: Iterable[RegisterValue]) -> Converted:
    """The CH-SMR values of register answers; registers not in the map are ignored."""
    best: dict[str, tuple[int, float]] = {}
    used: dict[str, int] = {}
    problems: list[str] = []
    for answer in answers:
        register = BY_REGISTER.get(answer.register)
        if register is None or register.unit is None:
            continue
        unit = UNITS.get(answer.unit)
        if unit is None or unit.chsmr_unit != register.unit:
            problems.append(
                f"register {answer.register:04X} ({register.name}) answered in "
                f"{unit_name(answer.unit)}, not convertible to {register.unit}"
            )
            continue
        known = best.get(register.code)
        if known is not None and known[0] <= register.rank:
            continue
        value = to_float(answer.value.integer, answer.value.power + unit.power)
        best[register.code] = (register.rank, value)
        used[register.code] = answer.register
    values = {code: value for code, (_, value) in best.items()}
    return Converted(values, used, tuple(problems))


def serial_text(answer: RegisterValue) -> str | None:
    """The serial number register as decimal text; None unless a non-negative integer."""
    integer, power = answer.value
    if integer < 0:
        return None
    if power >= 0:
        return str(integer * 10**power)
    scale = 10**-power
    return str(integer // scale) if integer % scale == 0 else None


def reading_of(
    converted: Converted,
    options: DecoderOptions,
    *,
    meter_id: str | None,
    meter_type: MeterType | None,
    frame: bytes,
) -> Reading:
    """A reading of converted values, stamped with the host clock: KMP answers carry no
    time."""
    return Reading(
        timestamp=options.clock().astimezone(options.timezone),
        meter_id=meter_id or UNKNOWN_METER,
        values=converted.values,
        time_source=TimeSource.HOST,
        manufacturer=MANUFACTURER,
        model=None if meter_type is None else meter_type.label,
        frame=frame,
    )
