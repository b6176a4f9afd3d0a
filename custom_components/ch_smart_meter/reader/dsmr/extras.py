"""What a telegram says besides the electricity meter's numbers: its sub-meters, its text
messages and its power failure log, as the reading's typed extras.

* Sub-meters: the objects of one M-Bus channel 0-n (device type 24.1.0, id 96.1.0 or the
  Belgian 96.1.1, value 24.2.1 or the Belgian 24.2.3) make one
  :class:`~..model.SubMeterReading` with the value's own capture time. The DSMR 2.2/3
  profile ``0-n:24.3.0(time)(status)(period)(count)(0-n:24.2.1)(m3)`` carries its value
  on the next line, ``(00001.001)``; its time has no season flag (local time).
* A channel is *no reading* when its value has no valid capture time: DSMR meters fill an
  empty channel with the epoch ``(700101010000W)(00000000)``, Belgian ones with times like
  ``632525252525W``; a channel without a value line has none either. Zero is a reading
  only with a real time.
* Text (0-0:96.13.x) is decoded from hex; empty messages are left out.
* The failure log keeps its entries as the meter sends them, placeholders included
  (Kaifa fills the log with ``000101000001W``, 2147483647 s): it is for diagnostics.

Sub-meter values change every 5 minutes or every hour while telegrams come every second:
the extras are remembered by the lines they come from (the line parser hands out the same
objects for the same text, so recognising them again is cheap).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Final, NamedTuple

from ..model import PowerFailure, SubMeterReading, submeter_kind
from ..numbers import Exact
from .lines import FailureText, LineKind, ParsedLine, SubValue, hex_text, parse_time

# Capture dates that mean "never captured": the epoch of an empty channel (sent as 700101,
# read as 2070 like every DSMR year 20YY) and the first day of the DSMR century. Earlier
# years are placeholders too.
_NO_CAPTURE_DATES: Final = frozenset({date(2070, 1, 1), date(2000, 1, 1)})
_FIRST_YEAR: Final = 2000


class Extras(NamedTuple):
    """The typed extras of one telegram."""

    submeters: tuple[SubMeterReading, ...]
    text: Mapping[str, str]
    events: tuple[PowerFailure, ...]


@lru_cache(maxsize=16)
def read_extras(lines: tuple[ParsedLine, ...], zone: tzinfo) -> Extras:
    """The extras of a telegram's extra lines (in telegram order); ``zone`` localises
    times sent without a season flag."""
    device_types: dict[int, str] = {}
    ids: dict[int, str] = {}
    values: dict[tuple[int, str], SubValue] = {}
    text: dict[str, str] = {}
    events: tuple[PowerFailure, ...] = ()
    header: ParsedLine | None = None  # a 24.3.0 profile header waiting for its value
    for line in lines:
        kind = line.kind
        if kind is LineKind.CONTINUATION:
            if header is not None and header.sub is not None and line.sub is not None:
                values[header.channel, header.code] = header.sub._replace(number=line.sub.number)
            header = None
            continue
        header = line if kind is LineKind.MBUS_PROFILE else None
        if kind is LineKind.MBUS_VALUE and line.sub is not None:
            values[line.channel, line.code] = line.sub
        elif kind is LineKind.MBUS_TYPE:
            device_types[line.channel] = line.text
        elif kind is LineKind.MBUS_ID:
            ids[line.channel] = line.text
        elif kind is LineKind.TEXT:
            text[line.code] = line.text
        elif kind is LineKind.EVENTS:
            events = _failures(line.failures, zone)
    submeters = [
        reading
        for (channel, code), sub in sorted(values.items())
        if (
            reading := _submeter(
                channel, code, device_types.get(channel), ids.get(channel), sub, zone
            )
        )
        is not None
    ]
    return Extras(tuple(submeters), MappingProxyType(text), events)


def _submeter(
    channel: int,
    code: str,
    type_text: str | None,
    id_text: str | None,
    sub: SubValue,
    zone: tzinfo,
) -> SubMeterReading | None:
    """One channel's reading, or ``None`` when the channel has none."""
    if sub.number is None:
        return None
    captured = parse_time(sub.time, zone)
    if captured is None or captured.year < _FIRST_YEAR or captured.date() in _NO_CAPTURE_DATES:
        return None
    device_type = None
    if type_text is not None and type_text.isdigit() and type_text.isascii():
        device_type = int(type_text)
    number = sub.number
    return SubMeterReading(
        channel=channel,
        kind=submeter_kind(device_type),
        value=Exact(number.integer, number.power + sub.exponent).to_float(),
        unit=sub.unit,
        timestamp=captured,
        meter_id=hex_text(id_text) if id_text else None,
        device_type=device_type,
        code=code,
    )


def _failures(entries: tuple[FailureText, ...], zone: tzinfo) -> tuple[PowerFailure, ...]:
    """The log's entries whose end time can be read."""
    failures = []
    for end_text, seconds in entries:
        end: datetime | None = parse_time(end_text, zone)
        if end is not None:
            failures.append(PowerFailure(end, seconds))
    return tuple(failures)
