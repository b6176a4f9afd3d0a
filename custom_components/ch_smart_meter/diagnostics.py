"""Diagnostics: what a bug report needs, with every key and secret redacted."""

from __future__ import annotations

import dataclasses
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import __version__ as HA_VERSION
from homeassistant.core import HomeAssistant

from .const import CONF_AUTHENTICATION_KEY, CONF_ENCRYPTION_KEY, CONF_URL
from .data import ChSmartMeterConfigEntry, ChSmartMeterData
from .reader.transport import redact_url

# Anything that could let someone read the meter's data: the keys, and credentials that
# later options (MQTT republishing) may add.
TO_REDACT = {CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY, "password", "username", "token"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ChSmartMeterConfigEntry
) -> dict[str, Any]:
    """Settings (redacted) and the entry's state always; when loaded, also the source's
    counters by reason, the last raw frames and the last reading.

    Diagnostics are most needed when set-up fails (an adapter unplugged, a wrong path): then
    there is no runtime data, and the report says why set-up failed and that it retries.
    """
    data = async_redact_data(dict(entry.data), TO_REDACT)
    if CONF_URL in data:
        # Secrets inside the address (ESPHome noise_psk, a simulated meter's key=).
        data[CONF_URL] = redact_url(str(data[CONF_URL]))
    report: dict[str, Any] = {
        "home_assistant": HA_VERSION,
        "entry": {
            "title": entry.title,
            "data": data,
            "options": async_redact_data(dict(entry.options), TO_REDACT),
            "state": entry.state.value,
            # Why set-up failed or is retried (Home Assistant keeps the last reason).
            "reason": entry.reason,
            "retrying": entry.state is ConfigEntryState.SETUP_RETRY,
        },
    }
    runtime = getattr(entry, "runtime_data", None)
    if entry.state is ConfigEntryState.LOADED and isinstance(runtime, ChSmartMeterData):
        report.update(_running(runtime))
    return report


def _running(runtime: ChSmartMeterData) -> dict[str, Any]:
    """What a loaded entry knows about its meter."""
    coordinator = runtime.coordinator
    source = runtime.source
    reading = coordinator.reading
    stats = dataclasses.asdict(source.stats)
    stats["rejected_by_reason"] = dict(sorted(stats["rejected_by_reason"].items()))
    return {
        "standard": coordinator.spec.standard.value,
        "available": coordinator.available,
        "connected": coordinator.connected,
        "last_connection_error": None
        if coordinator.last_connection_error is None
        else coordinator.last_connection_error.message,
        "update_interval": coordinator.update_interval,
        # Frames and messages counted by the source, rejections by reason code.
        "source": stats,
        # What the decoder learned about the meter (DSMR variant, DLMS profile...).
        "decoder": source.diagnostics(),
        # What readings said about how they were obtained (e.g. swapped keys).
        "notices": list(coordinator.notices),
        # The CH-SMR republisher: settings and publish counters (None while it is off).
        "republisher": None if runtime.republisher is None else runtime.republisher.diagnostics(),
        "recent_frames": [frame.hex() for frame in source.recent_frames],
        "last_reading": None
        if reading is None
        else {
            "timestamp": reading.timestamp.isoformat(),
            "meter_id": reading.meter_id,
            "id_obis": reading.id_obis,
            "time_source": str(reading.time_source),
            "manufacturer": reading.manufacturer,
            "model": reading.model,
            "values": dict(reading.values),
            # Meters on its M-Bus (gas, water, heat), with their own ids and capture times.
            "submeters": [
                {
                    "channel": sub.channel,
                    "kind": sub.kind.value,
                    "meter_id": sub.meter_id,
                    "device_type": sub.device_type,
                    "value": sub.value,
                    "unit": sub.unit,
                    "captured": sub.timestamp.isoformat(),
                }
                for sub in reading.submeters
            ],
            "text": dict(reading.text),
            # The long power failure log: when each failure ended and how long it lasted.
            "power_failures": [
                {"end": failure.end.isoformat(), "duration_s": failure.duration_s}
                for failure in reading.events
            ],
            "frame": reading.frame.hex(),
        },
        "published": {
            code: channel.value
            for code, channel in sorted(coordinator.channels.items())
            if channel.value is not None
        },
    }
