"""From push entries to CH-SMR values: quantity, scaling, unit conversion, plausibility.

* The quantity of an electricity code follows from its C and D groups (IEC 62056-61):
  D = 8 energy, D = 7 instantaneous value; C 1/2 active, 3-8 reactive, 9/10 apparent,
  11 current, 12 voltage, 13 power factor, 14 frequency, repeated per phase from 21, 41, 61.
* A scaler-unit in the push wins; otherwise the meter profile's exponent applies.
* Base units become CH-SMR units exactly: ``raw / 10**k`` of Python integers is correctly
  rounded, so 482939 Wh gives exactly the float of ``482.939`` kWh (no float noise).
* Plausibility: a voltage ten times off (23.6 V, 2357 V on a 230 V grid) is the classic
  wrong-profile symptom. An automatically detected profile may try its alternative exponents;
  a chosen one is trusted and the reading is rejected (:class:`ImplausibleValue`).
  Currents are checked the same way against the apparent power, which tells 0.01 A meters
  from CT meters counting 0.001 A (Kamstrup) or whole amperes (L&G E570).
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from enum import Enum, auto
from functools import lru_cache
from typing import NamedTuple

from ..errors import ImplausibleValue
from ..numbers import to_float
from ..obis import BY_CODE, STATUS_QUANTITIES
from ..profiles import Kind, MeterProfile
from .axdr import Float32, Value
from .layouts import Entry

# DLMS unit codes (Blue Book) of the quantities the push lists use.
UNIT_W, UNIT_VA, UNIT_VAR, UNIT_WH, UNIT_VAH, UNIT_VARH = 27, 28, 29, 30, 31, 32
UNIT_A, UNIT_V, UNIT_HZ, UNIT_NONE = 33, 35, 44, 255
_KILO_UNITS = frozenset({UNIT_W, UNIT_VA, UNIT_VAR, UNIT_WH, UNIT_VAH, UNIT_VARH})
_KILO_KINDS = frozenset(
    {
        Kind.ACTIVE_ENERGY,
        Kind.REACTIVE_ENERGY,
        Kind.APPARENT_ENERGY,
        Kind.ACTIVE_POWER,
        Kind.REACTIVE_POWER,
        Kind.APPARENT_POWER,
    }
)

# Plausible phase voltages (V) on the Swiss 230/400 V grid, generously; zero is a
# missing phase.
VOLTAGE_RANGE = (80.0, 500.0)
# 230 V +-20 %: a value that lands here once multiplied or divided by ten is a scaling error.
NOMINAL_VOLTAGE = (184.0, 276.0)
# Below this apparent power (VA) the current check cannot tell scalings apart.
MIN_POWER_FOR_CURRENT_CHECK = 1000.0
# |log10(computed / measured apparent power)| that counts as consistent (factor 2).
_CURRENT_CHECK_TOLERANCE = math.log10(2.0)

# A scaler-unit's scaler beyond this is no meter's (they use -3 .. 3).
MAX_SCALER = 9


def _build_kinds() -> dict[int, Kind]:
    instantaneous = {1: Kind.ACTIVE_POWER, 2: Kind.ACTIVE_POWER, 15: Kind.ACTIVE_POWER,
                     16: Kind.ACTIVE_POWER, 9: Kind.APPARENT_POWER, 10: Kind.APPARENT_POWER,
                     11: Kind.CURRENT, 12: Kind.VOLTAGE, 13: Kind.POWER_FACTOR,
                     14: Kind.FREQUENCY}  # fmt: skip
    instantaneous.update(dict.fromkeys(range(3, 9), Kind.REACTIVE_POWER))
    energy = {1: Kind.ACTIVE_ENERGY, 2: Kind.ACTIVE_ENERGY, 15: Kind.ACTIVE_ENERGY,
              16: Kind.ACTIVE_ENERGY, 9: Kind.APPARENT_ENERGY, 10: Kind.APPARENT_ENERGY}  # fmt: skip
    energy.update(dict.fromkeys(range(3, 9), Kind.REACTIVE_ENERGY))
    kinds: dict[int, Kind] = {}
    for c in range(1, 81):
        # 21-40, 41-60, 61-80 repeat 1-20 for the phases L1, L2, L3.
        base = c if c <= 20 else (c - 1) % 20 + 1
        if base in instantaneous:
            kinds[c << 8 | 7] = instantaneous[base]
        if base in energy:
            kinds[c << 8 | 8] = energy[base]
    kinds[91 << 8 | 7] = Kind.CURRENT  # neutral current
    return kinds


# (C << 8 | D) -> quantity, for A = 1 (electricity).
KINDS: dict[int, Kind] = _build_kinds()


def partial(obis: bytes) -> str:
    """``C.D.E`` of a 6-byte logical name."""
    return f"{obis[2]}.{obis[3]}.{obis[4]}"


def exact_float(raw: float, exponent: int) -> float:
    """The same for a float32/float64 value: its shortest decimal form, then scaled."""
    if isinstance(raw, Float32):
        packed = struct.pack(">f", raw)
        text = repr(raw)
        for digits in range(6, 10):
            candidate = f"{raw:.{digits}g}"
            if struct.pack(">f", float(candidate)) == packed:
                text = candidate
                break
    else:
        text = repr(raw)
    return float(Decimal(text).scaleb(exponent))


class Scaled(NamedTuple):
    """The outcome of scaling one push."""

    values: dict[str, float]
    identities: dict[str, str]
    clock: bytes | None  # the value of a clock object (0-b:1.0.0), if pushed
    # The current exponent a conclusive power check chose (to remember for this meter).
    learned_current_exponent: int | None = None
    # The exponents used for voltages/currents sent without scaler-unit (None: none sent).
    voltage_exponent: int | None = None
    current_exponent: int | None = None
    # The entries of the M-Bus sub-meters (0-n with n > 0), for :mod:`.submeters`.
    submeters: tuple[Entry, ...] = ()


def text_of(value: Value) -> str | None:
    """An identifier as text: printable octet-strings as ASCII, others in hexadecimal."""
    if type(value) is str:
        return value.strip("\x00 ").strip() or None
    if isinstance(value, bytes):
        stripped = value.rstrip(b"\x00")
        if stripped.isascii():
            text = stripped.decode("ascii")
            if text.isprintable():
                return text.strip() or None
        return value.hex().upper() if value else None
    if type(value) is int:
        return str(value)
    return None


class _Pending(NamedTuple):
    code: str
    kind: Kind
    raw: int | float


def status_number(value: Value) -> int | None:
    """A tariff or counter as a number: an integer, or digits or a big-endian number in an
    octet-string (DSMR-style meters push the tariff as ``"0001"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        value = value.encode("latin-1")
    if isinstance(value, bytes) and value:
        if value.isdigit():
            return int(value)
        if len(value) <= 4:
            return int.from_bytes(value, "big")
    return None


# The objects of an M-Bus channel 0-n (n > 0) read as sub-meters.
SUBMETER_CODES = frozenset({"24.1.0", "96.1.0", "96.1.1", "24.2.1", "24.2.3"})


class Action(Enum):
    """What to do with an entry of a push."""

    NUMBER = auto()
    IDENTITY = auto()
    CLOCK = auto()
    SKIP = auto()
    STATUS = auto()  # tariff, counters: a whole number
    SUBMETER = auto()  # an object of an M-Bus channel


class Plan(NamedTuple):
    """What to do with the entries of one OBIS code, decided once per (code, profile)."""

    action: Action
    code: str  # the partial code C.D.E
    exponent: int | None  # incl. kilo; None: from the plausibility check
    kind: Kind | None


@lru_cache(maxsize=1024)  # a meter pushes a few dozen codes
def _plan(obis: bytes, profile: MeterProfile) -> Plan:
    """What to do with the entries of ``obis`` under ``profile``."""
    code = partial(obis)
    group_a = obis[0]
    entry = BY_CODE.get(code)
    status = entry is not None and entry.quantity in STATUS_QUANTITIES
    if group_a == 0:
        if obis[2] == 1 and obis[3] == 0 and obis[4] == 0:
            return Plan(Action.CLOCK, code, None, None)
        if obis[1] != 0:  # channels B > 0 are M-Bus sub-meters (gas, water), not this meter
            action = Action.SUBMETER if code in SUBMETER_CODES else Action.SKIP
            return Plan(action, code, None, None)
        if status:
            return Plan(Action.STATUS, code, 0, None)
        return Plan(Action.IDENTITY, code, None, None)
    if group_a != 1:
        return Plan(Action.SKIP, code, None, None)
    kind = KINDS.get(obis[2] << 8 | obis[3])
    if kind is None:
        if status:  # voltage sags and swells
            return Plan(Action.STATUS, code, 0, None)
        # 1-1:0.0.5 meter number, 1-1:96.1.1 meter type, 1-1:0.2.129 list id.
        return Plan(Action.IDENTITY if obis[2] in (0, 96) else Action.SKIP, code, None, None)
    if code in profile.code_exponents:
        exponent: int | None = profile.code_exponents[code]
    elif kind is Kind.VOLTAGE or kind is Kind.CURRENT:
        exponent = None
    else:
        exponent = profile.exponents[kind]
    if exponent is not None and kind in _KILO_KINDS:
        exponent -= 3
    return Plan(Action.NUMBER, code, exponent, kind)


def scale(
    entries: list[Entry],
    profile: MeterProfile,
    *,
    trusted: bool,
    learned_current_exponent: int | None = None,
) -> Scaled:
    """Convert the entries of one push with ``profile``.

    ``trusted``: the user chose the profile; alternatives are not tried and implausible
    voltages raise :class:`ImplausibleValue`. ``learned_current_exponent``: what an earlier
    conclusive current check found for this meter.
    """
    values: dict[str, float] = {}
    identities: dict[str, str] = {}
    clock: bytes | None = None
    # Voltages and currents without scaler-unit: scaled once the exponents are known.
    unscaled: list[_Pending] = []
    submeters: list[Entry] = []
    for obis, value, scaler, unit in entries:
        action, code, exponent, kind = _plan(obis, profile)
        if action is Action.NUMBER:
            if code in values:
                continue
            if type(value) is int:
                raw: int | float = value
            elif isinstance(value, float):
                raw = value
            elif isinstance(value, int) and not isinstance(value, bool):
                raw = int(value)  # an enum or bcd used as a number
            else:
                continue  # null-data padding, strings in odd places
            if scaler is not None:
                if not -MAX_SCALER <= scaler <= MAX_SCALER:
                    raise ImplausibleValue(f"{code}: scaler 10^{scaler}")
                exponent = scaler - 3 if unit in _KILO_UNITS else scaler
            elif exponent is None:
                unscaled.append(_Pending(code, kind, raw))  # type: ignore[arg-type]
                values[code] = 0.0  # placeholder keeps the push order
                continue
            if type(raw) is not int:
                values[code] = exact_float(raw, exponent)
            else:
                values[code] = to_float(raw, exponent)
        elif action is Action.IDENTITY:
            text = text_of(value)
            if text is not None and code not in identities:
                identities[code] = text
        elif (
            action is Action.CLOCK
            and clock is None
            and isinstance(value, bytes)
            and len(value) == 12
        ):
            clock = value
        elif action is Action.STATUS:
            number = status_number(value)
            if number is not None and code not in values:
                values[code] = to_float(number, scaler or 0)
        elif action is Action.SUBMETER:
            submeters.append((obis, value, scaler, unit))
    if not unscaled:
        return Scaled(values, identities, clock, submeters=tuple(submeters))
    learned, voltage_exponent, current_exponent = _resolve(
        unscaled, values, profile, trusted=trusted, learned=learned_current_exponent
    )
    return Scaled(
        values, identities, clock, learned, voltage_exponent, current_exponent, tuple(submeters)
    )


def _resolve(
    unscaled: list[_Pending],
    values: dict[str, float],
    profile: MeterProfile,
    *,
    trusted: bool,
    learned: int | None,
) -> tuple[int | None, int | None, int | None]:
    """Pick the voltage and current exponents and fill in the values.

    Returns (the current exponent if a power check chose it conclusively, the voltage
    exponent used, the current exponent used).
    """
    voltages = [p for p in unscaled if p.kind is Kind.VOLTAGE]
    currents = [p for p in unscaled if p.kind is Kind.CURRENT]
    voltage_exponent = _voltage_exponent(voltages, profile, trusted=trusted)
    for pending in voltages:
        values[pending.code] = _value(pending, voltage_exponent)
    used_voltage = voltage_exponent if voltages else None
    if not currents:
        return None, used_voltage, None
    current_exponent, conclusive = _current_exponent(currents, values, profile, trusted=trusted)
    # What an earlier push proved holds while this one proves nothing (low power); a push
    # that proves otherwise wins, so one odd push cannot fix a wrong scaling for good.
    if conclusive is None and learned in profile.current_exponents and not trusted:
        current_exponent = learned
    for pending in currents:
        values[pending.code] = _value(pending, current_exponent)
    return conclusive, used_voltage, current_exponent


def _value(pending: _Pending, exponent: int) -> float:
    if type(pending.raw) is int:
        return to_float(pending.raw, exponent)
    return exact_float(pending.raw, exponent)


def _plausible_voltage(volts: float) -> bool:
    return volts == 0 or VOLTAGE_RANGE[0] <= volts <= VOLTAGE_RANGE[1]


def _voltage_exponent(voltages: list[_Pending], profile: MeterProfile, *, trusted: bool) -> int:
    own = profile.voltage_exponents[0]
    if not voltages:
        return own
    candidates = (own,) if trusted else profile.voltage_exponents
    for exponent in candidates:
        if all(_plausible_voltage(_value(p, exponent)) for p in voltages):
            return exponent
    # Nothing fits. A value exactly ten times off means a wrong profile: reject rather
    # than publish 23.6 V. Anything else (a failing phase at 40 V) is passed on as measured.
    for pending in voltages:
        volts = _value(pending, own)
        if not _plausible_voltage(volts) and any(
            NOMINAL_VOLTAGE[0] <= volts * factor <= NOMINAL_VOLTAGE[1] for factor in (10, 0.1)
        ):
            raise ImplausibleValue(
                f"voltage {pending.code} would be {volts:g} V with the {profile.title} "
                "scaling (ten times off): choose the right meter profile"
            )
    return own


def _current_exponent(
    currents: list[_Pending], values: dict[str, float], profile: MeterProfile, *, trusted: bool
) -> tuple[int, int | None]:
    """(exponent to use, the same when the check was conclusive else None)."""
    own = profile.current_exponents[0]
    if trusted or len(profile.current_exponents) == 1:
        return own, None
    measured = _apparent_power(values)
    if measured < MIN_POWER_FOR_CURRENT_CHECK:
        return own, None
    voltage_of = {"31.7.0": "32.7.0", "51.7.0": "52.7.0", "71.7.0": "72.7.0"}
    # Only phases with a real voltage count: absurd values (6553 V, 65535 A) agree by
    # chance with an absurd power often enough to teach a scaling 100 times off.
    pairs = [
        (volts, p)
        for p in currents
        if p.code in voltage_of
        and VOLTAGE_RANGE[0] <= (volts := values.get(voltage_of[p.code], 0.0)) <= VOLTAGE_RANGE[1]
    ]
    best, best_error = own, math.inf
    for exponent in profile.current_exponents:
        computed = sum(volts * _value(p, exponent) for volts, p in pairs)
        if computed <= 0:
            continue
        error = abs(math.log10(computed / measured))
        if error < best_error:
            best, best_error = exponent, error
    if best_error <= _CURRENT_CHECK_TOLERANCE:
        return best, best
    return own, None


def _apparent_power(values: dict[str, float]) -> float:
    """|S| in VA from the total active and reactive powers (kW/kvar), 0 when unknown."""
    active = max(values.get("1.7.0", 0.0), values.get("2.7.0", 0.0))
    reactive = max(values.get("3.7.0", 0.0), values.get("4.7.0", 0.0))
    return math.hypot(active, reactive) * 1000.0
