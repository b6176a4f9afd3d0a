"""P1 DSMR: ASCII telegrams (DSMR 2.2 to 5.0.2 and their country variants) and the
Luxembourg "Smarty" / Sagemcom T210-D-R encrypted envelope.

How the work is split with ``dsmr-parser``
-------------------------------------------
``dsmr-parser`` is the reference for what a P1 telegram contains: its OBIS references and
per-country telegram specifications name every line, and :data:`VARIANTS` maps each
variant we recognise to the specification that describes it
(:func:`dsmr_parser_specification`). The tests decode every capture with both and require
the same numbers; ``scripts/bench/dsmr.py`` measures both.

Its ``TelegramParser.parse`` is not on the hot path, by measurement: it runs one regular
expression per specification object over the whole telegram and computes the CRC one
character at a time through ``ctypes``: 0.4-0.55 ms for a 900-byte DSMR 5 telegram on
the development machine, where this module needs ~20 us for framing, CRC and decoding
together, a twentieth (``scripts/bench/dsmr.py``). Inside Home Assistant, with a telegram
every 100 ms and the CPU caches emptied by other work in between, the same decode takes
~170 us of the event loop's time, against ~0.9 ms for core's integration around
dsmr-parser (``scripts/cost``). It would also lose information the Swiss format needs:
the stock ``V5`` specification drops 2.8.0, 3.8.0/4.8.0, 3.7.0/4.7.0 and reactive
per-phase lines; timestamps come back converted to UTC through Europe/Amsterdam (the
meter's S/W offset is gone); units are passed through unconverted; and the encrypted
path expects hex text. So the decode here is a single pass over the lines: a line seen
before (most repeat verbatim from one telegram to the next) is one dictionary lookup of
its remembered outcome; a new one is one ``partition``, one lookup of its OBIS reference
(classified once and cached) and its number read exactly (integer digits and a power of
ten, the float by correctly rounded integer division, tariff sums in integers); and the
CRC-16/ARC is 16 parity masks evaluated in C. Each decoder also keeps its meter's last
telegram (:class:`_Layout`): the next one of the same length is decoded from the lines
holding the bytes that differ (found by one XOR in C), typically 4-12 of 30-40, falling
back to the full decode whenever a changed line does not fit.

Decoding rules
--------------
* CRC-16/ARC over ``/`` .. ``!``; 1 to 4 hex digits accepted (some meters do not
  zero-pad); no digits at all is the legacy DSMR 2.2/3 form, accepted when the telegram
  has at least one value line.
* Values: every electricity line (A = 1) whose C.D.E is in :data:`obis.BY_CODE`, in CH-SMR
  units. Without a 1.8.0 (2.8.0) line, 1.8.0 (2.8.0) is the exact sum of the tariff
  registers 1.8.1, 1.8.2, ... (2.8.x). M-Bus channels (gas, water, heat) are skipped.
* Meter id: 0-0:96.1.1 (hex-encoded text), else 0-0:42.0.0 (Smarty), else the
  identification line. Manufacturer from the FLAG id of the identification line.
* Time: ``YYMMDDhhmmssX`` with X = S (+02:00) or W (+01:00); other forms are local time
  in ``DecoderOptions.timezone``; no time at all: the host clock.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from importlib import import_module
from itertools import accumulate
from typing import Any, Final

from ..crc import crc16_arc
from ..dlms import cipher
from ..errors import (
    CrcError,
    DecryptionFailed,
    FrameError,
    MalformedFrame,
    UnsupportedFrame,
)
from ..framing.dsmr import DsmrFramer
from ..model import DecodeResult, Reading, RejectedFrame, SerialSettings, Standard, TimeSource
from ..obis import BY_CODE, Quantity
from . import DecoderOptions, SerialPreset, StandardSpec

# --------------------------------------------------------------------------------------
# CRC-16/ARC.
#
# With initial value 0 and no final XOR the CRC is linear over GF(2) in the message bits,
# and leading zero bytes leave it at 0: each bit of the result is the parity of the
# message bits selected by a fixed mask that depends only on a bit's distance from the
# end. Read as one big-endian integer (last byte lowest), a message is checked with 16
# ANDs and bit counts, all inside the interpreter's C code: ~7 us hot / ~13 us cold for
# an 800-byte telegram, against ~28 / ~45 us for a table loop in Python, because the
# masks are read sequentially (a cold cache prefetches them) instead of by random table
# lookups. The masks cover _CRC_MASK_BYTES (16 masks of that size, ~3 ms to build at
# import); longer messages take the two-bytes-per-step table loop below. Both equal
# reader.crc.crc16_arc (the tests compare them).
#
# The table loop feeds one little-endian 16-bit word w per step: with x = crc ^ w, two
# byte steps give (S[lo] >> 8) ^ S[hi ^ (S[lo] & 0xFF)], and since the byte table S is
# linear (S[a ^ b] = S[a] ^ S[b]) that is T2[x & 0xFF] ^ S[x >> 8] with
# T2[lo] = (S[lo] >> 8) ^ S[S[lo] & 0xFF].


def _byte_step(byte: int) -> int:
    return crc16_arc(bytes((byte,)))


_CRC_SINGLE: Final = tuple(_byte_step(byte) for byte in range(256))
_CRC_LOW_OF_PAIR: Final = tuple(
    (_CRC_SINGLE[low] >> 8) ^ _CRC_SINGLE[_CRC_SINGLE[low] & 0xFF] for low in range(256)
)
_CRC_MASK_BYTES: Final = 2048  # DSMR telegrams: ~0.8-1.5 KiB


def _crc_masks(size: int) -> tuple[int, ...]:
    """For each CRC bit j, the message bits (big-endian integer) whose parity it is."""
    # spread[v]: bit j of the byte v moved to bit 8 j, so one integer w collects, for the
    # byte at one distance, the 16 mask bytes side by side (mask j in byte j of w).
    spread = tuple(sum(((v >> j) & 1) << (8 * j) for j in range(8)) for v in range(256))
    single = _CRC_SINGLE
    # CRC of the single bit b of a byte followed by the current distance of zero bytes.
    states = [single[1 << bit] for bit in range(8)]
    columns = bytearray()
    for _ in range(size):
        column = 0
        for bit, state in enumerate(states):
            column |= (spread[state & 0xFF] | spread[state >> 8] << 64) << bit
            states[bit] = (state >> 8) ^ single[state & 0xFF]
        columns += column.to_bytes(16, "little")
    return tuple(int.from_bytes(columns[j::16], "little") for j in range(16))


_CRC_MASKS: Final = _crc_masks(_CRC_MASK_BYTES)


def crc16_arc_fast(data: bytes) -> int:
    """CRC-16/ARC of ``data`` (identical to :func:`reader.crc.crc16_arc`)."""
    if len(data) <= _CRC_MASK_BYTES:
        message = int.from_bytes(data, "big")
        crc = 0
        for bit, mask in enumerate(_CRC_MASKS):
            crc |= ((message & mask).bit_count() & 1) << bit
        return crc
    single = _CRC_SINGLE
    low_of_pair = _CRC_LOW_OF_PAIR
    crc = 0
    for word in struct.unpack_from(f"<{len(data) >> 1}H", data):
        mixed = crc ^ word
        crc = low_of_pair[mixed & 0xFF] ^ single[mixed >> 8]
    if len(data) & 1:
        crc = (crc >> 8) ^ single[(crc ^ data[-1]) & 0xFF]
    return crc


# --------------------------------------------------------------------------------------
# Variants: recognised from the telegram itself, never chosen by the user.


@dataclass(frozen=True, slots=True)
class DsmrVariant:
    """A telegram layout, and the dsmr-parser telegram specification that describes it."""

    id: str
    title: str
    dsmr_parser_spec: str


@dataclass(frozen=True, slots=True)
class _VariantRule:
    """A variant applies when every given condition holds (``None`` = any)."""

    variant: DsmrVariant
    flags: tuple[str, ...] = ()  # FLAG ids of the identification line
    model_prefixes: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()  # first digit of 1-3:0.2.8; "" = no version line
    belgian: bool | None = None  # 0-0:96.1.4 present
    encrypted: bool | None = None
    crc: bool | None = None

    def matches(self, facts: _TelegramFacts) -> bool:
        return (
            (not self.flags or facts.flag in self.flags)
            and (not self.model_prefixes or facts.model.startswith(self.model_prefixes))
            and (not self.versions or facts.version[:1] in self.versions)
            and self.belgian in (None, facts.belgian)
            and self.encrypted in (None, facts.encrypted)
            and self.crc in (None, facts.crc)
        )


@dataclass(frozen=True, slots=True)
class _TelegramFacts:
    flag: str
    model: str
    version: str
    belgian: bool
    encrypted: bool
    crc: bool


def _variant(id_: str, title: str, spec: str) -> DsmrVariant:
    return DsmrVariant(id_, title, spec)


VARIANTS: Final = {
    variant.id: variant
    for variant in (
        _variant("dsmr5", "DSMR 5.0.x", "V5"),
        _variant("dsmr4", "DSMR 4.x", "V4"),
        _variant("dsmr3", "DSMR 3.0", "V3"),
        _variant("dsmr22", "DSMR 2.2 (no CRC)", "V2_2"),
        _variant("emucs", "e-MUCS (Belgium, Fluvius)", "BELGIUM_FLUVIUS"),
        _variant("smarty", "Luxembourg Smarty", "LUXEMBOURG_SMARTY"),
        _variant("smarty_encrypted", "Luxembourg Smarty (encrypted)", "MSN"),
        _variant("austria", "Sagemcom T210-D-R (Austria)", "SAGEMCOM_T210_D_R"),
        _variant("encrypted", "Encrypted P1 (general-glo-ciphering)", "SAGEMCOM_T210_D_R"),
        _variant("q3d", "EasyMeter Q3D", "Q3D"),
        _variant("iskra_ie", "Iskra (ESB Networks, Ireland)", "ISKRA_IE"),
        _variant("eon_hu", "Sagemcom (E.ON Hungary)", "EON_HUNGARY"),
        _variant("nordic", "P1 without version line (Nordic style)", "SWEDEN"),
        _variant("dsmr", "DSMR (unrecognised layout)", "V5"),
    )
}

# First match wins: the specific layouts before the generic ones.
VARIANT_RULES: Final = (
    _VariantRule(VARIANTS["emucs"], belgian=True),
    _VariantRule(VARIANTS["smarty_encrypted"], flags=("Lux",), encrypted=True),
    _VariantRule(VARIANTS["smarty"], flags=("Lux",)),
    _VariantRule(VARIANTS["austria"], flags=("EST",)),
    _VariantRule(VARIANTS["encrypted"], encrypted=True),
    _VariantRule(VARIANTS["q3d"], flags=("ESY",)),
    _VariantRule(VARIANTS["iskra_ie"], model_prefixes=("MIE",)),
    _VariantRule(VARIANTS["eon_hu"], flags=("SAG",), versions=("",)),
    _VariantRule(VARIANTS["dsmr5"], versions=("5",)),
    _VariantRule(VARIANTS["dsmr4"], versions=("4",)),
    _VariantRule(VARIANTS["dsmr3"], versions=("3",)),
    _VariantRule(VARIANTS["nordic"], versions=("",), crc=True),
    _VariantRule(VARIANTS["dsmr22"], crc=False),
)


def recognise_variant(
    flag: str, model: str, version: str, *, belgian: bool, encrypted: bool, crc: bool
) -> DsmrVariant:
    """The variant of a telegram, from its identification, version line and envelope."""
    facts = _TelegramFacts(flag, model, version, belgian, encrypted, crc)
    for rule in VARIANT_RULES:
        if rule.matches(facts):
            return rule.variant
    return VARIANTS["dsmr"]


# What dsmr-parser's stock V5 leaves out but a Swiss 5.0.2 layout keeps (names of
# dsmr_parser.obis_references).
_V5_ADDITIONS: Final = (
    "ELECTRICITY_EXPORTED_TOTAL",
    "ELECTRICITY_REACTIVE_IMPORTED_TOTAL",
    "ELECTRICITY_REACTIVE_EXPORTED_TOTAL",
    "CURRENT_REACTIVE_IMPORTED",
    "CURRENT_REACTIVE_EXPORTED",
    "INSTANTANEOUS_REACTIVE_POWER_L1_POSITIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L2_POSITIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L3_POSITIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L1_NEGATIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L2_NEGATIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L3_NEGATIVE",
)


def dsmr_parser_specification(variant: DsmrVariant, *, extended: bool = True) -> dict[str, Any]:
    """dsmr-parser's telegram specification for a variant, for plaintext telegrams.

    With ``extended`` the DSMR 5 specification also parses the lines its stock ``V5``
    drops. Encrypted variants are returned for their plaintext (``general_global_cipher``
    off): the envelope is opened here, not by dsmr-parser. Imported lazily: the decoder
    itself does not need it.
    """
    specs = import_module("dsmr_parser.telegram_specifications")
    name = variant.dsmr_parser_spec
    if not hasattr(specs, name):  # MSN arrived in dsmr-parser 1.5; older: its plain layout
        name = "LUXEMBOURG_SMARTY"
    spec: dict[str, Any] = deepcopy(getattr(specs, name))
    spec["general_global_cipher"] = False
    if extended and name == "V5":
        references = import_module("dsmr_parser.obis_references")
        parsers = import_module("dsmr_parser.parsers")
        present = {obj["obis_reference"] for obj in spec["objects"]}
        for value_name in _V5_ADDITIONS:
            reference = getattr(references, value_name, None)
            if reference is None or reference in present:
                continue
            spec["objects"].append(
                {
                    "obis_reference": reference,
                    "value_parser": parsers.CosemParser(parsers.ValueParser(Decimal)),
                    "value_name": value_name,
                }
            )
    return spec


# --------------------------------------------------------------------------------------
# Identification line: manufacturer by FLAG id (data, enumerated by the tests).

MANUFACTURERS: Final[Mapping[str, str]] = {
    "ISK": "Iskraemeco",
    "ISk": "Iskraemeco",
    "KFM": "Kaifa",
    "XMX": "Landis+Gyr",
    "LGF": "Landis+Gyr",
    "LGZ": "Landis+Gyr",
    "KAM": "Kamstrup",
    "SAG": "Sagemcom",
    "EST": "Sagemcom",
    "Lux": "Sagemcom",
    "FLU": "Fluvius",
    "ELL": "Elster/Honeywell",
    "ESY": "EasyMeter",
    "EGM": "Elgama",
    "NES": "NES/Echelon",
    "EMH": "EMH metering",
}


def _printable(text: str) -> str:
    return "".join(char for char in text if char.isascii() and char.isprintable()).strip()


def _read_identification(header: str) -> tuple[str, str, str]:
    text = header[5:]
    if text[:1] == "\\":
        text = text[2:] if text[1:2].isdigit() else text[1:]
    return header[1:4], _printable(text).lstrip(":").strip(), _printable(header[1:])


_IDENTIFICATIONS: dict[str, tuple[str, str, str]] = {}  # a meter repeats its header


def _identification(header: str) -> tuple[str, str, str]:
    """(FLAG id, model, whole identification) of ``/XXXZ<identification>``.

    The model leaves out the ``\\W`` enhanced baud-rate mark (backslash and a digit),
    separators and unprintable bytes.
    """
    known = _IDENTIFICATIONS.get(header)
    if known is None:
        known = _read_identification(header)
        if len(_IDENTIFICATIONS) < 64:
            _IDENTIFICATIONS[header] = known
    return known


# --------------------------------------------------------------------------------------
# Object lines.

# What a line is for, decided once per distinct OBIS reference text.
_SKIP: Final = 0
_VALUE: Final = 1  # a catalogue value (maybe also a tariff register to sum)
_TARIFF: Final = 2  # a tariff register outside the catalogue (1.8.3, ...): only summed
_TIME: Final = 3
_EQUIPMENT_ID: Final = 4
_DEVICE_NAME: Final = 5
_VERSION: Final = 6
_BELGIAN_VERSION: Final = 7


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
    "1.0.0": _TIME,
    "96.1.1": _EQUIPMENT_ID,
    "42.0.0": _DEVICE_NAME,
    "96.1.4": _BELGIAN_VERSION,
}


@dataclass(frozen=True, slots=True)
class _LineRule:
    """How to read the lines of one OBIS reference."""

    kind: int
    code: str = ""
    quantity: Quantity = Quantity.IDENTIFIER
    units: Mapping[str, int] = field(default_factory=dict)
    total: str | None = None  # a tariff register: summed into this total if it is missing
    upper: float = math.inf


_SKIP_RULE: Final = _LineRule(_SKIP)


def _classify(reference: str) -> _LineRule:
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
        return _LineRule(_VERSION, code)
    if a == 0 and b == 0:
        kind = _ABSTRACT_LINES.get(code)
        return _SKIP_RULE if kind is None else _LineRule(kind, code)
    if a != 1:
        return _SKIP_RULE  # M-Bus channels (gas, water, heat)
    c_d, _, e = code.rpartition(".")
    total = _TOTALS.get(c_d) if e != "0" else None
    entry = BY_CODE.get(code)
    if entry is not None and entry.quantity is not Quantity.IDENTIFIER:
        quantity, kind = entry.quantity, _VALUE
    elif total is not None:
        quantity, kind = Quantity.ACTIVE_ENERGY, _TARIFF
    else:
        return _SKIP_RULE
    upper = _UPPER_BOUNDS.get(quantity, math.inf)
    return _LineRule(kind, code, quantity, _UNIT_EXPONENTS[quantity], total, upper)


_RULES: dict[str, _LineRule] = {}
_RULES_LIMIT: Final = 1024  # distinct references remembered (bounded against garbage)


def _rule(reference: str) -> _LineRule:
    rule = _RULES.get(reference)
    if rule is None:
        rule = _classify(reference)
        if len(_RULES) < _RULES_LIMIT:
            _RULES[reference] = rule
    return rule


def _unusual_unit(rule: _LineRule, unit: str, line: str) -> int:
    """A unit spelled in an unusual letter case, or a wrong unit (MalformedFrame)."""
    exponent = rule.units.get(unit.lower())
    if exponent is None:
        raise MalformedFrame(
            f"unit {unit!r} is not a {rule.quantity.value} unit in {line.strip()!r}"
        )
    return exponent


# --------------------------------------------------------------------------------------
# One line, parsed once: a meter repeats most lines verbatim from one telegram to the next
# (identification, version, meter id, counters, idle registers, unchanged phases), so the
# outcome of a line is remembered by its text. Parsing is a pure function of the text (the
# rule depends on the reference only), so the memo cannot change a result; lines that
# raise are not remembered. Shared by all decoders, bounded, emptied when full.

# An exact decimal: (integer, power of ten), value = integer * 10 ** power.
type _Exact = tuple[int, int]
# (kind, catalogue code or group text, value or None, total it feeds, exact value).
type _ParsedLine = tuple[int, str, float | None, str | None, _Exact]

_NO_EXACT: Final[_Exact] = (0, 0)
_NEWLINE: Final = 0x0A
_SKIPPED: Final[_ParsedLine] = (_SKIP, "", None, None, _NO_EXACT)
_LINES: dict[str, _ParsedLine] = {}
_LINES_LIMIT: Final = 512  # a telegram has ~20-60 lines; ~half change every second
_SHORT_DIGITS: Final = 300  # no meter sends more; int() of text takes up to 4300


def _parse_line(line: str) -> _ParsedLine:
    """What one telegram line says (raises MalformedFrame when it is not readable)."""
    reference, bracket, rest = line.partition("(")
    if not bracket or not reference:
        return _SKIPPED  # blank line, end line, continuation of a V2.2 gas profile
    rule = _RULES.get(reference) or _rule(reference)
    kind = rule.kind
    if kind == _SKIP:
        return _SKIPPED
    close = rest.rfind(")")
    if close < 0:
        raise MalformedFrame(f"no closing parenthesis: {line.strip()!r}")
    group = rest[:close]
    if kind > _TARIFF:
        return (kind, group, None, None, _NO_EXACT)
    if ")(" in group:  # several groups (e.g. time, value): the value is the last
        group = group[group.rfind("(") + 1 :]
    number, _, unit = group.partition("*")
    if not number:
        return _SKIPPED  # "()": no value
    exponent = rule.units.get(unit)
    if exponent is None:
        exponent = _unusual_unit(rule, unit, line)
    # Digits with at most one decimal point; float() alone would also take "1e3", "nan"
    # or "-1". (Text is latin-1: isdigit() also takes "¹²³", which int() refuses.)
    whole, _, fraction = number.partition(".")
    digits = whole + fraction
    if not (digits.isdigit() and digits.isascii()):
        raise MalformedFrame(f"not a number: {line.strip()!r}")
    # int() of text refuses more than sys.get_int_max_str_digits() digits; Decimal does not.
    integer = int(digits) if len(digits) <= _SHORT_DIGITS else int(Decimal(digits))
    exact = (integer, exponent - len(fraction))
    value = _to_float(exact)
    return (
        kind,
        rule.code,
        value if kind == _VALUE and value <= rule.upper else None,
        rule.total,
        exact,
    )


def _to_float(exact: _Exact) -> float:
    """The float nearest to integer * 10 ** power (int division is correctly rounded)."""
    integer, power = exact
    try:
        scale: int = 10 ** abs(power)  # int ** int is typed Any (a negative power gives float)
        return float(integer * scale) if power >= 0 else integer / scale
    except OverflowError:  # beyond the float range, as float() of the text gives
        return math.inf


def _exact_sum(registers: Iterable[_Exact]) -> float:
    """The float nearest to the exact sum of decimal registers."""
    items = list(registers)
    power = min(power for _, power in items)
    total = 0
    for integer, own_power in items:
        scale: int = 10 ** (own_power - power)
        total += integer * scale
    return _to_float((total, power))


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


# --------------------------------------------------------------------------------------
# Identifiers.


def _hex_text(text: str) -> str | None:
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


# --------------------------------------------------------------------------------------
# The telegram decoder.


def check_crc(telegram: bytes) -> bool:
    """Check the CRC of a telegram ``/`` .. ``!CCCC`` (line end optional).

    Returns ``True`` when it carries a CRC that matches, ``False`` when it carries none
    (DSMR 2.2/3); raises :class:`CrcError` or :class:`MalformedFrame` otherwise.
    """
    bang = telegram.rfind(b"!")
    if bang < 0:
        raise MalformedFrame("no end marker '!'")
    given_text = telegram[bang + 1 :].strip()
    if not given_text:
        return False
    try:
        given = int(given_text, 16)
    except ValueError as err:
        raise MalformedFrame(f"CRC {given_text[:8]!r} is not hexadecimal") from err
    if len(given_text) > 4:
        raise MalformedFrame(f"CRC {given_text[:8]!r} is longer than 4 digits")
    computed = crc16_arc_fast(telegram[: bang + 1])
    if computed != given:
        raise CrcError(f"given {given:04X}, computed {computed:04X}")
    return True


@dataclass(slots=True)
class _Layout:
    """A decoded telegram kept to decode the next one of the same meter by its changes.

    A meter sends the same lines in the same order every time, mostly with the same
    widths, and only some of them change (time, power, one energy register, phases): the
    next telegram of the same length is compared with this one as two integers (one XOR,
    in C), and only the lines holding differing bytes are parsed, as long as each of them
    still ends where it ended and is the same kind of line for the same code. Anything
    else (another length, a changed header, a line that changes meaning, an identifier
    or version that changes, a layout that repeats a code) takes the full decode, which
    is the reference: the tests compare both on long random streams.
    """

    telegram: bytes
    starts: list[int]  # offset of each line, then len(telegram) + 1: line i ends at
    # starts[i + 1] - 1, where its "\n" is (the last line has none)
    parsed: list[_ParsedLine]  # per line
    values: dict[str, float]  # the reading's values (sums included)
    tariffs: dict[str, dict[str, _Exact]]  # computed total -> its registers
    timestamp_text: str | None
    meter_id: tuple[str, str]
    variant: DsmrVariant
    flag: str
    model: str
    has_crc: bool
    encrypted: bool


class DecodeMemory:
    """What one decoder remembers of its meter's last telegram (see :class:`_Layout`)."""

    __slots__ = ("layout",)

    def __init__(self) -> None:
        self.layout: _Layout | None = None


def _parsed(line: str) -> _ParsedLine:
    """What a line says, remembered by its text (see _LINES)."""
    memo = _LINES
    parsed = memo.get(line)
    if parsed is None:
        parsed = _parse_line(line)
        if len(memo) >= _LINES_LIMIT:
            memo.clear()
        memo[line] = parsed
    return parsed


def _decode_lines(telegram: bytes, has_crc: bool, encrypted: bool) -> _Layout | None:
    """Every line of a telegram; ``None`` when it has no CRC and no value (not a telegram)."""
    lines = telegram.decode("latin-1").split("\n")
    flag, model, identification = _identification(lines[0].rstrip("\r"))

    values: dict[str, float] = {}
    # Tariff registers for a missing total: total code -> {register code: exact value}.
    tariffs: dict[str, dict[str, _Exact]] = {}
    timestamp_text = equipment_id = device_name = None
    version = ""
    belgian = False
    parsed_lines: list[_ParsedLine] = [_SKIPPED]
    for line in lines[1:]:
        parsed = _parsed(line)
        parsed_lines.append(parsed)
        kind, code, value, total, exact = parsed
        if kind <= _TARIFF:
            if kind == _SKIP:
                continue
            if value is not None:
                values[code] = value
            if total is not None:
                tariffs.setdefault(total, {})[code] = exact
        elif kind == _TIME:
            timestamp_text = code
        elif kind == _EQUIPMENT_ID:
            equipment_id = code
        elif kind == _DEVICE_NAME:
            device_name = code
        elif kind == _VERSION:
            version = code
        elif kind == _BELGIAN_VERSION:
            belgian = True

    computed = {total: registers for total, registers in tariffs.items() if total not in values}
    for total, registers in computed.items():
        values[total] = _exact_sum(registers.values())

    if not has_crc and not values:
        return None

    ids = (equipment_id, device_name, identification)
    known_id = _METER_IDS.get(ids)
    if known_id is None:
        known_id = _remember(_METER_IDS, ids, _meter_id(*ids))
    facts = (flag, model, version, belgian, encrypted, has_crc)
    variant = _VARIANTS_SEEN.get(facts)
    if variant is None:
        variant = _remember(
            _VARIANTS_SEEN,
            facts,
            recognise_variant(
                flag, model, version, belgian=belgian, encrypted=encrypted, crc=has_crc
            ),
        )
    return _Layout(
        telegram,
        [0, *accumulate(len(line) + 1 for line in lines)],
        parsed_lines,
        values,
        computed,
        timestamp_text,
        known_id,
        variant,
        flag,
        model,
        has_crc,
        encrypted,
    )


def _reusable(layout: _Layout) -> bool:
    """Whether a layout may decode later telegrams by their changes: each value code and
    the time on one line only (a changed line then says everything about its code)."""
    codes = [parsed[1] for parsed in layout.parsed if _SKIP < parsed[0] <= _TARIFF]
    times = sum(1 for parsed in layout.parsed if parsed[0] == _TIME)
    return len(codes) == len(set(codes)) and times <= 1


def _advance(layout: _Layout, telegram: bytes) -> _Layout | None:
    """The next telegram of the same layout, from its changed lines; ``None`` when it
    does not fit the layout (then the full decode runs)."""
    old_telegram = layout.telegram
    size = len(telegram)
    if size != len(old_telegram):
        return None
    starts = layout.starts
    old_parsed = layout.parsed
    values = layout.values
    tariffs = layout.tariffs
    timestamp_text = layout.timestamp_text
    updates: list[tuple[int, _ParsedLine]] = []
    copied = False
    dirty: set[str] | None = None
    # The differing bytes as set bits (the first byte highest); one step per changed line.
    difference = int.from_bytes(telegram, "big") ^ int.from_bytes(old_telegram, "big")
    while difference:
        first = size - 1 - ((difference.bit_length() - 1) >> 3)
        index = bisect_right(starts, first) - 1
        if index == 0:
            return None  # another header: another meter or firmware
        end = starts[index + 1] - 1  # where the line's "\n" is (or the end)
        line = telegram[starts[index] : end]
        if (end < size and telegram[end] != _NEWLINE) or _NEWLINE in line:
            return None  # the line boundaries moved
        difference &= (1 << ((size - end) << 3)) - 1  # the bytes after this line
        parsed = _parsed(line.decode("latin-1"))
        kind = parsed[0]
        old = old_parsed[index]
        if kind != old[0]:
            return None
        updates.append((index, parsed))
        if kind == _SKIP:
            continue
        if kind == _TIME:
            timestamp_text = parsed[1]
            continue
        if kind > _TARIFF or parsed[1] != old[1]:
            return None  # an identifier or version changed, or a line changed its code
        if not copied:
            values = dict(values)
            copied = True
        code, value, total = parsed[1], parsed[2], parsed[3]
        if value is not None:
            values[code] = value
        elif kind == _VALUE:
            values.pop(code, None)  # e.g. a power factor out of range: left out
        if total is not None and total in tariffs:
            if dirty is None:
                dirty = set()
                tariffs = dict(tariffs)
            if total not in dirty:
                dirty.add(total)
                tariffs[total] = dict(tariffs[total])
            tariffs[total][code] = parsed[4]
    if dirty is not None:
        for total in dirty:
            values[total] = _exact_sum(tariffs[total].values())
    parsed_lines = old_parsed
    if updates:
        parsed_lines = list(old_parsed)
        for index, parsed in updates:
            parsed_lines[index] = parsed
    return _Layout(
        telegram,
        starts,
        parsed_lines,
        values,
        tariffs,
        timestamp_text,
        layout.meter_id,
        layout.variant,
        layout.flag,
        layout.model,
        layout.has_crc,
        layout.encrypted,
    )


def decode_telegram(
    telegram: bytes,
    options: DecoderOptions,
    *,
    raw: bytes | None = None,
    encrypted: bool = False,
    fallback_manufacturer: str | None = None,
    memory: DecodeMemory | None = None,
) -> tuple[Reading, DsmrVariant]:
    """Decode one complete plaintext telegram; raise a :class:`FrameError` when it is not
    a valid one. ``raw`` is what arrived (the envelope when encrypted), kept in the reading.
    With a ``memory`` (one per meter stream) a telegram like the previous one is decoded
    from its changed lines only, with the same result.
    """
    if telegram[:1] != b"/":
        raise UnsupportedFrame("not a DSMR telegram (does not start with '/')")
    has_crc = check_crc(telegram)

    layout = None
    previous = memory.layout if memory is not None else None
    if previous is not None and has_crc == previous.has_crc and encrypted == previous.encrypted:
        layout = _advance(previous, telegram)
    if layout is None:
        layout = _decode_lines(telegram, has_crc, encrypted)
        if layout is None:
            raise MalformedFrame("no CRC and no value line: not a telegram")
        if memory is not None:
            memory.layout = layout if _reusable(layout) else None
    elif memory is not None:
        memory.layout = layout

    meter_id, id_obis = layout.meter_id
    timestamp_text = layout.timestamp_text
    timestamp = parse_time(timestamp_text, options.timezone) if timestamp_text else None
    time_source = TimeSource.METER
    if timestamp is None:
        timestamp = options.clock().astimezone(options.timezone)
        time_source = TimeSource.HOST
    reading = Reading(
        timestamp=timestamp,
        meter_id=meter_id,
        values=layout.values,
        id_obis=id_obis,
        time_source=time_source,
        manufacturer=MANUFACTURERS.get(layout.flag, fallback_manufacturer),
        model=layout.model or None,
        frame=telegram if raw is None else raw,
    )
    return reading, layout.variant


# What a meter sends the same in every telegram, decided once: its id (hex decoding) and
# its variant (the rules). Pure functions of the key; bounded, emptied when full.
_METER_IDS: dict[tuple[str | None, str | None, str], tuple[str, str]] = {}
_VARIANTS_SEEN: dict[tuple[str, str, str, bool, bool, bool], DsmrVariant] = {}
_PER_METER_LIMIT: Final = 64


def _remember[K, V](memo: dict[K, V], key: K, value: V) -> V:
    if len(memo) >= _PER_METER_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _meter_id(
    equipment_id: str | None, device_name: str | None, identification: str
) -> tuple[str, str]:
    if equipment_id and (decoded := _hex_text(equipment_id)):
        return decoded, "96.1.1"
    if device_name and (decoded := _hex_text(device_name)):
        return decoded, "42.0.0"
    return identification or "unknown", "96.1.1"


# --------------------------------------------------------------------------------------
# The stream decoder.


class DsmrDecoder:
    """P1 byte stream in, readings and rejected frames out (the StreamDecoder protocol).

    Text telegrams and Smarty envelopes may arrive on the same stream; the decoder
    recognises each. ``variant`` is the layout of the last decoded telegram (diagnostics).
    """

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self._options = options or DecoderOptions()
        self._framer = DsmrFramer()
        self._guard = cipher.InvocationCounterGuard()
        self._memory = DecodeMemory()
        self.variant: DsmrVariant | None = None

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Consume a chunk of the byte stream; return what it completed, in order."""
        return [self._result(item) for item in self._framer.feed(data)]

    def flush(self) -> list[DecodeResult]:
        """End of input: a pending incomplete frame is reported truncated."""
        return [self._result(item) for item in self._framer.flush()]

    def reset(self) -> None:
        """Forget partial frames (after a reconnect). Replay protection is kept."""
        self._framer.reset()

    def decode_frame(self, frame: bytes) -> DecodeResult:
        """Decode one complete frame: a telegram ``/`` .. ``!CCCC`` or a Smarty envelope."""
        try:
            if frame[:1] == b"\xdb":
                reading, variant = self._decode_envelope(frame)
            else:
                reading, variant = decode_telegram(frame, self._options, memory=self._memory)
        except FrameError as err:
            return RejectedFrame(err, frame)
        self.variant = variant
        return reading

    def _result(self, item: bytes | RejectedFrame) -> DecodeResult:
        if isinstance(item, RejectedFrame):
            return item
        return self.decode_frame(item)

    def _decode_envelope(self, frame: bytes) -> tuple[Reading, DsmrVariant]:
        apdu, _ = cipher.parse_general_glo_ciphering(frame)
        options = self._options
        key = options.encryption_key
        authentication_key = options.authentication_key or SPEC.default_authentication_key
        try:
            decrypted = cipher.decrypt(apdu, key, authentication_key)
        except DecryptionFailed as err:
            assert key is not None  # without a key decrypt() raises KeyRequired
            if _is_sane_telegram(cipher.plaintext_without_tag(apdu, key)):
                raise DecryptionFailed(
                    "the encryption key is right, the authentication key (GAK) is wrong"
                ) from err
            raise
        plaintext = decrypted.plaintext
        if plaintext[:1] != b"/":
            raise DecryptionFailed("the decrypted content is not a DSMR telegram")
        reading, variant = decode_telegram(
            plaintext,
            options,
            raw=frame,
            encrypted=True,
            fallback_manufacturer=MANUFACTURERS.get(apdu.manufacturer),
            memory=self._memory,
        )
        # Only an authentic, valid telegram moves the counter on: garbage cannot lock out
        # the meter's next frames.
        self._guard.check(apdu.system_title, apdu.invocation_counter)
        return reading, variant


def _is_sane_telegram(plaintext: bytes) -> bool:
    """True when an untagged decryption gives a telegram with a valid CRC."""
    if plaintext[:1] != b"/":
        return False
    try:
        return check_crc(plaintext.rstrip(b"\r\n")) or b"\n1-0:" in plaintext
    except FrameError:
        return False


SPEC: Final = StandardSpec(
    standard=Standard.DSMR,
    title="P1 DSMR 5.0.2",
    serial_presets=(
        SerialPreset("DSMR 5 P1 port", SerialSettings(115200, 8, "N", 1)),
        SerialPreset("DSMR 4", SerialSettings(115200, 7, "E", 1)),
        SerialPreset("DSMR 2.2/3", SerialSettings(9600, 7, "E", 1)),
    ),
    # DSMR 5 sends every second, DSMR 4 and Smarty every 10 s: 3x this = unavailable.
    interval=10.0,
    create_decoder=DsmrDecoder,
    supports_encryption=True,
    supports_authentication_key=True,
    default_authentication_key=cipher.SMARTY_AUTHENTICATION_KEY,
    description=(
        "ASCII telegrams on the P1 port (DSMR 2.2 to 5.0.2, e-MUCS, Nordic P1), "
        "including the encrypted Luxembourg Smarty envelope"
    ),
)
