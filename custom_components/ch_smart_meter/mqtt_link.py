"""The link to Home Assistant's MQTT integration, shared by the republisher, the CH-SMR
source and the config flow.

MQTT is optional for this integration (``after_dependencies``): its module is imported only
once the integration is set up (then the import costs nothing and never blocks the event
loop), and every user of it follows the MQTT config entry through its state changes, so
that setting MQTT up later, reloading it or removing it is noticed without polling.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from homeassistant.config_entries import SIGNAL_CONFIG_ENTRY_CHANGED, ConfigEntry, ConfigEntryChange
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect

MQTT_DOMAIN = "mqtt"


def mqtt_module(hass: HomeAssistant) -> ModuleType | None:
    """Home Assistant's MQTT integration if it is set up and enabled, else ``None``."""
    if MQTT_DOMAIN not in hass.config.components:
        return None
    from homeassistant.components import mqtt  # noqa: PLC0415 - optional integration

    if not mqtt.mqtt_config_entry_enabled(hass):
        return None
    return mqtt


async def async_mqtt_client(hass: HomeAssistant) -> ModuleType | None:
    """The MQTT integration once its client is ready (waits while it is being set up)."""
    mqtt = mqtt_module(hass)
    if mqtt is None or not await mqtt.async_wait_for_mqtt_client(hass):
        return None
    return mqtt


@callback
def async_track_entries(
    hass: HomeAssistant, domain: str, action: Callable[[], None]
) -> CALLBACK_TYPE:
    """Call ``action`` whenever a config entry of ``domain`` is added, changed or removed
    (a change of state included: set up, unloaded, failed)."""

    @callback
    def changed(_change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry.domain == domain:
            action()

    return async_dispatcher_connect(hass, SIGNAL_CONFIG_ENTRY_CHANGED, changed)


@callback
def async_track_mqtt_entry(hass: HomeAssistant, action: Callable[[], None]) -> CALLBACK_TYPE:
    """Call ``action`` whenever the MQTT config entry is added, changes state or goes away."""
    return async_track_entries(hass, MQTT_DOMAIN, action)
