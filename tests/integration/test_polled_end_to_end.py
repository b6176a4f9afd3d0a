"""Polled meters in Home Assistant, end to end on a real pseudo-terminal: the simulated meter
answers only what it is asked, the config flow finds it, the sensors show what it said, and
a lost answer is retried without the sensors ever going unavailable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.ch_smart_meter.const import (
    CONF_POLL_INTERVAL,
    CONF_STANDARD,
    CONF_UPDATE_INTERVAL,
    DOMAIN,
)
from custom_components.ch_smart_meter.reader.simulate.kmp_meter import KmpMeter
from custom_components.ch_smart_meter.reader.simulate.mep_meter import DEMO_MBK, MepSource
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions

from .conftest import meter_on_by_id_pty, wait_until
from .flows import submit

BY_ID_NAME = "usb-Kamstrup_USB_Meter_Interface_K1234-if00-port0"


@pytest.fixture
async def unload_entries(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload whatever the flow created (its session must not outlive the test)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _add_through_the_flow(
    hass: HomeAssistant, standard: str, by_id: Path, preset: str, **keys: str
) -> FlowResult:
    """standard → serial port (as listed) with ``preset`` → [keys] → live check."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await submit(hass, result, {"next_step_id": "standard"})
    result = await submit(hass, result, {CONF_STANDARD: standard, "has_key": bool(keys)})
    result = await submit(hass, result, {"next_step_id": "serial"})
    result = await submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": preset})
    if keys:
        assert result["step_id"] == "keys"
        result = await submit(hass, result, keys)
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    async with asyncio.timeout(30):
        while result["type"] is FlowResultType.SHOW_PROGRESS:
            await hass.async_block_till_done()
            await asyncio.sleep(0.05)
            result = await submit(hass, result)
    return result


def _states(hass: HomeAssistant, entity_ids: list[str]) -> list[str]:
    """Every state the entities took from now on."""
    seen: list[str] = []

    def on_change(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] in entity_ids and event.data["new_state"] is not None:
            seen.append(event.data["new_state"].state)

    hass.bus.async_listen("state_changed", on_change)
    return seen


async def _entity(hass: HomeAssistant, entry_id: str, key: str) -> str:
    """The entity of ``key``, once the first reading has created it."""
    registry = er.async_get(hass)

    def found() -> list[str]:
        return [
            entry.entity_id
            for entry in er.async_entries_for_config_entry(registry, entry_id)
            if entry.unique_id.split("_", 1)[1] == key
        ]

    await wait_until(lambda: len(found()) == 1, timeout=15)
    return found()[0]


@pytest.mark.usefixtures("unload_entries")
async def test_kamstrup_kmp_meter_on_a_pty(hass: HomeAssistant, tmp_path: Path) -> None:
    source = create_source("kmp", SourceOptions(seed=4))
    assert isinstance(source, KmpMeter)
    # A minute of meter time per wall second: the registers move between polls.
    simulator = Simulator(source, acceleration=60)
    async with meter_on_by_id_pty(simulator, tmp_path, BY_ID_NAME) as (_, by_id):
        result = await _add_through_the_flow(hass, "kmp", by_id, "usb")
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        assert result["title"] == f"Kamstrup {source.serial}"
        assert "encryption_key" not in result["data"]
        entry = result["result"]
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        # Poll fast (the minimum), and write every reading.
        hass.config_entries.async_update_entry(
            entry, options={CONF_UPDATE_INTERVAL: 0, CONF_POLL_INTERVAL: 2.0}
        )
        await hass.async_block_till_done()

        energy = await _entity(hass, entry.entry_id, "energy_import")
        power = await _entity(hass, entry.entry_id, "net_power")
        await wait_until(lambda: hass.states.get(power) is not None, timeout=15)
        states = _states(hass, [energy, power])
        requests = source.requests
        await wait_until(lambda: source.requests > requests + 3, timeout=15)
        source.drop_answers = 1  # one answer lost: the poller asks again
        answered = source.requests
        await wait_until(lambda: source.requests > answered + 6, timeout=20)
        await hass.async_block_till_done()

        # What the sensors show is what the meter said (0x000D kWh, 0x03FF kW). The meter
        # may already have answered the next cycle's first request, whose reading is not
        # complete yet: the sensor catches up with it when that cycle ends.
        await wait_until(
            lambda: Decimal(hass.states.get(energy).state) == source.latest[0x000D],  # type: ignore[union-attr]
            timeout=10,
        )
        assert STATE_UNAVAILABLE not in states and states
        runtime = entry.runtime_data
        dialogue = runtime.source.diagnostics()["dialogue"]
        assert dialogue["timeouts"] >= 1 and dialogue["retries"] >= 1
        assert runtime.source.stats.frames_rejected == 0


MEP_BY_ID = "usb-FTDI_FT232R_USB_UART_A10K5MEP-if00-port0"


async def _mep_flow_to_key(hass: HomeAssistant, by_id: Path) -> FlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await submit(hass, result, {"next_step_id": "standard"})
    # A MEP meter always needs its key (MBK): the grid operator handed it out.
    result = await submit(hass, result, {CONF_STANDARD: "mep", "has_key": True})
    result = await submit(hass, result, {"next_step_id": "serial"})
    result = await submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "mep"})
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "mep_key"), result
    return result


async def _check(hass: HomeAssistant, result: FlowResult, key: str) -> FlowResult:
    result = await submit(hass, result, {"encryption_key": key})
    async with asyncio.timeout(30):
        while result["type"] is FlowResultType.SHOW_PROGRESS:
            await hass.async_block_till_done()
            await asyncio.sleep(0.05)
            result = await submit(hass, result)
    return result


@pytest.mark.usefixtures("unload_entries")
async def test_nes_mep_meter_on_a_pty(hass: HomeAssistant, tmp_path: Path) -> None:
    """The MEP key step: a key of neither form is refused on the field, a wrong key is
    rejected by the meter and said so, the right one (as the operator writes it) reads;
    the sensors show the meter's values, also after the meter lost its sequence number."""
    source = create_source("mep", SourceOptions(seed=5))
    assert isinstance(source, MepSource)
    simulator = Simulator(source, acceleration=60)
    async with meter_on_by_id_pty(simulator, tmp_path, MEP_BY_ID) as (_, by_id):
        result = await _mep_flow_to_key(hass, by_id)
        result = await _check(hass, result, "0123")
        assert result["errors"] == {"encryption_key": "invalid_mep_key"}
        result = await _check(hass, result, "WRONG-MEP-KEY-000001")
        assert (result["step_id"], result["errors"]) == (
            "mep_key",
            {"encryption_key": "key_rejected"},
        )
        assert "WRONG" not in result["description_placeholders"]["detail"]
        result = await _check(hass, result, DEMO_MBK.decode())
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        assert result["data"]["encryption_key"] == DEMO_MBK.hex()
        assert source.utility_serial in result["title"]
        entry = result["result"]
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        hass.config_entries.async_update_entry(
            entry, options={CONF_UPDATE_INTERVAL: 0, CONF_POLL_INTERVAL: 3.0}
        )
        await hass.async_block_till_done()

        energy = await _entity(hass, entry.entry_id, "energy_import")
        power = await _entity(hass, entry.entry_id, "net_power")
        await wait_until(lambda: hass.states.get(power) is not None, timeout=15)
        states = _states(hass, [energy, power])
        source.sequence ^= 0x5A5A  # the meter restarted: the reader resynchronises
        source.drop_answers(1)
        requests = source.requests
        await wait_until(lambda: source.requests > requests + 8, timeout=30)
        await hass.async_block_till_done()

        # What the sensors show is what the meter said (its measurement of the last cycle).
        def shows_the_meter() -> bool:
            measured = source.measurement
            state = hass.states.get(energy)
            return bool(measured and state and Decimal(state.state) == measured.expected["1.8.0"])

        await wait_until(shows_the_meter, timeout=10)
        assert STATE_UNAVAILABLE not in states and states
        dialogue = entry.runtime_data.source.diagnostics()["dialogue"]
        assert dialogue["resynchronisations"] >= 1 and dialogue["retries"] >= 1
        assert entry.runtime_data.source.stats.frames_rejected == 0


@pytest.mark.usefixtures("unload_entries")
async def test_nes_mep_port_that_requires_tls(hass: HomeAssistant, tmp_path: Path) -> None:
    """A port set to TLS is recognised and explained, not retried into the meter's log."""
    source = create_source("mep", SourceOptions(model="nes-tls"))
    async with meter_on_by_id_pty(Simulator(source), tmp_path, MEP_BY_ID) as (_, by_id):
        result = await _check(hass, await _mep_flow_to_key(hass, by_id), DEMO_MBK.decode())
    # Not a key matter: said on the port's form (the operator has to change the port).
    assert (result["step_id"], result["errors"]) == ("serial", {"base": "tls_required"})
