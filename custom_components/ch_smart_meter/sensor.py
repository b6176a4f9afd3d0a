"""Sensors: one per OBIS code the meter delivers, described from the OBIS catalogue.

The descriptions are generated from ``reader.obis.CATALOGUE`` (data, not a hand-written
list). Entities are created for the codes a reading contains, when they first appear, and
at start-up for the codes known from before (so energy registers restore their last value
before the first reading can be compared with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.components.sensor.const import DEVICE_CLASS_UNITS
from homeassistant.const import EntityCategory, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.util import dt as dt_util

from .channels import CounterChannel, SubMeterChannel
from .const import DOMAIN, EXPORT_POWER, IMPORT_POWER, NET_POWER, SUBMETER_PREFIX
from .coordinator import ChSmartMeterCoordinator, submeter_key
from .data import ChSmartMeterConfigEntry
from .entity import ChSmartMeterEntity
from .reader.obis import BY_CODE, CATALOGUE, STATUS_QUANTITIES, ObisEntry, Quantity

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
QUANTITY_CLASSES: dict[Quantity, tuple[SensorDeviceClass | None, SensorStateClass | None]] = {
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
    Quantity.TARIFF: (SensorDeviceClass.ENUM, None),
    # Counts only grow (a restart of the meter may reset them): a total, so that they are
    # measurements with statistics, not logbook events.
    Quantity.COUNT: (None, SensorStateClass.TOTAL_INCREASING),
}
# The active tariff as a state: which number is the low one is an option (CONF_LOW_TARIFF).
TARIFF_STATES = ["high", "low"]

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


# Enabled by default although outside Tables 1 and 2: what automations switch on.
_ENABLED_EXTRAS = frozenset({Quantity.TARIFF})
# Disabled by default although in Table 1: the signed net power (NET_POWER) shows both in
# one sensor, one database row per change instead of up to two (see the README).
_DISABLED_CODES = frozenset({IMPORT_POWER, EXPORT_POWER})


def _enabled_by_default(entry: ObisEntry) -> bool:
    if entry.quantity in _ENABLED_EXTRAS:
        return True
    return (
        entry.table is not None
        and entry.quantity not in _DISABLED_QUANTITIES
        and entry.phase is None
        and entry.code not in _DISABLED_CODES
    )


def describe(entry: ObisEntry) -> ChSmartMeterSensorEntityDescription:
    """The sensor description of a catalogue entry."""
    device_class, state_class = QUANTITY_CLASSES[entry.quantity]
    status = entry.quantity in STATUS_QUANTITIES
    return ChSmartMeterSensorEntityDescription(
        key=entry.key,
        translation_key=entry.key,
        code=entry.code,
        device_class=device_class,
        state_class=state_class,
        native_unit_of_measurement=entry.unit,
        suggested_display_precision=None if status else entry.decimals,
        options=TARIFF_STATES if entry.quantity is Quantity.TARIFF else None,
        # Events and quality counts are about the grid, not consumption.
        entity_category=EntityCategory.DIAGNOSTIC if entry.quantity is Quantity.COUNT else None,
        entity_registry_enabled_default=_enabled_by_default(entry),
    )


# Every catalogue value that is a number (identifiers go into the device info instead).
SENSORS: dict[str, ChSmartMeterSensorEntityDescription] = {
    entry.code: describe(entry) for entry in CATALOGUE if entry.quantity is not Quantity.IDENTIFIER
}
# Values the coordinator derives or reads besides the catalogue's numbers, by channel key.
EXTRA_SENSORS: dict[str, ChSmartMeterSensorEntityDescription] = {
    NET_POWER: ChSmartMeterSensorEntityDescription(
        key=NET_POWER,
        translation_key=NET_POWER,
        code=NET_POWER,
        # Signed: + import, - export, as the energy dashboard's grid power wants it.
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        suggested_display_precision=BY_CODE[IMPORT_POWER].decimals,
    ),
    **{
        code: ChSmartMeterSensorEntityDescription(
            key=key,
            translation_key=key,
            code=code,
            entity_category=EntityCategory.DIAGNOSTIC,
            entity_registry_enabled_default=False,
        )
        for code, key in (("96.13.0", "message"), ("96.13.1", "code_message"))
    },
}
_CODES_BY_KEY: dict[str, str] = {
    description.key: code for code, description in (SENSORS | EXTRA_SENSORS).items()
}
# A sub-meter sensor's unique id ends in "mbus<channel>_<kind>".
_SUBMETER_ID = re.compile(rf"^{SUBMETER_PREFIX}(\d+)_([a-z]+)$")

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
    # A count that only grows: a measurement with statistics, not a logbook event each time.
    state_class=SensorStateClass.TOTAL_INCREASING,
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
    known: list[str] = []
    for registry_entry in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        key = registry_entry.unique_id.removeprefix(prefix)
        if registry_entry.domain != "sensor":
            continue
        if key in _CODES_BY_KEY:
            known.append(_CODES_BY_KEY[key])
        elif match := _SUBMETER_ID.match(key):
            # A sub-meter seen before: its sensor restores its register before the first
            # reading is compared with it.
            coordinator.submeter_channel(
                int(match[1]), match[2], registry_entry.unit_of_measurement
            )
            known.append(submeter_key(int(match[1])))

    @callback
    def add_codes(codes: list[str]) -> None:
        entities: list[SensorEntity] = []
        for code in codes:
            if code in created:
                continue
            entity = _create(coordinator, code, restoring=code in known)
            if entity is not None:
                created.add(code)
                entities.append(entity)
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
    coordinator: ChSmartMeterCoordinator, code: str, *, restoring: bool
) -> SensorEntity | None:
    """The entity of a channel key, or None for values without a sensor; ``restoring``:
    known from before (an energy register waits for its restored value)."""
    channel = coordinator.channels.get(code)
    if isinstance(channel, SubMeterChannel):
        return ChSmartMeterSubMeterSensor(coordinator, channel, code, restoring=restoring)
    description = SENSORS.get(code) or EXTRA_SENSORS.get(code)
    if description is None:
        return None
    channel = coordinator.channel(code)
    if isinstance(channel, CounterChannel):
        return ChSmartMeterCounterSensor(coordinator, channel, description, restoring=restoring)
    if description.device_class is SensorDeviceClass.ENUM:
        return ChSmartMeterTariffSensor(coordinator, channel, description)
    return ChSmartMeterSensor(coordinator, channel, description)


class ChSmartMeterSensor(ChSmartMeterEntity, SensorEntity):
    """A measurement: the mean over the update interval (or each reading when 0); a count,
    a message: the latest."""

    entity_description: ChSmartMeterSensorEntityDescription

    @property
    def native_value(self) -> float | str | None:
        """The value the channel published."""
        value = self._channel.value
        return value if isinstance(value, float | int | str) else None


class ChSmartMeterTariffSensor(ChSmartMeterSensor):
    """The active tariff (0-0:96.14.0) as "high" or "low"."""

    @property
    def native_value(self) -> str | None:
        """Which tariff the meter counts in now; None for a number beyond the two."""
        number = self._channel.value
        if not isinstance(number, float | int) or number not in (1, 2):
            return None
        return "low" if number == self.coordinator.low_tariff else "high"


class ChSmartMeterCounterSensor(ChSmartMeterSensor, RestoreSensor):
    """An energy register; its last value survives restarts, and the guard keeps it from
    going backwards or leaping (see ``channels.CounterGuard``)."""

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
        """Seed the guard with the value published before the restart (and when it was),
        publish what the seeded guard lets through, then follow the channel."""
        last = await self.async_get_last_sensor_data()
        state = await self.async_get_last_state()
        if (
            last is not None
            and state is not None
            and isinstance(last.native_value, int | float)
            and last.native_unit_of_measurement
            == self.entity_description.native_unit_of_measurement
        ):
            # The guard's clock is monotonic: the restored value's age on it.
            age = max((dt_util.utcnow() - state.last_updated).total_seconds(), 0.0)
            self._channel.guard.seed(float(last.native_value), self.coordinator.clock() - age)
            self._channel.take()
        self._floor_pending = False
        await super().async_added_to_hass()

    @property
    def extra_state_attributes(self) -> dict[str, float] | None:
        """The offset to the meter's own register after a replaced meter (none before)."""
        offset = self._channel.guard.offset
        return {"register_offset": round(offset, 6)} if offset else None


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


# Sub-meter kind -> (device class, or None), by the unit the sub-meter reports in.
_SUBMETER_CLASSES: dict[str, SensorDeviceClass] = {
    "gas": SensorDeviceClass.GAS,
    "water": SensorDeviceClass.WATER,
    "heat": SensorDeviceClass.ENERGY,
    "cold": SensorDeviceClass.ENERGY,
    "electricity": SensorDeviceClass.ENERGY,
}


def describe_submeter(key: str, kind: str, unit: str | None) -> ChSmartMeterSensorEntityDescription:
    """A sub-meter's register: a total the energy dashboard offers as gas, water or heat."""
    device_class = _SUBMETER_CLASSES.get(kind)
    if device_class is not None and unit not in DEVICE_CLASS_UNITS.get(device_class, ()):
        device_class = None  # a unit the class does not take: the number and its unit only
    return ChSmartMeterSensorEntityDescription(
        key=f"{key}_{kind}",
        code=key,
        # The sub-meter's device is named after it: the register is its main feature.
        name=None,
        device_class=device_class,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=unit,
        suggested_display_precision=3,
    )


class ChSmartMeterSubMeterSensor(ChSmartMeterCounterSensor):
    """The register of a gas, water or heat meter on the electricity meter's M-Bus, on a
    device of its own linked to the electricity meter's."""

    _channel: SubMeterChannel

    def __init__(
        self,
        coordinator: ChSmartMeterCoordinator,
        channel: SubMeterChannel,
        key: str,
        *,
        restoring: bool,
    ) -> None:
        description = describe_submeter(key, channel.kind, channel.unit)
        super().__init__(coordinator, channel, description, restoring=restoring)
        number = key.removeprefix(SUBMETER_PREFIX)
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{coordinator.meter_id}_{key}")},
            translation_key=f"{channel.kind}_meter",
            translation_placeholders={"channel": number},
            serial_number=channel.meter_id,
        )

    async def async_added_to_hass(self) -> None:
        """Link the sub-meter's device to the electricity meter's (via_device_id: the
        form every supported Home Assistant version takes)."""
        await super().async_added_to_hass()
        registry = dr.async_get(self.hass)
        parent = registry.async_get_device(identifiers={(DOMAIN, self.coordinator.meter_id)})
        if self.device_entry is not None and parent is not None:
            registry.async_update_device(
                self.device_entry.id,
                via_device_id=parent.id,
                serial_number=self._channel.meter_id,
            )

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """When the sub-meter measured the value (not when the telegram carried it)."""
        attributes: dict[str, Any] = dict(super().extra_state_attributes or {})
        if self._channel.captured is not None:
            attributes["captured_at"] = self._channel.captured.isoformat()
        return attributes or None
