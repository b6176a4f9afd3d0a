"""The Swiss smart meter integration: reads a meter's customer interface, shows its values."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .chsmr_source import ChSmrSource, async_ensure_mqtt
from .const import CONF_STANDARD, CONF_URL, DOMAIN, SUBMETER_PREFIX
from .coordinator import (
    ChSmartMeterCoordinator,
    ConnectionCallback,
    ResultCallback,
    SourceFactory,
    submeter_key,
)
from .data import ChSmartMeterConfigEntry, ChSmartMeterData
from .entry_data import (
    decoder_options_from_data,
    entry_meter_id,
    reading_interval,
    serial_settings_from_data,
)
from .http import async_register_views
from .reader.session import MeterSession, ReadingSource
from .reader.simulate import stream as _simulated_meters  # noqa: F401 - the demo's simulator://
from .reader.spec import Carrier, StandardSpec
from .reader.standards import get_spec
from .republish import async_setup_republisher

PLATFORMS: list[Platform] = [Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def _async_port_source(
    hass: HomeAssistant, entry: ConfigEntry, spec: StandardSpec
) -> SourceFactory:
    """A session on the entry's port (serial line, network serial server, simulator)."""
    data = entry.data

    def make(on_result: ResultCallback, on_connection: ConnectionCallback) -> ReadingSource:
        return MeterSession(
            data[CONF_URL],
            spec,
            decoder_options_from_data(data, entry.options),
            serial=serial_settings_from_data(data, spec),
            on_result=on_result,
            on_connection=on_connection,
            poll_interval=reading_interval(entry.options, spec),
        )

    return make


async def _async_mqtt_source(
    hass: HomeAssistant, entry: ConfigEntry, spec: StandardSpec
) -> SourceFactory:
    """A subscription to the meter's CH-SMR topic; set-up waits for MQTT."""
    await async_ensure_mqtt(hass, entry)

    def make(on_result: ResultCallback, on_connection: ConnectionCallback) -> ReadingSource:
        return ChSmrSource(hass, entry, on_result=on_result, on_connection=on_connection)

    return make


# How each carrier of a standard's data becomes the entry's reading source.
SOURCES: Final[
    dict[Carrier, Callable[[HomeAssistant, ConfigEntry, StandardSpec], Awaitable[SourceFactory]]]
] = {
    Carrier.BYTE_STREAM: _async_port_source,
    Carrier.MQTT: _async_mqtt_source,
}


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the CH-SMR HTTP views once; they find the meters per request."""
    async_register_views(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ChSmartMeterConfigEntry) -> bool:
    """Open the meter's port, start reading, create the sensors."""
    try:
        spec = get_spec(entry.data[CONF_STANDARD])
    except (KeyError, ValueError) as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="unknown_standard",
            translation_placeholders={"standard": str(entry.data.get(CONF_STANDARD))},
        ) from err
    make_source = await SOURCES[spec.carrier](hass, entry, spec)
    coordinator = ChSmartMeterCoordinator(hass, entry, spec, make_source)
    republisher = async_setup_republisher(hass, entry, coordinator.add_reading_listener)
    await coordinator.async_start()
    entry.runtime_data = ChSmartMeterData(coordinator, coordinator.source, republisher)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # One listener reloads the entry after any change of data (reconfigure) or options.
    entry.async_on_unload(entry.add_update_listener(_async_reload_entry))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ChSmartMeterConfigEntry) -> bool:
    """Remove the sensors, stop reading, release the port."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.coordinator.async_shutdown()
    return unloaded


async def _async_reload_entry(hass: HomeAssistant, entry: ChSmartMeterConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: ChSmartMeterConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Whether the user may delete ``device``: a sub-meter that the meter no longer reports
    (taken out, or moved to another M-Bus channel) may go; the meter itself stays with its
    entry, and so does a sub-meter whose values still arrive."""
    prefix = f"{entry_meter_id(entry)}_"
    keys = [
        identifier.removeprefix(prefix)
        for domain, identifier in device.identifiers
        if domain == DOMAIN and identifier.startswith(prefix + SUBMETER_PREFIX)
    ]
    if not keys:
        return False
    data: ChSmartMeterData | None = getattr(entry, "runtime_data", None)
    reading = data.coordinator.reading if data is not None else None
    if reading is None:
        return True  # nothing read since the start: nothing says the sub-meter is there
    reported = {submeter_key(submeter.channel) for submeter in reading.submeters}
    return not reported.intersection(keys)
