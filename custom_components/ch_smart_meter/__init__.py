"""The Swiss smart meter integration: reads a meter's customer interface, shows its values."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .chsmr_source import async_ensure_mqtt, spec_for
from .const import CONF_STANDARD, DOMAIN
from .coordinator import ChSmartMeterConfigEntry, ChSmartMeterCoordinator
from .http import async_register_views
from .reader.standards import load_all
from .republish import async_setup_republisher

# Import every standard's decoder now: Home Assistant imports this package in its executor,
# while the standards registry would otherwise import them lazily inside the event loop.
load_all()

PLATFORMS: list[Platform] = [Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the CH-SMR HTTP views once; they find the meters per request."""
    async_register_views(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ChSmartMeterConfigEntry) -> bool:
    """Open the meter's port, start reading, create the sensors."""
    try:
        spec_for(entry.data[CONF_STANDARD])
    except (KeyError, ValueError) as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="unknown_standard",
            translation_placeholders={"standard": str(entry.data.get(CONF_STANDARD))},
        ) from err
    await async_ensure_mqtt(hass, entry)  # a CH-SMR source needs MQTT
    coordinator = ChSmartMeterCoordinator(hass, entry)
    coordinator.republisher = async_setup_republisher(hass, entry, coordinator)
    await coordinator.async_start()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # One listener reloads the entry after any change of data (reconfigure) or options.
    entry.async_on_unload(entry.add_update_listener(_async_reload_entry))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ChSmartMeterConfigEntry) -> bool:
    """Remove the sensors, stop reading, release the port."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_shutdown()
    return unloaded


async def _async_reload_entry(hass: HomeAssistant, entry: ChSmartMeterConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)
