"""Config flow steps for a CH-SMR reader over MQTT (standard ``ch-smr``).

user (a menu: "CH-SMR over MQTT", offered once MQTT is set up) → ``chsmr`` (topic filter)
→ ``chsmr_listen`` (listens a few seconds, a progress step) → ``chsmr_pick`` (the meters
seen, with group and latest values) → entry with the meter id as unique id. Topics that
this installation republishes itself are never offered (a loop), and the form says so.
MQTT discovery (manifest ``"mqtt": ["dt/+/+/ds"]``) starts ``mqtt`` → ``mqtt_confirm``.

The steps live in a mixin so that ``config_flow.py`` only hooks them in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .chsmr_source import source_topics
from .const import (
    CONF_SOURCE_UNITS,
    CONF_STANDARD,
    CONF_TOPIC,
    CONF_UPDATE_INTERVAL,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    SOURCE_UNITS_BASE,
    SOURCE_UNITS_KILO,
)
from .mqtt_link import async_mqtt_client, mqtt_module
from .reader.chsmr import DEFAULT_TOPIC_FILTER, decode_payload, parse_topic
from .reader.errors import ChSmrError
from .reader.model import Reading, Standard
from .republish import republished_topics

# Seconds the flow listens to the broker. Readers publish at least every 10 s; most every
# 1-5 s, and a retained message arrives at once.
LISTEN_SECONDS: Final = 5.0
CONF_TOPIC_FILTER: Final = "topic_filter"
CONF_METER: Final = "meter"
# Values shown per meter in the list: enough to recognise it.
PREVIEW_CODES: Final = ("1.7.0", "2.7.0", "1.8.0", "2.8.0")
NOTHING: Final = "-"


@dataclass(slots=True)
class SeenMeter:
    """A meter whose CH-SMR messages arrived while the flow listened."""

    topic: str
    group: str
    id_ims: str
    meter_id: str
    values: Mapping[str, float]
    messages: int = 1

    @classmethod
    def from_reading(cls, topic: str, reading: Reading) -> SeenMeter:
        """The meter of one decoded message (``topic`` is a CH-SMR topic)."""
        group, id_ims = parse_topic(topic) or ("", reading.meter_id)
        return cls(topic, group, id_ims, reading.meter_id, reading.values)

    def preview(self) -> str:
        """The latest values that identify the meter best, e.g. ``1.7.0 = 1.234``."""
        codes = [code for code in PREVIEW_CODES if code in self.values] or list(self.values)[:4]
        return ", ".join(f"{code} = {self.values[code]:g}" for code in codes) or NOTHING

    def label(self) -> str:
        """One line of the list: id_ims, group, latest values."""
        name = self.id_ims if self.id_ims == self.meter_id else f"{self.id_ims} ({self.meter_id})"
        return f"{name} · {self.group} · {self.preview()}"


@dataclass(slots=True)
class ListenResult:
    """What a few seconds on the broker showed."""

    meters: dict[str, SeenMeter] = field(default_factory=dict)  # by topic
    republished: dict[str, str] = field(default_factory=dict)  # topic -> entry title
    rejected: int = 0


class MqttUnavailable(Exception):
    """The MQTT integration went away while the flow was listening."""


async def async_listen(hass: HomeAssistant, topic_filter: str, seconds: float) -> ListenResult:
    """Subscribe to ``topic_filter`` for ``seconds`` and collect the CH-SMR meters seen."""
    mqtt = await async_mqtt_client(hass)
    if mqtt is None:
        raise MqttUnavailable
    republished_here = republished_topics(hass)
    result = ListenResult()

    @callback
    def on_message(message: Any) -> None:
        topic: str = message.topic
        if parse_topic(topic) is None:
            return  # a filter such as dt/# also matches topics that are no CH-SMR data
        if topic in republished_here:
            result.republished[topic] = republished_here[topic]
            return
        try:
            reading = decode_payload(message.payload, topic=topic)
        except ChSmrError:
            result.rejected += 1
            return
        seen = result.meters.get(topic)
        if seen is None:
            result.meters[topic] = SeenMeter.from_reading(topic, reading)
        else:
            seen.values = reading.values
            seen.meter_id = reading.meter_id
            seen.messages += 1

    unsubscribe = await mqtt.async_subscribe(hass, topic_filter, on_message, 0, None)
    try:
        await asyncio.sleep(seconds)
    finally:
        unsubscribe()
    return result


def source_option_fields(entry: ConfigEntry) -> dict[vol.Marker, Any]:
    """The options of a CH-SMR source entry: the units its reader publishes."""
    if entry.data.get(CONF_STANDARD) != Standard.CH_SMR:
        return {}
    return {
        vol.Required(
            CONF_SOURCE_UNITS, default=entry.options.get(CONF_SOURCE_UNITS, SOURCE_UNITS_KILO)
        ): SelectSelector(
            SelectSelectorConfig(
                options=[SOURCE_UNITS_KILO, SOURCE_UNITS_BASE],
                mode=SelectSelectorMode.LIST,
                translation_key=CONF_SOURCE_UNITS,
            )
        )
    }


def _topics_text(topics: Mapping[str, str]) -> str:
    return ", ".join(f"{topic} ({title})" for topic, title in sorted(topics.items())) or NOTHING


class ChSmrConfigFlowMixin(ConfigFlow):
    """The CH-SMR steps of the config flow (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._chsmr_filter: str = DEFAULT_TOPIC_FILTER
        self._chsmr_listen_task: asyncio.Task[ListenResult] | None = None
        self._chsmr_result: ListenResult | None = None
        self._chsmr_discovered: SeenMeter | None = None

    async def async_step_chsmr(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Which topics to listen to (default ``dt/+/+/ds``)."""
        mqtt = mqtt_module(self.hass)
        if mqtt is None:
            return self.async_abort(reason="mqtt_not_set_up")
        if user_input is not None:
            topic_filter = str(user_input[CONF_TOPIC_FILTER]).strip()
            try:
                mqtt.valid_subscribe_topic(topic_filter)
            except vol.Invalid:
                self._chsmr_filter = topic_filter
                return self._show_chsmr_form({CONF_TOPIC_FILTER: "invalid_topic_filter"})
            self._chsmr_filter = topic_filter
            return await self.async_step_chsmr_listen()
        return self._show_chsmr_form({})

    def _show_chsmr_form(
        self, errors: dict[str, str], republished: Mapping[str, str] | None = None
    ) -> ConfigFlowResult:
        schema = vol.Schema(
            {vol.Required(CONF_TOPIC_FILTER, default=self._chsmr_filter): TextSelector()}
        )
        return self.async_show_form(
            step_id="chsmr",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "seconds": f"{LISTEN_SECONDS:.0f}",
                "filter": self._chsmr_filter,
                "republished": _topics_text(republished or republished_topics(self.hass)),
            },
        )

    async def async_reconfigure_chsmr(self, entry: ConfigEntry) -> ConfigFlowResult:
        """Reconfigure a CH-SMR entry: listen again and pick the same meter (its reader may
        publish on another topic now)."""
        return await self.async_step_chsmr()

    async def async_step_chsmr_listen(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Listen to the broker for a few seconds."""
        if self._chsmr_listen_task is None:
            self._chsmr_listen_task = self.hass.async_create_task(
                async_listen(self.hass, self._chsmr_filter, LISTEN_SECONDS),
                f"{DOMAIN} CH-SMR listen",
                eager_start=False,
            )
        if not self._chsmr_listen_task.done():
            return self.async_show_progress(
                step_id="chsmr_listen",
                progress_action="chsmr_listen",
                progress_task=self._chsmr_listen_task,
                description_placeholders={
                    "seconds": f"{LISTEN_SECONDS:.0f}",
                    "filter": self._chsmr_filter,
                },
            )
        task, self._chsmr_listen_task = self._chsmr_listen_task, None
        try:
            self._chsmr_result = task.result()
        except MqttUnavailable:
            return self.async_show_progress_done(next_step_id="mqtt_gone")
        return self.async_show_progress_done(next_step_id="chsmr_pick")

    async def async_step_mqtt_gone(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """MQTT went away while the flow listened."""
        return self.async_abort(reason="mqtt_not_set_up")

    async def async_step_chsmr_pick(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose one of the meters seen."""
        result = self._chsmr_result or ListenResult()
        if user_input is not None and (seen := result.meters.get(user_input[CONF_METER])):
            return await self._async_chsmr_finish(seen)
        if not result.meters:
            if result.republished:
                error = "only_republished"
            elif result.rejected:
                error = "invalid_messages"
            else:
                error = "no_meters"
            return self._show_chsmr_form({"base": error}, result.republished or None)
        meters = sorted(result.meters.values(), key=lambda seen: (seen.group, seen.id_ims))
        options = [SelectOptionDict(value=seen.topic, label=seen.label()) for seen in meters]
        schema = vol.Schema(
            {
                vol.Required(CONF_METER, default=meters[0].topic): SelectSelector(
                    SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST)
                )
            }
        )
        return self.async_show_form(
            step_id="chsmr_pick",
            data_schema=schema,
            description_placeholders={
                "count": str(len(meters)),
                "filter": self._chsmr_filter,
                "republished": _topics_text(result.republished),
            },
        )

    async def _async_chsmr_finish(self, seen: SeenMeter) -> ConfigFlowResult:
        # The user's choice wins over a discovery flow of the same meter (which then ends).
        await self.async_set_unique_id(seen.meter_id, raise_on_progress=False)
        data = {CONF_STANDARD: Standard.CH_SMR.value, CONF_TOPIC: seen.topic}
        if self.source == SOURCE_RECONFIGURE:
            self._abort_if_unique_id_mismatch(reason="wrong_meter")
            entry = self._get_reconfigure_entry()
            # The entry's update listener reloads it (see __init__.py); no reload here.
            self.hass.config_entries.async_update_entry(entry, data=data)
            return self.async_abort(reason="reconfigure_successful")
        self._abort_if_unique_id_configured()
        self._async_abort_entries_match({CONF_TOPIC: seen.topic})
        return self.async_create_entry(
            title=f"CH-SMR {seen.id_ims}",
            data=data,
            options={
                CONF_UPDATE_INTERVAL: DEFAULT_UPDATE_INTERVAL,
                CONF_SOURCE_UNITS: SOURCE_UNITS_KILO,
            },
        )

    # ------------------------------------------------------------ MQTT discovery

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """A CH-SMR message on ``dt/+/+/ds`` from a meter not set up yet."""
        topic = discovery_info.topic
        if parse_topic(topic) is None or not discovery_info.payload:
            return self.async_abort(reason="invalid_discovery_info")
        # Discovery runs for every new message: the cheap checks come before decoding.
        if topic in source_topics(self.hass):
            return self.async_abort(reason="already_configured")
        if topic in republished_topics(self.hass):
            return self.async_abort(reason="republished_here")  # ours: a loop if read back
        if self._async_in_progress(include_uninitialized=True, match_context={CONF_TOPIC: topic}):
            return self.async_abort(reason="already_in_progress")
        self.context[CONF_TOPIC] = topic  # type: ignore[typeddict-unknown-key]
        payload = discovery_info.payload
        try:
            reading = decode_payload(
                bytes(payload) if isinstance(payload, bytearray) else payload, topic=topic
            )
        except ChSmrError:
            return self.async_abort(reason="invalid_discovery_info")
        seen = SeenMeter.from_reading(topic, reading)
        await self.async_set_unique_id(seen.meter_id)
        self._abort_if_unique_id_configured()
        self._chsmr_discovered = seen
        # Named like the entry it creates; the flow title is just the name (reauth flows
        # are titled with their entry's title).
        self.context["title_placeholders"] = {"name": f"CH-SMR {seen.id_ims}"}
        return await self.async_step_mqtt_confirm()

    async def async_step_mqtt_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add the discovered meter?"""
        seen = self._chsmr_discovered
        assert seen is not None
        if user_input is not None:
            return await self._async_chsmr_finish(seen)
        self._set_confirm_only()
        return self.async_show_form(
            step_id="mqtt_confirm",
            description_placeholders={
                "id_ims": seen.id_ims,
                "meter_id": seen.meter_id,
                "group": seen.group,
                "topic": seen.topic,
                "values": seen.preview(),
            },
        )
