"""Sensors: one per OBIS code the meter delivers, described from the OBIS catalogue.

The descriptions are generated from ``reader.obis.CATALOGUE`` (data, not a hand-written
list). Entities are created for the codes a reading contains, when they first appear, and
at start-up for the codes known from before (so energy registers restore their last value
before the first reading can be compared with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.components.sensor.const import DEVICE_CLASS_UNITS
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .channels import CounterChannel
from .coordinator import ChSmartMeterCoordinator
from .data import ChSmartMeterConfigEntry
from .entity import ChSmartMeterEntity
from .reader.obis import CATALOGUE, ObisEntry, Quantity

# Read-only, pushed by the coordinator: no limit on parallel updates.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ChSmartMeterSensorEntityDescription(SensorEntityDescription):
    """A sensor for one partial OBIS code."""

    code: str


def _device_class_if_unit(name: str, unit: str) -> SensorDeviceClass | None:
    """A device class that not every supported Home Assistant version has, or None.

    Reactive energy (kvarh) has a device class from 2025.5 on, and reactive power accepts
    kvar only from then on; older versions get no device class, the unit stays.
    """
    device_class: SensorDeviceClass | None = getattr(SensorDeviceClass, name, None)
    if device_class is None or unit not in DEVICE_CLASS_UNITS.get(device_class, ()):
        return None
    return device_class


# Quantity → (device class, state class): every catalogue entry's kind, as data.
QUANTITY_CLASSES: dict[Quantity, tuple[SensorDeviceClass | None, SensorStateClass]] = {
    Quantity.ACTIVE_ENERGY: (SensorDeviceClass.ENERGY, SensorStateClass.TOTAL_INCREASING),
    Quantity.REACTIVE_ENERGY: (
        _device_class_if_unit("REACTIVE_ENERGY", "kvarh"),
        SensorStateClass.TOTAL_INCREASING,
    ),
    Quantity.ACTIVE_POWER: (SensorDeviceClass.POWER, SensorStateClass.MEASUREMENT),
    Quantity.REACTIVE_POWER: (
        _device_class_if_unit("REACTIVE_POWER", "kvar"),
        SensorStateClass.MEASUREMENT,
    ),
    Quantity.VOLTAGE: (SensorDeviceClass.VOLTAGE, SensorStateClass.MEASUREMENT),
    Quantity.CURRENT: (SensorDeviceClass.CURRENT, SensorStateClass.MEASUREMENT),
    Quantity.POWER_FACTOR: (SensorDeviceClass.POWER_FACTOR, SensorStateClass.MEASUREMENT),
    Quantity.FREQUENCY: (SensorDeviceClass.FREQUENCY, SensorStateClass.MEASUREMENT),
}

# Disabled until the user enables them, as in HA core's dsmr: per-phase values (voltages,
# currents and powers of L1/L2/L3), reactive values, power factor and frequency. They change
# with nearly every telegram, so each enabled one costs a database row per update (recorder
# growth is a top complaint about meter integrations); the totals that the energy dashboard
# and automations need stay enabled. CH-SMR republishing sends every value regardless.
# The common extras outside Tables 1 and 2 (the tariff registers 1.8.1/1.8.2/2.8.1/2.8.2)
# are disabled too: the energy dashboard and automations use the totals 1.8.0/2.8.0, which
# are always provided (summed from the tariffs when a meter sends no total), and each
# enabled tariff register adds an energy row whenever its tariff is active.
_DISABLED_QUANTITIES = frozenset(
    {
        Quantity.REACTIVE_ENERGY,
        Quantity.REACTIVE_POWER,
        Quantity.POWER_FACTOR,
        Quantity.FREQUENCY,
    }
)


def _enabled_by_default(entry: ObisEntry) -> bool:
    return (
        entry.table is not None
        and entry.quantity not in _DISABLED_QUANTITIES
        and entry.phase is None
    )


def describe(entry: ObisEntry) -> ChSmartMeterSensorEntityDescription:
    """The sensor description of a catalogue entry."""
    device_class, state_class = QUANTITY_CLASSES[entry.quantity]
    return ChSmartMeterSensorEntityDescription(
        key=entry.key,
        translation_key=entry.key,
        code=entry.code,
        device_class=device_class,
        state_class=state_class,
        native_unit_of_measurement=entry.unit,
        suggested_display_precision=entry.decimals,
        entity_registry_enabled_default=_enabled_by_default(entry),
    )


# Every catalogue value that is a number (identifiers go into the device info instead).
SENSORS: dict[str, ChSmartMeterSensorEntityDescription] = {
    entry.code: describe(entry) for entry in CATALOGUE if entry.quantity is not Quantity.IDENTIFIER
}
_CODES_BY_KEY: dict[str, str] = {description.key: code for code, description in SENSORS.items()}

LAST_READING = SensorEntityDescription(
    key="last_reading",
    translation_key="last_reading",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    # It changes with every update: one database row each time. Availability already
    # shows a silent meter; enable it for troubleshooting.
    entity_registry_enabled_default=False,
)
FRAMES_REJECTED = SensorEntityDescription(
    key="frames_rejected",
    translation_key="frames_rejected",
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChSmartMeterConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Create the sensors known from before, then those of every new code."""
    coordinator = entry.runtime_data.coordinator
    created: set[str] = set()

    prefix = f"{coordinator.meter_id}_"
    known = [
        _CODES_BY_KEY[key]
        for registry_entry in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if registry_entry.domain == "sensor"
        and (key := registry_entry.unique_id.removeprefix(prefix)) in _CODES_BY_KEY
    ]

    @callback
    def add_codes(codes: list[str]) -> None:
        entities: list[SensorEntity] = []
        for code in codes:
            if code in created or code not in SENSORS:
                continue
            created.add(code)
            entities.append(_create(coordinator, SENSORS[code], restoring=code in known))
        if entities:
            async_add_entities(entities)

    add_codes(known + list(coordinator.channels))
    entry.async_on_unload(coordinator.set_new_channels_listener(add_codes))
    async_add_entities(
        [
            ChSmartMeterStatusSensor(coordinator, coordinator.last_reading_channel, LAST_READING),
            ChSmartMeterStatusSensor(coordinator, coordinator.rejected_channel, FRAMES_REJECTED),
        ]
    )


def _create(
    coordinator: ChSmartMeterCoordinator,
    description: ChSmartMeterSensorEntityDescription,
    *,
    restoring: bool,
) -> SensorEntity:
    channel = coordinator.channel(description.code)
    if isinstance(channel, CounterChannel):
        return ChSmartMeterCounterSensor(coordinator, channel, description, restoring=restoring)
    return ChSmartMeterSensor(coordinator, channel, description)


class ChSmartMeterSensor(ChSmartMeterEntity, SensorEntity):
    """A measurement: the mean over the update interval (or each reading when 0)."""

    entity_description: ChSmartMeterSensorEntityDescription

    @property
    def native_value(self) -> float | None:
        """The value the channel published."""
        value = self._channel.value
        return value if isinstance(value, float | int) else None


class ChSmartMeterCounterSensor(ChSmartMeterSensor, RestoreSensor):
    """An energy register; its last value survives restarts and guards against drops."""

    _channel: CounterChannel

    def __init__(
        self,
        coordinator: ChSmartMeterCoordinator,
        channel: CounterChannel,
        description: ChSmartMeterSensorEntityDescription,
        *,
        restoring: bool,
    ) -> None:
        super().__init__(coordinator, channel, description)
        # A sensor known from before waits for its restored value (async_added_to_hass).
        self._floor_pending = restoring

    @property
    def available(self) -> bool:
        """Unavailable while the restored value is not yet the guard's floor.

        The meter streams while Home Assistant starts, so readings reach the channel
        before the sensor is added, and Home Assistant may write the state while adding it
        (an entity registry update), before async_added_to_hass: that state would show a
        value below the restored one, and the energy statistics count the way back up.
        """
        return not self._floor_pending and super().available

    async def async_added_to_hass(self) -> None:
        """Seed the guard with the value published before the restart, publish what the
        seeded guard lets through, then follow the channel."""
        last = await self.async_get_last_sensor_data()
        if (
            last is not None
            and isinstance(last.native_value, int | float)
            and last.native_unit_of_measurement
            == self.entity_description.native_unit_of_measurement
        ):
            self._channel.guard.seed(float(last.native_value))
            self._channel.take()
        self._floor_pending = False
        await super().async_added_to_hass()


class ChSmartMeterStatusSensor(ChSmartMeterEntity, SensorEntity):
    """Time of the last reading, frames rejected: shown even while the meter is silent."""

    @property
    def available(self) -> bool:
        """Always: these sensors are how a silent or garbled meter shows itself."""
        return True

    @property
    def native_value(self) -> datetime | int | None:
        """The time of the last reading, or the number of rejected frames."""
        value = self._channel.value
        return value if isinstance(value, datetime | int) else None
