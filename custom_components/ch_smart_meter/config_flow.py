"""Config, reconfigure and options flows.

standard → connection (serial port, network, serial URL or simulated meter) → serial
character format when "custom" → keys (where the standard can be encrypted) → a live check
that listens to the meter (a progress step) → entry, with the meter id as unique id.
Keys that the meter verifies only exchanged (Kamstrup keys labelled 64/65) are stored in
the working order, after a step that tells the user so.
Errors say what the check found: the port cannot be opened, nothing arrives, something
arrives but no valid frame, a key is needed, the key is wrong.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
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
    CONF_PARITY,
    CONF_PROFILE,
    CONF_STANDARD,
    CONF_STOPBITS,
    CONF_UPDATE_INTERVAL,
    CONF_URL,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    LOGGER,
    MAX_UPDATE_INTERVAL,
    PROFILE_AUTO,
)
from .coordinator import (
    ChSmartMeterConfigEntry,
    decoder_options_from_data,
    serial_settings_from_data,
)
from .reader.dlms.cipher import parse_key
from .reader.dlms.decoder import SWAPPED_KEYS_NOTICE
from .reader.errors import (
    DecryptionFailed,
    InvalidKey,
    KeyRequired,
    NoData,
    NoValidFrame,
    ReaderError,
    TransportError,
)
from .reader.model import Reading, SerialSettings, Standard
from .reader.session import probe
from .reader.simulate.source import available_standards
from .reader.standards import StandardSpec, get_spec, implemented_specs
from .republish_flow import RepublishOptionsFlowMixin

# Seconds the live check listens at least; slow meters get two of their intervals more.
PROBE_TIMEOUT: Final = 20.0

SERIAL_BY_ID: Final = "/dev/serial/by-id"
CONF_SERIAL_PRESET: Final = "serial_preset"
PORT_MANUAL: Final = "manual"
PRESET_CUSTOM: Final = "custom"
NETWORK_SCHEMES: Final = ("socket", "rfc2217", "esphome")

# Selector values are translation keys (lower case); the line format wants letters.
PARITIES: Final = {"none": "N", "even": "E", "odd": "O"}
BYTESIZES: Final = ("7", "8")
STOPBITS: Final = {"1": 1.0, "2": 2.0}

# What the live check raised → (error key, show it on the keys step). The first match wins,
# so subclasses come before their bases.
PROBE_ERRORS: Final[tuple[tuple[type[ReaderError], str, bool], ...]] = (
    (KeyRequired, "key_required", True),
    (DecryptionFailed, "invalid_key", True),
    (InvalidKey, "invalid_key_format", True),
    (NoData, "no_data", False),
    (NoValidFrame, "no_valid_frame", False),
    (TransportError, "cannot_open", False),
)


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


def network_url(host: str, port: int) -> str:
    """``socket://host:port``; IPv6 literals in brackets."""
    host = host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"socket://{host}:{port}"


def simulator_url(spec: StandardSpec) -> str:
    """The address of the in-process simulated meter of a standard."""
    return f"simulator://{spec.standard.value}"


def probe_timeout(spec: StandardSpec) -> float:
    """How long the live check listens for a standard."""
    return max(PROBE_TIMEOUT, 2 * spec.interval + 5)


def _settings_data(settings: SerialSettings | None) -> dict[str, Any]:
    if settings is None:
        return {}
    return {
        CONF_BAUDRATE: settings.baudrate,
        CONF_BYTESIZE: settings.bytesize,
        CONF_PARITY: settings.parity,
        CONF_STOPBITS: settings.stopbits,
    }


def _standard_schema(
    default: str | None, extra: list[SelectOptionDict] | None = None
) -> vol.Schema:
    options = [
        SelectOptionDict(value=spec.standard.value, label=spec.title)
        for spec in implemented_specs()
    ] + (extra or [])
    return vol.Schema(
        {
            vol.Required(CONF_STANDARD, default=default or options[0]["value"]): SelectSelector(
                SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST)
            )
        }
    )


def _preset_selector(spec: StandardSpec) -> SelectSelector:
    options = [
        SelectOptionDict(value=str(index), label=f"{preset.name} ({preset.settings.describe()})")
        for index, preset in enumerate(spec.serial_presets)
    ]
    options.append(SelectOptionDict(value=PRESET_CUSTOM, label=PRESET_CUSTOM))
    return SelectSelector(
        SelectSelectorConfig(
            options=options, mode=SelectSelectorMode.DROPDOWN, translation_key=CONF_SERIAL_PRESET
        )
    )


def _text(kind: TextSelectorType = TextSelectorType.TEXT) -> TextSelector:
    return TextSelector(TextSelectorConfig(type=kind))


def _select(options: list[str], key: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN, translation_key=key)
    )


class ChSmartMeterConfigFlow(ChSmrConfigFlowMixin, ConfigFlow, domain=DOMAIN):
    """Set up one meter."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        self._spec: StandardSpec | None = None
        self._data: dict[str, Any] = {}
        self._connection_step = "user"
        self._connection_input: dict[str, Any] = {}
        self._preset = "0"
        self._keys_entered = False
        self._stored_keys: dict[str, str] = {}
        self._probe_task: asyncio.Task[Reading] | None = None
        self._probe_error: tuple[str, bool, str] | None = None
        self._reading: Reading | None = None
        # The meter verified the keys only exchanged; they are stored in the working order.
        self._keys_swapped = False

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> ChSmartMeterOptionsFlow:
        """The options flow (update interval, meter profile)."""
        return ChSmartMeterOptionsFlow()

    @property
    def spec(self) -> StandardSpec:
        """The standard chosen in the first step."""
        assert self._spec is not None
        return self._spec

    # ------------------------------------------------------------ standard

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the standard the meter's customer interface speaks."""
        if user_input is not None:
            if user_input[CONF_STANDARD] == Standard.CH_SMR:
                return await self.async_step_chsmr()  # chsmr_flow.py
            self._spec = get_spec(user_input[CONF_STANDARD])
            return await self.async_step_connection()
        return self.async_show_form(
            step_id="user", data_schema=_standard_schema(None, chsmr_standard_choices(self.hass))
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the standard, the port, the serial format or the keys of an entry."""
        entry = self._get_reconfigure_entry()
        if entry.data.get(CONF_STANDARD) == Standard.CH_SMR:
            return await self.async_reconfigure_chsmr(entry)  # chsmr_flow.py
        if user_input is not None:
            self._spec = get_spec(user_input[CONF_STANDARD])
            # Keys stay unless new ones are typed (they are never shown back).
            self._stored_keys = {
                key: entry.data[key]
                for key in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY)
                if entry.data.get(key)
            }
            self._data = dict(self._stored_keys)
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
            self._connection_input = user_input
            self._preset = user_input[CONF_SERIAL_PRESET]
            if user_input[CONF_PORT] == PORT_MANUAL:
                return await self.async_step_serial_manual()
            return await self._async_connection_chosen("serial", user_input[CONF_PORT])
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
                vol.Required(CONF_SERIAL_PRESET, default="0"): _preset_selector(self.spec),
            }
        )
        return self._show_connection_form("serial", schema, errors)

    async def async_step_serial_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A serial device path typed by hand."""
        if user_input is not None:
            self._connection_input = user_input
            return await self._async_connection_chosen(
                "serial_manual", user_input[CONF_PORT].strip()
            )
        return self._show_serial_manual_form({})

    def _show_serial_manual_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        schema = vol.Schema({vol.Required(CONF_PORT): _text()})
        return self._show_connection_form("serial_manual", schema, errors)

    async def async_step_network(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A raw TCP serial server (ser2net, a Wi-Fi P1 bridge)."""
        if user_input is not None:
            self._connection_input = user_input
            self._preset = "0"
            url = network_url(user_input[CONF_HOST], int(user_input[CONF_PORT]))
            return await self._async_connection_chosen("network", url)
        return self._show_network_form({})

    def _show_network_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        schema = vol.Schema(
            {
                vol.Required(CONF_HOST): _text(),
                vol.Required(CONF_PORT): NumberSelector(
                    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
                ),
            }
        )
        return self._show_connection_form("network", schema, errors)

    async def async_step_url(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A serial URL: socket://, rfc2217:// (ser2net telnet) or esphome:// (serial proxy)."""
        if user_input is not None:
            self._connection_input = user_input
            self._preset = user_input[CONF_SERIAL_PRESET]
            url = user_input[CONF_URL].strip()
            scheme, _, rest = url.partition("://")
            if scheme.lower() not in NETWORK_SCHEMES or not rest:
                return self._show_url_form({CONF_URL: "invalid_url"})
            return await self._async_connection_chosen("url", url)
        return self._show_url_form({})

    def _show_url_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        schema = vol.Schema(
            {
                vol.Required(CONF_URL): _text(TextSelectorType.URL),
                vol.Required(CONF_SERIAL_PRESET, default="0"): _preset_selector(self.spec),
            }
        )
        return self._show_connection_form("url", schema, errors)

    async def async_step_simulator(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A simulated meter in Home Assistant itself: a demo without hardware."""
        self._connection_input = {}
        self._preset = "0"
        return await self._async_connection_chosen("user", simulator_url(self.spec))

    def _show_connection_form(
        self, step_id: str, schema: vol.Schema, errors: dict[str, str]
    ) -> ConfigFlowResult:
        self._connection_step = step_id
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, self._connection_input),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def _async_connection_chosen(self, step_id: str, url: str) -> ConfigFlowResult:
        self._connection_step = step_id
        self._data[CONF_URL] = url
        if self.source != SOURCE_RECONFIGURE:
            self._async_abort_entries_match({CONF_URL: url})
        if self._preset == PRESET_CUSTOM and step_id != "user":
            return await self.async_step_serial_format()
        presets = self.spec.serial_presets
        index = int(self._preset) if self._preset.isdigit() else 0
        settings = presets[index].settings if index < len(presets) else self.spec.serial
        self._data.update(_settings_data(settings))
        return await self._async_next_after_connection()

    async def async_step_serial_format(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A character format that none of the standard's presets has."""
        if user_input is not None:
            self._data.update(
                {
                    CONF_BAUDRATE: int(user_input[CONF_BAUDRATE]),
                    CONF_BYTESIZE: int(user_input[CONF_BYTESIZE]),
                    CONF_PARITY: PARITIES[user_input[CONF_PARITY]],
                    CONF_STOPBITS: STOPBITS[user_input[CONF_STOPBITS]],
                }
            )
            return await self._async_next_after_connection()
        return self._show_serial_format_form({})

    def _show_serial_format_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        self._connection_step = "serial_format"
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
        if self.spec.supports_encryption and not self._keys_entered:
            return await self.async_step_keys()
        return await self.async_step_probe()

    # ------------------------------------------------------------ keys

    async def async_step_keys(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The keys the grid operator hands out for an encrypted customer interface."""
        errors: dict[str, str] = {}
        if user_input is not None:
            keys: dict[str, str | None] = {}
            for field in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY):
                try:
                    key = parse_key(user_input.get(field))
                except InvalidKey:
                    errors[field] = "invalid_key_format"
                    continue
                # Empty: keep the key stored in a reconfigured entry, else no key.
                keys[field] = key.hex() if key is not None else self._stored_keys.get(field)
            if not errors:
                for field, value in keys.items():
                    if value is None:
                        self._data.pop(field, None)
                    else:
                        self._data[field] = value
                self._keys_entered = True
                return await self.async_step_probe()
        return self._show_keys_form(errors)

    def _show_keys_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        fields: dict[vol.Marker, Any] = {
            vol.Optional(CONF_ENCRYPTION_KEY): _text(TextSelectorType.PASSWORD)
        }
        if self.spec.supports_authentication_key:
            fields[vol.Optional(CONF_AUTHENTICATION_KEY)] = _text(TextSelectorType.PASSWORD)
        return self.async_show_form(
            step_id="keys",
            data_schema=vol.Schema(fields),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    # ------------------------------------------------------------ live check

    async def async_step_probe(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Listen to the meter until a reading decodes (or the check fails)."""
        if self._probe_task is None:
            self._probe_task = self.hass.async_create_task(
                self._async_probe(), f"{DOMAIN} live check", eager_start=False
            )
        if not self._probe_task.done():
            return self.async_show_progress(
                step_id="probe",
                progress_action="probe",
                progress_task=self._probe_task,
                description_placeholders={"seconds": f"{probe_timeout(self.spec):.0f}"},
            )
        task, self._probe_task = self._probe_task, None
        self._probe_error = None
        try:
            self._reading = task.result()
        except ReaderError as err:
            self._probe_error = _describe_probe_error(err)
        except TimeoutError:
            self._probe_error = ("no_data", False, "")
        except Exception:
            LOGGER.exception("Unexpected error while listening to the meter")
            self._probe_error = ("unknown", False, "")
        if self._probe_error is None:
            return self.async_show_progress_done(next_step_id="finish")
        return self.async_show_progress_done(next_step_id="probe_failed")

    async def _async_probe(self) -> Reading:
        spec = self.spec
        data = self._data
        options = self._reconfigure_options()
        decoder_options = decoder_options_from_data(data, options, spec)
        serial = serial_settings_from_data(data, spec)
        timeout = probe_timeout(spec)
        entry = self._reconfigured_loaded_entry()
        # A safety net around the check's own timeout: the flow must never hang.
        async with asyncio.timeout(timeout + 10):
            if entry is None:
                return await probe(
                    data[CONF_URL], spec, decoder_options, serial=serial, timeout=timeout
                )
            # The entry's own session holds the port: let go of it while the check listens.
            async with entry.runtime_data.async_paused():
                return await probe(
                    data[CONF_URL], spec, decoder_options, serial=serial, timeout=timeout
                )

    def _reconfigure_options(self) -> Mapping[str, Any]:
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_entry().options
        return {}

    def _reconfigured_loaded_entry(self) -> ChSmartMeterConfigEntry | None:
        if self.source != SOURCE_RECONFIGURE:
            return None
        entry: ChSmartMeterConfigEntry = self._get_reconfigure_entry()
        return entry if entry.state is ConfigEntryState.LOADED else None

    async def async_step_probe_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what the live check found on the form where it can be fixed."""
        assert self._probe_error is not None
        error, on_keys, _detail = self._probe_error
        if on_keys and self.spec.supports_encryption:
            return self._show_keys_form({"base": error})
        errors = {"base": error}
        step = self._connection_step
        if step == "serial":
            return await self._async_show_serial_form(errors)
        if step == "serial_manual":
            return self._show_serial_manual_form(errors)
        if step == "network":
            return self._show_network_form(errors)
        if step == "url":
            return self._show_url_form(errors)
        if step == "serial_format":
            return self._show_serial_format_form(errors)
        # The simulated meter has no connection form: back to the start.
        return self.async_show_form(
            step_id="user",
            data_schema=_standard_schema(self.spec.standard.value),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    def _placeholders(self) -> dict[str, str]:
        detail = self._probe_error[2] if self._probe_error else ""
        return {"standard": self.spec.title if self._spec else "", "detail": detail or "-"}

    # ------------------------------------------------------------ result

    async def async_step_finish(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Create the entry, or update the reconfigured one, for the meter that answered."""
        reading = self._reading
        assert reading is not None
        await self.async_set_unique_id(reading.meter_id)
        reconfigure = self.source == SOURCE_RECONFIGURE
        if reconfigure:
            self._abort_if_unique_id_mismatch(reason="wrong_meter")
        else:
            self._abort_if_unique_id_configured()
        if SWAPPED_KEYS_NOTICE in reading.notices and not self._keys_swapped:
            return self._show_keys_swapped(reading)
        data = {CONF_STANDARD: self.spec.standard.value, **self._data}
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
        self._keys_swapped = True
        data = self._data
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


def _describe_probe_error(err: ReaderError) -> tuple[str, bool, str]:
    for kind, error, on_keys in PROBE_ERRORS:
        if isinstance(err, kind):
            return error, on_keys, err.detail or ""
    return "unknown", False, err.detail or ""


class ChSmartMeterOptionsFlow(RepublishOptionsFlowMixin, OptionsFlow):
    """Tunables: how often sensors are written, and the meter profile for DLMS standards."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form with every option."""
        options = self.config_entry.options
        if user_input is not None:
            values = dict(user_input)
            values[CONF_UPDATE_INTERVAL] = int(values[CONF_UPDATE_INTERVAL])
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
            profiles = get_spec(self.config_entry.data[CONF_STANDARD]).profiles
        except (KeyError, ValueError):
            profiles = ()
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
        fields.update(source_option_fields(self.config_entry))  # CH-SMR source units
        return self.async_show_form(step_id="init", data_schema=vol.Schema(fields))
