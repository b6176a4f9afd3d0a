"""A-XDR decoding of DLMS ``Data`` values (IEC 62056-6-2), written for speed.

One pass over the bytes by index, no intermediate objects: a structure becomes a ``tuple``,
an array a ``list``, integers ``int``, floats ``float``, an octet-string ``bytes``, a
visible- or utf8-string ``str``, null-data ``None``. The few types whose meaning would be
lost as a plain value get marker classes: :class:`EnumValue` (so that a scaler-unit
``structure{int8, enum}`` can be told from two numbers), :class:`Bcd`,
:class:`BitString` and the untagged-length date/time types :class:`DateTimeValue`,
:class:`DateValue`, :class:`TimeValue` (subclasses of ``bytes``, so that they are handled like
the 12-byte octet-strings most meters send instead).

Lengths use the A-XDR forms ``< 0x80`` (one byte) and ``0x81``-``0x84`` (1-4 length bytes).
Errors are :class:`~..errors.TruncatedFrame` (bytes ran out) and
:class:`~..errors.MalformedFrame` (an unknown tag, an absurd length).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import MalformedFrame, TruncatedFrame

# Tags of the Data CHOICE (IEC 62056-6-2 / Blue Book), as the decoder dispatches on them.
NULL_DATA = 0x00
ARRAY = 0x01
STRUCTURE = 0x02
BOOLEAN = 0x03
BIT_STRING = 0x04
DOUBLE_LONG = 0x05
DOUBLE_LONG_UNSIGNED = 0x06
OCTET_STRING = 0x09
VISIBLE_STRING = 0x0A
UTF8_STRING = 0x0C
BCD = 0x0D
INTEGER = 0x0F
LONG = 0x10
UNSIGNED = 0x11
LONG_UNSIGNED = 0x12
COMPACT_ARRAY = 0x13
LONG64 = 0x14
LONG64_UNSIGNED = 0x15
ENUM = 0x16
FLOAT32 = 0x17
FLOAT64 = 0x18
DATE_TIME = 0x19
DATE = 0x1A
TIME = 0x1B

TYPE_NAMES: dict[int, str] = {
    NULL_DATA: "null-data",
    ARRAY: "array",
    STRUCTURE: "structure",
    BOOLEAN: "boolean",
    BIT_STRING: "bit-string",
    DOUBLE_LONG: "double-long",
    DOUBLE_LONG_UNSIGNED: "double-long-unsigned",
    OCTET_STRING: "octet-string",
    VISIBLE_STRING: "visible-string",
    UTF8_STRING: "utf8-string",
    BCD: "bcd",
    INTEGER: "integer",
    LONG: "long",
    UNSIGNED: "unsigned",
    LONG_UNSIGNED: "long-unsigned",
    COMPACT_ARRAY: "compact-array",
    LONG64: "long64",
    LONG64_UNSIGNED: "long64-unsigned",
    ENUM: "enum",
    FLOAT32: "float32",
    FLOAT64: "float64",
    DATE_TIME: "date-time",
    DATE: "date",
    TIME: "time",
}

_SEQUENCE_TAGS = frozenset({ARRAY, STRUCTURE})
_STRING_TAGS = frozenset({OCTET_STRING, VISIBLE_STRING, UTF8_STRING})

# A push notification is a few hundred bytes; nesting beyond this is an attack or garbage.
MAX_DEPTH = 16


class MalformedData(MalformedFrame):
    """Bytes that are not A-XDR; ``offset`` is where the decoder found out.

    The offset does not depend on how many bytes follow, so a stream decoder can cut the
    bad span the same way whatever the chunking.
    """

    def __init__(self, detail: str, offset: int) -> None:
        super().__init__(detail)
        self.offset = offset


class EnumValue(int):
    """An A-XDR ``enum`` (e.g. the unit of a scaler-unit structure)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"enum:{int(self)}"


class Bcd(int):
    """An A-XDR ``bcd`` byte, as the signed integer it encodes (kept distinct for clarity)."""

    __slots__ = ()


class Float32(float):
    """An A-XDR ``float32``, kept distinct so that its shortest decimal form can be found."""

    __slots__ = ()


class BitString(NamedTuple):
    """An A-XDR ``bit-string``: ``bits`` significant bits, most significant bit first."""

    bits: int
    data: bytes


class DateTimeValue(bytes):
    """A tagged 12-byte COSEM date-time (tag 0x19)."""

    __slots__ = ()


class DateValue(bytes):
    """A tagged 5-byte COSEM date (tag 0x1A)."""

    __slots__ = ()


class TimeValue(bytes):
    """A tagged 4-byte COSEM time (tag 0x1B)."""

    __slots__ = ()


type Value = (
    bool | int | float | bytes | str | BitString | tuple["Value", ...] | list["Value"] | None
)

_U16 = struct.Struct(">H").unpack_from
_I16 = struct.Struct(">h").unpack_from
_U32 = struct.Struct(">I").unpack_from
_I32 = struct.Struct(">i").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_I64 = struct.Struct(">q").unpack_from
_F32 = struct.Struct(">f").unpack_from
_F64 = struct.Struct(">d").unpack_from

# Fixed-size simple types: tag -> (size, unpack); used by compact-array contents.
_FIXED: dict[int, tuple[int, Callable[[bytes, int], tuple[Any, ...]]]] = {
    DOUBLE_LONG: (4, _I32),
    DOUBLE_LONG_UNSIGNED: (4, _U32),
    LONG: (2, _I16),
    LONG_UNSIGNED: (2, _U16),
    LONG64: (8, _I64),
    LONG64_UNSIGNED: (8, _U64),
    FLOAT32: (4, lambda data, pos: (Float32(_F32(data, pos)[0]),)),
    FLOAT64: (8, _F64),
}


def read_length(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    """Decode an A-XDR length at ``pos``; returns (length, position after it)."""
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first - 0x80
    if count == 0 or count > 4:
        raise MalformedData(f"invalid A-XDR length encoding 0x{first:02X} at offset {pos}", pos)
    end = pos + 1 + count
    if end > len(data):
        raise TruncatedFrame("A-XDR length field cut off")
    return int.from_bytes(data[pos + 1 : end], "big"), end


def decode(data: bytes, pos: int = 0) -> tuple[Value, int]:
    """Decode one Data value at ``pos``; returns (value, position after it)."""
    try:
        return _decode(data, pos, 0)
    except (IndexError, struct.error) as err:
        raise TruncatedFrame(f"A-XDR data cut off (at most {len(data)} bytes)") from err


class ObjectListMemo:
    """The last push object list seen on a stream, by its bytes.

    A meter sends the same object list (about 60 % of an L&G push) with every push. When the
    bytes are identical the decoded value is too (A-XDR is self-delimiting), so it is decoded
    once per stream. The value is shared: callers must not modify it.
    """

    __slots__ = ("layout", "raw", "value")

    def __init__(self) -> None:
        self.raw = b""
        self.value: list[Value] = []
        # What the layout step derived from ``value`` (opaque here), reset with it.
        self.layout: object = None


def decode_body(data: bytes, pos: int, memo: ObjectListMemo | None) -> tuple[Value, int]:
    """Decode a notification body; a leading object list is looked up in ``memo`` first."""
    try:
        if memo is None or data[pos] != STRUCTURE:
            return _decode(data, pos, 0)
        count = data[pos + 1]
        start = pos + 2
        if count >= 0x80:
            count, start = read_length(data, pos + 1)
        if count == 0 or data[start] != ARRAY:
            return _decode(data, pos, 0)
        if memo.raw and data.startswith(memo.raw, start):
            first: Value = memo.value
            after = start + len(memo.raw)
        else:
            first, after = _decode(data, start, 1)
            memo.raw = data[start:after]
            memo.value = first  # type: ignore[assignment]
            memo.layout = None
        rest, end = _sequence(data, after, count - 1, 1)
        rest.insert(0, first)
        return tuple(rest), end
    except (IndexError, struct.error) as err:
        raise TruncatedFrame(f"A-XDR data cut off (at most {len(data)} bytes)") from err


def _sequence(data: bytes, pos: int, count: int, depth: int) -> tuple[list[Value], int]:
    """``count`` consecutive values; the scalars of push lists are decoded inline."""
    # Each element takes at least one byte: a larger count cannot be satisfied.
    if count > len(data) - pos:
        raise TruncatedFrame(f"A-XDR sequence of {count} elements cut off")
    items: list[Value] = []
    append = items.append
    for _ in range(count):
        tag = data[pos]
        # Literal tags: long-unsigned, double-long-unsigned, octet-string, integer, unsigned.
        if tag == 0x12:
            append(_U16(data, pos + 1)[0])
            pos += 3
        elif tag == 0x06:
            append(_U32(data, pos + 1)[0])
            pos += 5
        elif tag == 0x09 and data[pos + 1] < 0x80:
            end = pos + 2 + data[pos + 1]
            if end > len(data):
                raise TruncatedFrame("A-XDR octet-string cut off")
            append(data[pos + 2 : end])
            pos = end
        elif tag == 0x0F:
            byte = data[pos + 1]
            append(byte - 256 if byte > 127 else byte)
            pos += 2
        elif tag == 0x11:
            append(data[pos + 1])
            pos += 2
        else:
            value, pos = _decode(data, pos, depth)
            append(value)
    return items, pos


def _decode(data: bytes, pos: int, depth: int) -> tuple[Value, int]:
    # Ordered by how often each tag occurs in push notifications.
    tag = data[pos]
    pos += 1
    if tag in _SEQUENCE_TAGS:
        if depth >= MAX_DEPTH:
            raise MalformedData(f"A-XDR nesting deeper than {MAX_DEPTH}", pos)
        count = data[pos]
        if count < 0x80:
            pos += 1
        else:
            count, pos = read_length(data, pos)
        items, pos = _sequence(data, pos, count, depth + 1)
        return (tuple(items) if tag == STRUCTURE else items), pos
    if tag == LONG_UNSIGNED:
        return _U16(data, pos)[0], pos + 2
    if tag in _STRING_TAGS:
        length = data[pos]
        if length < 0x80:
            pos += 1
        else:
            length, pos = read_length(data, pos)
        end = pos + length
        if end > len(data):
            raise TruncatedFrame(f"A-XDR {TYPE_NAMES[tag]} of {length} bytes cut off")
        raw = data[pos:end]
        if tag == OCTET_STRING:
            return raw, end
        if tag == VISIBLE_STRING:
            # ISO 646 in theory; latin-1 keeps every byte (meters do send odd bytes).
            return raw.decode("latin-1"), end
        return raw.decode("utf-8", "replace"), end
    if tag == DOUBLE_LONG_UNSIGNED:
        return _U32(data, pos)[0], pos + 4
    if tag == INTEGER:
        byte = data[pos]
        return (byte - 256 if byte > 127 else byte), pos + 1
    if tag == ENUM:
        return EnumValue(data[pos]), pos + 1
    if tag == NULL_DATA:
        return None, pos
    if tag == UNSIGNED:
        return data[pos], pos + 1
    if tag == DOUBLE_LONG:
        return _I32(data, pos)[0], pos + 4
    if tag == LONG:
        return _I16(data, pos)[0], pos + 2
    if tag == LONG64:
        return _I64(data, pos)[0], pos + 8
    if tag == LONG64_UNSIGNED:
        return _U64(data, pos)[0], pos + 8
    if tag == BOOLEAN:
        return data[pos] != 0, pos + 1
    if tag == FLOAT32:
        return Float32(_F32(data, pos)[0]), pos + 4
    if tag == FLOAT64:
        return _F64(data, pos)[0], pos + 8
    if tag == DATE_TIME:
        return _fixed_bytes(DateTimeValue, data, pos, 12)
    if tag == DATE:
        return _fixed_bytes(DateValue, data, pos, 5)
    if tag == TIME:
        return _fixed_bytes(TimeValue, data, pos, 4)
    if tag == BCD:
        byte = data[pos]
        return Bcd(byte - 256 if byte > 127 else byte), pos + 1
    if tag == BIT_STRING:
        bits, pos = read_length(data, pos)
        end = pos + (bits + 7) // 8
        if end > len(data):
            raise TruncatedFrame(f"A-XDR bit-string of {bits} bits cut off")
        return BitString(bits, data[pos:end]), end
    if tag == COMPACT_ARRAY:
        return _compact_array(data, pos, depth)
    raise MalformedData(f"unknown A-XDR data type 0x{tag:02X} at offset {pos - 1}", pos - 1)


def _fixed_bytes[T: bytes](kind: type[T], data: bytes, pos: int, size: int) -> tuple[T, int]:
    end = pos + size
    if end > len(data):
        raise TruncatedFrame("A-XDR date/time cut off")
    return kind(data[pos:end]), end


class _ArrayType(NamedTuple):
    size: int
    element: _TypeDescription


class _StructureType(NamedTuple):
    elements: tuple[_TypeDescription, ...]


# A compact-array type description: a simple type's tag, or an array or structure type.
type _TypeDescription = int | _ArrayType | _StructureType


def _type_description(data: bytes, pos: int, depth: int) -> tuple[_TypeDescription, int]:
    if depth >= MAX_DEPTH:
        raise MalformedData(f"A-XDR nesting deeper than {MAX_DEPTH}", pos)
    tag = data[pos]
    pos += 1
    if tag == ARRAY:
        count = _U16(data, pos)[0]
        element, pos = _type_description(data, pos + 2, depth + 1)
        return _ArrayType(count, element), pos
    if tag == STRUCTURE:
        count, pos = read_length(data, pos)
        elements = []
        for _ in range(count):
            element, pos = _type_description(data, pos, depth + 1)
            elements.append(element)
        return _StructureType(tuple(elements)), pos
    if tag not in TYPE_NAMES or tag == COMPACT_ARRAY:
        raise MalformedData(f"invalid compact-array type description 0x{tag:02X}", pos - 1)
    return tag, pos


# Elements that take no bytes (null-data) would repeat without end (65535 x 65535 of them
# from a few bytes of description): every element must consume contents.
_EMPTY_ELEMENTS = "compact-array elements that take no bytes"


def _compact_array(data: bytes, pos: int, depth: int) -> tuple[list[Value], int]:
    """Decode a compact-array plainly into a list, element type from its description."""
    description, pos = _type_description(data, pos, depth)
    length, pos = read_length(data, pos)
    end = pos + length
    if end > len(data):
        raise TruncatedFrame("A-XDR compact-array contents cut off")
    contents = data[:end]
    items: list[Value] = []
    while pos < end:
        start = pos
        try:
            value, pos = _untagged(contents, pos, description, depth + 1)
        except (IndexError, struct.error, TruncatedFrame) as err:
            # The contents have a declared length: running past it is a fault, not a cut.
            raise MalformedData("compact-array element runs past its contents", pos) from err
        if pos == start:
            raise MalformedData(_EMPTY_ELEMENTS, pos)
        items.append(value)
    if pos != end:
        raise MalformedData("compact-array contents do not match their type description", pos)
    return items, end


def _untagged(
    data: bytes, pos: int, description: _TypeDescription, depth: int
) -> tuple[Value, int]:
    """One value of a compact-array: the encoding of its type without the tag byte."""
    if depth >= MAX_DEPTH:
        raise MalformedData(f"A-XDR nesting deeper than {MAX_DEPTH}", pos)
    if isinstance(description, _ArrayType):
        items: list[Value] = []
        for _ in range(description.size):
            start = pos
            value, pos = _untagged(data, pos, description.element, depth + 1)
            if pos == start:
                raise MalformedData(_EMPTY_ELEMENTS, pos)
            items.append(value)
        return items, pos
    if isinstance(description, _StructureType):
        elements: list[Value] = []
        for element in description.elements:
            value, pos = _untagged(data, pos, element, depth + 1)
            elements.append(value)
        return tuple(elements), pos
    fixed = _FIXED.get(description)
    if fixed is not None:
        size, unpack = fixed
        if pos + size > len(data):
            raise TruncatedFrame("A-XDR compact-array element cut off")
        return unpack(data, pos)[0], pos + size
    # Every other type is encoded as when tagged, only without the tag: decode it tagged.
    # (Compact arrays are rare and small in pushes; the copy does not matter.)
    try:
        value, consumed = _decode(bytes((description,)) + data[pos:], 0, depth)
    except MalformedData as err:
        raise MalformedData(str(err.detail), pos + err.offset - 1) from err
    return value, pos + consumed - 1
