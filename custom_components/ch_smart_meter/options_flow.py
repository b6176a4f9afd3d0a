"""The options flow: how often sensors are written and meters asked, the DLMS meter profile,
the low tariff's number, a CH-SMR source's units; then the CH-SMR republisher
(``republish_flow.py``), which saves."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .chsmr_flow import source_option_fields
from .const import (
    CONF_LOW_TARIFF,
    CONF_POLL_INTERVAL,
    CONF_PROFILE,
    CONF_STANDARD,
    CONF_UPDATE_INTERVAL,
    DEFAULT_LOW_TARIFF,
    DEFAULT_UPDATE_INTERVAL,
    MAX_POLL_INTERVAL,
    MAX_UPDATE_INTERVAL,
    PROFILE_AUTO,
)
from .reader.spec import StandardSpec
from .reader.standards import get_spec
from .republish_flow import RepublishOptionsFlowMixin


class ChSmartMeterOptionsFlow(RepublishOptionsFlowMixin, OptionsFlow):
    """Tunables: how often sensors are written, and the meter profile for DLMS standards."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form with every option."""
        options = self.config_entry.options
        if user_input is not None:
            values = dict(user_input)
            values[CONF_UPDATE_INTERVAL] = int(values[CONF_UPDATE_INTERVAL])
            if CONF_POLL_INTERVAL in values:
                values[CONF_POLL_INTERVAL] = float(values[CONF_POLL_INTERVAL])
            values[CONF_LOW_TARIFF] = int(values[CONF_LOW_TARIFF])
            # Then the CH-SMR republisher (republish_flow.py), which saves.
            return await self.async_continue_to_republisher({**options, **values})
        fields: dict[vol.Marker, Any] = {
            vol.Required(
                CONF_UPDATE_INTERVAL,
                default=options.get(CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL),
            ): NumberSelector(
                NumberSelectorConfig(
                    min=0,
                    max=MAX_UPDATE_INTERVAL,
                    step=1,
                    unit_of_measurement="s",
                    mode=NumberSelectorMode.BOX,
                )
            )
        }
        try:
            spec: StandardSpec | None = get_spec(self.config_entry.data[CONF_STANDARD])
        except (KeyError, ValueError):
            spec = None
        if spec is not None and spec.polled:
            fields[
                vol.Required(
                    CONF_POLL_INTERVAL, default=options.get(CONF_POLL_INTERVAL, spec.interval)
                )
            ] = NumberSelector(
                NumberSelectorConfig(
                    min=spec.min_poll_interval,
                    max=MAX_POLL_INTERVAL,
                    step=1,
                    unit_of_measurement="s",
                    mode=NumberSelectorMode.BOX,
                )
            )
        profiles = spec.profiles if spec is not None else ()
        if profiles:
            choices = [SelectOptionDict(value=PROFILE_AUTO, label=PROFILE_AUTO)]
            choices += [
                SelectOptionDict(value=profile.id, label=profile.title) for profile in profiles
            ]
            fields[vol.Required(CONF_PROFILE, default=options.get(CONF_PROFILE, PROFILE_AUTO))] = (
                SelectSelector(
                    SelectSelectorConfig(
                        options=choices,
                        mode=SelectSelectorMode.DROPDOWN,
                        translation_key=CONF_PROFILE,
                    )
                )
            )
        fields[
            vol.Required(
                CONF_LOW_TARIFF, default=str(options.get(CONF_LOW_TARIFF, DEFAULT_LOW_TARIFF))
            )
        ] = SelectSelector(
            SelectSelectorConfig(
                options=["1", "2"],
                mode=SelectSelectorMode.LIST,
                translation_key=CONF_LOW_TARIFF,
            )
        )
        fields.update(source_option_fields(self.config_entry))  # CH-SMR source units
        return self.async_show_form(step_id="init", data_schema=vol.Schema(fields))
