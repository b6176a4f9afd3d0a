"""Options flow steps of the CH-SMR republisher (any meter entry).

After the sensor options (``init``), ``republish`` asks: on/off, group, id_ims, rate, QoS,
retain; its description shows the topic of the values shown. When the republisher is on,
``republish_preview`` shows the resulting topic and an example message (the meter's latest
reading) before anything is saved. Topics that would loop (the source of a CH-SMR entry of
this installation) or that another meter already republishes on are refused. Without
the MQTT integration, ``republish_unavailable`` says why there is nothing to set up.
"""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)

from .chsmr_source import source_topics
from .const import (
    CONF_REPUBLISH,
    CONF_REPUBLISH_GROUP,
    CONF_REPUBLISH_ID_IMS,
    CONF_REPUBLISH_INTERVAL,
    CONF_REPUBLISH_QOS,
    CONF_REPUBLISH_RETAIN,
    MAX_REPUBLISH_INTERVAL,
)
from .data import ChSmartMeterData
from .entry_data import entry_meter_id
from .mqtt_link import mqtt_module
from .reader.chsmr import encode_payload
from .republish import RepublishSettings, async_clear_retained, republished_topics

QOS_CHOICES: Final = ("0", "1")
NOTHING: Final = "-"


def settings_options(settings: RepublishSettings) -> dict[str, Any]:
    """The options that store ``settings`` (group and id_ims already sanitised)."""
    return {
        CONF_REPUBLISH: settings.enabled,
        CONF_REPUBLISH_GROUP: settings.group,
        CONF_REPUBLISH_ID_IMS: settings.id_ims,
        CONF_REPUBLISH_INTERVAL: settings.interval,
        CONF_REPUBLISH_QOS: settings.qos,
        CONF_REPUBLISH_RETAIN: settings.retain,
    }


def _schema(settings: RepublishSettings) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_REPUBLISH, default=settings.enabled): BooleanSelector(),
            vol.Required(CONF_REPUBLISH_GROUP, default=settings.group): TextSelector(),
            vol.Required(CONF_REPUBLISH_ID_IMS, default=settings.id_ims): TextSelector(),
            vol.Required(CONF_REPUBLISH_INTERVAL, default=settings.interval): NumberSelector(
                NumberSelectorConfig(
                    min=0,
                    max=MAX_REPUBLISH_INTERVAL,
                    step=1,
                    unit_of_measurement="s",
                    mode=NumberSelectorMode.SLIDER,
                )
            ),
            vol.Required(CONF_REPUBLISH_QOS, default=str(settings.qos)): SelectSelector(
                SelectSelectorConfig(
                    options=list(QOS_CHOICES),
                    mode=SelectSelectorMode.LIST,
                    translation_key=CONF_REPUBLISH_QOS,
                )
            ),
            vol.Required(CONF_REPUBLISH_RETAIN, default=settings.retain): BooleanSelector(),
        }
    )


class RepublishOptionsFlowMixin(OptionsFlow):
    """The republisher steps of the options flow (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._republish_options: dict[str, Any] | None = None
        self._republish_settings: RepublishSettings | None = None

    async def async_continue_to_republisher(self, options: dict[str, Any]) -> ConfigFlowResult:
        """Called by the first options step with the options it collected."""
        self._republish_options = options
        if mqtt_module(self.hass) is None and not self._settings(options).enabled:
            return await self.async_step_republish_unavailable()
        return await self.async_step_republish()

    async def async_step_republish_unavailable(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Without MQTT there is nothing to republish on: say why, save the other options.
        (A republisher switched on earlier keeps its form, to switch it off.)"""
        if user_input is not None:
            return await self._async_save()
        return self.async_show_form(
            step_id="republish_unavailable",
            data_schema=vol.Schema({}),
            description_placeholders={"title": self.config_entry.title},
        )

    def _settings(self, options: dict[str, Any]) -> RepublishSettings:
        return RepublishSettings.from_options(self.hass, options, entry_meter_id(self.config_entry))

    async def async_step_republish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """On/off, group, id_ims, rate, QoS, retain."""
        options = self._republish_options
        if options is None:
            options = self._republish_options = dict(self.config_entry.options)
        settings = self._settings(options)
        errors: dict[str, str] = {}
        conflict = NOTHING
        if user_input is not None:
            settings = self._settings(
                {**user_input, CONF_REPUBLISH_QOS: int(user_input[CONF_REPUBLISH_QOS])}
            )
            if settings.enabled:
                errors, conflict = self._conflicts(settings)
            if not errors:
                options.update(settings_options(settings))
                if settings.enabled:
                    self._republish_settings = settings
                    return await self.async_step_republish_preview()
                return await self._async_save()
        return self.async_show_form(
            step_id="republish",
            data_schema=_schema(settings),
            errors=errors,
            description_placeholders={
                "title": self.config_entry.title,
                "topic": settings.topic,
                "conflict": conflict,
            },
        )

    def _conflicts(self, settings: RepublishSettings) -> tuple[dict[str, str], str]:
        """A topic that would loop, or that another meter republishes on already."""
        topic = settings.topic
        sources = source_topics(self.hass)
        if topic in sources:
            return {"base": "topic_is_source"}, sources[topic]
        others = republished_topics(self.hass, exclude_entry_id=self.config_entry.entry_id)
        if topic in others:
            return {"base": "topic_in_use"}, others[topic]
        return {}, NOTHING

    async def async_step_republish_preview(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The resulting topic and an example message, before saving."""
        settings = self._republish_settings
        assert settings is not None
        if user_input is not None:
            return await self._async_save()
        runtime = getattr(self.config_entry, "runtime_data", None)
        reading = runtime.coordinator.reading if isinstance(runtime, ChSmartMeterData) else None
        return self.async_show_form(
            step_id="republish_preview",
            data_schema=vol.Schema({}),
            description_placeholders={
                "title": self.config_entry.title,
                "topic": settings.topic,
                "payload": NOTHING if reading is None else encode_payload(reading),
            },
        )

    async def _async_save(self) -> ConfigFlowResult:
        options = self._republish_options
        assert options is not None
        old = RepublishSettings.of_entry(self.hass, self.config_entry)
        new = self._settings(options)
        # A retained message would stay on the broker forever: remove it when it is no
        # longer kept up to date there.
        if (
            old.enabled
            and old.retain
            and (not new.enabled or not new.retain or new.topic != old.topic)
        ):
            await async_clear_retained(self.hass, old.topic)
        return self.async_create_entry(data=options)
