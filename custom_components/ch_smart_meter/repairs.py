"""Repair flows: the one issue a user fixes here, a replaced meter (or an energy register that
changed its baseline), is confirmed and the registers continue from their last values."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .data import ChSmartMeterData


class MeterReplacedRepairFlow(RepairsFlow):
    """Accept the new baseline of a replaced meter's energy registers."""

    def __init__(self, entry_id: str) -> None:
        self._entry_id = entry_id

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Show what happened (the issue's text) and ask to accept."""
        return await self.async_step_confirm()

    async def async_step_confirm(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Store the new baselines in the entry's options; its reload applies them."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        runtime = getattr(entry, "runtime_data", None)
        if (
            entry is None
            or entry.state is not ConfigEntryState.LOADED
            or not isinstance(runtime, ChSmartMeterData)
        ):
            return self.async_abort(reason="not_loaded")
        if user_input is not None:
            options = {**entry.options, **runtime.coordinator.accept_baselines()}
            # The entry's update listener reloads it with the new options.
            self.hass.config_entries.async_update_entry(entry, options=options)
            return self.async_create_entry(data={})
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        placeholders = dict(issue.translation_placeholders or {}) if issue else {}
        return self.async_show_form(
            step_id="confirm", data_schema=vol.Schema({}), description_placeholders=placeholders
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The fix flow of a repair issue of this integration."""
    return MeterReplacedRepairFlow(str((data or {})["entry_id"]))
