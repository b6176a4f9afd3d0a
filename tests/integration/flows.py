"""Steps of the config flow that several integration test modules take."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType


async def submit(
    hass: HomeAssistant, result: FlowResult, user_input: dict[str, Any] | None = None
) -> FlowResult:
    """Submit a form or pick a menu entry (``{"next_step_id": ...}``) of a flow."""
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


async def finish_probe(hass: HomeAssistant, result: FlowResult) -> FlowResult:
    """Let the live check run to its end and return what follows it."""
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    assert result["progress_action"] == "probe"
    await hass.async_block_till_done()
    return await submit(hass, result)
