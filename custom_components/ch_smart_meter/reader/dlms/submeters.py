"""M-Bus sub-meters in DLMS pushes: the gas, water and heat meters on the meter's M-Bus.

A channel n (OBIS B = n > 0) may push its value (0-n:24.2.1, an extended register; 24.2.3
in Belgian lists), its identifier (0-n:96.1.0, or 96.1.1) and its EN 13757-3 device type
(attribute 9 of the M-Bus client 0-n:24.1.0, or a plain 0-n:24.1.0 value in OBIS/value
lists). They become :class:`~..model.SubMeterReading` objects like the DSMR ones:

* Scaling: the push's scaler-unit when it has one (DLMS units m³, corrected m³, litres,
  Wh and J become m³, kWh and GJ), else the meter profile's ``submeter_scale``, else the
  raw number without a unit.
* Time: the value's capture time (attribute 5 of the extended register) when pushed,
  else the push's own time.
* An empty channel is no reading: its identifier is pushed empty (the L&G E450 pushes all
  four channels, 0-2..4 with empty ids and value 0), or its value is no number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Final

from ..model import CUBIC_METRE, GIGAJOULE, KILOWATT_HOUR, SubMeterReading, submeter_kind
from ..numbers import to_float
from ..profiles import MeterProfile
from . import cosem_time
from .axdr import Value
from .layouts import Entry
from .scaling import exact_float, partial, text_of

_TYPE_CODE: Final = "24.1.0"
_ID_CODES: Final = frozenset({"96.1.0", "96.1.1"})
# DLMS unit code -> (the unit of the reading, power of ten to it).
_UNITS: Final = {
    13: (CUBIC_METRE, 0),  # m³
    14: (CUBIC_METRE, 0),  # m³, corrected volume
    19: (CUBIC_METRE, -3),  # litre
    30: (KILOWATT_HOUR, -3),  # Wh
    25: (GIGAJOULE, -9),  # J
}


def _number(value: Value) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def read(
    entries: Sequence[Entry],
    capture_times: Sequence[tuple[bytes, Value]],
    profile: MeterProfile,
    pushed_at: datetime,
    zone: tzinfo,
) -> tuple[SubMeterReading, ...]:
    """The sub-meter readings of one push's M-Bus entries, by channel."""
    device_types: dict[int, int] = {}
    ids: dict[int, str | None] = {}
    for obis, value, _, _ in entries:
        code = partial(obis)
        if code == _TYPE_CODE and (number := _number(value)) is not None:
            device_types[obis[1]] = int(number)
        elif code in _ID_CODES and obis[1] not in ids:
            ids[obis[1]] = text_of(value)
    captured = dict(capture_times)
    readings = []
    for obis, value, scaler, unit in entries:
        channel, code = obis[1], partial(obis)
        raw = _number(value)
        if code == _TYPE_CODE or code in _ID_CODES or raw is None:
            continue
        if channel in ids and ids[channel] is None:
            continue  # an empty channel
        if scaler is not None:
            name, exponent = _UNITS.get(unit or 0, (None, 0))
            exponent += scaler
        elif profile.submeter_scale is not None:
            exponent, name = profile.submeter_scale
        else:
            name, exponent = None, 0
        time = captured.get(obis)
        moment = cosem_time.parse_datetime(time, zone) if isinstance(time, bytes) else None
        device_type = device_types.get(channel)
        readings.append(
            SubMeterReading(
                channel=channel,
                kind=submeter_kind(device_type),
                value=to_float(int(raw), exponent)
                if isinstance(raw, int)
                else exact_float(raw, exponent),
                unit=name,
                timestamp=moment or pushed_at,
                meter_id=ids.get(channel),
                device_type=device_type,
                code=code,
            )
        )
    return tuple(sorted(readings, key=lambda reading: (reading.channel, reading.code)))
