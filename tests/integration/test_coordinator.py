"""Coordinator details that a telegram cannot easily trigger: readings are handed over directly."""

from __future__ import annotations

from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter import sensor
from custom_components.ch_smart_meter.channels import CounterGuard, IgnoredChannel
from custom_components.ch_smart_meter.const import DOMAIN
from custom_components.ch_smart_meter.reader.model import Reading
from custom_components.ch_smart_meter.reader.session import MeterSession

from .conftest import METER_ID, START, Setup


async def test_codes_outside_the_catalogue_are_ignored(
    hass: HomeAssistant, setup_integration: Setup, entity_registry: er.EntityRegistry
) -> None:
    """Values the catalogue has no sensor for (and identifiers) cost a lookup, no entity."""
    entry = await setup_integration()
    coordinator = entry.runtime_data.coordinator
    coordinator.async_handle_reading(
        Reading(START, METER_ID, {"1.7.0": 1.5, "96.50.0": 4.0, "96.1.1": 1.0, "0.9.9": 2.0})
    )
    await hass.async_block_till_done()
    assert isinstance(coordinator.channels["96.50.0"], IgnoredChannel)
    assert isinstance(coordinator.channels["96.1.1"], IgnoredChannel)
    keys = {
        e.translation_key
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    assert keys == {"power_import", "last_reading", "frames_rejected"}  # no grid power: no export


async def test_reading_without_manufacturer(
    hass: HomeAssistant, setup_integration: Setup, device_registry: dr.DeviceRegistry
) -> None:
    """A meter that does not name itself: the device keeps the entry title only."""
    entry = await setup_integration()
    entry.runtime_data.coordinator.async_handle_reading(Reading(START, METER_ID, {"1.7.0": 1.5}))
    await hass.async_block_till_done()
    (device,) = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    assert (device.name, device.manufacturer, device.model) == (entry.title, None, None)
    assert device.identifiers == {(DOMAIN, METER_ID)}


async def test_crashed_session_is_logged(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """The session never ends by itself; if it does (a bug), the log says so."""
    mock_config_entry.add_to_hass(hass)
    with patch.object(MeterSession, "run", AsyncMock(side_effect=RuntimeError("bug"))):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    assert "reading the meter stopped unexpectedly" in caplog.text
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


def test_reactive_device_class_depends_on_the_version() -> None:
    """A device class is used only where the running Home Assistant accepts the unit."""
    assert sensor._device_class_if_unit("NO_SUCH_CLASS", "kvar") is None
    assert sensor._device_class_if_unit("POWER", "furlong") is None
    assert sensor._device_class_if_unit("POWER", "kW") is sensor.SensorDeviceClass.POWER


def test_counter_guard() -> None:
    """The guard on its own: seeds, negatives, zero, steps back and leaps."""
    guard = CounterGuard(max_rate=100 / 3600)  # a 100 kW meter: 1 kWh in 36 s
    assert not guard.offer(-1.0, 0.0)  # never negative, not even first
    assert guard.offer(0.0, 0.0)  # a new register may start at zero
    assert guard.offer(10.0, 360.0)  # 10 kWh in 6 min: within 100 kW
    guard.seed(5.0, 300.0)  # a lower seed changes nothing
    assert guard.published == 10.0
    assert not guard.offer(0.0, 361.0)  # a restarting adapter's zero is never shown
    assert not guard.offer(4.0, 362.0) and guard.holding  # a step back is held
    assert guard.offer(10.1, 363.0) and not guard.holding  # back in line: it was a glitch
    assert not guard.offer(60.0, 364.0) and guard.holding  # +50 kWh in 1 s: held
    assert guard.offer(10.2, 365.0) and not guard.holding  # and forgotten
    assert not guard.discontinuity


def test_counter_guard_new_baseline() -> None:
    """A value out of line that persists is a new baseline: held until accepted, then the
    register continues from its last value (no negative, no absurd hourly sum)."""
    guard = CounterGuard(max_rate=100 / 3600)
    guard.seed(5000.0, 0.0)
    assert not guard.offer(12.0, 10.0)  # a replaced meter, lower
    assert not guard.offer(11.0, 20.0)  # lower than the run: the run starts again
    assert not guard.offer(11.01, 50.0)
    assert not guard.offer(11.02, 70.0) and not guard.discontinuity  # 3 readings, 20 s
    assert not guard.offer(11.03, 110.0)  # 4 readings over 60 s: a new baseline
    assert guard.discontinuity and guard.published == 5000.0 and guard.held == 11.03
    assert guard.accept_baseline() == 5000.0 - 11.0
    assert not guard.discontinuity
    assert guard.offer(11.5, 120.0)  # the new meter counted 0.5 kWh since the change
    assert guard.published == 5000.5
    # A leap that persists (e.g. a used meter with a higher register): the same.
    leap = CounterGuard(max_rate=100 / 3600)
    leap.seed(100.0, 0.0)
    for moment, value in ((1.0, 30000.0), (30.0, 30000.1), (61.0, 30000.2)):
        assert not leap.offer(value, moment)
    assert leap.discontinuity and leap.published == 100.0
    leap.accept_baseline()
    assert leap.offer(30000.3, 62.0) and leap.published == 100.3
