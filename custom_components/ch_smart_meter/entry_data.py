"""What a config entry's data and options mean to the reader library.

The coordinator reads the meter with these, and the config flow checks the meter with the
very same values before it stores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry

from .const import (
    CONF_AUTHENTICATION_KEY,
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_ENCRYPTION_KEY,
    CONF_PARITY,
    CONF_POLL_INTERVAL,
    CONF_PROFILE,
    CONF_STOPBITS,
    PROFILE_AUTO,
)
from .reader.model import SerialSettings
from .reader.spec import SWISS_TIME, DecoderOptions, StandardSpec


def entry_meter_id(entry: ConfigEntry) -> str:
    """The meter id the entry was created for; entity ids and topics rest on it, even after
    the meter is replaced (history continues)."""
    return entry.unique_id or entry.entry_id


def serial_settings_from_data(data: Mapping[str, Any], spec: StandardSpec) -> SerialSettings | None:
    """The character format stored in an entry (or proposed by a flow), else the default."""
    if CONF_BAUDRATE not in data:
        return spec.serial
    return SerialSettings(
        baudrate=int(data[CONF_BAUDRATE]),
        bytesize=int(data[CONF_BYTESIZE]),
        parity=str(data[CONF_PARITY]),
        stopbits=float(data[CONF_STOPBITS]),
    )


def serial_settings_data(settings: SerialSettings | None) -> dict[str, Any]:
    """The entry data that stores a character format (nothing for standards without one)."""
    if settings is None:
        return {}
    return {
        CONF_BAUDRATE: settings.baudrate,
        CONF_BYTESIZE: settings.bytesize,
        CONF_PARITY: settings.parity,
        CONF_STOPBITS: settings.stopbits,
    }


def reading_interval(options: Mapping[str, Any], spec: StandardSpec) -> float:
    """Seconds between two readings: the poll interval of a polled standard (never faster
    than its meter answers), else the standard's normal push interval."""
    if not spec.polled:
        return spec.interval
    return max(spec.min_poll_interval, float(options.get(CONF_POLL_INTERVAL, spec.interval)))


def _stored_key(text: str | None) -> bytes | None:
    """A key as the flow stored it: hexadecimal, already checked in the standard's form."""
    return bytes.fromhex(text) if text else None


def decoder_options_from_data(
    data: Mapping[str, Any], options: Mapping[str, Any]
) -> DecoderOptions:
    """Decoder options from an entry's data (keys) and options (profile override).

    An empty authentication key means the standard's default (the decoder knows it: the
    public Smarty key for DSMR envelopes).
    """
    profile = options.get(CONF_PROFILE, PROFILE_AUTO)
    return DecoderOptions(
        encryption_key=_stored_key(data.get(CONF_ENCRYPTION_KEY)),
        authentication_key=_stored_key(data.get(CONF_AUTHENTICATION_KEY)),
        # Meter times sent without an offset are the meter's local time, Swiss time (the
        # same rules as every CET country these meters are sold in), whatever time zone
        # Home Assistant or its container runs in.
        timezone=SWISS_TIME,
        profile=None if profile == PROFILE_AUTO else profile,
    )
