"""Config flow steps of the reauthentication: new keys for a meter whose key changed.

The coordinator starts Home Assistant's reauth flow when the meter's frames keep failing on
the key: the meter started encrypting and no key is stored, the grid operator changed the
key, or an NES meter refuses its MEP key. Home Assistant lists the flow on the integrations
page and raises a repair issue of its own that opens it.

``reauth`` → one form that asks only the keys of the entry's standard (``reauth_confirm``
when the key was rejected, ``reauth_key_required`` when the meter started encrypting,
``reauth_mep_key`` for an NES meter's MBK) → ``reauth_check``, a progress step: the entry's
session lets go of the port and the meter is read with the new keys → the keys are stored
and the entry reloads, its sensors continuing with their history; or the form again, with
what the meter answered and what was typed. A reading from another meter aborts: this
entry's keys are asked, not another meter's.

The steps live in a mixin so that ``config_flow.py`` only hooks them in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry, ConfigEntryState, ConfigFlow, ConfigFlowResult
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType

from . import detect_flow
from .const import (
    CONF_ACCEPTED_METER_ID,
    CONF_AUTHENTICATION_KEY,
    CONF_ENCRYPTION_KEY,
    CONF_KEY_PROBLEM,
    CONF_STANDARD,
    CONF_URL,
    DOMAIN,
    LOGGER,
    REAUTH_CHECK_STEP,
    REAUTH_END_STEP,
)
from .data import ChSmartMeterData
from .entry_data import decoder_options_from_data, entry_meter_id, serial_settings_from_data
from .reader.dlms.decoder import SWAPPED_KEYS_NOTICE
from .reader.errors import InvalidKey, Reason
from .reader.model import Reading, Standard
from .reader.session import PROBE_ERRORS, probe, probe_timeout
from .reader.spec import StandardSpec
from .reader.standards import get_spec

# Shown when the check failed in an unexpected way (the log has the details).
ERROR_UNKNOWN: Final = "unknown"
NOTHING: Final = "-"


def _form_step(spec: StandardSpec, problem: object) -> str:
    """The form for the entry's standard and the meter's key problem."""
    if spec.standard is Standard.MEP:
        return "reauth_mep_key"  # another key (the MBK), another format
    if problem == Reason.KEY_REQUIRED:
        return "reauth_key_required"
    return "reauth_confirm"


def _password() -> TextSelector:
    return TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def _meter_ids(entry: ConfigEntry) -> set[str]:
    """The meter the entry reads: the one it was created for, or the one that replaced it
    (accepted in the repair flow)."""
    return {entry_meter_id(entry), entry.options.get(CONF_ACCEPTED_METER_ID, entry_meter_id(entry))}


@dataclass(slots=True)
class ReauthState:
    """One reauthentication: the form, what was typed, the check and its outcome."""

    spec: StandardSpec
    step_id: str
    # Secrets: never in a repr. What was typed (the form shows it again) and the entry data
    # with the new keys.
    typed: dict[str, Any] = field(default_factory=dict, repr=False)
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    task: asyncio.Task[Reading] | None = None
    error: str | None = None  # the reason code of the failed check
    detail: str = ""
    reading: Reading | None = None  # what the new keys decoded


class ReauthFlowMixin(ConfigFlow):
    """The reauthentication steps of the config flow (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._reauth: ReauthState | None = None

    @property
    def _reauth_state(self) -> ReauthState:
        assert self._reauth is not None
        return self._reauth

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Started by the coordinator: the meter's frames keep failing on the key."""
        spec = get_spec(self._get_reauth_entry().data[CONF_STANDARD])
        self._reauth = ReauthState(spec, _form_step(spec, entry_data.get(CONF_KEY_PROBLEM)))
        return self._show_reauth_form({})

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The meter's new keys; checked against the meter before they are stored."""
        state = self._reauth_state
        if user_input is None:  # back from a failed check
            return self._show_reauth_form({"base": state.error} if state.error else {})
        state.typed = dict(user_input)
        errors, data = self._entry_data_with(user_input)
        if errors:
            return self._show_reauth_form(errors)
        state.data = data
        return await self.async_step_reauth_check()

    # The same step for a meter that started encrypting, and for an NES meter's MEP key.
    async_step_reauth_key_required = async_step_reauth_confirm
    async_step_reauth_mep_key = async_step_reauth_confirm

    def _entry_data_with(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """The entry data with the keys typed, or the fields whose key has no valid form.

        An empty authentication key keeps the stored one: grid operators often change only
        the encryption key.
        """
        state = self._reauth_state
        data = dict(self._get_reauth_entry().data)
        errors: dict[str, str] = {}
        for key_field in self._key_fields():
            try:
                key = state.spec.parse_key(user_input.get(key_field))
            except InvalidKey as err:
                errors[key_field] = err.reason.value
                continue
            if key is not None:
                data[key_field] = key.hex()
            elif key_field == CONF_ENCRYPTION_KEY:
                data.pop(key_field, None)
        return errors, data

    def _key_fields(self) -> list[str]:
        if self._reauth_state.spec.supports_authentication_key:
            return [CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY]
        return [CONF_ENCRYPTION_KEY]

    def _show_reauth_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        state = self._reauth_state
        fields: dict[vol.Marker, Any] = {vol.Required(CONF_ENCRYPTION_KEY): _password()}
        if CONF_AUTHENTICATION_KEY in self._key_fields():
            fields[vol.Optional(CONF_AUTHENTICATION_KEY)] = _password()
        return self.async_show_form(
            step_id=state.step_id,
            # What was typed stays, also after a failed check: a typo is fixed, not retyped.
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), state.typed),
            errors=errors,
            description_placeholders={
                "name": self._get_reauth_entry().title,
                "detail": state.detail or NOTHING,
            },
        )

    # ------------------------------------------------------------ the check

    async def async_step_reauth_check(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Read the meter with the new keys (the entry's session lets go of the port)."""
        state = self._reauth_state
        if state.task is None:
            state.task = self.hass.async_create_task(
                self._async_check(state.data), f"{DOMAIN} key check", eager_start=False
            )
        if not state.task.done():
            return self.async_show_progress(
                step_id=REAUTH_CHECK_STEP,
                progress_action="probe",
                progress_task=state.task,
                description_placeholders={"seconds": f"{probe_timeout(state.spec):.0f}"},
            )
        task, state.task = state.task, None
        state.error, state.detail, state.reading = None, "", None
        try:
            state.reading = task.result()
        except PROBE_ERRORS as err:
            state.error, state.detail = err.reason.value, err.detail or ""
        except TimeoutError:
            state.error = Reason.NO_DATA.value
        except Exception:
            LOGGER.exception("Unexpected error while checking the meter's new keys")
            state.error = ERROR_UNKNOWN
        if state.error is not None:
            return self.async_show_progress_done(next_step_id=state.step_id)
        return self.async_show_progress_done(next_step_id=REAUTH_END_STEP)

    async def _async_check(self, data: Mapping[str, Any]) -> Reading:
        """The first reading with the new keys, or the check's error (after the floor)."""
        spec = self._reauth_state.spec
        entry = self._get_reauth_entry()
        timeout = probe_timeout(spec)
        # The loaded entry reads the port: it lets go while the check listens.
        runtime = getattr(entry, "runtime_data", None)
        holder: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
        if entry.state is ConfigEntryState.LOADED and isinstance(runtime, ChSmartMeterData):
            holder = runtime.source.paused()
        # A safety net around the check's own timeout: the flow must never hang.
        async with asyncio.timeout(timeout + 10), holder:
            return await detect_flow.at_least(
                detect_flow.MIN_PROGRESS_SECONDS,
                probe(
                    data[CONF_URL],
                    spec,
                    decoder_options_from_data(data, entry.options),
                    serial=serial_settings_from_data(data, spec),
                    timeout=timeout,
                ),
            )

    async def async_step_reauth_end(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Store the keys that read this entry's meter and say so; or say that another
        meter answered.

        Stored here, as the flow ends, and not when the check ends: storing reloads the
        entry, and newer Home Assistant versions (2026.10, not 2025.4) abort an entry's
        reauth flows when it reloads, which would take the result away from the user.
        """
        state = self._reauth_state
        reading = state.reading
        assert reading is not None
        entry = self._get_reauth_entry()
        if reading.meter_id not in _meter_ids(entry):
            return self.async_abort(
                reason="reauth_wrong_meter",
                description_placeholders={
                    "meter_id": reading.meter_id,
                    "expected": entry_meter_id(entry),
                },
            )
        data = state.data
        swapped = SWAPPED_KEYS_NOTICE in reading.notices and CONF_AUTHENTICATION_KEY in data
        if swapped:
            # Kamstrup keys labelled 64/65 handed out the other way round.
            data[CONF_ENCRYPTION_KEY], data[CONF_AUTHENTICATION_KEY] = (
                data[CONF_AUTHENTICATION_KEY],
                data[CONF_ENCRYPTION_KEY],
            )
        # A loaded entry's update listener reloads it (see __init__.py); one that is not
        # loaded is set up with the new keys now.
        loaded = entry.state is ConfigEntryState.LOADED
        self.hass.config_entries.async_update_entry(entry, data=data)
        if not loaded and entry.disabled_by is None:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        if swapped:
            return self.async_abort(reason="reauth_keys_swapped")
        return self.async_abort(reason="reauth_successful")
