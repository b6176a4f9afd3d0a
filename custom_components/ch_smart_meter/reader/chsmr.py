"""CH-SMR, the reader output format of the Swiss recommendation (chapter 6).

Topic ``dt/<group>/<id_ims>/ds``; payload ``{"meter": {"ts": "<ISO 8601 with offset>",
"<C.D.E>": value, ...}}`` with values in the units of Tables 1 and 2.

What a message carries beyond Tables 1 and 2 (our decision, within what chapter 6 allows):

* The electricity meter's own status numbers of the catalogue (tariff 96.14.0, failure
  counters 96.7.21 / 96.7.9, voltage sags and swells 32.32.0 ... 72.36.0) go into its
  ``meter`` object like every value: numbers keyed by partial OBIS, which the recommendation
  allows ("grid operators may publish more values"), and which readers that do not know
  them skip (ours keeps unknown codes).
* Text messages (96.13.x) and the power failure log are not published: chapter 6 values
  are numbers, and a text under an OBIS key makes strict readers refuse the whole message
  (ours does). They are diagnostics.
* Sub-meters (gas, water, heat on the meter's M-Bus) get a message each, on their own
  topic ``dt/<group>/<sub-meter id>/ds`` (:func:`submeter_payloads`). Not in the meter's
  object: their partial codes collide (24.2.1 on every channel), their time is their own
  capture time, not the telegram's, and each is a metering system with its own id, which
  is what the topic's ``<id_ims>`` names. Payload: ``{"meter": {"ts": <capture time>,
  "96.1.1": <its id>, "24.2.1": <value>}, "submeter": {"channel": 1, "kind": "gas",
  "unit": "m³", "device_type": 3, "parent": <the electricity meter's id>}}``: the unit is
  metadata next to ``meter`` ("further information is allowed in the message"), since
  Tables 1 and 2 define none for gas, water or heat. A sub-meter without an id of its own
  is named ``<electricity meter id>-<channel>``. :func:`decode_payload` reads such a
  message back as a reading of the parent meter without values whose ``submeters`` holds
  the sub-meter, i.e. as it was before publishing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import ChSmrError
from .model import Reading, SubMeterKind, SubMeterReading, TimeSource
from .obis import BY_CODE, CATALOGUE, ID_CODES, Quantity

TOPIC_PREFIX = "dt"
TOPIC_SUFFIX = "ds"
DEFAULT_TOPIC_FILTER = "dt/+/+/ds"
# The metadata object of a sub-meter message, next to "meter".
SUBMETER_KEY = "submeter"
_KINDS = {kind.value: kind for kind in SubMeterKind}

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
    return _json(payload_dict(reading))


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def submeter_ids(reading: Reading) -> list[str]:
    """The ``<id_ims>`` of each of the reading's sub-meters, in order: its own id, else
    ``<meter id>-<channel>``; a channel whose id another channel has too (test meters do
    that) gets ``-<channel>`` appended, so that no two share a topic."""
    ids = [sub.meter_id or f"{reading.meter_id}-{sub.channel}" for sub in reading.submeters]
    return [
        f"{id_ims}-{sub.channel}" if ids.count(id_ims) > 1 else id_ims
        for id_ims, sub in zip(ids, reading.submeters, strict=True)
    ]


def submeter_payload_dict(
    reading: Reading, submeter: SubMeterReading, id_ims: str
) -> dict[str, Any]:
    """The CH-SMR message of one sub-meter (see the module docstring)."""
    metadata: dict[str, Any] = {
        "channel": submeter.channel,
        "kind": submeter.kind.value,
        "unit": submeter.unit,
    }
    if submeter.device_type is not None:
        metadata["device_type"] = submeter.device_type
    metadata["parent"] = reading.meter_id
    return {
        "meter": {
            "ts": format_timestamp(submeter.timestamp),
            "96.1.1": id_ims,
            submeter.code: submeter.value,
        },
        SUBMETER_KEY: metadata,
    }


def submeter_payloads(reading: Reading, group: str) -> list[tuple[str, str]]:
    """(topic, JSON payload) of each sub-meter of a reading; empty when it has none."""
    return [
        (topic_for(group, id_ims), _json(submeter_payload_dict(reading, submeter, id_ims)))
        for submeter, id_ims in zip(reading.submeters, submeter_ids(reading), strict=True)
    ]


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

    metadata = document.get(SUBMETER_KEY)
    submeter = _submeter(metadata, values, meter_id, timestamp)
    if submeter is not None and isinstance(metadata, dict):
        # A sub-meter's message is a reading of its electricity meter, as it was published.
        parent = metadata.get("parent")
        if isinstance(parent, str) and parent.strip():
            meter_id, id_obis = parent.strip(), "96.1.1"
    return Reading(
        timestamp=timestamp,
        meter_id=meter_id,
        values=values,
        id_obis=id_obis,
        time_source=TimeSource.METER,
        frame=raw,
        submeters=() if submeter is None else (submeter,),
    )


def _submeter(
    metadata: object, values: dict[str, float], meter_id: str, timestamp: datetime
) -> SubMeterReading | None:
    """The sub-meter a message with ``"submeter"`` metadata is about; its value moves from
    ``values`` into it. Metadata that does not fit is ignored, like other metadata."""
    if not isinstance(metadata, dict):
        return None
    code = next((code for code in ("24.2.1", "24.2.3") if code in values), None)
    channel = metadata.get("channel")
    unit = metadata.get("unit")
    device_type = metadata.get("device_type")
    if code is None or type(channel) is not int or not (unit is None or isinstance(unit, str)):
        return None
    kind = metadata.get("kind")
    return SubMeterReading(
        channel=channel,
        kind=_KINDS.get(kind, SubMeterKind.UNKNOWN)
        if isinstance(kind, str)
        else SubMeterKind.UNKNOWN,
        value=values.pop(code),
        unit=unit,
        timestamp=timestamp,
        meter_id=meter_id,
        device_type=device_type if type(device_type) is int else None,
        code=code,
    )
