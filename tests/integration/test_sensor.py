"""Sensors: what Home Assistant shows for what the meter sends.

Every test sends real DSMR telegrams over TCP to the integration's real session; time is
moved by hand where guards and silence depend on it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from enum import Enum
from typing import Any

import pytest
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    EntityCategory,
)
from homeassistant.core import Event, HomeAssistant, State
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.ch_smart_meter import sensor
from custom_components.ch_smart_meter.const import CONF_UPDATE_INTERVAL, DOMAIN
from custom_components.ch_smart_meter.reader.obis import CATALOGUE, Quantity

from .conftest import (
    METER_ID,
    VALUES,
    Clock,
    FakeMeter,
    Setup,
    send_reading,
    telegram,
    wait_until,
)

PREFIX = f"sensor.iskraemeco_{METER_ID.lower()}"
ENERGY_IMPORT = f"{PREFIX}_energy_import"
POWER_IMPORT = f"{PREFIX}_power_import"
LAST_READING = f"{PREFIX}_last_reading"
FRAMES_REJECTED = f"{PREFIX}_frames_rejected"


def plain(value: Any) -> Any:
    """Enums as their values and mappings as dicts: the same on every Home Assistant version."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(plain(key)): plain(item) for key, item in value.items()}
    return value


def entities_snapshot(hass: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """Registry entries and states as plain data, the same on every Home Assistant version."""
    registry = er.async_get(hass)
    result: dict[str, Any] = {}
    for entry in sorted(
        er.async_entries_for_config_entry(registry, entry_id), key=lambda e: e.entity_id
    ):
        state = hass.states.get(entry.entity_id)
        result[entry.entity_id] = {
            "unique_id": entry.unique_id,
            "translation_key": entry.translation_key,
            "device_class": entry.original_device_class,
            "entity_category": entry.entity_category,
            "disabled_by": entry.disabled_by,
            "capabilities": entry.capabilities,
            "display_precision": entry.options.get("sensor", {}).get("suggested_display_precision"),
            "unit": entry.unit_of_measurement,
            "state": None if state is None else state.state,
            "attributes": None if state is None else state.attributes,
        }
    return plain(result)


def state(hass: HomeAssistant, entity_id: str) -> str:
    """The state of an entity, which must exist."""
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


# ------------------------------------------------------------------ what is created


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_sensors_of_the_first_reading(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    snapshot: SnapshotAssertion,
) -> None:
    """One sensor per value the meter delivers, with classes, units and exact values."""
    entry = await setup_integration()
    # Before the first reading: only the diagnostic sensors.
    assert set(entities_snapshot(hass, entry.entry_id)) == {LAST_READING, FRAMES_REJECTED}
    assert state(hass, LAST_READING) == STATE_UNKNOWN

    await send_reading(hass, fake_meter, telegram())
    assert entities_snapshot(hass, entry.entry_id) == snapshot


async def test_enabled_by_default(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """Out of the box: the totals and the grid power the energy dashboard needs and the active
    tariff for automations; import/export power, tariff registers, per-phase, noisy values
    and event counts off."""
    entry = await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    registry = er.async_get(hass)
    entries = er.async_entries_for_config_entry(registry, entry.entry_id)
    enabled = {e.entity_id.removeprefix(f"{PREFIX}_") for e in entries if e.disabled_by is None}
    assert enabled == {
        "energy_import",
        "energy_export",
        "grid_power",
        "active_tariff",
        "frames_rejected",
    }
    disabled = {e.entity_id.removeprefix(f"{PREFIX}_") for e in entries if e.disabled_by}
    assert {
        "voltage_l1",
        "current_l3",
        "power_import",
        "power_export",
        "power_import_l1",
        "energy_import_tariff_1",
        "energy_export_tariff_2",
        "last_reading",
        "power_failures",
        "voltage_sags_l1",
    } <= disabled


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_values_are_exact(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """States are the decoder's decimal values, with no float noise."""
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    assert state(hass, ENERGY_IMPORT) == "3580.245"  # 1234.567 + 2345.678
    assert state(hass, f"{PREFIX}_energy_export") == "300.75"
    assert state(hass, POWER_IMPORT) == "1.234"
    assert state(hass, f"{PREFIX}_voltage_l1") == "230.1"
    assert state(hass, f"{PREFIX}_current_l1") == "5.0"
    assert state(hass, LAST_READING) == "2026-06-27T12:00:00+00:00"
    assert state(hass, FRAMES_REJECTED) == "0"


async def test_device(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The meter is the device; the identifier is its serial number, not a sensor."""
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    (device,) = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert device.identifiers == {(DOMAIN, METER_ID)}
    assert (device.name, device.manufacturer, device.model, device.serial_number) == (
        f"Iskraemeco {METER_ID}",
        "Iskraemeco",
        "M550T-1012",
        METER_ID,
    )
    assert hass.states.get(f"{PREFIX}_equipment_identifier") is None


def test_descriptions_follow_the_catalogue() -> None:
    """Every numeric catalogue entry has a description derived from its quantity."""
    expected: dict[Quantity, tuple[Any, SensorStateClass | None, str | None]] = {
        Quantity.ACTIVE_ENERGY: (
            SensorDeviceClass.ENERGY,
            SensorStateClass.TOTAL_INCREASING,
            "kWh",
        ),
        Quantity.ACTIVE_POWER: (SensorDeviceClass.POWER, SensorStateClass.MEASUREMENT, "kW"),
        Quantity.VOLTAGE: (SensorDeviceClass.VOLTAGE, SensorStateClass.MEASUREMENT, "V"),
        Quantity.CURRENT: (SensorDeviceClass.CURRENT, SensorStateClass.MEASUREMENT, "A"),
        Quantity.POWER_FACTOR: (SensorDeviceClass.POWER_FACTOR, SensorStateClass.MEASUREMENT, None),
        Quantity.FREQUENCY: (SensorDeviceClass.FREQUENCY, SensorStateClass.MEASUREMENT, "Hz"),
        # The active tariff is a state ("high"/"low"); counts of events only grow.
        Quantity.TARIFF: (SensorDeviceClass.ENUM, None, None),
        Quantity.COUNT: (None, SensorStateClass.TOTAL_INCREASING, None),
        # Reactive device classes exist (with kvar/kvarh) only in newer Home Assistant.
        Quantity.REACTIVE_ENERGY: (
            getattr(SensorDeviceClass, "REACTIVE_ENERGY", None),
            SensorStateClass.TOTAL_INCREASING,
            "kvarh",
        ),
        Quantity.REACTIVE_POWER: (
            SensorDeviceClass.REACTIVE_POWER
            if hasattr(SensorDeviceClass, "REACTIVE_ENERGY")
            else None,
            SensorStateClass.MEASUREMENT,
            "kvar",
        ),
    }
    numeric = [entry for entry in CATALOGUE if entry.quantity is not Quantity.IDENTIFIER]
    assert set(sensor.SENSORS) == {entry.code for entry in numeric}
    for entry in numeric:
        description = sensor.SENSORS[entry.code]
        assert (
            description.device_class,
            description.state_class,
            description.native_unit_of_measurement,
        ) == expected[entry.quantity], entry.code
        assert description.translation_key == description.key == entry.key
        status = entry.quantity in (Quantity.TARIFF, Quantity.COUNT)
        assert description.suggested_display_precision == (None if status else entry.decimals)
        # Off: per-phase values, noisy quantities, import and export power (grid power shows
        # both), and the extras outside Tables 1 and 2 (tariff registers: the dashboard uses
        # the totals; event counts), except the active tariff that automations switch on.
        noisy = entry.quantity in (
            Quantity.REACTIVE_ENERGY,
            Quantity.REACTIVE_POWER,
            Quantity.POWER_FACTOR,
            Quantity.FREQUENCY,
        )
        disabled = (
            entry.table is None
            or entry.phase is not None
            or noisy
            or entry.code in ("1.7.0", "2.7.0")
        ) and entry.quantity is not Quantity.TARIFF
        assert description.entity_registry_enabled_default is not disabled, entry.code
        if entry.quantity is Quantity.COUNT:
            assert description.entity_category is EntityCategory.DIAGNOSTIC
    assert sensor.LAST_READING.entity_category is EntityCategory.DIAGNOSTIC
    assert sensor.LAST_READING.entity_registry_enabled_default is False
    assert sensor.FRAMES_REJECTED.entity_category is EntityCategory.DIAGNOSTIC


async def test_new_codes_become_entities(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    entity_registry: er.EntityRegistry,
) -> None:
    """A value that appears later gets its entity then (dynamic entities)."""
    single_phase = {code: VALUES[code] for code in ("1.8.1", "1.7.0", "32.7.0", "31.7.0")}
    entry = await setup_integration()
    await send_reading(hass, fake_meter, telegram(single_phase))
    assert hass.states.get(f"{PREFIX}_energy_export") is None
    before = len(er.async_entries_for_config_entry(entity_registry, entry.entry_id))

    await send_reading(
        hass, fake_meter, telegram(single_phase | {"2.8.0": 12.5, "3.7.0": 0.5}, second=1)
    )
    assert state(hass, f"{PREFIX}_energy_export") == "12.5"
    entries = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert len(entries) == before + 2
    disabled = [e for e in entries if e.translation_key == "reactive_power_import"]
    assert disabled and disabled[0].disabled_by is er.RegistryEntryDisabler.INTEGRATION


# ------------------------------------------------------------------ availability


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_unavailable_after_silence_and_back(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Silence longer than 3 reading intervals: unavailable (logged once); back with data."""
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    assert state(hass, POWER_IMPORT) == "1.234"

    clock.advance(29)  # DSMR: a reading every 10 s at most, so 30 s of silence
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    assert state(hass, POWER_IMPORT) == "1.234"

    clock.advance(2)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=40))
    await hass.async_block_till_done()
    assert state(hass, POWER_IMPORT) == STATE_UNAVAILABLE
    assert state(hass, ENERGY_IMPORT) == STATE_UNAVAILABLE
    # The diagnostic sensors tell when the meter spoke last.
    assert state(hass, LAST_READING) == "2026-06-27T12:00:00+00:00"
    assert caplog.text.count("no reading from the meter for 30 seconds") == 1

    clock.advance(100)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=45))
    await hass.async_block_till_done()
    assert caplog.text.count("no reading from the meter") == 1  # once, not per check

    await send_reading(hass, fake_meter, telegram(second=131, **{"1_7_0": 2.5}))
    assert state(hass, POWER_IMPORT) == "2.5"
    assert state(hass, ENERGY_IMPORT) == "3580.245"
    assert caplog.text.count("the meter is sending again") == 1


# ------------------------------------------------------------------ energy guard


@pytest.mark.usefixtures("entity_registry_enabled_by_default")  # the tariff registers too
async def test_energy_never_goes_back_for_a_bad_frame(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter, clock: Clock
) -> None:
    """A lower or zero register value is held back; a higher one is published."""
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    assert state(hass, ENERGY_IMPORT) == "3580.245"

    clock.advance(1)
    await send_reading(hass, fake_meter, telegram(second=1, **{"1_8_1": 234.567}))  # lower
    assert state(hass, ENERGY_IMPORT) == "3580.245"
    clock.advance(1)
    await send_reading(hass, fake_meter, telegram(second=2, **{"1_8_1": 0, "1_8_2": 0}))
    assert state(hass, ENERGY_IMPORT) == "3580.245"
    assert state(hass, f"{PREFIX}_energy_import_tariff_2") == "2345.678"
    clock.advance(1)
    await send_reading(hass, fake_meter, telegram(second=3, **{"1_8_1": 1234.6}))
    assert state(hass, ENERGY_IMPORT) == "3580.278"


async def test_replaced_meter_is_held_until_the_new_baseline_is_accepted(
    hass: HomeAssistant,
    hass_client: Any,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    clock: Clock,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Lower values that keep coming (3 readings over 60 s) are a new baseline: the energy
    sensor keeps its value, a repair issue explains, and once the user accepts it the
    register continues from its last value with what the new meter counts."""
    assert await async_setup_component(hass, "repairs", {})
    entry = await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    issue_id = f"meter_replaced_{entry.entry_id}"
    new_meter = {"1_8_1": 1.5, "1_8_2": 0.5}  # 1.8.0 = 2.0 kWh
    for advance, second in ((10, 10), (30, 40), (29, 69)):
        clock.advance(advance)
        await send_reading(hass, fake_meter, telegram(second=second, **new_meter))
        assert state(hass, ENERGY_IMPORT) == "3580.245"  # 3 readings, but 59 s so far
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    clock.advance(2)
    await send_reading(hass, fake_meter, telegram(second=71, **new_meter))
    assert state(hass, ENERGY_IMPORT) == "3580.245"  # still held, never lower
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None and issue.is_fixable
    assert "1.8.0: 3580.24 → 2" in issue.translation_placeholders["registers"]

    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    await fake_meter.wait_connected()  # the entry reloaded with the new baseline
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert entry.options["baselines"] == {"1.8.0": 3578.245, "1.8.1": 1233.067, "1.8.2": 2345.178}

    clock.advance(10)
    await send_reading(hass, fake_meter, telegram(second=81, **{"1_8_1": 1.6, "1_8_2": 0.5}))
    assert state(hass, ENERGY_IMPORT) == "3580.345"  # + the 0.1 kWh the new meter counted
    attributes = hass.states.get(ENERGY_IMPORT).attributes  # type: ignore[union-attr]
    assert attributes["register_offset"] == 3578.245


async def test_a_leap_is_held_and_a_glitch_forgotten(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter, clock: Clock
) -> None:
    """An energy register that leaps further than the meter could count is not shown, and
    when the next readings are back in line it was a bad frame, forgotten."""
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    clock.advance(1)
    await send_reading(hass, fake_meter, telegram(second=1, **{"1_8_1": 91234.567}))
    assert state(hass, ENERGY_IMPORT) == "3580.245"  # +90000 kWh in a second: held
    clock.advance(1)
    await send_reading(hass, fake_meter, telegram(second=2, **{"1_8_1": 1234.568}))
    assert state(hass, ENERGY_IMPORT) == "3580.246"


async def test_restart_restores_and_guards_energy(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    entity_registry: er.EntityRegistry,
) -> None:
    """After a restart the last published register value is the floor, from the start."""
    mock_config_entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{METER_ID}_energy_import",
        config_entry=mock_config_entry,
        suggested_object_id=f"iskraemeco_{METER_ID.lower()}_energy_import",
    )
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                # Published an hour before the restart: 45 kWh more since is within reach.
                State(ENERGY_IMPORT, "5000.5", last_updated=dt_util.utcnow() - timedelta(hours=1)),
                {"native_value": 5000.5, "native_unit_of_measurement": "kWh"},
            )
        ],
    )
    await setup_integration()
    # Known from before: the entity exists before the first reading (unavailable, no value).
    assert state(hass, ENERGY_IMPORT) == STATE_UNAVAILABLE
    await send_reading(hass, fake_meter, telegram())
    assert state(hass, ENERGY_IMPORT) == "5000.5"
    await send_reading(hass, fake_meter, telegram(second=1, **{"1_8_1": 2700}))
    assert state(hass, ENERGY_IMPORT) == "5045.678"


async def test_restored_value_in_another_unit_is_ignored(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    entity_registry: er.EntityRegistry,
) -> None:
    """A restored value is a floor only if it is in the sensor's own unit."""
    mock_config_entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{METER_ID}_energy_import",
        config_entry=mock_config_entry,
        suggested_object_id=f"iskraemeco_{METER_ID.lower()}_energy_import",
    )
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(ENERGY_IMPORT, "5000500"),
                {"native_value": 5000500, "native_unit_of_measurement": "Wh"},
            )
        ],
    )
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    assert state(hass, ENERGY_IMPORT) == "3580.245"


# ------------------------------------------------------------------ update interval


@pytest.mark.parametrize("update_interval", [5])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_measurements_are_averaged_over_the_interval(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter, clock: Clock
) -> None:
    """Power, voltage, current: the mean over the interval; energy: the latest value."""
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())  # the first reading is written at once
    assert state(hass, POWER_IMPORT) == "1.234"

    for second, power, tariff_1 in ((1, 2.0, 1234.6), (2, 3.0, 1234.7), (3, 4.5, 1234.8)):
        clock.advance(1)
        await send_reading(
            hass, fake_meter, telegram(second=second, **{"1_7_0": power, "1_8_1": tariff_1})
        )
    assert state(hass, POWER_IMPORT) == "1.234"  # still inside the interval
    assert state(hass, ENERGY_IMPORT) == "3580.245"
    assert state(hass, LAST_READING) == "2026-06-27T12:00:00+00:00"

    clock.advance(2.5)
    await send_reading(hass, fake_meter, telegram(second=5, **{"1_7_0": 1.0, "1_8_1": 1234.833}))
    assert state(hass, POWER_IMPORT) == "2.625"  # (2 + 3 + 4.5 + 1) / 4
    assert state(hass, ENERGY_IMPORT) == "3580.511"
    assert state(hass, f"{PREFIX}_voltage_l1") == "230.1"
    assert state(hass, LAST_READING) == "2026-06-27T12:00:05+00:00"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_unchanged_values_are_not_written(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """A reading with the same values changes only the time of the last reading."""
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())

    def written() -> dict[str, Any]:
        # last_reported moves with every write, even one that leaves the state as it was.
        return {s.entity_id: (s.state, s.last_reported) for s in hass.states.async_all("sensor")}

    before = written()
    changed: list[str] = []

    def record(event: Event) -> None:
        changed.append(event.data["entity_id"])

    remove = hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    await send_reading(hass, fake_meter, telegram(second=1))
    remove()
    after = written()
    assert changed == [LAST_READING]
    assert [entity_id for entity_id in after if after[entity_id] != before[entity_id]] == [
        LAST_READING
    ]


# ------------------------------------------------------------------ rejected frames


@pytest.mark.parametrize("update_interval", [5])
async def test_rejected_frames_counted_and_logged_once(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first rejection of a kind is a warning, then debug lines and a rare summary."""
    caplog.set_level(logging.DEBUG, logger="custom_components.ch_smart_meter")
    await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    corrupted = telegram(second=1).replace(b"1-0:1.8.1(001234.567", b"1-0:1.8.1(009234.567")
    for _ in range(3):
        clock.advance(1)
        await send_reading(hass, fake_meter, corrupted)
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "rejected" in r.message
    ]
    assert len(warnings) == 1
    assert "checksum mismatch" in warnings[0].message
    assert state(hass, ENERGY_IMPORT) == "3580.245"

    clock.advance(300)
    await send_reading(hass, fake_meter, corrupted)
    summaries = [r.message for r in caplog.records if "frames rejected in the last" in r.message]
    assert summaries == [
        f"Iskraemeco {METER_ID}: frames rejected in the last 5 minutes: crc_mismatch 3"
    ]
    assert state(hass, FRAMES_REJECTED) == "4"


async def test_another_meter_id_is_logged(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A replaced meter (new id) keeps feeding the same sensors; the log says so once."""
    await setup_integration()
    await send_reading(hass, fake_meter, telegram(equipment_id="E0099999999999999"))
    await send_reading(hass, fake_meter, telegram(second=1, equipment_id="E0099999999999999"))
    assert caplog.text.count("now reports the id E0099999999999999") == 1
    assert state(hass, ENERGY_IMPORT) == "3580.245"


async def test_interval_option_change_reloads(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
    fake_meter: FakeMeter,
) -> None:
    """Changing an option reloads the entry; the new interval is in effect."""
    await setup_integration()
    hass.config_entries.async_update_entry(mock_config_entry, options={CONF_UPDATE_INTERVAL: 30})
    await hass.async_block_till_done()
    await wait_until(lambda: fake_meter.connections == 2 and fake_meter.clients == 1)
    assert mock_config_entry.runtime_data.coordinator.update_interval == 30
