"""Config, reconfigure and options flows.

The walk. ``user`` is a menu: find the meter automatically (``detect``), choose its
standard (``standard``), a simulated meter (``demo``), or a CH-SMR reader over MQTT
(``chsmr``, chsmr_flow.py, offered once MQTT is set up). Both meter paths then ask how the
meter is connected (``connection``: serial port, network, serial URL) and which port.

The port is opened and closed again before anything else happens (:meth:`_async_check_port`):
a port that cannot be opened goes straight back to its form with the reason, never into a
progress step (a progress step that ends before the frontend listens stays on screen
forever) and never behind the keys step.

* Detection: ``detect_run`` (a progress step that says what is being tried, cancellable,
  bounded) → the standard and serial format found fill in the rest; the keys step appears
  only when the meter sends encrypted data → ``probe``. When nothing was recognised,
  ``detect_failed`` shows what arrived at each format and the likeliest explanation, and
  offers to search again, another port, or choosing the standard.
* Standard known: the port form has the standard's serial formats (``serial_format`` for a
  custom one); the keys step appears only when the user said a key was handed out (or the
  check finds that the meter needs one).
* USB discovery (manifest ``usb`` matchers): ``usb`` → ``usb_confirm`` → detection.

``probe`` is the live check (a progress step that listens to the meter) → ``finish`` (the
entry, with the meter id as unique id). A failed check shows the form where it can be
fixed again, with its error on the field concerned: the keys form for key errors (what
was typed is kept), otherwise the form the user filled last. Keys that the meter verifies
only exchanged (Kamstrup keys labelled 64/65) are stored in the working order, after
``keys_swapped`` tells the user so. ``reconfigure`` is a menu of the two meter paths.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow, FlowResultType, UnknownFlow
from homeassistant.helpers import selector
from homeassistant.helpers.selector import (
    BooleanSelector,
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
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from homeassistant.helpers.translation import async_get_translations
from homeassistant.loader import async_get_integration

from . import detect_flow
from .chsmr_flow import ChSmrConfigFlowMixin
from .const import (
    CONF_AUTHENTICATION_KEY,
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_ENCRYPTION_KEY,
    CONF_PARITY,
    CONF_STANDARD,
    CONF_STOPBITS,
    CONF_UPDATE_INTERVAL,
    CONF_URL,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    LOGGER,
)
from .data import ChSmartMeterConfigEntry, ChSmartMeterData
from .entry_data import decoder_options_from_data, serial_settings_data, serial_settings_from_data
from .mqtt_link import mqtt_module
from .options_flow import ChSmartMeterOptionsFlow
from .ports import same_device, scan_serial_ports, stable_path
from .reader.detect import Detection, NothingDetected, Progress, detect
from .reader.dlms.decoder import SWAPPED_KEYS_NOTICE
from .reader.errors import (
    DecryptionFailed,
    InvalidKey,
    KeyRejected,
    KeyRequired,
    KeyRole,
    ReaderError,
    Reason,
    TransportError,
)
from .reader.model import Reading, SerialSettings, Standard
from .reader.session import PROBE_ERRORS, probe, probe_timeout
from .reader.simulate.meters import available_standards, demo_key
from .reader.simulate.stream import simulator_url
from .reader.spec import StandardSpec
from .reader.standards import get_spec, meter_specs
from .reader.transport import (
    close_quietly,
    is_serial_url,
    network_url,
    normalize_url,
    open_stream,
    redact_url,
    url_scheme,
)
from .reauth_flow import ReauthFlowMixin

CONF_SERIAL_PRESET: Final = "serial_preset"
# "My grid operator gave me a key": the keys step comes before the check.
CONF_HAS_KEY: Final = "has_key"
# What to do after a detection that recognised nothing.
CONF_NEXT: Final = "next"
NEXT_CHOICES: Final = ("retry", "port", "standard")
PORT_MANUAL: Final = "manual"
PRESET_CUSTOM: Final = "custom"
# Shown when the check failed in an unexpected way (the log has the details).
ERROR_UNKNOWN: Final = "unknown"
ERROR_AUTHENTICATION_KEY: Final = "authentication_key_wrong"
SIMULATED_TITLE_KEY: Final = f"component.{DOMAIN}.config.step.demo.title"

# Selector values are translation keys (lower case); the line format wants letters.
PARITIES: Final = {"none": "N", "even": "E", "odd": "O"}
BYTESIZES: Final = ("7", "8")
STOPBITS: Final = {"1": 1.0, "2": 2.0}

# Home Assistant 2026.5 and later have a serial port selector (its own port list with the
# adapters' names and manual entry); older versions get this integration's list.
SERIAL_PORT_SELECTOR: Any = getattr(selector, "SerialPortSelector", None)


def _standard_selector(standards: list[Standard]) -> SelectSelector:
    """A choice of standards, named by the translations (``selector.standard``)."""
    options = [
        SelectOptionDict(value=standard.value, label=get_spec(standard).title)
        for standard in standards
    ]
    return SelectSelector(
        SelectSelectorConfig(
            options=options, mode=SelectSelectorMode.LIST, translation_key=CONF_STANDARD
        )
    )


def _preset_field(spec: StandardSpec) -> dict[vol.Marker, SelectSelector]:
    """The serial format: one of the standard's presets (its usual one first), or custom.
    The translations name them (``selector.serial_preset``); the label here is the bare
    format, which says the same in every language."""
    options = [
        SelectOptionDict(value=preset.id, label=preset.settings.describe())
        for preset in spec.serial_presets
    ]
    options.append(SelectOptionDict(value=PRESET_CUSTOM, label=PRESET_CUSTOM))
    choice = SelectSelector(
        SelectSelectorConfig(
            options=options, mode=SelectSelectorMode.DROPDOWN, translation_key=CONF_SERIAL_PRESET
        )
    )
    return {vol.Required(CONF_SERIAL_PRESET, default=_default_preset(spec)): choice}


def _simulated_standards() -> list[Standard]:
    """The standards read from a port that have a simulated meter (the demo's choice)."""
    offered = [spec.standard for spec in meter_specs()]
    return [standard for standard in available_standards() if standard in offered]


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
    # The form the user filled last (a port form, the standard's, the demo's) and what
    # was typed in it: after a failed check that form is shown again, filled in.
    form: str = "standard"
    form_input: dict[str, Any] = field(default_factory=dict)
    preset: str = ""
    # The port is searched for a meter (detection) rather than read with a known standard.
    detecting: bool = False
    # The meter needs keys: the user said so, or detection found encrypted frames.
    has_key: bool = False
    keys_entered: bool = False
    # What was typed in the keys form, shown again after an error (never stored keys).
    keys_input: dict[str, str] = field(default_factory=dict)
    # Reconfigure: the entry's keys, kept unless new ones are typed (never shown back).
    stored_keys: dict[str, str] = field(default_factory=dict)
    probe_task: asyncio.Task[Reading] | None = None
    detect_task: asyncio.Task[Detection] | None = None
    progress: Progress | None = None
    nothing: NothingDetected | None = None
    # The errors of the failed check or port, by field, and the raw detail where it helps.
    errors: dict[str, str] = field(default_factory=dict)
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
            "usb_confirm": self._async_show_usb_confirm_form,
            # The simulated meter has no connection form: back to its choice.
            "demo": self._async_show_demo_form,
            "standard": self._async_show_standard_form,
        }

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> ChSmartMeterOptionsFlow:
        """The options flow (update interval, meter profile)."""
        return ChSmartMeterOptionsFlow()

    @property
    def spec(self) -> StandardSpec:
        """The standard chosen or detected."""
        assert self.state.spec is not None
        return self.state.spec

    @callback
    def async_remove(self) -> None:
        """The flow ends (also when the dialog is closed): stop what still listens."""
        for task in (self.state.probe_task, self.state.detect_task):
            if task is not None and not task.done():
                task.cancel()
        super().async_remove()  # the mixins' own tasks (reauth_flow.py's check)

    # ------------------------------------------------------------ first steps

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Find the meter, choose its standard, try the simulated meter, or read CH-SMR."""
        options = ["detect", "standard"]
        if _simulated_standards():
            options.append("demo")
        if mqtt_module(self.hass) is not None:
            options.append("chsmr")  # chsmr_flow.py: a topic, no port
        return self.async_show_menu(step_id="user", menu_options=options)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the standard, the port, the serial format or the keys of an entry."""
        entry = self._get_reconfigure_entry()
        try:
            spec = get_spec(entry.data[CONF_STANDARD])
        except (KeyError, ValueError):
            spec = None
        if spec is not None and spec.standard is Standard.CH_SMR:
            return await self.async_reconfigure_chsmr(entry)  # chsmr_flow.py
        self.state.spec = spec
        self.state.stored_keys = {
            key: entry.data[key]
            for key in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY)
            if entry.data.get(key)
        }
        self.state.data = dict(self.state.stored_keys)
        self.state.has_key = bool(self.state.stored_keys)
        return self.async_show_menu(
            step_id="reconfigure",
            menu_options=["detect", "standard"],
            description_placeholders={"title": entry.title},
        )

    async def async_step_detect(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Find the meter's standard and serial format: first, where is it connected?"""
        self.state.detecting = True
        return await self.async_step_connection()

    async def async_step_standard(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The user knows the standard (and whether the grid operator handed out a key)."""
        if user_input is not None:
            self.state.detecting = False
            self.state.spec = get_spec(user_input[CONF_STANDARD])
            self.state.has_key = bool(user_input.get(CONF_HAS_KEY))
            return await self.async_step_connection()
        return await self._async_show_standard_form({})

    async def _async_show_standard_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        current = self.state.spec.standard.value if self.state.spec else ""
        schema = vol.Schema(
            {
                vol.Required(CONF_STANDARD): _standard_selector(
                    [spec.standard for spec in meter_specs()]
                ),
                vol.Required(CONF_HAS_KEY, default=self.state.has_key): BooleanSelector(),
            }
        )
        # Nothing chosen in advance: the list is to be read (the hint says which is which).
        suggested = {CONF_STANDARD: current}
        return self.async_show_form(
            step_id="standard",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def async_step_demo(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A simulated meter in Home Assistant itself: a demo without hardware."""
        if user_input is None:
            return await self._async_show_demo_form({})
        self.state.detecting = False
        spec = self.state.spec = get_spec(user_input[CONF_STANDARD])
        self._remember_form("demo", user_input, _default_preset(spec))
        # No key step: the simulated meter sends plain data, or knows its public demo key.
        self.state.keys_entered = True
        if (key := demo_key(spec.standard)) is not None:
            self.state.data[CONF_ENCRYPTION_KEY] = key.hex()
        return await self._async_connection_chosen(simulator_url(spec.standard))

    async def _async_show_demo_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        simulated = _simulated_standards()
        schema = vol.Schema(
            {vol.Required(CONF_STANDARD, default=simulated[0].value): _standard_selector(simulated)}
        )
        return self.async_show_form(
            step_id="demo",
            data_schema=schema,
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    # ------------------------------------------------------------ connection

    async def async_step_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """How the meter is connected."""
        return self.async_show_menu(step_id="connection", menu_options=["serial", "network", "url"])

    async def async_step_serial(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A local serial port (USB P1 cable, M-Bus adapter, optical head)."""
        if user_input is not None:
            preset = user_input.get(CONF_SERIAL_PRESET, "")
            self._remember_form("serial", user_input, preset)
            port = str(user_input[CONF_PORT]).strip()
            if port == PORT_MANUAL:
                return await self.async_step_serial_manual()
            return await self._async_connection_chosen(port)
        return await self._async_show_serial_form({})

    async def _async_show_serial_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        ports = await self.hass.async_add_executor_job(scan_serial_ports)
        adapters = [port.path for port in ports if port.usb]
        if SERIAL_PORT_SELECTOR is not None:
            choice: Any = SERIAL_PORT_SELECTOR()
        else:
            options = [SelectOptionDict(value=port.path, label=port.label) for port in ports]
            options.append(SelectOptionDict(value=PORT_MANUAL, label=PORT_MANUAL))
            choice = SelectSelector(
                SelectSelectorConfig(
                    options=options, mode=SelectSelectorMode.DROPDOWN, translation_key=CONF_PORT
                )
            )
        fields: dict[vol.Marker, Any] = {vol.Required(CONF_PORT): choice}
        if not self.state.detecting:
            fields.update(_preset_field(self.spec))
        # Nothing preselected (a required list would otherwise start at its first port, a
        # built-in UART), unless exactly one USB adapter is plugged in.
        suggested = {CONF_PORT: adapters[0] if len(adapters) == 1 else ""}
        return self._show_form("serial", vol.Schema(fields), errors, suggested)

    async def async_step_serial_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A serial device path typed by hand."""
        if user_input is not None:
            # The serial format was chosen with the port list.
            self._remember_form("serial_manual", user_input, self.state.preset)
            return await self._async_connection_chosen(str(user_input[CONF_DEVICE]).strip())
        return await self._async_show_serial_manual_form({})

    async def _async_show_serial_manual_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        # A field of its own name: the list's answer ("manual") is never carried into it.
        schema = vol.Schema({vol.Required(CONF_DEVICE): _text()})
        return self._show_form("serial_manual", schema, errors, {CONF_DEVICE: ""})

    async def async_step_network(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A raw TCP serial server (ser2net, a Wi-Fi P1 bridge)."""
        if user_input is not None:
            preset = "" if self.state.detecting else _default_preset(self.spec)
            self._remember_form("network", user_input, preset)
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
            self._remember_form("url", user_input, user_input.get(CONF_SERIAL_PRESET, ""))
            url = user_input[CONF_URL].strip()
            if not is_serial_url(url):
                return await self._async_show_url_form({CONF_URL: "invalid_url"})
            return await self._async_connection_chosen(url)
        return await self._async_show_url_form({})

    async def _async_show_url_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        fields: dict[vol.Marker, Any] = {vol.Required(CONF_URL): _text(TextSelectorType.URL)}
        if not self.state.detecting:
            fields.update(_preset_field(self.spec))
        return self._show_form("url", vol.Schema(fields), errors)

    def _remember_form(self, step_id: str, user_input: dict[str, Any], preset: str) -> None:
        state = self.state
        state.form, state.form_input, state.preset = step_id, user_input, preset

    def _show_form(
        self,
        step_id: str,
        schema: vol.Schema,
        errors: dict[str, str],
        suggested: Mapping[str, Any] | None = None,
    ) -> ConfigFlowResult:
        input_here = self.state.form_input if self.state.form == step_id else {}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, {**(suggested or {}), **input_here}
            ),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async def _async_connection_chosen(self, url: str) -> ConfigFlowResult:
        state = self.state
        state.data[CONF_URL] = url
        if self.source != SOURCE_RECONFIGURE:
            await self._async_abort_if_port_configured(url)
        if errors := await self._async_check_port(url):
            return await self._forms[state.form](errors)
        if state.detecting:
            return await self.async_step_detect_run()
        if state.preset == PRESET_CUSTOM and state.form != "demo":
            return await self.async_step_serial_format()
        presets = {preset.id: preset.settings for preset in self.spec.serial_presets}
        state.data.update(serial_settings_data(presets.get(state.preset, self.spec.serial)))
        return await self._async_next_after_connection()

    async def _async_abort_if_port_configured(self, url: str) -> None:
        """An entry reads this port already (under this name, or its by-id link's)."""
        self._async_abort_entries_match({CONF_URL: url})
        others = [
            str(entry.data[CONF_URL])
            for entry in self._async_current_entries(include_ignore=False)
            if entry.data.get(CONF_URL)
        ]
        same: bool = bool(others) and await self.hass.async_add_executor_job(
            same_device, url, others
        )
        if same:
            raise AbortFlow("already_configured")

    async def _async_check_port(self, url: str) -> dict[str, str]:
        """Open the port and close it again: the errors to show, or none.

        The serial format does not decide whether a port opens, so none is set (a real
        UART takes any; the line's own format comes with the check that reads)."""
        try:
            async with self._entry_released():
                stream = await open_stream(
                    url, None, connect_timeout=detect_flow.PORT_CHECK_TIMEOUT
                )
                await close_quietly(stream)
        except TransportError as err:
            return self._errors_of(err)
        return {}

    @contextlib.asynccontextmanager
    async def _entry_released(self) -> AsyncIterator[None]:
        """A loaded entry being reconfigured holds its port: it lets go for the block."""
        entry = self._reconfigured_loaded_entry()
        if entry is None:
            yield
            return
        async with entry.runtime_data.source.paused():
            yield

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
        state = self.state
        if self.spec.supports_encryption and state.has_key and not state.keys_entered:
            return await self.async_step_keys()
        return await self.async_step_probe()

    # ------------------------------------------------------------ detection

    async def async_step_detect_run(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Listen at each plausible format, then ask the polled meters: what is it?"""
        state = self.state
        if state.detect_task is None:
            state.progress = state.nothing = None
            # Started at once: its first step is known before the progress is shown.
            state.detect_task = self.hass.async_create_task(
                self._async_detect(), f"{DOMAIN} detection", eager_start=True
            )
            if state.detect_task.done():
                return await self.async_step_detect_done()
        if not state.detect_task.done():
            action, placeholders = detect_flow.progress_view(
                state.progress, self._port_name(), detect_flow.DETECT_BUDGET
            )
            return self.async_show_progress(
                step_id="detect_run",
                progress_action=action,
                progress_task=state.detect_task,
                description_placeholders=placeholders,
            )
        return self.async_show_progress_done(next_step_id="detect_done")

    async def _async_detect(self) -> Detection:
        budget = detect_flow.DETECT_BUDGET
        # A safety net around detection's own budget: the flow must never hang.
        async with asyncio.timeout(budget + 15), self._entry_released():
            return await detect_flow.at_least(
                detect_flow.MIN_PROGRESS_SECONDS,
                detect(
                    self.state.data[CONF_URL],
                    on_progress=self._on_detect_progress,
                    budget=budget,
                    timing=detect_flow.DETECT_TIMING,
                ),
            )

    @callback
    def _on_detect_progress(self, progress: Progress) -> None:
        """Detection moved on: the progress step says so (the frontend reloads it)."""
        self.state.progress = progress
        update: Callable[[float], None] | None = getattr(self, "async_update_progress", None)
        if update is not None:  # Home Assistant 2025.5+: a progress bar as well
            update(min(1.0, (progress.step - 1) / max(progress.steps, 1)))
        self.hass.async_create_task(self._async_refresh_progress(), eager_start=False)

    async def _async_refresh_progress(self) -> None:
        """Let the flow manager compare the progress step with what it last showed: a
        change of its text tells the frontend to reload it."""
        task = self.state.detect_task
        current = self.cur_step
        if task is None or task.done() or current is None:
            return
        if current["type"] is not FlowResultType.SHOW_PROGRESS:
            return
        with contextlib.suppress(UnknownFlow):
            await self.hass.config_entries.flow.async_configure(self.flow_id)

    async def async_step_detect_done(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """What detection found fills in the rest: keys only for encrypted frames."""
        state = self.state
        task, state.detect_task = state.detect_task, None
        assert task is not None
        try:
            detection = task.result()
        except NothingDetected as err:
            state.nothing = err
            return await self.async_step_detect_failed()
        except TransportError as err:  # the port went away after its check
            return await self._forms[state.form](self._errors_of(err))
        except Exception:
            LOGGER.exception("Unexpected error while looking for the meter")
            return await self._forms[state.form]({"base": ERROR_UNKNOWN})
        spec = state.spec = get_spec(detection.standard)
        state.preset = detection.preset or ""
        state.data.update(serial_settings_data(detection.serial or spec.serial))
        # The keys step only for encrypted frames (asked again after another detection).
        state.has_key = detection.encrypted
        state.keys_entered = False
        return await self._async_next_after_connection()

    async def async_step_detect_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Nothing recognised: what arrived, why that may be, and what to do next."""
        state = self.state
        if user_input is not None:
            choice = user_input[CONF_NEXT]
            if choice == "retry":
                return await self._async_connection_chosen(state.data[CONF_URL])
            if choice == "port":
                return await self.async_step_connection()
            state.detecting = False
            return await self._async_show_standard_form({})
        assert state.nothing is not None
        error, placeholders = detect_flow.nothing_detected_view(state.nothing)
        schema = vol.Schema(
            {
                vol.Required(CONF_NEXT, default=NEXT_CHOICES[0]): SelectSelector(
                    SelectSelectorConfig(
                        options=list(NEXT_CHOICES),
                        mode=SelectSelectorMode.LIST,
                        translation_key=CONF_NEXT,
                    )
                )
            }
        )
        return self.async_show_form(
            step_id="detect_failed",
            data_schema=schema,
            errors={"base": error},
            description_placeholders={**self._placeholders(), **placeholders},
        )

    # ------------------------------------------------------------ USB discovery

    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        """A USB serial adapter of a kind that P1 cables and M-Bus adapters use."""
        integration = await async_get_integration(self.hass, DOMAIN)
        if not detect_flow.usb_matches(discovery_info, integration.usb or []):
            return self.async_abort(reason="not_supported")
        await self.async_set_unique_id(detect_flow.usb_unique_id(discovery_info))
        self._abort_if_unique_id_configured()  # the user ignored this adapter
        path = await self.hass.async_add_executor_job(stable_path, discovery_info.device)
        await self._async_abort_if_port_configured(path)
        state = self.state
        state.detecting = True
        state.data[CONF_URL] = path
        state.form = "usb_confirm"
        name = detect_flow.usb_name(discovery_info)
        self.context["title_placeholders"] = {"name": name}
        return await self.async_step_usb_confirm()

    async def async_step_usb_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Look for a meter on the adapter?"""
        if user_input is not None:
            return await self._async_connection_chosen(self.state.data[CONF_URL])
        return await self._async_show_usb_confirm_form({})

    async def _async_show_usb_confirm_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        self._set_confirm_only()
        return self.async_show_form(
            step_id="usb_confirm",
            errors=errors,
            description_placeholders={
                **self._placeholders(),
                "name": self.context.get("title_placeholders", {}).get("name", ""),
            },
        )

    # ------------------------------------------------------------ keys

    async def async_step_keys(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The keys the grid operator hands out for an encrypted data interface."""
        errors: dict[str, str] = {}
        if user_input is not None:
            typed = {
                key_field: str(value)
                for key_field, value in user_input.items()
                if key_field in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY) and value
            }
            self.state.keys_input = typed
            keys: dict[str, str | None] = {}
            for key_field in (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY):
                try:
                    key = self.spec.parse_key(typed.get(key_field))
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
        # The authentication key only where a grid operator hands one out, or where the
        # check found that the meter uses another than the standard's public one.
        if self.spec.supports_authentication_key or CONF_AUTHENTICATION_KEY in errors:
            fields[vol.Optional(CONF_AUTHENTICATION_KEY)] = _text(TextSelectorType.PASSWORD)
        shown = {str(key) for key in fields}
        errors = {(key if key in shown else "base"): error for key, error in errors.items()}
        return self.async_show_form(
            step_id="mep_key" if self.spec.standard is Standard.MEP else "keys",
            # What was typed stays (a wrongly formatted key is fixed, not typed again).
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), self.state.keys_input
            ),
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
        state.errors, state.error_detail, state.error_about_keys = {}, "", False
        try:
            state.reading = task.result()
        except PROBE_ERRORS as err:
            state.errors = self._errors_of(err)
            state.error_about_keys = err.about_keys
        except TimeoutError:
            state.errors = {"base": Reason.NO_DATA.value}
        except Exception:
            LOGGER.exception("Unexpected error while listening to the meter")
            state.errors = {"base": ERROR_UNKNOWN}
        if not state.errors:
            return self.async_show_progress_done(next_step_id="finish")
        return self.async_show_progress_done(next_step_id="probe_failed")

    async def _async_probe(self) -> Reading:
        return await detect_flow.at_least(
            detect_flow.MIN_PROGRESS_SECONDS, self._async_listen_to_meter()
        )

    async def _async_listen_to_meter(self) -> Reading:
        spec = self.spec
        data = self.state.data
        timeout = probe_timeout(spec)
        # A safety net around the check's own timeout: the flow must never hang.
        async with asyncio.timeout(timeout + 10), self._entry_released():
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

    def _errors_of(self, err: ReaderError) -> dict[str, str]:
        """The form errors of what the check (or opening the port) raised: on the key
        field concerned, otherwise for the whole form."""
        self.state.error_detail = err.detail or ""
        if isinstance(err, DecryptionFailed):
            if err.wrong_key is KeyRole.AUTHENTICATION:
                return {CONF_AUTHENTICATION_KEY: ERROR_AUTHENTICATION_KEY}
            return {CONF_ENCRYPTION_KEY: err.reason.value}
        if isinstance(err, KeyRequired | KeyRejected):
            return {CONF_ENCRYPTION_KEY: err.reason.value}
        if isinstance(err, TransportError) and err.reason is Reason.CANNOT_OPEN_PORT:
            return {"base": detect_flow.port_error(err)}
        return {"base": err.reason.value}

    async def async_step_probe_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what the live check found on the form where it can be fixed."""
        state = self.state
        assert state.errors
        about_keys = state.error_about_keys and self.spec.supports_encryption
        if about_keys:
            return await self._async_show_keys_form(dict(state.errors))
        # A form without key fields shows a key error (a standard without keys) for itself.
        error = next(iter(state.errors.values()))
        return await self._forms[state.form]({"base": error})

    def _port_name(self) -> str:
        """The port as the forms name it (addresses without their secrets)."""
        url = self.state.data.get(CONF_URL)
        return redact_url(normalize_url(url)) if url else "-"

    def _placeholders(self) -> dict[str, str]:
        return {
            "port": self._port_name(),
            "detail": self.state.error_detail or "-",
            "formats": "-",
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
        return self.async_create_entry(
            title=await self._async_title(reading),
            data=data,
            options={CONF_UPDATE_INTERVAL: DEFAULT_UPDATE_INTERVAL},
        )

    async def _async_title(self, reading: Reading) -> str:
        """The meter's maker and id; a simulated meter says that it is one (in the
        language of this Home Assistant, as the demo step's title says it)."""
        if url_scheme(normalize_url(self.state.data[CONF_URL])) == "simulator":
            texts = await async_get_translations(
                self.hass, self.hass.config.language, "config", {DOMAIN}
            )
            return f"{texts.get(SIMULATED_TITLE_KEY, 'Simulated meter')} {reading.meter_id}"
        if reading.manufacturer:
            return f"{reading.manufacturer} {reading.meter_id}"
        return f"Smart meter {reading.meter_id}"

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
