"""CH-SMR, the reader output format of the Swiss recommendation (chapter 6).

Topic ``dt/<group>/<id_ims>/ds``; payload ``{"meter": {"ts": "<ISO 8601 with offset>",
"<C.D.E>": value, ...}}`` with values in the units of Tables 1 and 2.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import ChSmrError
from .model import Reading, Standard, TimeSource
from .obis import BY_CODE, CATALOGUE, ID_CODES, Quantity

TOPIC_PREFIX = "dt"
TOPIC_SUFFIX = "ds"
DEFAULT_TOPIC_FILTER = "dt/+/+/ds"

_PARTIAL_OBIS = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")
_MQTT_FORBIDDEN = re.compile(r"[/+#\x00]")
_ORDER = {entry.code: index for index, entry in enumerate(CATALOGUE)}

# Quantities whose unit a source may state in W/Wh (var/varh) instead of kW/kWh (kvar/kvarh).
_KILO_QUANTITIES = (
    Quantity.ACTIVE_ENERGY,
    Quantity.REACTIVE_ENERGY,
    Quantity.ACTIVE_POWER,
    Quantity.REACTIVE_POWER,
)


def sanitize_level(text: str) -> str:
    """Make one topic level safe for MQTT publishing: no ``/``, ``+``, ``#`` or NUL."""
    cleaned = _MQTT_FORBIDDEN.sub("_", text.strip())
    return cleaned or "_"


def sanitize_group(group: str) -> str:
    """A group may have several levels; each level is sanitised, empty levels dropped."""
    levels = [sanitize_level(level) for level in group.split("/") if level.strip()]
    return "/".join(levels) or "home"


def topic_for(group: str, id_ims: str) -> str:
    """The CH-SMR topic of a meter: ``dt/<group>/<id_ims>/ds``."""
    return f"{TOPIC_PREFIX}/{sanitize_group(group)}/{sanitize_level(id_ims)}/{TOPIC_SUFFIX}"


def parse_topic(topic: str) -> tuple[str, str] | None:
    """Split a CH-SMR topic into (group, id_ims); ``None`` if it is not one."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[0] != TOPIC_PREFIX or levels[-1] != TOPIC_SUFFIX:
        return None
    return "/".join(levels[1:-2]), levels[-2]


def format_timestamp(timestamp: datetime) -> str:
    """ISO 8601 with the UTC offset, to the second (or finer when the meter gives it)."""
    if timestamp.microsecond:
        return timestamp.isoformat(timespec="milliseconds")
    return timestamp.isoformat(timespec="seconds")


def _sort_key(code: str) -> tuple[int, tuple[int, ...]]:
    if code in _ORDER:
        return (_ORDER[code], ())
    try:
        return (len(_ORDER), tuple(int(part) for part in code.split(".")))
    except ValueError:
        return (len(_ORDER) + 1, ())


def payload_dict(reading: Reading) -> dict[str, dict[str, Any]]:
    """The CH-SMR payload as a dictionary (``{"meter": {...}}``)."""
    meter: dict[str, Any] = {"ts": format_timestamp(reading.timestamp)}
    meter[reading.id_obis] = reading.meter_id
    for code in sorted(reading.values, key=_sort_key):
        if code in ID_CODES:
            continue
        meter[code] = reading.values[code]
    return {"meter": meter}


def encode_payload(reading: Reading) -> str:
    """The CH-SMR payload as compact JSON text."""
    return json.dumps(payload_dict(reading), separators=(",", ":"), ensure_ascii=False)


def _kilo_codes(values: Mapping[str, float]) -> set[str]:
    return {
        code
        for code in values
        if (entry := BY_CODE.get(code)) is not None and entry.quantity in _KILO_QUANTITIES
    }


def decode_payload(
    payload: bytes | str,
    *,
    topic: str | None = None,
    source_in_base_units: bool = False,
) -> Reading:
    """Turn one CH-SMR message into a reading.

    Tolerant of what real readers do (``Z`` or ``+01:00`` offsets, integers, extra keys,
    unknown OBIS codes, metadata next to ``meter``), strict about what would put a wrong
    value into Home Assistant (not JSON, no ``meter`` object, no ``ts`` or a ``ts`` without
    offset, non-numeric values). ``source_in_base_units`` states that the source publishes
    W/Wh/var/varh instead of kW/kWh/kvar/kvarh.
    """
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ChSmrError("not JSON") from err
    if not isinstance(document, dict) or not isinstance(document.get("meter"), dict):
        raise ChSmrError('no "meter" object')
    meter: dict[str, Any] = document["meter"]

    stamp = meter.get("ts")
    if not isinstance(stamp, str):
        raise ChSmrError('no "ts" timestamp')
    try:
        timestamp = datetime.fromisoformat(stamp.strip())
    except ValueError as err:
        raise ChSmrError(f'"ts" is not ISO 8601: {stamp!r}') from err
    if timestamp.tzinfo is None:
        raise ChSmrError(f'"ts" has no UTC offset: {stamp!r}')

    meter_id: str | None = None
    id_obis = "96.1.1"
    values: dict[str, float] = {}
    for key, value in meter.items():
        if key == "ts":
            continue
        if key in ID_CODES:
            if value is not None and str(value).strip() and (meter_id is None or key == "96.1.1"):
                meter_id, id_obis = str(value).strip(), key
            continue
        if not _PARTIAL_OBIS.match(key):
            continue  # metadata inside "meter": tolerated, ignored
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ChSmrError(f"non-numeric value for {key}: {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ChSmrError(f"non-finite value for {key}")
        values[key] = number

    if meter_id is None and topic is not None and (parts := parse_topic(topic)) is not None:
        meter_id = parts[1]
    if meter_id is None:
        raise ChSmrError("no meter id (96.1.1 / 42.0.0) in the message or the topic")

    if source_in_base_units:
        for code in _kilo_codes(values):
            values[code] = values[code] / 1000

    return Reading(
        timestamp=timestamp,
        meter_id=meter_id,
        values=values,
        id_obis=id_obis,
        time_source=TimeSource.METER,
        frame=raw,
    )


# The standard id of this format, for symmetry with the meter-side decoders.
STANDARD = Standard.CH_SMR
