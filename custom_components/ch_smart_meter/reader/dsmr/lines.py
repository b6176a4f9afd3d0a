"""One DSMR object line, read: what it is for and its value, exactly.

``A-B:C.D.E(value*unit)``: electricity lines (A = 1) whose C.D.E is in the OBIS catalogue
become values in CH-SMR units; tariff registers (1.8.x, 2.8.x) are also kept as exact
decimals, so that a missing total is their exact sum; a few abstract objects (time, meter
id, versions) are read for the reading's metadata; everything else is skipped.

A meter repeats most lines verbatim from one telegram to the next (identification,
versions, meter id, counters, idle registers, unchanged phases), so the outcome of a line
is remembered by its text: parsing is a pure function of the text, so remembering cannot
change a result, and lines that raise are not remembered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from enum import IntEnum
from functools import lru_cache
from typing import Final, NamedTuple

from ..errors import MalformedFrame
from ..numbers import Exact
from ..obis import BY_CODE, Quantity


class LineKind(IntEnum):
    """What a line is for, decided once per distinct OBIS reference."""

    SKIP = 0
    VALUE = 1  # a catalogue value (maybe also a tariff register to sum)
    TARIFF = 2  # a tariff register outside the catalogue (1.8.3, ...): only summed
    TIME = 3
    EQUIPMENT_ID = 4
    DEVICE_NAME = 5
    VERSION = 6
    BELGIAN_VERSION = 7


# Lines that carry a register value; the others carry text (the group as sent).
VALUE_KINDS: Final = frozenset({LineKind.VALUE, LineKind.TARIFF})


class ParsedLine(NamedTuple):
    """What one line says."""

    kind: LineKind
    # The catalogue code (value kinds) or the group text as sent (text kinds).
    code: str = ""
    value: float | None = None  # None: not shown (no value, or out of its bounds)
    total: str | None = None  # a tariff register: the total it is summed into
    exact: Exact = Exact(0, 0)


SKIPPED: Final = ParsedLine(LineKind.SKIP)


def _spellings(**exponents: int) -> dict[str, int]:
    """Unit text -> power of ten to the CH-SMR unit, in the spellings meters use; no unit
    means the quantity's DSMR unit. Other letter cases are matched in lower case."""
    table = {"": 0}
    for unit, exponent in exponents.items():
        for spelling in (
            unit,
            unit.lower(),
            unit.replace("var", "VAr"),
            unit.replace("var", "Var"),
        ):
            table[spelling] = exponent
    return table


_UNIT_EXPONENTS: Final[Mapping[Quantity, Mapping[str, int]]] = {
    Quantity.ACTIVE_ENERGY: _spellings(kWh=0, Wh=-3),
    Quantity.REACTIVE_ENERGY: _spellings(kvarh=0, varh=-3),
    Quantity.ACTIVE_POWER: _spellings(kW=0, W=-3),
    Quantity.REACTIVE_POWER: _spellings(kvar=0, var=-3),
    Quantity.VOLTAGE: _spellings(V=0),
    Quantity.CURRENT: _spellings(A=0),
    Quantity.FREQUENCY: _spellings(Hz=0),
    Quantity.POWER_FACTOR: _spellings(),
}

# Quantities with a physical upper bound: a value above it is not what the line claims
# (E.ON Hungary sends 13.7.0 values like 4.556), so it is left out rather than shown.
_UPPER_BOUNDS: Final[Mapping[Quantity, float]] = {Quantity.POWER_FACTOR: 1.0}

# Registers summed into a total when the meter does not send it: C.D -> total code.
_TOTALS: Final = {"1.8": "1.8.0", "2.8": "2.8.0"}
# Abstract objects (0-0:...) the decoder reads.
_ABSTRACT_LINES: Final = {
    "1.0.0": LineKind.TIME,
    "96.1.1": LineKind.EQUIPMENT_ID,
    "42.0.0": LineKind.DEVICE_NAME,
    "96.1.4": LineKind.BELGIAN_VERSION,
}
_SHORT_DIGITS: Final = 300  # no meter sends more; int() of text takes up to 4300


@dataclass(frozen=True, slots=True)
class LineRule:
    """How to read the lines of one OBIS reference."""

    kind: LineKind
    code: str = ""
    quantity: Quantity = Quantity.IDENTIFIER
    units: Mapping[str, int] = field(default_factory=dict)
    total: str | None = None  # a tariff register: summed into this total if it is missing
    upper: float = math.inf


_SKIP_RULE: Final = LineRule(LineKind.SKIP)


@lru_cache(maxsize=1024)
def classify(reference: str) -> LineRule:
    """Decide what an OBIS reference (``A-B:C.D.E``, maybe ``*F`` or ``.F``) is for."""
    medium_channel, colon, cde = reference.partition(":")
    medium, dash, channel = medium_channel.partition("-")
    parts = cde.partition("*")[0].split(".")
    if len(parts) == 4:
        parts = parts[:3]  # C.D.E.F
    if (
        not colon
        or not dash
        or len(parts) != 3
        or not all(part.isdigit() and part.isascii() for part in (medium, channel, *parts))
    ):
        return _SKIP_RULE
    code = ".".join(str(int(part)) for part in parts)
    a, b = int(medium), int(channel)
    if code == "0.2.8":  # 1-3:0.2.8, the P1 version
        return LineRule(LineKind.VERSION, code)
    if a == 0 and b == 0:
        kind = _ABSTRACT_LINES.get(code)
        return _SKIP_RULE if kind is None else LineRule(kind, code)
    if a != 1:
        return _SKIP_RULE  # M-Bus channels (gas, water, heat)
    c_d, _, e = code.rpartition(".")
    total = _TOTALS.get(c_d) if e != "0" else None
    entry = BY_CODE.get(code)
    if entry is not None and entry.quantity is not Quantity.IDENTIFIER:
        quantity, kind = entry.quantity, LineKind.VALUE
    elif total is not None:
        quantity, kind = Quantity.ACTIVE_ENERGY, LineKind.TARIFF
    else:
        return _SKIP_RULE
    upper = _UPPER_BOUNDS.get(quantity, math.inf)
    return LineRule(kind, code, quantity, _UNIT_EXPONENTS[quantity], total, upper)


def _unit_exponent(rule: LineRule, unit: str, line: str) -> int:
    exponent = rule.units.get(unit)
    if exponent is None:
        exponent = rule.units.get(unit.lower())  # an unusual letter case
    if exponent is None:
        raise MalformedFrame(
            f"unit {unit!r} is not a {rule.quantity.value} unit in {line.strip()!r}"
        )
    return exponent


@lru_cache(maxsize=512)  # a telegram has ~20-60 lines; ~half change every second
def parse_line(line: str) -> ParsedLine:
    """What one telegram line says (raises MalformedFrame when it is not readable)."""
    reference, bracket, rest = line.partition("(")
    if not bracket or not reference:
        return SKIPPED  # blank line, end line, continuation of a V2.2 gas profile
    rule = classify(reference)
    kind = rule.kind
    if kind is LineKind.SKIP:
        return SKIPPED
    close = rest.rfind(")")
    if close < 0:
        raise MalformedFrame(f"no closing parenthesis: {line.strip()!r}")
    group = rest[:close]
    if kind not in VALUE_KINDS:
        return ParsedLine(kind, group)
    if ")(" in group:  # several groups (e.g. time, value): the value is the last
        group = group[group.rfind("(") + 1 :]
    number, _, unit = group.partition("*")
    if not number:
        return SKIPPED  # "()": no value
    exponent = _unit_exponent(rule, unit, line)
    # Digits with at most one decimal point; float() alone would also take "1e3", "nan"
    # or "-1". (Text is latin-1: isdigit() also takes "¹²³", which int() refuses.)
    whole, _, fraction = number.partition(".")
    digits = whole + fraction
    if not (digits.isdigit() and digits.isascii()):
        raise MalformedFrame(f"not a number: {line.strip()!r}")
    # int() of text refuses more than sys.get_int_max_str_digits() digits; Decimal does not.
    integer = int(digits) if len(digits) <= _SHORT_DIGITS else int(Decimal(digits))
    exact = Exact(integer, exponent - len(fraction))
    value = exact.to_float()
    shown = value if kind is LineKind.VALUE and value <= rule.upper else None
    return ParsedLine(kind, rule.code, shown, rule.total, exact)


# --------------------------------------------------------------------------------------
# Time.

SUMMER: Final = timezone(timedelta(hours=2))
WINTER: Final = timezone(timedelta(hours=1))
_SEASON_OFFSETS: Final[Mapping[str, tzinfo]] = {"S": SUMMER, "s": SUMMER, "W": WINTER, "w": WINTER}
# Forms seen without a season flag (e.g. NES "20240111 09:35:00"): local time.
_LOCAL_TIME_FORMATS: Final = (
    "%y%m%d%H%M%S",
    "%Y%m%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y%m%d%H%M%S",
)


def parse_time(text: str, local: tzinfo) -> datetime | None:
    """A meter time: ``YYMMDDhhmmssX`` with a fixed S/W offset, or a local-time form."""
    if len(text) == 13 and (offset := _SEASON_OFFSETS.get(text[12])) is not None:
        digits = text[:12]
        if not (digits.isdigit() and digits.isascii()):
            return None
        try:
            return datetime(
                2000 + int(digits[0:2]),
                int(digits[2:4]),
                int(digits[4:6]),
                int(digits[6:8]),
                int(digits[8:10]),
                int(digits[10:12]),
                tzinfo=offset,
            )
        except ValueError:
            return None
    for form in _LOCAL_TIME_FORMATS:
        try:
            return datetime.strptime(text, form).replace(tzinfo=local)
        except ValueError:
            continue
    return None


def hex_text(text: str) -> str | None:
    """A COSEM octet string as sent (hex), decoded when it is printable text.

    Returns ``None`` for an empty or all-zero id; the text as sent when it is not hex or
    does not decode to printable ASCII.
    """
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return text.strip() or None
    raw = raw.strip(b"\x00 ")
    if not raw:
        return None
    if all(0x20 < byte < 0x7F for byte in raw):
        return raw.decode("ascii")
    return text.strip()
