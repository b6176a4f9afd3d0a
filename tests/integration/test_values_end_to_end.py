"""Everything the meter says, end to end: a simulated DSMR meter with a gas and a water meter
on its M-Bus, added through the config flow, read by a real session; Home Assistant's own
recorder compiles the statistics and its energy validation accepts the sensors for the
energy dashboard (grid consumption and return, gas, water, and on 2025.12+ grid power). The
active tariff follows the meter's switch within one update interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.energy.validate import async_validate
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_PORT, MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.ch_smart_meter import async_remove_config_entry_device
from custom_components.ch_smart_meter.const import CONF_STANDARD, CONF_UPDATE_INTERVAL, DOMAIN

from .conftest import wait_until
from .flows import submit

# Grid power in the energy dashboard exists from 2025.12 on.
HAS_GRID_POWER = (MAJOR_VERSION, MINOR_VERSION) >= (2025, 12)
# A 5-minute statistics period; Home Assistant's clock is frozen in it and moved by the test
# (the event loop keeps real time for the session's timeouts).
PERIOD = datetime(2026, 6, 27, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """A real recorder (in-memory SQLite), set up before the integration."""


@pytest.fixture
async def unload_entries(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload what the flow created (its session must not outlive the test)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _add_simulated_meter(hass: HomeAssistant, url: str) -> ConfigEntry:
    """I know the standard: P1 DSMR, no key → a device path typed by hand (a simulator://
    address) → check."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await submit(hass, result, {"next_step_id": "standard"})
    result = await submit(hass, result, {CONF_STANDARD: "dsmr", "has_key": False})
    result = await submit(hass, result, {"next_step_id": "serial"})
    result = await submit(hass, result, {CONF_PORT: "manual", "serial_preset": "dsmr5"})
    result = await submit(hass, result, {CONF_DEVICE: url})
    async with asyncio.timeout(30):
        while result["type"] is FlowResultType.SHOW_PROGRESS:
            await hass.async_block_till_done()
            await asyncio.sleep(0.05)
            result = await submit(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


def _entities(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, er.RegistryEntry]:
    """The entry's entities by the key their unique id ends with."""
    registry = er.async_get(hass)
    return {
        e.unique_id.split("_", 1)[1]: e
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }


def _numeric(hass: HomeAssistant, entity_id: str) -> bool:
    state = hass.states.get(entity_id)
    try:
        return state is not None and float(state.state) >= 0
    except ValueError:
        return False


@pytest.mark.usefixtures("unload_entries")
@pytest.mark.freeze_time(PERIOD + timedelta(seconds=5), ignore=["asyncio"])
async def test_sub_meters_and_grid_power_in_the_energy_dashboard(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    # A minute of meter time per second: the gas and water meters report every 5 minutes.
    url = "simulator://dsmr?submeters=gas,water&acceleration=60&interval=0.5"
    entry = await _add_simulated_meter(hass, url)
    hass.config_entries.async_update_entry(entry, options={CONF_UPDATE_INTERVAL: 0})
    await hass.async_block_till_done()

    await wait_until(lambda: {"mbus1_gas", "mbus2_water"} <= set(_entities(hass, entry)), 20)
    entities = _entities(hass, entry)
    gas, water = entities["mbus1_gas"].entity_id, entities["mbus2_water"].entity_id
    await wait_until(lambda: _numeric(hass, gas) and _numeric(hass, water), 20)

    # Three devices: the meter, and a gas and a water meter linked to it.
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert len(devices) == 3
    (meter,) = (d for d in devices if (DOMAIN, entry.unique_id) in d.identifiers)
    others = {d.name: d for d in devices if d is not meter}
    assert set(others) == {"Gas meter 1", "Water meter 2"}
    assert all(d.via_device_id == meter.id for d in others.values())
    assert entities["mbus1_gas"].device_id == others["Gas meter 1"].id
    gas_state = hass.states.get(gas)
    assert gas_state is not None
    assert gas_state.attributes["device_class"] == "gas"
    assert gas_state.attributes["unit_of_measurement"] == "m³"
    assert gas_state.attributes["state_class"] == "total_increasing"
    assert "captured_at" in gas_state.attributes

    # The user may delete a sub-meter's device only once the meter stops reporting it; the
    # meter's own device never (it goes with the entry).
    coordinator = entry.runtime_data.coordinator
    gas_device = others["Gas meter 1"]
    assert not await async_remove_config_entry_device(hass, entry, meter)
    assert not await async_remove_config_entry_device(hass, entry, gas_device)
    reading = coordinator.reading
    assert reading is not None
    # A reading in which the gas meter is gone (taken out), the water meter still there.
    coordinator.async_handle_reading(
        replace(reading, submeters=tuple(s for s in reading.submeters if s.kind.value != "gas"))
    )
    assert await async_remove_config_entry_device(hass, entry, gas_device)
    assert not await async_remove_config_entry_device(hass, entry, others["Water meter 2"])

    # Grid power is import minus export of one and the same reading.
    net = entities["net_power"].entity_id

    def grid_power_matches() -> bool:
        reading = coordinator.reading
        state = hass.states.get(net)
        if reading is None or state is None:
            return False
        values = reading.values
        expected = Decimal(str(values["1.7.0"])) - Decimal(str(values["2.7.0"]))
        return Decimal(state.state) == expected

    await wait_until(grid_power_matches, 10)

    # The recorder compiles the period's statistics; then the energy dashboard's settings.
    freezer.move_to(PERIOD + timedelta(minutes=5, seconds=10))
    await async_wait_recording_done(hass)
    do_adhoc_statistics(hass, start=PERIOD)
    await async_wait_recording_done(hass)
    energy_import = entities["energy_import"].entity_id
    energy_export = entities["energy_export"].entity_id
    manager = await async_get_manager(hass)
    sources = _sources(energy_import, energy_export, net, gas, water)
    await manager.async_update({"energy_sources": sources})  # type: ignore[typeddict-item]
    validation = (await async_validate(hass)).as_dict()
    ours = {energy_import, energy_export, net, gas, water}
    problems = [
        issue
        for source in validation["energy_sources"]
        for issue in source
        if any(entity in ours for entity, _ in issue["affected_entities"])
    ]
    assert problems == []
    assert len(validation["energy_sources"]) == 3  # all three sources were validated


def _sources(
    energy_import: str, energy_export: str, power: str, gas: str, water: str
) -> list[dict[str, Any]]:
    """The energy dashboard's sources in the format of this Home Assistant version."""
    prices = {"stat_cost": None, "entity_energy_price": None, "number_energy_price": None}
    if HAS_GRID_POWER:
        grid: dict[str, Any] = {
            "type": "grid",
            "stat_energy_from": energy_import,
            "stat_energy_to": energy_export,
            **prices,
            "stat_compensation": None,
            "entity_energy_price_export": None,
            "number_energy_price_export": None,
            "power_config": {"stat_rate": power},
            "cost_adjustment_day": 0.0,
        }
    else:
        grid = {
            "type": "grid",
            "flow_from": [{"stat_energy_from": energy_import, **prices}],
            "flow_to": [
                {
                    "stat_energy_to": energy_export,
                    "stat_compensation": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "cost_adjustment_day": 0.0,
        }
    return [
        grid,
        {"type": "gas", "stat_energy_from": gas, **prices},
        {"type": "water", "stat_energy_from": water, **prices},
    ]


@pytest.mark.usefixtures("unload_entries")
async def test_the_active_tariff_follows_the_meter(hass: HomeAssistant) -> None:
    """The meter switches from the high to the low tariff at 21:00 (Swiss time): the sensor
    shows it within one update interval (5 s)."""
    switch = datetime(2026, 6, 27, 19, tzinfo=UTC)  # 21:00 in Zurich (summer time)
    start = (switch - timedelta(seconds=4)).isoformat()
    entry = await _add_simulated_meter(
        hass, f"simulator://dsmr?tariff=7-21&start={start.replace('+', '%2B')}"
    )
    tariff = _entities(hass, entry)["tariff"].entity_id
    await wait_until(lambda: (s := hass.states.get(tariff)) is not None and s.state == "high", 10)
    switched_at: float | None = None

    def low() -> bool:
        nonlocal switched_at
        reading = entry.runtime_data.coordinator.reading
        if switched_at is None and reading is not None and reading.values.get("96.14.0") == 2:
            switched_at = time.monotonic()  # the first reading of the low tariff
        state = hass.states.get(tariff)
        return state is not None and state.state == "low"

    await wait_until(low, 20)
    assert switched_at is not None
    assert time.monotonic() - switched_at <= 5.0 + 0.5
