"""Set-up, unload, reload and stop: the port is released and nothing is left running."""

from __future__ import annotations

import asyncio

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter.const import CONF_STANDARD, DOMAIN

from .conftest import FakeMeter, Setup, entry_data, send_reading, telegram, wait_until


def _session_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith(f"{DOMAIN} source")]


async def test_unload_releases_everything(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """After unload: no session task, no timer of ours, the TCP connection closed."""
    entry = await setup_integration()
    await send_reading(hass, fake_meter, telegram())  # arms the silence timer
    assert entry.state is ConfigEntryState.LOADED
    assert len(_session_tasks()) == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    await fake_meter.wait_disconnected(timeout=1.0)
    assert _session_tasks() == []
    # Lingering tasks and timers are also checked by the hass fixture at teardown.


async def test_reload_reconnects_once(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """A reload closes the old connection before the new one reads."""
    entry = await setup_integration()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: fake_meter.connections == 2 and fake_meter.clients == 1)
    assert len(_session_tasks()) == 1
    await send_reading(hass, fake_meter, telegram())
    assert hass.states.get("sensor.iskraemeco_e0025000000000000_grid_power").state == "1.234"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_port_that_cannot_be_opened_retries_setup(hass: HomeAssistant) -> None:
    """A missing device: Home Assistant retries the set-up later, saying why."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="x", data=entry_data("/dev/ch-smart-meter-gone")
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None and "no such device" in entry.reason
    assert _session_tasks() == []


async def test_unknown_standard_fails_setup(hass: HomeAssistant) -> None:
    """An entry of a standard this version does not have cannot be set up."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="x", data=entry_data("/dev/x") | {CONF_STANDARD: "nes-mep-9"}
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR


async def test_silent_port_does_not_block_setup(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """An open but silent port: set-up completes; the sensors come with the first reading."""
    entry = await setup_integration()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("sensor.iskraemeco_e0025000000000000_grid_power") is None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_home_assistant_stop_closes_the_port(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """On stop the session ends and the connection is closed."""
    await setup_integration()
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    await fake_meter.wait_disconnected(timeout=1.0)
    assert _session_tasks() == []
