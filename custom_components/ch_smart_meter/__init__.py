"""The Swiss smart meter integration: reads a meter's customer interface, shows its values."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError

from .const import CONF_STANDARD, DOMAIN
from .coordinator import ChSmartMeterConfigEntry, ChSmartMeterCoordinator
from .reader.standards import get_spec

PLATFORMS: list[Platform] = [Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: ChSmartMeterConfigEntry) -> bool:
    """Open the meter's port, start reading, create the sensors."""
    try:
        get_spec(entry.data[CONF_STANDARD])
    except (KeyError, ValueError) as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="unknown_standard",
            translation_placeholders={"standard": str(entry.data.get(CONF_STANDARD))},
        ) from err
    coordinator = ChSmartMeterCoordinator(hass, entry)
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
