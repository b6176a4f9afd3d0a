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
        Reading(START, METER_ID, {"1.7.0": 1.5, "96.7.21": 4.0, "96.1.1": 1.0, "0.9.9": 2.0})
    )
    await hass.async_block_till_done()
    assert isinstance(coordinator.channels["96.7.21"], IgnoredChannel)
    assert isinstance(coordinator.channels["96.1.1"], IgnoredChannel)
    keys = {
        e.translation_key
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    assert keys == {"power_import", "last_reading", "frames_rejected"}


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
    """The guard on its own: seeds, negatives, runs of lower values that restart."""
    guard = CounterGuard()
    assert not guard.offer(-1.0, 0.0)  # never negative, not even first
    assert guard.offer(0.0, 0.0)  # a new register may start at zero
    assert guard.offer(10.0, 1.0)
    guard.seed(5.0)  # a lower seed changes nothing
    assert guard.published == 10.0
    assert not guard.offer(4.0, 2.0)
    assert guard.holding
    assert not guard.offer(3.0, 100.0)  # lower than the run so far: the run starts again
    assert not guard.offer(3.0, 130.0)
    assert not guard.offer(3.1, 159.0)
    assert guard.offer(3.2, 160.0)  # 3 readings after the restart, 60 s: accepted
    assert guard.published == 3.2 and not guard.holding
