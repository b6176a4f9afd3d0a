"""The config, reconfigure and options flows: every step, every branch, every error.

The live check is real: it reads the in-process simulated meter, a simulated meter on a
pseudo-terminal (found through a /dev/serial/by-id link), or the fake TCP meter. Only the
USB port list (this machine has no USB adapters) and, for the "unexpected error" branch,
the check itself are replaced.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Generator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter import config_flow
from custom_components.ch_smart_meter.const import (
    CONF_AUTHENTICATION_KEY,
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_ENCRYPTION_KEY,
    CONF_LOW_TARIFF,
    CONF_PARITY,
    CONF_PROFILE,
    CONF_STANDARD,
    CONF_STOPBITS,
    CONF_UPDATE_INTERVAL,
    CONF_URL,
    DOMAIN,
)
from custom_components.ch_smart_meter.reader.errors import FrameError, NoData
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import Simulator
from custom_components.ch_smart_meter.reader.spec import Profile
from custom_components.ch_smart_meter.reader.standards import get_spec

from .conftest import (
    METER_ID,
    TEST_KEY,
    FakeMeter,
    encrypted_telegram,
    entry_data,
    meter_on_by_id_pty,
    telegram,
    wait_until,
)

SIMULATED_METER_ID = "E002511130924080"  # the simulated DSMR meter's equipment id (seed 1)
BY_ID_NAME = "usb-Test_P1_Cable_A1B2C3-if00-port0"
REAL_PROBE_TIMEOUT = config_flow.probe_timeout
PASSWORD_KEY = "0f0e 0d0c 0b0a 0908 0706 0504 0302 0100"  # TEST_KEY as a user types it


@pytest.fixture(autouse=True)
def quick_probe() -> Generator[None]:
    """The live check listens 1.5 s instead of 20 s (silent meters are part of the tests)."""
    with patch.object(config_flow, "probe_timeout", lambda spec: 1.5):
        yield


@pytest.fixture
async def simulated_pty(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A simulated DSMR meter on a pseudo-terminal, linked from a fake /dev/serial/by-id."""
    simulator = Simulator(create_source("dsmr"), interval=0.2)
    async with meter_on_by_id_pty(simulator, tmp_path, BY_ID_NAME) as ports:
        yield ports


async def _start(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STANDARD: "dsmr"}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "connection"
    return result


async def _menu(hass: HomeAssistant, result: FlowResult, choice: str) -> FlowResult:
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": choice}
    )


async def _submit(
    hass: HomeAssistant, result: FlowResult, user_input: dict[str, Any]
) -> FlowResult:
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


async def _probe(hass: HomeAssistant, result: FlowResult) -> FlowResult:
    """Let the live check run to its end and return what follows it."""
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    assert result["progress_action"] == "probe"
    await hass.async_block_till_done()
    return await hass.config_entries.flow.async_configure(result["flow_id"])


async def _no_keys(hass: HomeAssistant, result: FlowResult) -> FlowResult:
    """The keys step of an unencrypted meter: leave both keys empty."""
    assert result["step_id"] == "keys"
    return await _probe(hass, await _submit(hass, result, {}))


def _unload_all(hass: HomeAssistant) -> list[Any]:
    return [
        hass.config_entries.async_unload(entry.entry_id)
        for entry in hass.config_entries.async_entries(DOMAIN)
    ]


@pytest.fixture
async def unload_entries(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload whatever the flow created (its session must not outlive the test)."""
    yield
    for unload in _unload_all(hass):
        await unload
    await hass.async_block_till_done()


# ------------------------------------------------------------------ creating an entry


@pytest.mark.usefixtures("unload_entries")
async def test_simulated_meter(hass: HomeAssistant) -> None:
    """The demo path: the simulated meter answers, the entry is created and loads."""
    result = await _start(hass)
    assert result["menu_options"] == ["serial", "network", "url", "simulator"]
    result = await _probe(hass, await _menu(hass, result, "simulator"))  # no keys step

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Iskraemeco {SIMULATED_METER_ID}"
    assert result["data"] == {
        CONF_STANDARD: "dsmr",
        CONF_URL: "simulator://dsmr",
        CONF_BAUDRATE: 115200,
        CONF_BYTESIZE: 8,
        CONF_PARITY: "N",
        CONF_STOPBITS: 1,
    }
    assert result["options"] == {CONF_UPDATE_INTERVAL: 5}
    entry = result["result"]
    assert entry.unique_id == SIMULATED_METER_ID
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("unload_entries")
async def test_serial_port_by_id(hass: HomeAssistant, simulated_pty: tuple[str, Path]) -> None:
    """Ports are offered by their /dev/serial/by-id name; the chosen one is stored so."""
    _pty, by_id = simulated_pty
    result = await _menu(hass, await _start(hass), "serial")
    assert result["step_id"] == "serial"
    options = result["data_schema"].schema[CONF_PORT].config["options"]
    assert {"value": str(by_id), "label": f"{by_id} (FT232R USB UART)"} in options
    assert options[-1] == {"value": "manual", "label": "manual"}

    result = await _submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr5"})
    result = await _no_keys(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == str(by_id)
    assert result["result"].unique_id == SIMULATED_METER_ID


@pytest.mark.usefixtures("unload_entries")
async def test_serial_port_entered_by_hand_with_custom_format(
    hass: HomeAssistant, simulated_pty: tuple[str, Path]
) -> None:
    """Manual path and a custom character format (the pty ignores it; it is stored)."""
    pty, _by_id = simulated_pty
    result = await _menu(hass, await _start(hass), "serial")
    result = await _submit(hass, result, {CONF_PORT: "manual", "serial_preset": "custom"})
    assert result["step_id"] == "serial_manual"
    result = await _submit(hass, result, {CONF_PORT: f"  {pty} "})
    assert result["step_id"] == "serial_format"
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema}
    assert defaults == {"baudrate": 115200, "bytesize": "8", "parity": "none", "stopbits": "1"}
    result = await _submit(
        hass, result, {"baudrate": 9600, "bytesize": "7", "parity": "even", "stopbits": "2"}
    )
    result = await _no_keys(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY, (
        result.get("errors"),
        result.get("description_placeholders"),
    )
    assert result["data"] | {} == {
        CONF_STANDARD: "dsmr",
        CONF_URL: pty,
        CONF_BAUDRATE: 9600,
        CONF_BYTESIZE: 7,
        CONF_PARITY: "E",
        CONF_STOPBITS: 2.0,
    }


@pytest.mark.usefixtures("unload_entries")
async def test_serial_preset(hass: HomeAssistant, simulated_pty: tuple[str, Path]) -> None:
    """A preset other than the first one is stored as its character format."""
    _pty, by_id = simulated_pty
    result = await _menu(hass, await _start(hass), "serial")
    labels = [
        option["label"]
        for option in result["data_schema"].schema["serial_preset"].config["options"]
    ]
    assert labels[0] == "DSMR 5 P1 port (115200 8N1)"
    assert labels[-1] == "custom"
    result = await _no_keys(
        hass, await _submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr22"})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    preset = get_spec("dsmr").serial_presets[2].settings
    assert (result["data"][CONF_BAUDRATE], result["data"][CONF_PARITY]) == (
        preset.baudrate,
        preset.parity,
    )


@pytest.mark.usefixtures("unload_entries")
async def test_network(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """Host and port become a socket:// URL."""
    fake_meter.greeting = telegram()
    result = await _menu(hass, await _start(hass), "network")
    assert result["step_id"] == "network"
    result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await _no_keys(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == fake_meter.url
    assert result["title"] == f"Iskraemeco {METER_ID}"


@pytest.mark.usefixtures("unload_entries")
async def test_serial_url(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """Only network serial URLs are accepted; a wrong one is reported on its field."""
    fake_meter.greeting = telegram()
    result = await _menu(hass, await _start(hass), "url")
    for wrong in ("http://127.0.0.1:80", "socket://", "/dev/ttyUSB0"):
        result = await _submit(hass, result, {CONF_URL: wrong, "serial_preset": "dsmr5"})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await _submit(
        hass, result, {CONF_URL: f" {fake_meter.url} ", "serial_preset": "dsmr5"}
    )
    result = await _no_keys(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == fake_meter.url


@pytest.mark.usefixtures("unload_entries")
async def test_serial_url_with_custom_format(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """rfc2217/esphome URLs carry a character format; custom goes through the format step."""
    fake_meter.greeting = telegram()
    result = await _menu(hass, await _start(hass), "url")
    result = await _submit(hass, result, {CONF_URL: fake_meter.url, "serial_preset": "custom"})
    assert result["step_id"] == "serial_format"
    result = await _submit(
        hass, result, {"baudrate": 2400, "bytesize": "8", "parity": "odd", "stopbits": "2"}
    )
    result = await _no_keys(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert (result["data"][CONF_PARITY], result["data"][CONF_STOPBITS]) == ("O", 2.0)


# ------------------------------------------------------------------ keys


@pytest.mark.usefixtures("unload_entries")
async def test_keys_every_error_then_success(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """No key, a malformed key, a wrong key, then the right one (stored normalised)."""
    fake_meter.greeting = encrypted_telegram(1) + encrypted_telegram(2) + encrypted_telegram(3)
    result = await _menu(hass, await _start(hass), "network")
    result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    assert result["step_id"] == "keys"
    assert set(map(str, result["data_schema"].schema)) == {
        CONF_ENCRYPTION_KEY,
        CONF_AUTHENTICATION_KEY,
    }

    result = await _probe(hass, await _submit(hass, result, {}))
    assert (result["step_id"], result["errors"]) == ("keys", {"base": "key_required"})

    result = await _submit(
        hass, result, {CONF_ENCRYPTION_KEY: "12345", CONF_AUTHENTICATION_KEY: "zz" * 16}
    )
    assert result["errors"] == {
        CONF_ENCRYPTION_KEY: "invalid_key_format",
        CONF_AUTHENTICATION_KEY: "invalid_key_format",
    }

    result = await _probe(hass, await _submit(hass, result, {CONF_ENCRYPTION_KEY: "00" * 16}))
    assert (result["step_id"], result["errors"]) == ("keys", {"base": "decryption_failed"})

    result = await _probe(hass, await _submit(hass, result, {CONF_ENCRYPTION_KEY: PASSWORD_KEY}))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_ENCRYPTION_KEY] == TEST_KEY.hex()
    assert CONF_AUTHENTICATION_KEY not in result["data"]


async def test_keys_step_skipped_after_a_connection_error(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> None:
    """Keys typed once are kept while the user fixes the connection."""
    result = await _menu(hass, await _start(hass), "network")
    result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: 1})
    result = await _probe(hass, await _submit(hass, result, {CONF_ENCRYPTION_KEY: PASSWORD_KEY}))
    assert (result["step_id"], result["errors"]) == ("network", {"base": "cannot_open_port"})
    assert result["description_placeholders"]["detail"].endswith("connection refused")

    fake_meter.greeting = encrypted_telegram()
    result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await _probe(hass, result)  # straight to the check: no second keys step
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_ENCRYPTION_KEY] == TEST_KEY.hex()
    for unload in _unload_all(hass):
        await unload


# ------------------------------------------------------------------ connection errors


async def test_cannot_open(hass: HomeAssistant) -> None:
    """A device that does not exist: shown on the form where the path was typed."""
    result = await _menu(hass, await _start(hass), "serial")
    result = await _submit(hass, result, {CONF_PORT: "manual", "serial_preset": "dsmr5"})
    result = await _no_keys(
        hass, await _submit(hass, result, {CONF_PORT: "/dev/ch-smart-meter-missing"})
    )
    assert (result["step_id"], result["errors"]) == ("serial_manual", {"base": "cannot_open_port"})
    assert result["description_placeholders"]["detail"].endswith("no such device")


async def test_no_data(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """The port opens but nothing arrives: the interface is probably not enabled."""
    result = await _menu(hass, await _start(hass), "network")
    result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await _no_keys(hass, result)
    assert (result["step_id"], result["errors"]) == ("network", {"base": "no_data"})
    await fake_meter.wait_disconnected()  # the check closed its connection


async def test_no_valid_frame(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """Bytes but no valid frame (wrong standard or serial settings), on the serial form."""
    fake_meter.greeting = b"\x00\xff garbage \x7e\x7e" * 50 + telegram().replace(
        b"1-0:1.8.1", b"1-0:1.8.9"
    )
    result = await _menu(hass, await _start(hass), "url")
    result = await _submit(hass, result, {CONF_URL: fake_meter.url, "serial_preset": "dsmr5"})
    result = await _no_keys(hass, result)
    assert (result["step_id"], result["errors"]) == ("url", {"base": "no_valid_frame"})
    assert "checksum" in result["description_placeholders"]["detail"]


async def test_error_on_serial_form_then_fixed(
    hass: HomeAssistant, simulated_pty: tuple[str, Path]
) -> None:
    """An error after the port list is shown on the port list, which still works."""
    _pty, by_id = simulated_pty
    result = await _menu(hass, await _start(hass), "serial")
    with patch.object(config_flow, "probe", side_effect=NoData("nothing received in 1 s")):
        result = await _no_keys(
            hass, await _submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr5"})
        )
    assert (result["step_id"], result["errors"]) == ("serial", {"base": "no_data"})
    result = await _probe(
        hass, await _submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr5"})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    for unload in _unload_all(hass):
        await unload


async def test_error_after_custom_format(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """With a custom format the error is shown on the format form (the likely culprit)."""
    fake_meter.greeting = b"\x00" * 300
    result = await _menu(hass, await _start(hass), "url")
    result = await _submit(hass, result, {CONF_URL: fake_meter.url, "serial_preset": "custom"})
    result = await _submit(
        hass, result, {"baudrate": 300, "bytesize": "7", "parity": "none", "stopbits": "1"}
    )
    result = await _no_keys(hass, result)
    assert (result["step_id"], result["errors"]) == ("serial_format", {"base": "no_valid_frame"})


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RuntimeError("bug"), "unknown"),
        (TimeoutError(), "no_data"),
        (FrameError("something new"), "unknown"),
    ],
)
async def test_unexpected_errors(hass: HomeAssistant, error: Exception, expected: str) -> None:
    """Whatever else goes wrong is reported, never a crashed flow; the simulator goes back to the start."""
    with patch.object(config_flow, "probe", side_effect=error):
        result = await _probe(hass, await _menu(hass, await _start(hass), "simulator"))
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "user")
    assert result["errors"] == {"base": expected}
    # Starting over works.
    result = await _submit(hass, result, {CONF_STANDARD: "dsmr"})
    assert result["type"] is FlowResultType.MENU


async def test_key_error_for_a_standard_without_keys(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> None:
    """A standard without encryption has no keys step; a key error lands on the connection form."""
    plain = dataclasses.replace(get_spec("dsmr"), supports_encryption=False)
    fake_meter.greeting = encrypted_telegram()
    with patch.object(config_flow, "get_spec", return_value=plain):
        result = await _menu(hass, await _start(hass), "network")
        result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
        result = await _probe(hass, result)
    assert (result["step_id"], result["errors"]) == ("network", {"base": "key_required"})


async def test_probe_cancelled_when_flow_is_closed(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> None:
    """Closing the dialog during the check stops it and releases the port at once."""
    result = await _menu(hass, await _start(hass), "network")
    result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await _submit(hass, result, {})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    await fake_meter.wait_connected()
    hass.config_entries.flow.async_abort(result["flow_id"])
    await fake_meter.wait_disconnected(timeout=1.0)
    await hass.async_block_till_done()


# ------------------------------------------------------------------ duplicates


async def test_same_meter_twice(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """The same meter on another port aborts (unique id = meter id)."""
    MockConfigEntry(
        domain=DOMAIN, unique_id=METER_ID, data=entry_data("/dev/ttyOTHER")
    ).add_to_hass(hass)
    fake_meter.greeting = telegram()
    result = await _menu(hass, await _start(hass), "network")
    result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await _no_keys(hass, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_same_port_twice(hass: HomeAssistant) -> None:
    """A port that an entry already reads aborts before it is opened twice."""
    MockConfigEntry(
        domain=DOMAIN, unique_id="other", data=entry_data("simulator://dsmr")
    ).add_to_hass(hass)
    result = await _menu(hass, await _start(hass), "simulator")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# ------------------------------------------------------------------ reconfigure


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> AsyncIterator[MockConfigEntry]:
    """A loaded entry reading the fake (encrypted) meter, with a stored key."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Iskraemeco {METER_ID}",
        unique_id=METER_ID,
        data=entry_data(fake_meter.url, **{CONF_ENCRYPTION_KEY: TEST_KEY.hex()}),
        options={CONF_UPDATE_INTERVAL: 0},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await fake_meter.wait_connected()
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _reconfigure(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult:
    result = await entry.start_reconfigure_flow(hass)
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "reconfigure")
    assert result["description_placeholders"] == {"title": entry.title}
    return await _submit(hass, result, {CONF_STANDARD: "dsmr"})


async def test_reconfigure_keeps_the_key_and_reloads(
    hass: HomeAssistant, fake_meter: FakeMeter, loaded_entry: MockConfigEntry
) -> None:
    """Move the meter to another port; the key field left empty keeps the stored key.

    The entry's own session lets go of the port during the check, and the entry is
    reloaded once with the new data.
    """
    await fake_meter.send(encrypted_telegram(6))
    await wait_until(lambda: loaded_entry.runtime_data.coordinator.reading is not None)
    await hass.async_block_till_done()
    entity_ids = {
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), loaded_entry.entry_id)
    }
    assert len(entity_ids) > 20
    other = FakeMeter()
    await other.start()
    other.greeting = encrypted_telegram(7)
    try:
        released_during_check: list[bool] = []
        real_probe = config_flow.probe

        async def spy(*args: Any, **kwargs: Any) -> Any:
            try:
                await fake_meter.wait_disconnected(2.0)
            except TimeoutError:
                released_during_check.append(False)
            else:
                released_during_check.append(True)
            return await real_probe(*args, **kwargs)

        result = await _menu(hass, await _reconfigure(hass, loaded_entry), "network")
        result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: other.port})
        assert result["step_id"] == "keys"
        with patch.object(config_flow, "probe", spy):
            result = await _probe(hass, await _submit(hass, result, {}))
        assert released_during_check == [True]  # the entry let go of its port for the check
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert loaded_entry.data[CONF_URL] == other.url
        assert loaded_entry.data[CONF_ENCRYPTION_KEY] == TEST_KEY.hex()
        assert loaded_entry.state is ConfigEntryState.LOADED
        # The same entities (same unique ids) go on with the new connection.
        await wait_until(lambda: loaded_entry.runtime_data.coordinator.reading is not None)
        await hass.async_block_till_done()
        assert entity_ids == {
            e.entity_id
            for e in er.async_entries_for_config_entry(er.async_get(hass), loaded_entry.entry_id)
        }
        await wait_until(lambda: other.connections == 2)  # the check, then the reloaded entry
        await wait_until(lambda: other.clients == 1)
        # The old port is released for good by the reload.
        await fake_meter.wait_disconnected()
    finally:
        await hass.config_entries.async_unload(loaded_entry.entry_id)
        await other.close()


async def test_reconfigure_failed_check_resumes_reading(
    hass: HomeAssistant, fake_meter: FakeMeter, loaded_entry: MockConfigEntry
) -> None:
    """A failed check gives the port back to the running entry; nothing is changed."""
    result = await _menu(hass, await _reconfigure(hass, loaded_entry), "network")
    result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await _probe(hass, await _submit(hass, result, {CONF_ENCRYPTION_KEY: "11" * 16}))
    assert result["errors"] == {"base": "no_data"}
    await fake_meter.wait_connected()  # the entry reads again
    hass.config_entries.flow.async_abort(result["flow_id"])
    assert loaded_entry.data[CONF_ENCRYPTION_KEY] == TEST_KEY.hex()


async def test_reconfigure_another_meter(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """A different meter id aborts: that is a new meter, not this entry."""
    other = FakeMeter()
    await other.start()
    other.greeting = telegram(equipment_id="E0099999999999999")
    try:
        result = await _menu(hass, await _reconfigure(hass, loaded_entry), "network")
        result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: other.port})
        result = await _probe(hass, await _submit(hass, result, {}))
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_meter"
        assert loaded_entry.data[CONF_URL] != other.url
    finally:
        await other.close()


async def test_reconfigure_unloaded_entry(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """An entry that is not loaded (e.g. its port vanished) can be pointed elsewhere."""
    entry = MockConfigEntry(domain=DOMAIN, unique_id=METER_ID, data=entry_data("/dev/gone"))
    entry.add_to_hass(hass)
    fake_meter.greeting = telegram()
    result = await _menu(hass, await _reconfigure(hass, entry), "url")
    result = await _submit(hass, result, {CONF_URL: fake_meter.url, "serial_preset": "dsmr5"})
    result = await _probe(hass, await _submit(hass, result, {}))
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_URL] == fake_meter.url
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED  # set up at once with the new port
    await hass.config_entries.async_unload(entry.entry_id)


# ------------------------------------------------------------------ options


async def test_options(hass: HomeAssistant) -> None:
    """The update interval; other options stored by later features are kept."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=METER_ID, data=entry_data("/dev/x"), options={"other": 1}
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "init")
    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_UPDATE_INTERVAL,
        CONF_LOW_TARIFF,
    ]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UPDATE_INTERVAL: 30.0}
    )
    # Then the CH-SMR republisher (off by default; tests/integration/test_republish_flow.py).
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "republish")
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The low tariff is number 2, as Swiss grid operators count.
    assert _without_republisher(entry.options) == {
        "other": 1,
        CONF_UPDATE_INTERVAL: 30,
        CONF_LOW_TARIFF: 2,
    }
    assert entry.options["republish"] is False


async def test_options_profile(hass: HomeAssistant) -> None:
    """Standards with meter profiles offer an override (automatic detection first)."""
    profiled = dataclasses.replace(
        get_spec("dsmr"), profiles=(Profile("lg_e450", "Landis+Gyr E450"),)
    )
    entry = MockConfigEntry(domain=DOMAIN, unique_id=METER_ID, data=entry_data("/dev/x"))
    entry.add_to_hass(hass)
    with patch.object(config_flow, "get_spec", return_value=profiled):
        result = await hass.config_entries.options.async_init(entry.entry_id)
    options = result["data_schema"].schema[CONF_PROFILE].config["options"]
    assert [option["value"] for option in options] == ["auto", "lg_e450"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UPDATE_INTERVAL: 0, CONF_PROFILE: "lg_e450", CONF_LOW_TARIFF: "1"}
    )
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert _without_republisher(entry.options) == {
        CONF_UPDATE_INTERVAL: 0,
        CONF_PROFILE: "lg_e450",
        CONF_LOW_TARIFF: 1,
    }


def _without_republisher(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of this flow's first step (the republisher's are tested elsewhere)."""
    return {key: value for key, value in options.items() if not key.startswith("republish")}


async def test_options_of_an_unknown_standard(hass: HomeAssistant) -> None:
    """An entry of a standard this version lacks still has its interval option."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=METER_ID, data=entry_data("/dev/x", **{CONF_STANDARD: "mep-x"})
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_UPDATE_INTERVAL,
        CONF_LOW_TARIFF,
    ]


# ------------------------------------------------------------------ helpers


def test_network_url() -> None:
    """IPv6 literals get brackets; names and IPv4 addresses do not."""
    assert config_flow.network_url(" meter.local ", 23) == "socket://meter.local:23"
    assert config_flow.network_url("192.0.2.1", 8088) == "socket://192.0.2.1:8088"
    assert config_flow.network_url("::1", 23) == "socket://[::1]:23"
    assert config_flow.network_url("[::1]", 23) == "socket://[::1]:23"


def test_probe_timeout_grows_with_slow_meters() -> None:
    """At least 20 s; slow meters get two of their intervals plus a margin."""
    spec = get_spec("dsmr")
    assert REAL_PROBE_TIMEOUT(dataclasses.replace(spec, interval=1.0)) == 20.0
    assert REAL_PROBE_TIMEOUT(dataclasses.replace(spec, interval=60.0)) == 125.0


def test_list_serial_ports_without_by_id(tmp_path: Path) -> None:
    """Without /dev/serial/by-id the device names are offered as they are."""
    ports = [SimpleNamespace(device="/dev/ttyUSB7", description=None)]
    with (
        patch.object(config_flow, "SERIAL_BY_ID", str(tmp_path / "missing")),
        patch.object(config_flow.serialx, "list_serial_ports", return_value=ports),
    ):
        assert config_flow.list_serial_ports() == [
            {"value": "/dev/ttyUSB7", "label": "/dev/ttyUSB7"}
        ]


def test_list_serial_ports_by_id_only(tmp_path: Path) -> None:
    """A by-id link whose device serialx does not list is still offered."""
    (tmp_path / "usb-X-if00").symlink_to(os.devnull)
    with (
        patch.object(config_flow, "SERIAL_BY_ID", str(tmp_path)),
        patch.object(config_flow.serialx, "list_serial_ports", return_value=[]),
    ):
        path = str(tmp_path / "usb-X-if00")
        assert config_flow.list_serial_ports() == [{"value": path, "label": path}]


@pytest.mark.usefixtures("unload_entries")
async def test_standard_without_serial_line(hass: HomeAssistant) -> None:
    """A standard without serial presets stores no character format."""
    networked = dataclasses.replace(get_spec("dsmr"), serial_presets=())
    with patch.object(config_flow, "get_spec", return_value=networked):
        result = await _probe(hass, await _menu(hass, await _start(hass), "simulator"))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_STANDARD: "dsmr", CONF_URL: "simulator://dsmr"}


async def test_no_simulator_for_the_standard(hass: HomeAssistant) -> None:
    """The simulated meter is offered only for standards that have one."""
    with patch.object(config_flow, "available_standards", return_value=[]):
        result = await _start(hass)
    assert result["menu_options"] == ["serial", "network", "url"]


async def test_keys_step_without_authentication_key(hass: HomeAssistant) -> None:
    """A standard whose frames are never authenticated asks for the encryption key only."""
    no_ak = dataclasses.replace(get_spec("dsmr"), supports_authentication_key=False)
    with patch.object(config_flow, "get_spec", return_value=no_ak):
        result = await _menu(hass, await _start(hass), "network")
        result = await _submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: 1})
    assert result["step_id"] == "keys"
    assert [str(key) for key in result["data_schema"].schema] == [CONF_ENCRYPTION_KEY]
