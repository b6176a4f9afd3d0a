"""The push body layouts: from a notification body to (OBIS, value, scaler, unit) entries.

* **(A) push-object-list first** (L&G E450/E360/E570, Iskra AM550, the 2026 VSE
  configuration): ``structure{E0, E1, ...}`` where E0 is the push setup's object list, an
  array of ``{class_id, logical_name, attribute_index, data_index}``; element *i* is the value
  of definition *i* (definition 0 is the list itself). Attribute 3 of a register is its
  scaler-unit, which then applies to its attribute 2; attribute 5 of an extended register
  (an M-Bus sub-meter's value 0-n:24.2.1) is the time the value was captured; attribute 9
  of an M-Bus client (0-n:24.1.0) is the sub-meter's EN 13757-3 device type.
* **(B) OBIS/value pairs** (Kamstrup ``Kamstrup_V0001``, Austrian Kaifa/Sagemcom): a flat
  structure of ``octet-string(6) OBIS, value`` pairs, possibly with a list id first and
  null-data padding; also ``structure{OBIS, value}`` items (Aidon, ZMF100).
* **(D) with scaler-unit**: either form above with a ``structure{int8 scaler, enum unit}``
  after a value or as the third item of a ``structure{OBIS, value, scaler-unit}``.
* **(C) values only** (Netz Burgenland E450, Norwegian Kaifa lists): bare values in a fixed
  order; the meter profile supplies the OBIS codes (:mod:`..profiles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from ..errors import MalformedFrame
from . import axdr

CLASS_DATA = 1
CLASS_REGISTER = 3
CLASS_EXTENDED_REGISTER = 4
CLASS_DEMAND_REGISTER = 5
CLASS_CLOCK = 8
CLASS_PUSH_SETUP = 40
CLASS_MBUS_CLIENT = 72
ATTRIBUTE_VALUE = 2
ATTRIBUTE_SCALER_UNIT = 3
ATTRIBUTE_CAPTURE_TIME = 5  # of an extended register
ATTRIBUTE_DEVICE_TYPE = 9  # of an M-Bus client
_SCALED_CLASSES = frozenset({CLASS_REGISTER, CLASS_EXTENDED_REGISTER, CLASS_DEMAND_REGISTER})
_SEQUENCES = (tuple, list)
# Fewer OBIS/value pairs than this in a flat list is a values-only list that happens to
# contain one 6-byte octet-string (e.g. the push setup's own name).
_MIN_PAIRS = 2


class Layout(StrEnum):
    """Which body layout a push used (for diagnostics)."""

    PUSH_OBJECT_LIST = "push-object-list"
    OBIS_VALUE = "obis-value"
    VALUES_ONLY = "values-only"


# One COSEM value of a push: (logical name, value, scaler, unit). The logical name is the
# 6-byte OBIS code A..F; scaler (10^scaler) and DLMS unit code are those sent in the push,
# None when it has none. A plain tuple: a push has dozens and this is the hot path.
type Entry = tuple[bytes, axdr.Value, int | None, int | None]


class PushContent(NamedTuple):
    """What a layout made of a body."""

    layout: Layout
    entries: list[Entry]
    # The first element when it is text, e.g. "Kamstrup_V0001", "KFM_001" (a values-only
    # list may lead with the logical device name instead).
    list_id: str | None = None
    values: tuple[axdr.Value, ...] = ()  # values-only: the bare values, in order
    # A date-time octet-string leading a flat list without its own OBIS code (AT style).
    leading_time: bytes | None = None
    # The raw values of x-x:42.0.0 (logical device name) and x-x:0.2.129 (list id object,
    # Aidon/Kaifa), found while listing: they choose the meter profile.
    logical_name: axdr.Value = None
    list_object: axdr.Value = None
    # (logical name, capture time) of extended registers whose attribute 5 is pushed.
    capture_times: tuple[tuple[bytes, axdr.Value], ...] = ()


def _is_logical_name(obis: bytes) -> bool:
    return obis[2] == 42 and obis[3] == 0 and obis[4] == 0


def _is_list_object(obis: bytes) -> bool:
    return obis[2] == 0 and obis[3] == 2 and obis[4] == 129


def looks_like_obis(raw: object) -> bool:
    """True for a 6-byte octet-string that is a plausible logical name (A < 10, B <= 64)."""
    return type(raw) is bytes and len(raw) == 6 and raw[0] < 10 and raw[1] <= 64


def is_scaler_unit(value: object) -> bool:
    """True for ``structure{integer scaler, enum unit}``."""
    return (
        type(value) is tuple
        and len(value) == 2
        and type(value[0]) is int
        and type(value[1]) is axdr.EnumValue
    )


def obis_bytes(reference: str) -> bytes:
    """6-byte logical name of ``A-B:C.D.E`` or ``A-B:C.D.E.F`` (F defaults to 255)."""
    group_ab, _, rest = reference.partition(":")
    a, b = (int(part) for part in group_ab.split("-"))
    cde = [int(part) for part in rest.replace("*", ".").split(".")]
    if len(cde) == 3:
        cde.append(255)
    return bytes((a, b, *cde))


def split(body: axdr.Value, memo: axdr.ObjectListMemo | None = None) -> PushContent:
    """Recognise the layout of a notification body and list its entries.

    With ``memo`` (the one the body was decoded with) the mapping of an unchanged push
    object list is reused.
    """
    items: Any = body
    # Some meters wrap the list in a one-element structure (but a one-element list of
    # {OBIS, value} items is a list, not a wrapper).
    while (
        type(items) in _SEQUENCES
        and len(items) == 1
        and type(items[0]) in _SEQUENCES
        and not (items[0] and looks_like_obis(items[0][0]))
    ):
        items = items[0]
    if type(items) not in _SEQUENCES:
        return PushContent(Layout.VALUES_ONLY, [], values=(items,))
    if items and type(items[0]) is list and _is_object_list(items[0]):
        definitions = items[0]
        if memo is not None and definitions is memo.value:
            template = memo.layout
            if not isinstance(template, _Template):
                template = memo.layout = _template(definitions, len(items))
        else:
            template = _template(definitions, len(items))
        return _apply(template, items)
    return _flat(items)


def _is_object_list(definitions: list[Any]) -> bool:
    first = definitions[0] if definitions else None
    return (
        type(first) is tuple
        and len(first) >= 3
        and type(first[0]) is int
        and type(first[1]) is bytes
        and len(first[1]) == 6
    )


class _Template(NamedTuple):
    """What a push object list says about the values that follow it."""

    # (index in the push, logical name) of each attribute-2 value.
    values: tuple[tuple[int, bytes], ...]
    # (index in the push, logical name) of each register's scaler-unit (attribute 3).
    scaler_units: tuple[tuple[int, bytes], ...]
    # (index in the push, logical name) of each extended register's capture time.
    capture_times: tuple[tuple[int, bytes], ...]
    # Indexes of the logical device name and the list id object, if pushed.
    logical_name: int | None
    list_object: int | None


def _template(definitions: list[Any], count: int) -> _Template:
    if len(definitions) != count:
        raise MalformedFrame(
            f"the push object list names {len(definitions)} objects, the push has {count} values"
        )
    values: list[tuple[int, bytes]] = []
    scaler_units: list[tuple[int, bytes]] = []
    capture_times: list[tuple[int, bytes]] = []
    logical_name_index = list_object_index = None
    for index, definition in enumerate(definitions):
        if type(definition) is not tuple or len(definition) < 3:
            raise MalformedFrame("a push object definition is not a structure")
        class_id, logical_name, attribute = definition[0], definition[1], definition[2]
        if type(logical_name) is not bytes or len(logical_name) != 6:
            raise MalformedFrame("a push object definition without a 6-byte logical name")
        if class_id == CLASS_PUSH_SETUP:
            continue
        if attribute == ATTRIBUTE_VALUE:
            values.append((index, logical_name))
            if _is_logical_name(logical_name) and logical_name_index is None:
                logical_name_index = index
            elif _is_list_object(logical_name) and list_object_index is None:
                list_object_index = index
        elif attribute == ATTRIBUTE_SCALER_UNIT and class_id in _SCALED_CLASSES:
            scaler_units.append((index, logical_name))
        elif attribute == ATTRIBUTE_CAPTURE_TIME and class_id == CLASS_EXTENDED_REGISTER:
            capture_times.append((index, logical_name))
        elif attribute == ATTRIBUTE_DEVICE_TYPE and class_id == CLASS_MBUS_CLIENT:
            values.append((index, logical_name))  # the value that matters of an M-Bus client
    return _Template(
        tuple(values),
        tuple(scaler_units),
        tuple(capture_times),
        logical_name_index,
        list_object_index,
    )


def _apply(template: _Template, items: Sequence[Any]) -> PushContent:
    entries: list[Entry] = [(obis, items[index], None, None) for index, obis in template.values]
    if template.scaler_units:
        found = {obis: items[i] for i, obis in template.scaler_units if is_scaler_unit(items[i])}
        if found:
            entries = [
                (e[0], e[1], found[e[0]][0], found[e[0]][1]) if e[0] in found else e
                for e in entries
            ]
    logical_name = template.logical_name
    list_object = template.list_object
    return PushContent(
        Layout.PUSH_OBJECT_LIST,
        entries,
        logical_name=None if logical_name is None else items[logical_name],
        list_object=None if list_object is None else items[list_object],
        capture_times=tuple((obis, items[i]) for i, obis in template.capture_times)
        if template.capture_times
        else (),
    )


def _flat(items: Sequence[Any]) -> PushContent:
    entries: list[Entry] = []
    list_id: str | None = None
    leading_time: bytes | None = None
    count = len(items)
    index = 0
    append = entries.append
    items_as_entries = 0  # structure{OBIS, value[, scaler-unit]} items (Aidon)
    while index < count:
        item = items[index]
        # An OBIS code (6-byte octet-string, A < 10, B <= 64) followed by its value, and
        # maybe by structure{scaler, enum unit}. Inline: this loop runs per push element.
        if (
            type(item) is bytes
            and len(item) == 6
            and item[0] < 10
            and item[1] <= 64
            and index + 1 < count
        ):
            value = items[index + 1]
            index += 2
            if index < count:
                after = items[index]
                if (
                    type(after) is tuple
                    and len(after) == 2
                    and type(after[1]) is axdr.EnumValue
                    and type(after[0]) is int
                ):
                    append((item, value, after[0], after[1]))
                    index += 1
                    continue
            append((item, value, None, None))
            continue
        index += 1
        if type(item) is tuple and 2 <= len(item) <= 3 and looks_like_obis(item[0]):
            items_as_entries += 1
            if len(item) == 3 and is_scaler_unit(item[2]):
                append((item[0], item[1], item[2][0], item[2][1]))
            else:
                append((item[0], item[1], None, None))
        elif index == 1:  # the first element: a list id or a time (AT lists)
            if _is_date_time(item):
                leading_time = item
            else:
                list_id = _text(item)
    if not items_as_entries and len(entries) < _MIN_PAIRS:
        return PushContent(Layout.VALUES_ONLY, [], list_id, tuple(items))
    logical_name = list_object = None
    for obis, value, _, _ in entries:
        if obis[3] == 0 and obis[2] == 42 and obis[4] == 0:
            logical_name = value
        elif obis[3] == 2 and obis[2] == 0 and obis[4] == 129:
            list_object = value
    return PushContent(
        Layout.OBIS_VALUE, entries, list_id, (), leading_time, logical_name, list_object
    )


def _text(item: Any) -> str | None:
    """A list id: a visible-string, or an octet-string of printable ASCII."""
    if type(item) is str:
        return item
    if type(item) is bytes and item and all(0x20 <= byte < 0x7F for byte in item):
        return item.decode("ascii")
    return None


def _is_date_time(item: object) -> bool:
    """A 12-byte octet-string whose year and month fields look like a COSEM date-time."""
    if not isinstance(item, bytes) or len(item) != 12:
        return False
    year = item[0] << 8 | item[1]
    return (1990 <= year <= 2100 or year == 0xFFFF) and (1 <= item[2] <= 12 or item[2] >= 0xFD)
