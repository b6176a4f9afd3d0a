"""Reauthentication: the meter's key changes, Home Assistant asks for the new one.

Real meters on real connections: simulated DLMS and MEP meters on pseudo-terminals whose key
the test changes while the entry reads them, the fake TCP meter for DSMR (plain, then Smarty
encrypted), the in-process simulated Kamstrup meter. The recorder is Home Assistant's own
(in-memory SQLite), so the history the energy dashboard is built from is checked too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.recorder import Recorder, history
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.ch_smart_meter import detect_flow, reauth_flow
from custom_components.ch_smart_meter.const import (
    CONF_ACCEPTED_METER_ID,
    CONF_AUTHENTICATION_KEY,
    CONF_ENCRYPTION_KEY,
    CONF_POLL_INTERVAL,
    CONF_STANDARD,
    CONF_UPDATE_INTERVAL,
    CONF_URL,
    DOMAIN,
)
from custom_components.ch_smart_meter.entry_data import serial_settings_data
from custom_components.ch_smart_meter.reader.simulate.dlms_meters import Ciphering, DlmsSource
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import encrypt_smarty
from custom_components.ch_smart_meter.reader.simulate.mep_meter import DEMO_MBK, MepSource
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from .conftest import (
    METER_ID,
    SYSTEM_TITLE,
    TEST_KEY,
    FakeMeter,
    Setup,
    encrypted_telegram,
    meter_on_by_id_pty,
    send_reading,
    telegram,
    wait_until,
)

# Test keys, never a real meter's: the keys a meter had, and those it has after the change.
OLD_EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
OLD_AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
NEW_EK = bytes.fromhex("101112131415161718191A1B1C1D1E1F")
NEW_AK = bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")
WRONG_KEY = bytes.fromhex("5C316162209EBB790B52EB0E7FC5B11C")
NEW_MBK = b"NEW-MEP-KEY-2026-ABC"  # an MBK as grid operators write it: 20 characters
OTHER_METER = "E0099999999999999"
BY_ID_NAME = "usb-FTDI_FT232R_USB_UART_A10KEYS-if00-port0"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """A real recorder (in-memory SQLite), set up before the integration."""


@pytest.fixture(autouse=True)
def quick_check() -> Generator[None]:
    """The key check listens 5 s at most instead of 25 s (a wrong key on a silent line)."""
    with patch.object(reauth_flow, "probe_timeout", lambda spec: 5.0):
        yield


@pytest.fixture
async def unload_entries(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload every entry at the end (their sessions must not outlive the test)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def _typed(key: bytes) -> str:
    """A key as a user types it from the grid operator's letter: upper case, spaced."""
    return key.hex(" ").upper()


def _reauth_issue(entry: MockConfigEntry) -> tuple[str, str]:
    """Home Assistant's own repair issue of a reauth flow (it opens the flow)."""
    return "homeassistant", f"config_entry_reauth_{DOMAIN}_{entry.entry_id}"


def _reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[Any]:
    return list(entry.async_get_active_flows(hass, {SOURCE_REAUTH}))


async def _reauth_form(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult:
    """The reauth flow the entry asks for, as the frontend opens it."""
    await wait_until(lambda: bool(_reauth_flows(hass, entry)), timeout=20)
    await hass.async_block_till_done()
    (flow,) = _reauth_flows(hass, entry)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["type"] is FlowResultType.FORM, result
    assert result["description_placeholders"] == {"name": entry.title, "detail": "-"}
    return result


async def _submit(hass: HomeAssistant, result: FlowResult, keys: dict[str, str]) -> FlowResult:
    """Submit keys; when they are checked against the meter, what the user sees after."""
    result = await hass.config_entries.flow.async_configure(result["flow_id"], keys)
    if result["type"] is not FlowResultType.SHOW_PROGRESS:
        return result
    assert (result["step_id"], result["progress_action"]) == ("reauth_check", "probe")
    async with asyncio.timeout(30):
        while result["type"] is FlowResultType.SHOW_PROGRESS:
            await hass.async_block_till_done()
            result = await hass.config_entries.flow.async_configure(result["flow_id"])
    return result


def _fields(result: FlowResult) -> dict[str, Any]:
    """The form's fields with the value each shows (what was typed before)."""
    return {
        str(marker): (marker.description or {}).get("suggested_value")
        for marker in result["data_schema"].schema
    }


def _entities(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str]:
    """unique id → entity id of the entry's entities."""
    return {
        item.unique_id: item.entity_id
        for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }


async def _reloaded(hass: HomeAssistant, entry: MockConfigEntry, before: object) -> None:
    """Until the entry runs again with a new coordinator that has decoded a reading."""
    await wait_until(
        lambda: (
            entry.state is ConfigEntryState.LOADED
            and entry.runtime_data.coordinator is not before
            and entry.runtime_data.coordinator.reading is not None
        ),
        timeout=20,
    )
    await hass.async_block_till_done()


def _number(hass: HomeAssistant, entity_id: str) -> float | None:
    """The sensor's value, None while it has none (unavailable during a reload)."""
    state = hass.states.get(entity_id)
    if state is None or state.state in ("unavailable", "unknown"):
        return None
    return float(state.state)


def _pty_entry(standard: str, path: str, meter_id: str, **data: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Meter {meter_id}",
        unique_id=meter_id,
        data={
            CONF_STANDARD: standard,
            CONF_URL: path,
            **serial_settings_data(get_spec(standard).serial),
            **data,
        },
        options={CONF_UPDATE_INTERVAL: 0},
    )


# ------------------------------------------------------------------ the story of issue #12


@pytest.mark.usefixtures("unload_entries")
async def test_the_operator_changes_the_key(
    hass: HomeAssistant, tmp_path: Path, issue_registry: ir.IssueRegistry
) -> None:
    """An encrypted P1 DLMS meter on a pty gets new keys (EK and AK): after three frames
    the entry asks for them; a wrongly typed key is marked and kept, a wrong key is refused
    by the meter and said so, the right keys are checked and stored; the entry reloads and
    the same sensors go on, the energy never lower, in the recorder's history too."""
    await hass.config.async_set_time_zone("Europe/Zurich")  # the meter's clock is Swiss
    source = create_source("p1-dlms", SourceOptions(key=OLD_EK, authentication_key=OLD_AK))
    assert isinstance(source, DlmsSource)
    meter_id = source.meter.identity.text(source.meter.model.id_kind)
    # Ten meter seconds per wall second: the registers move while the test runs.
    simulator = Simulator(source, interval=0.2, acceleration=10)
    started = dt_util.utcnow()
    async with meter_on_by_id_pty(simulator, tmp_path, BY_ID_NAME) as (path, _):
        entry = _pty_entry(
            "p1-dlms",
            path,
            meter_id,
            **{CONF_ENCRYPTION_KEY: OLD_EK.hex(), CONF_AUTHENTICATION_KEY: OLD_AK.hex()},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        energy = f"{meter_id}_energy_import"
        await wait_until(lambda: energy in _entities(hass, entry), timeout=10)
        entity_id = _entities(hass, entry)[energy]
        await wait_until(lambda: _number(hass, entity_id) is not None, timeout=10)
        entities = _entities(hass, entry)
        shown_before = _number(hass, entity_id)
        assert shown_before is not None
        assert not _reauth_flows(hass, entry)

        source.meter.ciphering = Ciphering(NEW_EK, NEW_AK)  # the operator changes the keys
        result = await _reauth_form(hass, entry)
        assert result["step_id"] == "reauth_confirm"
        assert _fields(result) == {CONF_ENCRYPTION_KEY: None, CONF_AUTHENTICATION_KEY: None}
        assert issue_registry.async_get_issue(*_reauth_issue(entry)) is not None
        assert [domain for (domain, _) in issue_registry.issues] == ["homeassistant"]

        # A key with a digit missing: marked on its field, what was typed stays.
        typo = {CONF_ENCRYPTION_KEY: _typed(NEW_EK)[:-1], CONF_AUTHENTICATION_KEY: _typed(NEW_AK)}
        result = await _submit(hass, result, typo)
        assert result["errors"] == {CONF_ENCRYPTION_KEY: "invalid_key_format"}
        assert _fields(result) == typo

        # A well-formed key that is not the meter's: the meter's frames say so.
        wrong = {CONF_ENCRYPTION_KEY: _typed(WRONG_KEY), CONF_AUTHENTICATION_KEY: _typed(NEW_AK)}
        result = await _submit(hass, result, wrong)
        assert (result["step_id"], result["errors"]) == (
            "reauth_confirm",
            {"base": "decryption_failed"},
        )
        assert result["description_placeholders"]["detail"] != "-"
        assert _fields(result) == wrong
        assert entry.data[CONF_ENCRYPTION_KEY] == OLD_EK.hex()  # nothing stored

        coordinator = entry.runtime_data.coordinator
        right = {CONF_ENCRYPTION_KEY: _typed(NEW_EK), CONF_AUTHENTICATION_KEY: _typed(NEW_AK)}
        result = await _submit(hass, result, right)
        assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reauth_successful")
        assert entry.data[CONF_ENCRYPTION_KEY] == NEW_EK.hex()
        assert entry.data[CONF_AUTHENTICATION_KEY] == NEW_AK.hex()
        await _reloaded(hass, entry, coordinator)
        assert not _reauth_flows(hass, entry)
        assert issue_registry.async_get_issue(*_reauth_issue(entry)) is None

        # The same sensors go on, and count on from where they were.
        await wait_until(lambda: (_number(hass, entity_id) or 0.0) > shown_before, timeout=10)
        assert _entities(hass, entry) == entities

    await async_wait_recording_done(hass)
    changes = await hass.async_add_executor_job(
        history.state_changes_during_period, hass, started, None, entity_id
    )
    recorded = [state.state for state in changes[entity_id]]
    values = [float(value) for value in recorded if value not in ("unavailable", "unknown")]
    assert values == sorted(values)
    assert shown_before in values and values[-1] > shown_before


# ------------------------------------------------------------------ DSMR: starts encrypting


@pytest.mark.usefixtures("unload_entries")
async def test_a_meter_that_starts_encrypting(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A plain DSMR meter starts sending Smarty envelopes: the form says the meter now
    encrypts and asks the key (only the key: DSMR asks for no authentication key, the
    Smarty envelope's is public); stored."""
    entry = await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    energy = _entities(hass, entry)[f"{METER_ID}_energy_import"]
    assert hass.states.get(energy).state == "3580.245"  # type: ignore[union-attr]
    for counter in (1, 2):
        await send_reading(hass, fake_meter, encrypted_telegram(counter))
    await hass.async_block_till_done()
    assert not _reauth_flows(hass, entry)  # two frames could be a glitch
    await send_reading(hass, fake_meter, encrypted_telegram(3))

    result = await _reauth_form(hass, entry)
    assert result["step_id"] == "reauth_key_required"
    assert list(_fields(result)) == [CONF_ENCRYPTION_KEY]
    assert caplog.text.count("3 frames in a row failed on the key (key_required)") == 1

    coordinator = entry.runtime_data.coordinator
    fake_meter.greeting = encrypted_telegram(4)  # what the check and the reloaded entry get
    result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: _typed(TEST_KEY)})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reauth_successful")
    assert entry.data[CONF_ENCRYPTION_KEY] == TEST_KEY.hex()
    assert CONF_AUTHENTICATION_KEY not in entry.data  # the Smarty default
    await _reloaded(hass, entry, coordinator)
    assert hass.states.get(energy).state == "3580.245"  # type: ignore[union-attr]
    assert issue_registry.async_get_issue(*_reauth_issue(entry)) is None


async def test_the_meter_recovers_by_itself(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The meter sends in clear again before anyone typed a key: nothing is asked any more
    (the flow and Home Assistant's repair issue go away)."""
    entry = await setup_integration()
    for counter in (1, 2, 3):
        await send_reading(hass, fake_meter, encrypted_telegram(counter))
    await _reauth_form(hass, entry)
    assert issue_registry.async_get_issue(*_reauth_issue(entry)) is not None
    await send_reading(hass, fake_meter, telegram())
    assert not _reauth_flows(hass, entry)
    assert issue_registry.async_get_issue(*_reauth_issue(entry)) is None


async def test_not_asked_while_the_user_reconfigures(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """The user is in Reconfigure already (where keys are entered too): no second form;
    asked once Reconfigure is left and the frames still fail."""
    entry = await setup_integration()
    reconfigure = await entry.start_reconfigure_flow(hass)
    for counter in (1, 2, 3, 4):
        await send_reading(hass, fake_meter, encrypted_telegram(counter))
    assert not _reauth_flows(hass, entry)
    hass.config_entries.flow.async_abort(reconfigure["flow_id"])
    await send_reading(hass, fake_meter, encrypted_telegram(5))
    assert (await _reauth_form(hass, entry))["step_id"] == "reauth_key_required"


@pytest.mark.usefixtures("unload_entries")
async def test_a_request_left_over_ends_with_the_first_reading(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The key was entered another way (Reconfigure changes the entry's data): once the
    reloaded entry decodes, the reauth flow still waiting for a key ends."""
    entry = await setup_integration()
    for counter in (1, 2, 3):
        await send_reading(hass, fake_meter, encrypted_telegram(counter))
    await _reauth_form(hass, entry)
    coordinator = entry.runtime_data.coordinator
    fake_meter.greeting = encrypted_telegram(4)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_ENCRYPTION_KEY: TEST_KEY.hex()}
    )
    await _reloaded(hass, entry, coordinator)
    assert not _reauth_flows(hass, entry)
    assert issue_registry.async_get_issue(*_reauth_issue(entry)) is None


@pytest.mark.usefixtures("unload_entries")
async def test_new_keys_for_an_entry_that_is_not_loaded(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """The entry was unloaded meanwhile: the check has the port to itself, and the entry
    is set up with the new key."""
    entry = await setup_integration()
    for counter in (1, 2, 3):
        await send_reading(hass, fake_meter, encrypted_telegram(counter))
    result = await _reauth_form(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await fake_meter.wait_disconnected()
    fake_meter.greeting = encrypted_telegram(4)
    result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: _typed(TEST_KEY)})
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    await wait_until(lambda: entry.state is ConfigEntryState.LOADED)
    await wait_until(lambda: entry.runtime_data.coordinator.reading is not None)


# ------------------------------------------------------------------ another meter


def _other_meter_telegram(counter: int) -> bytes:
    return encrypt_smarty(telegram(equipment_id=OTHER_METER), TEST_KEY, SYSTEM_TITLE, counter)


@pytest.mark.parametrize("entry_extra", [{CONF_ENCRYPTION_KEY: WRONG_KEY.hex()}])
async def test_another_meter_on_the_port_aborts(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """The keys read a meter, but another one than the entry's: nothing is stored."""
    entry = await setup_integration()
    for counter in (1, 2, 3):
        await send_reading(hass, fake_meter, _other_meter_telegram(counter))
    result = await _reauth_form(hass, entry)
    assert result["step_id"] == "reauth_confirm"
    fake_meter.greeting = _other_meter_telegram(4)
    result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: _typed(TEST_KEY)})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reauth_wrong_meter")
    assert result["description_placeholders"] == {"meter_id": OTHER_METER, "expected": METER_ID}
    assert entry.data[CONF_ENCRYPTION_KEY] == WRONG_KEY.hex()
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("unload_entries")
@pytest.mark.parametrize("entry_extra", [{CONF_ENCRYPTION_KEY: WRONG_KEY.hex()}])
async def test_a_replaced_meter_that_was_accepted_is_the_entrys(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    setup_integration: Setup,
    fake_meter: FakeMeter,
) -> None:
    """A meter that replaced the entry's one, accepted in the repair flow, is this entry's
    meter: its new keys are stored."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={CONF_UPDATE_INTERVAL: 0, CONF_ACCEPTED_METER_ID: OTHER_METER}
    )
    entry = await setup_integration()
    for counter in (1, 2, 3):
        await send_reading(hass, fake_meter, _other_meter_telegram(counter))
    result = await _reauth_form(hass, entry)
    coordinator = entry.runtime_data.coordinator
    fake_meter.greeting = _other_meter_telegram(4)
    result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: _typed(TEST_KEY)})
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_ENCRYPTION_KEY] == TEST_KEY.hex()
    await _reloaded(hass, entry, coordinator)


# ------------------------------------------------------------------ failed checks


@pytest.mark.parametrize("entry_extra", [{CONF_ENCRYPTION_KEY: WRONG_KEY.hex()}])
async def test_a_port_that_fails_at_once(
    hass: HomeAssistant, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """The meter's network adapter went away: said on the form, with what failed. The
    progress step lasts a second even so, or the frontend would miss its end."""
    entry = await setup_integration()
    for counter in (1, 2, 3):
        await send_reading(hass, fake_meter, encrypted_telegram(counter))
    result = await _reauth_form(hass, entry)
    await fake_meter.close()
    loop = asyncio.get_running_loop()
    began = loop.time()
    with patch.object(detect_flow, "MIN_PROGRESS_SECONDS", 1.0):  # the tests' default is 0
        result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: _typed(TEST_KEY)})
    assert loop.time() - began >= 1.0
    assert result["errors"] == {"base": "cannot_open_port"}
    assert result["description_placeholders"]["detail"] != "-"
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("raised", "error"), [(RuntimeError("a bug"), "unknown"), (TimeoutError(), "no_data")]
)
@pytest.mark.parametrize("entry_extra", [{CONF_ENCRYPTION_KEY: WRONG_KEY.hex()}])
async def test_a_check_that_fails_unexpectedly(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    raised: Exception,
    error: str,
) -> None:
    """A bug in the check, or the safety net around it: the form says so; the flow goes on."""
    entry = await setup_integration()
    for counter in (1, 2, 3):
        await send_reading(hass, fake_meter, encrypted_telegram(counter))
    result = await _reauth_form(hass, entry)
    with patch.object(reauth_flow, "probe", side_effect=raised):
        result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: _typed(TEST_KEY)})
    assert (result["step_id"], result["errors"]) == ("reauth_confirm", {"base": error})
    await hass.config_entries.async_unload(entry.entry_id)


# ------------------------------------------------------------------ Kamstrup, MEP


@pytest.mark.usefixtures("unload_entries")
async def test_kamstrup_keys_typed_the_other_way_round(hass: HomeAssistant) -> None:
    """Danish Kamstrup keys handed out swapped: they work the other way round, are stored in
    the order that works, and the user is told."""
    await hass.config.async_set_time_zone("Europe/Zurich")
    url = f"simulator://kamstrup-dlms?interval=0.2&key={NEW_EK.hex()}&auth_key={NEW_AK.hex()}"
    meter_id = "5706567280232362"  # the simulated OMNIPOWER's meter number
    entry = _pty_entry(
        "kamstrup-dlms",
        url,
        meter_id,
        **{CONF_ENCRYPTION_KEY: OLD_EK.hex(), CONF_AUTHENTICATION_KEY: OLD_AK.hex()},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await _reauth_form(hass, entry)
    coordinator = entry.runtime_data.coordinator
    swapped = {CONF_ENCRYPTION_KEY: _typed(NEW_AK), CONF_AUTHENTICATION_KEY: _typed(NEW_EK)}
    result = await _submit(hass, result, swapped)
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reauth_keys_swapped")
    assert entry.data[CONF_ENCRYPTION_KEY] == NEW_EK.hex()
    assert entry.data[CONF_AUTHENTICATION_KEY] == NEW_AK.hex()
    # In the working order the meter's frames verify at once: no notice any more.
    await _reloaded(hass, entry, coordinator)
    assert entry.runtime_data.coordinator.reading.notices == ()


@pytest.mark.usefixtures("unload_entries")
async def test_an_nes_meter_gets_a_new_mep_key(hass: HomeAssistant, tmp_path: Path) -> None:
    """An NES meter's MEP key changes: after three refused reads the entry asks for the MBK
    (its own form: 20 characters or 40 hex digits); a wrong one is refused by the meter,
    the new one stored, and the sensors go on."""
    source = create_source("mep", SourceOptions(seed=5, key=DEMO_MBK))
    assert isinstance(source, MepSource)
    # The reader pauses a minute after a refused read (the meter may log each one as a
    # security event): three refusals would take three minutes here.
    retry = patch("custom_components.ch_smart_meter.reader.mep.poller.KEY_RETRY", 0.0)
    async with meter_on_by_id_pty(Simulator(source, acceleration=60), tmp_path, BY_ID_NAME) as (
        path,
        _,
    ):
        entry = _pty_entry(
            "mep", path, source.utility_serial, **{CONF_ENCRYPTION_KEY: DEMO_MBK.hex()}
        )
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            entry, options={CONF_UPDATE_INTERVAL: 0, CONF_POLL_INTERVAL: 3.0}
        )
        with retry:
            assert await hass.config_entries.async_setup(entry.entry_id)
            energy = f"{source.utility_serial}_energy_import"
            await wait_until(lambda: energy in _entities(hass, entry), timeout=15)
            entity_id = _entities(hass, entry)[energy]
            await wait_until(lambda: _number(hass, entity_id) is not None, timeout=15)
            shown_before = _number(hass, entity_id)
            assert shown_before is not None

            source.key = NEW_MBK
            result = await _reauth_form(hass, entry)
        assert result["step_id"] == "reauth_mep_key"
        assert list(_fields(result)) == [CONF_ENCRYPTION_KEY]

        result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: "0123"})
        assert result["errors"] == {CONF_ENCRYPTION_KEY: "invalid_mep_key"}
        assert _fields(result) == {CONF_ENCRYPTION_KEY: "0123"}
        result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: "WRONG-MEP-KEY-000001"})
        assert (result["step_id"], result["errors"]) == ("reauth_mep_key", {"base": "key_rejected"})

        coordinator = entry.runtime_data.coordinator
        result = await _submit(hass, result, {CONF_ENCRYPTION_KEY: NEW_MBK.decode()})
        assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reauth_successful")
        assert entry.data[CONF_ENCRYPTION_KEY] == NEW_MBK.hex()
        await _reloaded(hass, entry, coordinator)
        assert _entities(hass, entry)[energy] == entity_id
        await wait_until(lambda: _number(hass, entity_id) is not None, timeout=15)
        assert (_number(hass, entity_id) or 0.0) >= shown_before
