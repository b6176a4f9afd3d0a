"""One DSMR object line, read: what it is for and its value, exactly.

``A-B:C.D.E(value*unit)``: electricity lines (A = 1) whose C.D.E is in the OBIS catalogue
become values in CH-SMR units; tariff registers (1.8.x, 2.8.x) are also kept as exact
decimals, so that a missing total is their exact sum; a few abstract objects (time, meter
id, versions) are read for the reading's metadata, the tariff indicator and the failure
counters (0-0:96.14.0, 96.7.21, 96.7.9) as catalogue values. The rest of what a meter says
is read into typed extras (:mod:`.extras`): the M-Bus channels 0-n (device type 24.1.0, id
96.1.0 or 96.1.1, value 24.2.1 / 24.2.3 with its capture time, the DSMR 2.2/3 profile
24.3.0 whose value is on the next line), the text messages 96.13.x and the power failure
log 99.97.0. A line of these that cannot be read is left out: it never costs the reading
the electricity meter's values. Everything else is skipped.

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
from ..model import CUBIC_METRE, GIGAJOULE, KILOWATT_HOUR
from ..numbers import Exact
from ..obis import BY_CODE, STATUS_QUANTITIES, UNIT_REQUIRED, Quantity


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
    # The typed extras of a reading (:mod:`.extras`), from here on.
    MBUS_TYPE = 8  # 0-n:24.1.0, the EN 13757-3 device type of channel n
    MBUS_ID = 9  # 0-n:96.1.0 (0-n:96.1.1 in Belgium)
    MBUS_VALUE = 10  # 0-n:24.2.1 / 24.2.3: (capture time)(value*unit)
    MBUS_PROFILE = 11  # 0-n:24.3.0 of DSMR 2.2/3: its value is the next line
    CONTINUATION = 12  # "(value)", the line after a 24.3.0 header
    TEXT = 13  # 0-0:96.13.x, a hex-encoded text or code message
    EVENTS = 14  # 1-0:99.97.0, the long power failure log


# Lines that carry a register value; the others carry text (the group as sent).
VALUE_KINDS: Final = frozenset({LineKind.VALUE, LineKind.TARIFF})


class SubValue(NamedTuple):
    """A sub-meter value as sent: its capture time (the text), the number (``None`` in a
    DSMR 2.2/3 profile header: it is on the next line), the unit it is read in and the power
    of ten from the number's unit to that one (Wh -> kWh: -3)."""

    time: str
    number: Exact | None
    unit: str | None
    exponent: int = 0


# One entry of the power failure log as sent: (end time text, duration in seconds).
type FailureText = tuple[str, int]


class ParsedLine(NamedTuple):
    """What one line says."""

    kind: LineKind
    # The catalogue code (value kinds), the group text as sent (metadata kinds) or the
    # partial code (extras).
    code: str = ""
    value: float | None = None  # None: not shown (no value, or out of its bounds)
    total: str | None = None  # a tariff register: the total it is summed into
    exact: Exact = Exact(0, 0)
    channel: int = 0  # the M-Bus channel (B) of a sub-meter line
    text: str = ""  # a message (decoded), or a sub-meter's type or id as sent
    sub: SubValue | None = None
    failures: tuple[FailureText, ...] = ()


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
    Quantity.TARIFF: _spellings(),
    Quantity.COUNT: _spellings(),
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
# The objects of an M-Bus channel 0-n (n = 1..4 in DSMR; channels up to 9 are taken).
_MBUS_LINES: Final = {
    "24.1.0": LineKind.MBUS_TYPE,
    "96.1.0": LineKind.MBUS_ID,
    "96.1.1": LineKind.MBUS_ID,
    "24.2.1": LineKind.MBUS_VALUE,
    "24.2.3": LineKind.MBUS_VALUE,
    "24.3.0": LineKind.MBUS_PROFILE,
}
_MAX_CHANNEL: Final = 9
_FAILURE_LOG: Final = "99.97.0"
# Sub-meter units, in lower case -> (the unit of the reading, power of ten to it).
_SUBMETER_UNITS: Final[Mapping[str, tuple[str, int]]] = {
    "m3": (CUBIC_METRE, 0),
    CUBIC_METRE: (CUBIC_METRE, 0),
    "dm3": (CUBIC_METRE, -3),
    "l": (CUBIC_METRE, -3),
    "kwh": (KILOWATT_HOUR, 0),
    "wh": (KILOWATT_HOUR, -3),
    "mwh": (KILOWATT_HOUR, 3),
    "gj": (GIGAJOULE, 0),
    "mj": (GIGAJOULE, -3),
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
    channel: int = 0  # the M-Bus channel of a sub-meter line
    # A status number (tariff, counters): left out when unreadable instead of refusing
    # the telegram.
    lenient: bool = False


_SKIP_RULE: Final = LineRule(LineKind.SKIP)


def _value_rule(kind: LineKind, code: str, quantity: Quantity, total: str | None) -> LineRule:
    units = _UNIT_EXPONENTS[quantity]
    if code in UNIT_REQUIRED:
        units = {unit: exponent for unit, exponent in units.items() if unit}
    return LineRule(
        kind,
        code,
        quantity,
        units,
        total,
        _UPPER_BOUNDS.get(quantity, math.inf),
        lenient=quantity in STATUS_QUANTITIES or code in UNIT_REQUIRED,
    )


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
    if a == 0:
        return _abstract_rule(code, b)
    if a != 1:
        return _SKIP_RULE
    if code == _FAILURE_LOG:
        return LineRule(LineKind.EVENTS, code)
    if code in UNIT_REQUIRED and b != 0:
        return _SKIP_RULE  # e.g. 1-1:31.4.0, a current transformer's ratio (Smarty)
    c_d, _, e = code.rpartition(".")
    total = _TOTALS.get(c_d) if e != "0" else None
    entry = BY_CODE.get(code)
    if entry is not None and entry.quantity is not Quantity.IDENTIFIER:
        return _value_rule(LineKind.VALUE, code, entry.quantity, total)
    if total is not None:
        return _value_rule(LineKind.TARIFF, code, Quantity.ACTIVE_ENERGY, total)
    return _SKIP_RULE


def _abstract_rule(code: str, channel: int) -> LineRule:
    """Abstract objects: the meter's own (B = 0) or those of its M-Bus channel B."""
    if channel:
        kind = _MBUS_LINES.get(code)
        if kind is None or channel > _MAX_CHANNEL:
            return _SKIP_RULE
        return LineRule(kind, code, channel=channel)
    kind = _ABSTRACT_LINES.get(code)
    if kind is not None:
        return LineRule(kind, code)
    if code.startswith("96.13."):
        return LineRule(LineKind.TEXT, code)
    entry = BY_CODE.get(code)
    if entry is None or (entry.quantity not in STATUS_QUANTITIES and code not in UNIT_REQUIRED):
        return _SKIP_RULE
    return _value_rule(LineKind.VALUE, code, entry.quantity, None)


@lru_cache(maxsize=512)  # a telegram has ~20-60 lines; ~half change every second
def parse_line(line: str) -> ParsedLine:
    """What one telegram line says (raises MalformedFrame when it is not readable)."""
    reference, bracket, rest = line.partition("(")
    if not bracket:
        return SKIPPED  # blank line, end line
    if not reference:
        return _continuation(rest)
    rule = classify(reference)
    kind = rule.kind
    if kind is LineKind.SKIP:
        return SKIPPED
    close = rest.rfind(")")
    if kind >= LineKind.MBUS_TYPE:
        return SKIPPED if close < 0 else _extra_line(rule, rest[:close])
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
    exponent = rule.units.get(unit)
    if exponent is None:
        exponent = rule.units.get(unit.lower())  # an unusual letter case
    read = read_number(number)
    if exponent is None or read is None:
        if rule.lenient:
            return SKIPPED
        if exponent is None:
            raise MalformedFrame(
                f"unit {unit!r} is not a {rule.quantity.value} unit in {line.strip()!r}"
            )
        raise MalformedFrame(f"not a number: {line.strip()!r}")
    exact = Exact(read.integer, read.power + exponent)
    value = exact.to_float()
    shown = value if kind is LineKind.VALUE and value <= rule.upper else None
    return ParsedLine(kind, rule.code, shown, rule.total, exact)


def read_number(number: str) -> Exact | None:
    """Digits with at most one decimal point, exactly; ``None`` for anything else.

    float() alone would also take "1e3", "nan" or "-1". (Text is latin-1: isdigit() also
    takes "¹²³", which int() refuses.)
    """
    whole, _, fraction = number.partition(".")
    digits = whole + fraction
    if not (digits.isdigit() and digits.isascii()):
        return None
    # int() of text refuses more than sys.get_int_max_str_digits() digits; Decimal does not.
    integer = int(digits) if len(digits) <= _SHORT_DIGITS else int(Decimal(digits))
    return Exact(integer, -len(fraction))


def _continuation(rest: str) -> ParsedLine:
    """``(value)``: the value of the DSMR 2.2/3 gas profile header on the line before."""
    close = rest.rfind(")")
    number = read_number(rest[:close]) if close >= 0 else None
    if number is None:
        return SKIPPED
    return ParsedLine(LineKind.CONTINUATION, sub=SubValue("", number, None))


def _extra_line(rule: LineRule, group: str) -> ParsedLine:
    """A line of the typed extras; one that cannot be read is skipped."""
    kind = rule.kind
    if kind is LineKind.TEXT:
        text = message_text(group)
        return SKIPPED if text is None else ParsedLine(kind, rule.code, text=text)
    if kind is LineKind.MBUS_TYPE or kind is LineKind.MBUS_ID:
        return ParsedLine(kind, rule.code, channel=rule.channel, text=group) if group else SKIPPED
    groups = group.split(")(")
    if kind is LineKind.MBUS_VALUE:
        if len(groups) < 2:
            return SKIPPED  # a value without its capture time
        number, _, unit = groups[-1].partition("*")
        read = read_number(number)
        if read is None:
            return SKIPPED
        name, exponent = submeter_unit(unit)
        sub = SubValue(groups[0], read, name, exponent)
        return ParsedLine(kind, rule.code, channel=rule.channel, sub=sub)
    if kind is LineKind.MBUS_PROFILE:
        # (capture time)(status)(capture period)(number of values)(value's code)(unit)
        if len(groups) < 6:
            return SKIPPED
        code = classify(groups[4]).code or "24.2.1"
        name, exponent = submeter_unit(groups[5])
        sub = SubValue(groups[0], None, name, exponent)
        return ParsedLine(kind, code, channel=rule.channel, sub=sub)
    # The failure log: (count)(0-0:96.7.19)(end time)(duration*s)...
    failures = []
    for end, duration in zip(groups[2::2], groups[3::2], strict=False):
        seconds = read_number(duration.partition("*")[0])
        if seconds is not None and seconds.power == 0:
            failures.append((end, seconds.integer))
    return ParsedLine(kind, rule.code, failures=tuple(failures)) if failures else SKIPPED


def submeter_unit(text: str) -> tuple[str | None, int]:
    """A sub-meter unit as sent -> (the unit of the reading, power of ten to it); an unknown
    unit is kept as sent, no unit is ``None``."""
    if not text:
        return None, 0
    return _SUBMETER_UNITS.get(text.lower(), (text, 0))


def message_text(group: str) -> str | None:
    """A text message (COSEM octet string, sent hex-encoded), decoded; ``None`` when empty.

    Not hex: the text as sent. Bytes that are not UTF-8 are read as latin-1.
    """
    try:
        raw = bytes.fromhex(group)
    except ValueError:
        return group.strip() or None
    raw = raw.strip(b"\x00 ")
    if not raw:
        return None
    try:
        return raw.decode("utf-8").strip() or None
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip() or None


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
