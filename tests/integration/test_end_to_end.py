"""End to end: a simulated DSMR meter on a real pseudo-terminal, set up through the UI flow.

The simulator writes telegrams to a pty exactly as a P1 cable would; the integration is
added through the config flow (serial port entered by hand), switched to "every reading"
in the options flow, and its sensor states are compared with an independent decoding
(dsmr-parser) of the last telegram the simulator sent. After unload the pty is no longer
open by the integration.
"""

from __future__ import annotations

import asyncio
import os
import re
from decimal import Decimal

import pytest
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.ch_smart_meter.const import CONF_STANDARD, CONF_UPDATE_INTERVAL, DOMAIN
from custom_components.ch_smart_meter.reader.obis import CATALOGUE
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.outputs import PtyOutput, run
from custom_components.ch_smart_meter.reader.simulate.source import Simulator

from .conftest import wait_until

_CODE = re.compile(r":(\d+)\\\.(\d+)\\\.(\d+)")
_UNITS = {"kWh", "kW", "V", "A"}
_CODE_BY_KEY = {entry.key: entry.code for entry in CATALOGUE}


class RecordingOutput:
    """A pty output that remembers the frames it sent."""

    def __init__(self, output: PtyOutput) -> None:
        self.output = output
        self.frames: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)
        self.output.send(frame)

    async def close(self) -> None:
        await self.output.close()


def _open_count(path: str) -> int:
    """How many file descriptors of this process point to ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == path:
                count += 1
        except OSError:
            continue
    return count


def _oracle(frame: bytes) -> dict[str, Decimal]:
    """Values of a telegram by partial OBIS code, decoded by dsmr-parser."""
    telegram = TelegramParser(telegram_specifications.V5).parse(frame.decode("ascii"))
    values: dict[str, Decimal] = {}
    for reference, cosem in telegram.items():
        match = _CODE.search(reference)
        if match and getattr(cosem, "unit", None) in _UNITS:
            values[".".join(match.groups())] = Decimal(cosem.value)
    return values


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_simulated_meter_on_a_pty(hass: HomeAssistant) -> None:
    """Config flow → sensors that show exactly what the meter sent → clean unload."""
    simulator = Simulator(create_source("dsmr"), interval=0.2)
    output = RecordingOutput(PtyOutput(simulator))
    pty = output.output.path
    feeding = asyncio.get_running_loop().create_task(run(simulator, output))
    try:
        flow = hass.config_entries.flow
        result = await flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await flow.async_configure(result["flow_id"], {"next_step_id": "standard"})
        result = await flow.async_configure(result["flow_id"], {CONF_STANDARD: "dsmr"})
        result = await flow.async_configure(result["flow_id"], {"next_step_id": "serial"})
        result = await flow.async_configure(
            result["flow_id"], {CONF_PORT: "manual", "serial_preset": "dsmr5"}
        )
        # No key was handed out: straight to the live check.
        result = await flow.async_configure(result["flow_id"], {CONF_DEVICE: pty})
        assert result["type"] is FlowResultType.SHOW_PROGRESS
        await hass.async_block_till_done()
        result = await hass.config_entries.flow.async_configure(result["flow_id"])
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry = result["result"]
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED

        # Every reading written (the default averages over 5 s).
        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_UPDATE_INTERVAL: 0}
        )
        # The CH-SMR republisher: without MQTT a page that says why; submitted as it is.
        result = await hass.config_entries.options.async_configure(result["flow_id"], {})
        await hass.async_block_till_done()
        coordinator = entry.runtime_data.coordinator
        assert coordinator.update_interval == 0
        await wait_until(lambda: coordinator.reading is not None, timeout=10)
        assert _open_count(pty) == 2  # the simulator's end and the integration's

        feeding.cancel()
        sent = len(output.frames)
        await asyncio.sleep(0.3)  # the last telegram reaches the integration
        assert len(output.frames) == sent
        last = _oracle(output.frames[-1])
        assert last  # energies, powers, voltages, currents

        registry = er.async_get(hass)
        shown: dict[str, str] = {}
        for registry_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
            key = registry_entry.unique_id.removeprefix(f"{entry.unique_id}_")
            if key in _CODE_BY_KEY and (state := hass.states.get(registry_entry.entity_id)):
                shown[_CODE_BY_KEY[key]] = state.state
        for code, value in last.items():
            if code in shown:
                assert Decimal(shown[code]) == value, code
        # Every enabled sensor of a delivered value shows it.
        assert {"1.8.1", "1.8.2", "1.7.0", "32.7.0", "31.7.0"} <= set(shown) & set(last)
        # 1.8.0 is the sum of the tariff registers.
        assert Decimal(shown["1.8.0"]) == last["1.8.1"] + last["1.8.2"]

        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        assert _open_count(pty) == 1  # only the simulator's own end is left
    finally:
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
        await output.close()
