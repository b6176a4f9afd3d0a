"""Config, reconfigure and options flows.

The walk: ``user`` (the standard) → ``connection`` (a menu: serial port, network, serial
URL or simulated meter) → that connection's form → ``serial_format`` when the serial
format is "custom" → ``keys`` where the standard can be encrypted → ``probe`` (a live
check that listens to the meter, a progress step) → ``finish`` (the entry, with the meter
id as unique id). A failed check shows the form where it can be fixed again, with its
error: the keys form for key errors, otherwise the form the user filled last.
Keys that the meter verifies only exchanged (Kamstrup keys labelled 64/65) are stored in
the working order, after ``keys_swapped`` tells the user so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import serialx
import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .chsmr_flow import ChSmrConfigFlowMixin, chsmr_standard_choices, source_option_fields
from .const import (
    CONF_AUTHENTICATION_KEY,
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_ENCRYPTION_KEY,
    CONF_LOW_TARIFF,
    CONF_PARITY,
    CONF_POLL_INTERVAL,
    CONF_PROFILE,
    CONF_STANDARD,
    CONF_STOPBITS,
    CONF_UPDATE_INTERVAL,
    CONF_URL,
    DEFAULT_LOW_TARIFF,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    LOGGER,
    MAX_POLL_INTERVAL,
    MAX_UPDATE_INTERVAL,
    PROFILE_AUTO,
)
from .data import ChSmartMeterConfigEntry, ChSmartMeterData
from .entry_data import decoder_options_from_data, serial_settings_data, serial_settings_from_data
from .reader.dlms.decoder import SWAPPED_KEYS_NOTICE
from .reader.errors import InvalidKey
from .reader.model import Reading, SerialSettings, Standard
from .reader.session import PROBE_ERRORS, probe, probe_timeout
from .reader.simulate.meters import available_standards, demo_key
from .reader.simulate.stream import simulator_url
from .reader.spec import Carrier, StandardSpec
from .reader.standards import get_spec, meter_specs
from .reader.transport import is_serial_url, network_url
from .reauth_flow import ReauthFlowMixin
from .republish_flow import RepublishOptionsFlowMixin

SERIAL_BY_ID: Final = "/dev/serial/by-id"
CONF_SERIAL_PRESET: Final = "serial_preset"
PORT_MANUAL: Final = "manual"
PRESET_CUSTOM: Final = "custom"
# Shown when the check failed in an unexpected way (the log has the details).
ERROR_UNKNOWN: Final = "unknown"

# Selector values are translation keys (lower case); the line format wants letters.
PARITIES: Final = {"none": "N", "even": "E", "odd": "O"}
BYTESIZES: Final = ("7", "8")
STOPBITS: Final = {"1": 1.0, "2": 2.0}


def list_serial_ports() -> list[SelectOptionDict]:
    """Serial ports by their stable /dev/serial/by-id names, with a description.

    Blocking (file system and sysfs): run it in the executor.
    """
    by_id: dict[str, str] = {}
    if os.path.isdir(SERIAL_BY_ID):
        for name in sorted(os.listdir(SERIAL_BY_ID)):
            path = os.path.join(SERIAL_BY_ID, name)
            by_id.setdefault(os.path.realpath(path), path)
    options: dict[str, SelectOptionDict] = {}
    for port in serialx.list_serial_ports():
        device = str(port.device)
        stable = by_id.get(os.path.realpath(device), device)
        description = getattr(port, "description", None)
        label = f"{stable} ({description})" if description else stable
        options[stable] = SelectOptionDict(value=stable, label=label)
    for path in by_id.values():
        options.setdefault(path, SelectOptionDict(value=path, label=path))
    return list(options.values())


def _standard_schema(
    default: str | None, extra: list[SelectOptionDict] | None = None
) -> vol.Schema:
    options = [
        SelectOptionDict(value=spec.standard.value, label=spec.title) for spec in meter_specs()
    ] + (extra or [])
    return vol.Schema(
        {
            vol.Required(CONF_STANDARD, default=default or options[0]["value"]): SelectSelector(
                SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST)
            )
        }
    )


def _preset_field(spec: StandardSpec) -> dict[vol.Marker, SelectSelector]:
    """The serial format: one of the standard's presets (its usual one first), or custom."""
    options = [
        SelectOptionDict(value=preset.id, label=f"{preset.name} ({preset.settings.describe()})")
        for preset in spec.serial_presets
    ]
    options.append(SelectOptionDict(value=PRESET_CUSTOM, label=PRESET_CUSTOM))
    selector = SelectSelector(
        SelectSelectorConfig(
            options=options, mode=SelectSelectorMode.DROPDOWN, translation_key=CONF_SERIAL_PRESET
        )
    )
    return {vol.Required(CONF_SERIAL_PRESET, default=_default_preset(spec)): selector}


def _default_preset(spec: StandardSpec) -> str:
    return spec.serial_presets[0].id if spec.serial_presets else PRESET_CUSTOM


def _text(kind: TextSelectorType = TextSelectorType.TEXT) -> TextSelector:
    return TextSelector(TextSelectorConfig(type=kind))


def _select(options: list[str], key: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN, translation_key=key)
    )


@dataclass(slots=True)
class FlowState:
    """What one walk through the flow has collected so far."""

    spec: StandardSpec | None = None
    # The entry data being built: url, serial format, keys.
    data: dict[str, Any] = field(default_factory=dict)
    # The connection form the user filled last and what was typed in it: after a failed
    # check that form is shown again, filled in.
    form: str = "user"
    form_input: dict[str, Any] = field(default_factory=dict)
    preset: str = ""
    keys_entered: bool = False
    # Reconfigure: the entry's keys, kept unless new ones are typed (never shown back).
    stored_keys: dict[str, str] = field(default_factory=dict)
    probe_task: asyncio.Task[Reading] | None = None
    error: str | None = None  # the reason code of the failed check
    error_detail: str = ""
    error_about_keys: bool = False
    reading: Reading | None = None
    # The meter verified the keys only exchanged; they are stored in the working order.
    keys_swapped: bool = False


class ChSmartMeterConfigFlow(ChSmrConfigFlowMixin, ReauthFlowMixin, ConfigFlow, domain=DOMAIN):
    """Set up one meter."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        super().__init__()
        self.state = FlowState()
        # The form to show again after a failed check, by the step that showed it.
        self._forms: dict[str, Callable[[dict[str, str]], Awaitable[ConfigFlowResult]]] = {
            "serial": self._async_show_serial_form,
            "serial_manual": self._async_show_serial_manual_form,
            "network": self._async_show_network_form,
            "url": self._async_show_url_form,
            "serial_format": self._async_show_serial_format_form,
            "keys": self._async_show_keys_form,
            "mep_key": self._async_show_keys_form,
            # The simulated meter has no connection form: back to the start.
            "user": self._async_show_standard_form,
        }

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> ChSmartMeterOptionsFlow:
        """The options flow (update interval, meter profile)."""
        return ChSmartMeterOptionsFlow()

    @property
    def spec(self) -> StandardSpec:
        """The standard chosen in the first step."""
        assert self.state.spec is not None
        return self.state.spec

    # ------------------------------------------------------------ standard

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the standard the meter's customer interface speaks."""
        if user_input is not None:
            spec = self.state.spec = get_spec(user_input[CONF_STANDARD])
            if spec.carrier is Carrier.MQTT:
                return await self.async_step_chsmr()  # chsmr_flow.py: a topic, no port
            return await self.async_step_connection()
        return self.async_show_form(
            step_id="user", data_schema=_standard_schema(None, chsmr_standard_choices(self.hass))
        )

    async def _async_show_standard_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        return self.async_show_form(
            step_id="user",
            data_schema=_standard_schema(self.spec.standard.value),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the standard, the port, the serial format or the keys of an entry."""
        entry = self._get_reconfigure_entry()
        if get_spec(entry.data[CONF_STANDARD]).carrier is Carrier.MQTT:
            return await self.async_reconfigure_chsmr(entry)  # chsmr_flow.py
        if user_input is not None:
            self.state.spec = get_spec(user_input[CONF_STANDARD])
            self.state.stored_keys = {
                key: entry.data[key]
                for key in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY)
                if entry.data.get(key)
            }
            self.state.data = dict(self.state.stored_keys)
            return await self.async_step_connection()
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_standard_schema(entry.data.get(CONF_STANDARD)),
            description_placeholders={"title": entry.title},
        )

    # ------------------------------------------------------------ connection

    async def async_step_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """How the meter is connected."""
        options = ["serial", "network", "url"]
        if self.spec.standard in available_standards():
            options.append("simulator")
        return self.async_show_menu(step_id="connection", menu_options=options)

    async def async_step_serial(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A local serial port (USB P1 cable, M-Bus adapter, optical head)."""
        if user_input is not None:
            self._remember_form("serial", user_input, user_input[CONF_SERIAL_PRESET])
            if user_input[CONF_PORT] == PORT_MANUAL:
                return await self.async_step_serial_manual()
            return await self._async_connection_chosen(user_input[CONF_PORT])
        return await self._async_show_serial_form({})

    async def _async_show_serial_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        ports = await self.hass.async_add_executor_job(list_serial_ports)
        ports.append(SelectOptionDict(value=PORT_MANUAL, label=PORT_MANUAL))
        schema = vol.Schema(
            {
                vol.Required(CONF_PORT): SelectSelector(
                    SelectSelectorConfig(
                        options=ports, mode=SelectSelectorMode.DROPDOWN, translation_key=CONF_PORT
                    )
                ),
                **_preset_field(self.spec),
            }
        )
        return self._show_form("serial", schema, errors)

    async def async_step_serial_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A serial device path typed by hand."""
        if user_input is not None:
            # The serial format was chosen with the port list.
            self._remember_form("serial_manual", user_input, self.state.preset)
            return await self._async_connection_chosen(user_input[CONF_PORT].strip())
        return await self._async_show_serial_manual_form({})

    async def _async_show_serial_manual_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        return self._show_form(
            "serial_manual", vol.Schema({vol.Required(CONF_PORT): _text()}), errors
        )

    async def async_step_network(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A raw TCP serial server (ser2net, a Wi-Fi P1 bridge)."""
        if user_input is not None:
            self._remember_form("network", user_input, _default_preset(self.spec))
            url = network_url(user_input[CONF_HOST], int(user_input[CONF_PORT]))
            return await self._async_connection_chosen(url)
        return await self._async_show_network_form({})

    async def _async_show_network_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        schema = vol.Schema(
            {
                vol.Required(CONF_HOST): _text(),
                vol.Required(CONF_PORT): NumberSelector(
                    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
                ),
            }
        )
        return self._show_form("network", schema, errors)

    async def async_step_url(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A serial URL: socket://, rfc2217:// (ser2net telnet) or esphome:// (serial proxy)."""
        if user_input is not None:
            self._remember_form("url", user_input, user_input[CONF_SERIAL_PRESET])
            url = user_input[CONF_URL].strip()
            if not is_serial_url(url):
                return await self._async_show_url_form({CONF_URL: "invalid_url"})
            return await self._async_connection_chosen(url)
        return await self._async_show_url_form({})

    async def _async_show_url_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        schema = vol.Schema(
            {
                vol.Required(CONF_URL): _text(TextSelectorType.URL),
                **_preset_field(self.spec),
            }
        )
        return self._show_form("url", schema, errors)

    async def async_step_simulator(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A simulated meter in Home Assistant itself: a demo without hardware."""
        self._remember_form("user", {}, _default_preset(self.spec))
        # No key step: the simulated meter sends plain data, or knows its public demo key.
        self.state.keys_entered = True
        if (key := demo_key(self.spec.standard)) is not None:
            self.state.data[CONF_ENCRYPTION_KEY] = key.hex()
        return await self._async_connection_chosen(simulator_url(self.spec.standard))

    def _remember_form(self, step_id: str, user_input: dict[str, Any], preset: str) -> None:
        state = self.state
        state.form, state.form_input, state.preset = step_id, user_input, preset

    def _show_form(
        self, step_id: str, schema: vol.Schema, errors: dict[str, str]
    ) -> ConfigFlowResult:
        input_here = self.state.form_input if self.state.form == step_id else {}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, input_here),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def _async_connection_chosen(self, url: str) -> ConfigFlowResult:
        state = self.state
        state.data[CONF_URL] = url
        if self.source != SOURCE_RECONFIGURE:
            self._async_abort_entries_match({CONF_URL: url})
        if state.preset == PRESET_CUSTOM and state.form != "user":
            return await self.async_step_serial_format()
        presets = {preset.id: preset.settings for preset in self.spec.serial_presets}
        state.data.update(serial_settings_data(presets.get(state.preset, self.spec.serial)))
        return await self._async_next_after_connection()

    async def async_step_serial_format(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A character format that none of the standard's presets has."""
        if user_input is not None:
            self.state.data.update(
                {
                    CONF_BAUDRATE: int(user_input[CONF_BAUDRATE]),
                    CONF_BYTESIZE: int(user_input[CONF_BYTESIZE]),
                    CONF_PARITY: PARITIES[user_input[CONF_PARITY]],
                    CONF_STOPBITS: STOPBITS[user_input[CONF_STOPBITS]],
                }
            )
            self.state.form = "serial_format"
            return await self._async_next_after_connection()
        return await self._async_show_serial_format_form({})

    async def _async_show_serial_format_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        default = self.spec.serial or SerialSettings()
        parity = next(key for key, letter in PARITIES.items() if letter == default.parity.upper())
        stopbits = next(key for key, bits in STOPBITS.items() if bits == default.stopbits)
        schema = vol.Schema(
            {
                vol.Required(CONF_BAUDRATE, default=default.baudrate): NumberSelector(
                    NumberSelectorConfig(min=300, max=921600, step=1, mode=NumberSelectorMode.BOX)
                ),
                vol.Required(CONF_BYTESIZE, default=str(default.bytesize)): _select(
                    list(BYTESIZES), CONF_BYTESIZE
                ),
                vol.Required(CONF_PARITY, default=parity): _select(list(PARITIES), CONF_PARITY),
                vol.Required(CONF_STOPBITS, default=stopbits): _select(
                    list(STOPBITS), CONF_STOPBITS
                ),
            }
        )
        return self.async_show_form(
            step_id="serial_format",
            data_schema=schema,
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def _async_next_after_connection(self) -> ConfigFlowResult:
        if self.spec.supports_encryption and not self.state.keys_entered:
            return await self.async_step_keys()
        return await self.async_step_probe()

    # ------------------------------------------------------------ keys

    async def async_step_keys(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The keys the grid operator hands out for an encrypted customer interface."""
        errors: dict[str, str] = {}
        if user_input is not None:
            keys: dict[str, str | None] = {}
            for key_field in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY):
                try:
                    key = self.spec.parse_key(user_input.get(key_field))
                except InvalidKey as err:
                    errors[key_field] = err.reason.value
                    continue
                # Empty: keep the key stored in a reconfigured entry, else no key.
                keys[key_field] = (
                    key.hex() if key is not None else self.state.stored_keys.get(key_field)
                )
            if not errors:
                for key_field, value in keys.items():
                    if value is None:
                        self.state.data.pop(key_field, None)
                    else:
                        self.state.data[key_field] = value
                self.state.keys_entered = True
                return await self.async_step_probe()
        return await self._async_show_keys_form(errors)

    # An NES meter's MEP key (MBK) has a form of its own: another name, another format.
    async_step_mep_key = async_step_keys

    async def _async_show_keys_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        fields: dict[vol.Marker, Any] = {
            vol.Optional(CONF_ENCRYPTION_KEY): _text(TextSelectorType.PASSWORD)
        }
        if self.spec.supports_authentication_key:
            fields[vol.Optional(CONF_AUTHENTICATION_KEY)] = _text(TextSelectorType.PASSWORD)
        return self.async_show_form(
            step_id="mep_key" if self.spec.standard is Standard.MEP else "keys",
            data_schema=vol.Schema(fields),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    # ------------------------------------------------------------ live check

    async def async_step_probe(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Listen to the meter until a reading decodes (or the check fails)."""
        state = self.state
        if state.probe_task is None:
            state.probe_task = self.hass.async_create_task(
                self._async_probe(), f"{DOMAIN} live check", eager_start=False
            )
        if not state.probe_task.done():
            return self.async_show_progress(
                step_id="probe",
                progress_action="probe",
                progress_task=state.probe_task,
                description_placeholders={"seconds": f"{probe_timeout(self.spec):.0f}"},
            )
        task, state.probe_task = state.probe_task, None
        state.error, state.error_detail, state.error_about_keys = None, "", False
        try:
            state.reading = task.result()
        except PROBE_ERRORS as err:
            state.error, state.error_detail = err.reason.value, err.detail or ""
            state.error_about_keys = err.about_keys
        except TimeoutError:
            state.error = "no_data"
        except Exception:
            LOGGER.exception("Unexpected error while listening to the meter")
            state.error = ERROR_UNKNOWN
        if state.error is None:
            return self.async_show_progress_done(next_step_id="finish")
        return self.async_show_progress_done(next_step_id="probe_failed")

    async def _async_probe(self) -> Reading:
        spec = self.spec
        data = self.state.data
        timeout = probe_timeout(spec)
        # A loaded entry being reconfigured holds the port: it lets go while the check listens.
        entry = self._reconfigured_loaded_entry()
        holder = entry.runtime_data.source.paused() if entry else contextlib.nullcontext()
        # A safety net around the check's own timeout: the flow must never hang.
        async with asyncio.timeout(timeout + 10), holder:
            return await probe(
                data[CONF_URL],
                spec,
                decoder_options_from_data(data, self._reconfigure_options()),
                serial=serial_settings_from_data(data, spec),
                timeout=timeout,
            )

    def _reconfigure_options(self) -> Mapping[str, Any]:
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_entry().options
        return {}

    def _reconfigured_loaded_entry(self) -> ChSmartMeterConfigEntry | None:
        if self.source != SOURCE_RECONFIGURE:
            return None
        entry: ChSmartMeterConfigEntry = self._get_reconfigure_entry()
        loaded = entry.state is ConfigEntryState.LOADED
        return entry if loaded and isinstance(entry.runtime_data, ChSmartMeterData) else None

    async def async_step_probe_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what the live check found on the form where it can be fixed."""
        state = self.state
        assert state.error is not None
        form = "keys" if state.error_about_keys and self.spec.supports_encryption else state.form
        return await self._forms[form]({"base": state.error})

    def _placeholders(self) -> dict[str, str]:
        state = self.state
        return {
            "standard": state.spec.title if state.spec else "",
            "detail": state.error_detail or "-",
        }

    # ------------------------------------------------------------ result

    async def async_step_finish(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Create the entry, or update the reconfigured one, for the meter that answered."""
        state = self.state
        reading = state.reading
        assert reading is not None
        await self.async_set_unique_id(reading.meter_id)
        reconfigure = self.source == SOURCE_RECONFIGURE
        if reconfigure:
            self._abort_if_unique_id_mismatch(reason="wrong_meter")
        else:
            self._abort_if_unique_id_configured()
        if SWAPPED_KEYS_NOTICE in reading.notices and not state.keys_swapped:
            return self._show_keys_swapped(reading)
        data = {CONF_STANDARD: self.spec.standard.value, **state.data}
        if reconfigure:
            entry = self._get_reconfigure_entry()
            # A loaded entry's update listener reloads it (see __init__.py). One that is not
            # loaded (its old port failed) has no listener: set it up with the new data now.
            loaded = entry.state is ConfigEntryState.LOADED
            self.hass.config_entries.async_update_entry(entry, data=data)
            if not loaded and entry.disabled_by is None:
                self.hass.config_entries.async_schedule_reload(entry.entry_id)
            return self.async_abort(reason="reconfigure_successful")
        title = (
            f"{reading.manufacturer} {reading.meter_id}"
            if reading.manufacturer
            else f"Smart meter {reading.meter_id}"
        )
        return self.async_create_entry(
            title=title, data=data, options={CONF_UPDATE_INTERVAL: DEFAULT_UPDATE_INTERVAL}
        )

    def _show_keys_swapped(self, reading: Reading) -> ConfigFlowResult:
        """The meter accepted the keys only exchanged: store them so, and say so."""
        self.state.keys_swapped = True
        data = self.state.data
        data[CONF_ENCRYPTION_KEY], data[CONF_AUTHENTICATION_KEY] = (
            data[CONF_AUTHENTICATION_KEY],
            data[CONF_ENCRYPTION_KEY],
        )
        return self.async_show_form(
            step_id="keys_swapped", description_placeholders={"meter": reading.meter_id}
        )

    async def async_step_keys_swapped(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The user has read that the keys were swapped: create (or update) the entry."""
        return await self.async_step_finish()


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
