"""The base entity: one value of one meter, written only when it changed."""

from __future__ import annotations

from homeassistant.helpers.entity import Entity, EntityDescription

from .channels import Channel
from .coordinator import ChSmartMeterCoordinator


class ChSmartMeterEntity(Entity):
    """An entity fed by one channel of the coordinator (push: never polled)."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        coordinator: ChSmartMeterCoordinator,
        channel: Channel,
        description: EntityDescription,
    ) -> None:
        self.coordinator = coordinator
        self._channel = channel
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.meter_id}_{description.key}"
        self._attr_device_info = coordinator.device_info

    @property
    def available(self) -> bool:
        """Unavailable while the meter is silent."""
        return self.coordinator.available

    async def async_added_to_hass(self) -> None:
        """Write the state whenever the channel publishes a new value."""
        await super().async_added_to_hass()
        self.async_on_remove(self._channel.subscribe(self.async_write_ha_state))
