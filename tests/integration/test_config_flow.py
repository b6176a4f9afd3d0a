"""The config, reconfigure and options flows with the standard known: every step, every
branch, every error (detection and USB discovery: test_detect_flow.py).

The live check is real: it reads the in-process simulated meter, a simulated meter on a
pseudo-terminal (found through a /dev/serial/by-id link), or the fake TCP meter. Only the
USB port list (this machine has no USB adapters) and, for the "unexpected error" branch,
the check itself are replaced.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import termios
from collections.abc import AsyncIterator, Generator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
import voluptuous as vol
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter import config_flow, detect_flow, options_flow
from custom_components.ch_smart_meter import ports as port_list
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
from custom_components.ch_smart_meter.reader.errors import FrameError, NoData, TransportError
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import encrypt_smarty
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import Simulator
from custom_components.ch_smart_meter.reader.spec import Profile
from custom_components.ch_smart_meter.reader.standards import get_spec

from .conftest import (
    METER_ID,
    SYSTEM_TITLE,
    TEST_KEY,
    FakeMeter,
    encrypted_telegram,
    entry_data,
    meter_on_by_id_pty,
    telegram,
    wait_until,
)
from .flows import finish_probe, submit

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


async def _start(hass: HomeAssistant, *, has_key: bool = False) -> FlowResult:
    """The first menu → "I know my meter's standard" → P1 DSMR → the connection menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert (result["type"], result["step_id"]) == (FlowResultType.MENU, "user")
    result = await _menu(hass, result, "standard")
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "standard")
    result = await submit(hass, result, {CONF_STANDARD: "dsmr", "has_key": has_key})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "connection"
    return result


async def _menu(hass: HomeAssistant, result: FlowResult, choice: str) -> FlowResult:
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": choice}
    )


async def _demo(hass: HomeAssistant, standard: str = "dsmr") -> FlowResult:
    """The first menu → the simulated meter of ``standard`` → its live check."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await _menu(hass, result, "demo")
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "demo")
    return await submit(hass, result, {CONF_STANDARD: standard})


def _suggested(result: FlowResult, name: str) -> Any:
    """What a form field shows when it opens (its suggested value, else its default)."""
    for key in result["data_schema"].schema:
        if str(key) == name:
            suggested = (key.description or {}).get("suggested_value")
            return suggested if suggested is not None else key.default()
    raise KeyError(name)


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
    """The demo path: the simulated meter answers, the entry is created and loads; its
    title says that the meter is simulated."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    # Without MQTT there is no CH-SMR choice (test_chsmr_source.py has it with MQTT).
    assert result["menu_options"] == ["detect", "standard", "demo"]
    result = await _menu(hass, result, "demo")
    options = result["data_schema"].schema[CONF_STANDARD].config["options"]
    assert [option["value"] for option in options] == [
        "dsmr",
        "p1-dlms",
        "lg-mbus",
        "kamstrup-dlms",
        "kmp",
        "mep",
    ]
    assert _suggested(result, CONF_STANDARD) == "dsmr"
    result = await finish_probe(hass, await submit(hass, result, {CONF_STANDARD: "dsmr"}))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Simulated meter {SIMULATED_METER_ID}"
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
    if config_flow.SERIAL_PORT_SELECTOR is None:  # Home Assistant before 2026.5: our list
        options = result["data_schema"].schema[CONF_PORT].config["options"]
        assert {"value": str(by_id), "label": f"{by_id} (FT232R USB UART)"} in options
        assert options[-1] == {"value": "manual", "label": "manual"}
    else:  # the serial port selector lists the ports itself
        assert isinstance(result["data_schema"].schema[CONF_PORT], config_flow.SERIAL_PORT_SELECTOR)
    # The only USB adapter is preselected.
    assert _suggested(result, CONF_PORT) == str(by_id)

    result = await submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr5"})
    result = await finish_probe(hass, result)  # no keys step: the user said there is no key
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
    result = await submit(hass, result, {CONF_PORT: "manual", "serial_preset": "custom"})
    assert result["step_id"] == "serial_manual"
    # The path field starts empty: the list's answer ("manual") is not carried into it.
    assert [str(key) for key in result["data_schema"].schema] == [CONF_DEVICE]
    assert _suggested(result, CONF_DEVICE) == ""
    result = await submit(hass, result, {CONF_DEVICE: f"  {pty} "})
    assert result["step_id"] == "serial_format"
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema}
    assert defaults == {"baudrate": 115200, "bytesize": "8", "parity": "none", "stopbits": "1"}
    result = await submit(
        hass, result, {"baudrate": 9600, "bytesize": "7", "parity": "even", "stopbits": "2"}
    )
    result = await finish_probe(hass, result)
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
    # The bare format (the translations name the preset; the format says it in any language).
    assert labels[0] == "115200 8N1"
    assert labels[-1] == "custom"
    result = await finish_probe(
        hass, await submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr22"})
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
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == fake_meter.url
    assert result["title"] == f"Iskraemeco {METER_ID}"


@pytest.mark.usefixtures("unload_entries")
async def test_serial_url(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """Only network serial URLs are accepted; a wrong one is reported on its field."""
    fake_meter.greeting = telegram()
    result = await _menu(hass, await _start(hass), "url")
    for wrong in ("http://127.0.0.1:80", "socket://", "/dev/ttyUSB0"):
        result = await submit(hass, result, {CONF_URL: wrong, "serial_preset": "dsmr5"})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await submit(hass, result, {CONF_URL: f" {fake_meter.url} ", "serial_preset": "dsmr5"})
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_URL] == fake_meter.url


@pytest.mark.usefixtures("unload_entries")
async def test_serial_url_with_custom_format(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """rfc2217/esphome URLs carry a character format; custom goes through the format step."""
    fake_meter.greeting = telegram()
    result = await _menu(hass, await _start(hass), "url")
    result = await submit(hass, result, {CONF_URL: fake_meter.url, "serial_preset": "custom"})
    assert result["step_id"] == "serial_format"
    result = await submit(
        hass, result, {"baudrate": 2400, "bytesize": "8", "parity": "odd", "stopbits": "2"}
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert (result["data"][CONF_PARITY], result["data"][CONF_STOPBITS]) == ("O", 2.0)


# ------------------------------------------------------------------ keys


@pytest.mark.usefixtures("unload_entries")
async def test_keys_every_error_then_success(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """The user said a key was handed out: no key, a malformed key (kept, its field marked),
    a wrong key, then the right one (stored normalised). P1 DSMR asks for one key only."""
    fake_meter.greeting = encrypted_telegram(1) + encrypted_telegram(2) + encrypted_telegram(3)
    result = await _menu(hass, await _start(hass, has_key=True), "network")
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    assert result["step_id"] == "keys"
    # The Smarty envelope's authentication key is public: no second field.
    assert [str(key) for key in result["data_schema"].schema] == [CONF_ENCRYPTION_KEY]

    result = await finish_probe(hass, await submit(hass, result, {}))
    assert (result["step_id"], result["errors"]) == ("keys", {CONF_ENCRYPTION_KEY: "key_required"})

    result = await submit(hass, result, {CONF_ENCRYPTION_KEY: "0f0e 0d0c 12345"})
    assert result["errors"] == {CONF_ENCRYPTION_KEY: "invalid_key_format"}
    # What was typed stays, to be corrected rather than typed again.
    assert _suggested(result, CONF_ENCRYPTION_KEY) == "0f0e 0d0c 12345"

    result = await finish_probe(hass, await submit(hass, result, {CONF_ENCRYPTION_KEY: "00" * 16}))
    assert (result["step_id"], result["errors"]) == (
        "keys",
        {CONF_ENCRYPTION_KEY: "decryption_failed"},
    )
    assert _suggested(result, CONF_ENCRYPTION_KEY) == "00" * 16

    result = await finish_probe(
        hass, await submit(hass, result, {CONF_ENCRYPTION_KEY: PASSWORD_KEY})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_ENCRYPTION_KEY] == TEST_KEY.hex()
    assert CONF_AUTHENTICATION_KEY not in result["data"]


@pytest.mark.usefixtures("unload_entries")
async def test_no_keys_step_for_a_plain_meter_and_asked_when_needed(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> None:
    """No key handed out: straight to the check. A meter that turns out to encrypt brings
    the keys step, with the error on the key field."""
    fake_meter.greeting = encrypted_telegram(1) + encrypted_telegram(2)
    result = await _menu(hass, await _start(hass), "network")
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await finish_probe(hass, result)  # no keys step before the check
    assert (result["step_id"], result["errors"]) == ("keys", {CONF_ENCRYPTION_KEY: "key_required"})
    result = await finish_probe(
        hass, await submit(hass, result, {CONF_ENCRYPTION_KEY: PASSWORD_KEY})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_keys_kept_while_the_connection_is_fixed(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> None:
    """Keys typed once are kept while the user fixes the connection."""
    result = await _menu(hass, await _start(hass, has_key=True), "network")
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await finish_probe(
        hass, await submit(hass, result, {CONF_ENCRYPTION_KEY: PASSWORD_KEY})
    )
    assert (result["step_id"], result["errors"]) == ("network", {"base": "no_data"})

    fake_meter.greeting = encrypted_telegram()
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await finish_probe(hass, result)  # straight to the check: no second keys step
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_ENCRYPTION_KEY] == TEST_KEY.hex()
    for unload in _unload_all(hass):
        await unload


# ------------------------------------------------------------------ connection errors


async def test_a_port_that_cannot_be_opened_is_reported_at_once(hass: HomeAssistant) -> None:
    """A device that does not exist: back on the form where the path was typed, before
    any keys step and without a progress step, in a sentence of its own."""
    result = await _menu(hass, await _start(hass, has_key=True), "serial")
    result = await submit(hass, result, {CONF_PORT: "manual", "serial_preset": "dsmr5"})
    result = await submit(hass, result, {CONF_DEVICE: "/dev/ch-smart-meter-missing"})
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "serial_manual")
    assert result["errors"] == {"base": "port_not_found"}
    assert result["description_placeholders"]["port"] == "/dev/ch-smart-meter-missing"
    # What was typed is shown again, to be corrected.
    assert _suggested(result, CONF_DEVICE) == "/dev/ch-smart-meter-missing"


@pytest.mark.usefixtures("socket_enabled")
async def test_network_errors_in_words(hass: HomeAssistant) -> None:
    """Operating-system errors are translated sentences, not English details."""
    result = await _menu(hass, await _start(hass), "network")
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: 1})
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "network")
    assert result["errors"] == {"base": "port_refused"}
    assert result["description_placeholders"]["port"] == "socket://127.0.0.1:1"


@pytest.mark.parametrize(
    ("cause", "error"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), "port_not_found"),
        (PermissionError(errno.EACCES, "Permission denied"), "port_permission"),
        (OSError(errno.EBUSY, "Device or resource busy"), "port_busy"),
        (OSError(errno.ENOTTY, "Inappropriate ioctl"), "port_not_serial"),
        (termios.error(22, "Invalid argument"), "port_not_serial"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "port_refused"),
        (TimeoutError(), "port_unreachable"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "port_unreachable"),
        (socket.gaierror(-2, "Name or service not known"), "port_unknown_host"),
        (OSError(errno.EIO, "Input/output error"), "cannot_open_port"),
        (None, "cannot_open_port"),
    ],
)
def test_port_errors_by_cause(cause: BaseException | None, error: str) -> None:
    """Each usual cause has a sentence of its own; others show the raw detail."""
    err = TransportError("the detail")
    err.__cause__ = cause
    assert detect_flow.port_error(err) == error


async def test_an_unusual_port_error_keeps_its_detail(hass: HomeAssistant) -> None:
    """An error with no sentence of its own shows the system's words as a detail."""
    result = await _menu(hass, await _start(hass), "url")
    result = await submit(
        hass, result, {CONF_URL: "esphome://meter.invalid/?port_name=x", "serial_preset": "dsmr5"}
    )
    assert (result["step_id"], result["errors"]) == ("url", {"base": "cannot_open_port"})
    assert result["description_placeholders"]["detail"] != "-"


async def test_no_data(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """The port opens but nothing arrives: the interface is probably not enabled."""
    result = await _menu(hass, await _start(hass), "network")
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await finish_probe(hass, result)
    assert (result["step_id"], result["errors"]) == ("network", {"base": "no_data"})
    await fake_meter.wait_disconnected()  # the check closed its connection


async def test_no_valid_frame(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """Bytes but no valid frame (wrong standard or serial settings), on the serial form."""
    fake_meter.greeting = b"\x00\xff garbage \x7e\x7e" * 50 + telegram().replace(
        b"1-0:1.8.1", b"1-0:1.8.9"
    )
    result = await _menu(hass, await _start(hass), "url")
    result = await submit(hass, result, {CONF_URL: fake_meter.url, "serial_preset": "dsmr5"})
    result = await finish_probe(hass, result)
    assert (result["step_id"], result["errors"]) == ("url", {"base": "no_valid_frame"})


async def test_error_on_serial_form_then_fixed(
    hass: HomeAssistant, simulated_pty: tuple[str, Path]
) -> None:
    """An error after the port list is shown on the port list, which still works."""
    _pty, by_id = simulated_pty
    result = await _menu(hass, await _start(hass), "serial")
    with patch.object(config_flow, "probe", side_effect=NoData("nothing received in 1 s")):
        result = await finish_probe(
            hass, await submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr5"})
        )
    assert (result["step_id"], result["errors"]) == ("serial", {"base": "no_data"})
    assert _suggested(result, CONF_PORT) == str(by_id)
    result = await finish_probe(
        hass, await submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr5"})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    for unload in _unload_all(hass):
        await unload


async def test_error_after_custom_format(hass: HomeAssistant, fake_meter: FakeMeter) -> None:
    """With a custom format the error is shown on the format form (the likely culprit)."""
    fake_meter.greeting = b"\x00" * 300
    result = await _menu(hass, await _start(hass), "url")
    result = await submit(hass, result, {CONF_URL: fake_meter.url, "serial_preset": "custom"})
    result = await submit(
        hass, result, {"baudrate": 300, "bytesize": "7", "parity": "none", "stopbits": "1"}
    )
    result = await finish_probe(hass, result)
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
    """Whatever else goes wrong is reported, never a crashed flow; the simulated meter goes
    back to its choice."""
    with patch.object(config_flow, "probe", side_effect=error):
        result = await finish_probe(hass, await _demo(hass))
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "demo")
    assert result["errors"] == {"base": expected}


async def test_key_error_for_a_standard_without_keys(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> None:
    """A standard without encryption has no keys step; a key error lands on the connection form."""
    plain = dataclasses.replace(get_spec("dsmr"), supports_encryption=False)
    fake_meter.greeting = encrypted_telegram()
    with patch.object(config_flow, "get_spec", return_value=plain):
        result = await _menu(hass, await _start(hass), "network")
        result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
        result = await finish_probe(hass, result)
    assert (result["step_id"], result["errors"]) == ("network", {"base": "key_required"})


async def test_probe_cancelled_when_flow_is_closed(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> None:
    """Closing the dialog during the check stops it and releases the port at once."""
    result = await _menu(hass, await _start(hass), "network")
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
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
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_same_port_twice(hass: HomeAssistant) -> None:
    """A port that an entry already reads aborts before it is opened twice."""
    MockConfigEntry(
        domain=DOMAIN, unique_id="other", data=entry_data("simulator://dsmr")
    ).add_to_hass(hass)
    result = await _demo(hass)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_same_device_under_another_name(
    hass: HomeAssistant, simulated_pty: tuple[str, Path]
) -> None:
    """An entry on the device itself, the flow on its /dev/serial/by-id link: the same port."""
    pty, by_id = simulated_pty
    MockConfigEntry(domain=DOMAIN, unique_id="other", data=entry_data(pty)).add_to_hass(hass)
    result = await _menu(hass, await _start(hass), "serial")
    result = await submit(hass, result, {CONF_PORT: str(by_id), "serial_preset": "dsmr5"})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")


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
    """Reconfigure → "choose the standard myself" → P1 DSMR, as stored → connection menu."""
    result = await entry.start_reconfigure_flow(hass)
    assert (result["type"], result["step_id"]) == (FlowResultType.MENU, "reconfigure")
    assert result["menu_options"] == ["detect", "standard"]
    assert result["description_placeholders"] == {"title": entry.title}
    result = await _menu(hass, result, "standard")
    # The stored standard is shown; "a key was handed out" when the entry has one.
    assert _suggested(result, CONF_STANDARD) == "dsmr"
    has_key = _suggested(result, "has_key")
    assert has_key is bool(entry.data.get(CONF_ENCRYPTION_KEY))
    return await submit(hass, result, {CONF_STANDARD: "dsmr", "has_key": has_key})


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
        result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: other.port})
        assert result["step_id"] == "keys"
        with patch.object(config_flow, "probe", spy):
            result = await finish_probe(hass, await submit(hass, result, {}))
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
        # The port check, the live check, then the reloaded entry.
        await wait_until(lambda: other.connections == 3)
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
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    result = await finish_probe(hass, await submit(hass, result, {CONF_ENCRYPTION_KEY: "11" * 16}))
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
        result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: other.port})
        result = await finish_probe(hass, await submit(hass, result, {}))
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
    result = await submit(hass, result, {CONF_URL: fake_meter.url, "serial_preset": "dsmr5"})
    result = await finish_probe(hass, result)  # no key stored: no keys step
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
    # Then the CH-SMR republisher (tests/integration/test_republish_flow.py); without MQTT
    # a page that says why it cannot be set up.
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "republish_unavailable")
    assert result["description_placeholders"] == {"title": entry.title}
    assert not result["data_schema"].schema
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The low tariff is number 2, as Swiss grid operators count.
    assert entry.options == {"other": 1, CONF_UPDATE_INTERVAL: 30, CONF_LOW_TARIFF: 2}


async def test_options_profile(hass: HomeAssistant) -> None:
    """Standards with meter profiles offer an override (automatic detection first)."""
    profiled = dataclasses.replace(
        get_spec("dsmr"), profiles=(Profile("lg_e450", "Landis+Gyr E450"),)
    )
    entry = MockConfigEntry(domain=DOMAIN, unique_id=METER_ID, data=entry_data("/dev/x"))
    entry.add_to_hass(hass)
    with patch.object(options_flow, "get_spec", return_value=profiled):
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


def test_port_list_without_by_id(tmp_path: Path) -> None:
    """Without /dev/serial/by-id the device names are offered as they are."""
    ports = [SimpleNamespace(device="/dev/ttyUSB7", description=None)]
    with (
        patch.object(port_list, "SERIAL_BY_ID", str(tmp_path / "missing")),
        patch.object(port_list.serialx, "list_serial_ports", return_value=ports),
    ):
        assert port_list.scan_serial_ports() == [
            port_list.SerialPort("/dev/ttyUSB7", "/dev/ttyUSB7", usb=False)
        ]


def test_port_list_by_id_only(tmp_path: Path) -> None:
    """A by-id link whose device serialx does not list is still offered."""
    (tmp_path / "usb-X-if00").symlink_to(os.devnull)
    with (
        patch.object(port_list, "SERIAL_BY_ID", str(tmp_path)),
        patch.object(port_list.serialx, "list_serial_ports", return_value=[]),
    ):
        path = str(tmp_path / "usb-X-if00")
        assert port_list.scan_serial_ports() == [port_list.SerialPort(path, path, usb=True)]


def test_port_list_names_adapters_first(tmp_path: Path) -> None:
    """USB adapters first, by their by-id names, with maker, product and serial number;
    built-in ports after them."""
    (tmp_path / "usb-FTDI_FT232R_USB_UART_A1B2C3-if00-port0").symlink_to("/dev/null")
    fields = dict.fromkeys(
        ("vid", "pid", "serial_number", "manufacturer", "product", "description")
    )
    ports = [
        SimpleNamespace(**{**fields, "device": "/dev/ttyS0"}),
        SimpleNamespace(
            **{
                **fields,
                "device": "/dev/null",
                "vid": 0x0403,
                "pid": 0x6001,
                "serial_number": "A1B2C3",
                "manufacturer": "FTDI",
                "product": "FT232R USB UART",
            }
        ),
    ]
    with (
        patch.object(port_list, "SERIAL_BY_ID", str(tmp_path)),
        patch.object(port_list.serialx, "list_serial_ports", return_value=ports),
    ):
        found = port_list.scan_serial_ports()
    by_id = str(tmp_path / "usb-FTDI_FT232R_USB_UART_A1B2C3-if00-port0")
    assert found == [
        port_list.SerialPort(by_id, f"{by_id} (FTDI FT232R USB UART, A1B2C3)", usb=True),
        port_list.SerialPort("/dev/ttyS0", "/dev/ttyS0", usb=False),
    ]


async def test_no_port_preselected_without_exactly_one_adapter(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A built-in port is never preselected (a required list would start at its first
    entry): the port field opens empty."""
    ports = [SimpleNamespace(device="/dev/ttyS0", description=None)]
    with (
        patch.object(port_list, "SERIAL_BY_ID", str(tmp_path / "missing")),
        patch.object(port_list.serialx, "list_serial_ports", return_value=ports),
    ):
        result = await _menu(hass, await _start(hass), "serial")
    key = next(key for key in result["data_schema"].schema if str(key) == CONF_PORT)
    assert key.default is vol.UNDEFINED
    assert key.description == {"suggested_value": ""}


@pytest.mark.usefixtures("unload_entries")
async def test_standard_without_serial_line(hass: HomeAssistant) -> None:
    """A standard without serial presets stores no character format."""
    networked = dataclasses.replace(get_spec("dsmr"), serial_presets=())
    with patch.object(config_flow, "get_spec", return_value=networked):
        result = await finish_probe(hass, await _demo(hass))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_STANDARD: "dsmr", CONF_URL: "simulator://dsmr"}


async def test_no_simulator_no_demo(hass: HomeAssistant) -> None:
    """The simulated meter is offered only when a standard has one."""
    with patch.object(config_flow, "available_standards", return_value=[]):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["menu_options"] == ["detect", "standard"]


@pytest.mark.usefixtures("unload_entries")
async def test_authentication_key_field_when_the_check_finds_one_needed(
    hass: HomeAssistant, fake_meter: FakeMeter
) -> None:
    """P1 DSMR asks for one key (the Smarty authentication key is public); a meter whose
    telegrams need another authentication key brings its field, marked."""
    other_ak = bytes.fromhex("101112131415161718191A1B1C1D1E1F")
    fake_meter.greeting = b"".join(
        encrypt_smarty(telegram(), TEST_KEY, SYSTEM_TITLE, counter, other_ak)
        for counter in (1, 2, 3)
    )
    result = await _menu(hass, await _start(hass, has_key=True), "network")
    result = await submit(hass, result, {CONF_HOST: "127.0.0.1", CONF_PORT: fake_meter.port})
    assert [str(key) for key in result["data_schema"].schema] == [CONF_ENCRYPTION_KEY]
    result = await finish_probe(
        hass, await submit(hass, result, {CONF_ENCRYPTION_KEY: PASSWORD_KEY})
    )
    assert result["step_id"] == "keys"
    assert result["errors"] == {CONF_AUTHENTICATION_KEY: "authentication_key_wrong"}
    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_ENCRYPTION_KEY,
        CONF_AUTHENTICATION_KEY,
    ]
    assert _suggested(result, CONF_ENCRYPTION_KEY) == PASSWORD_KEY  # kept
    result = await finish_probe(
        hass,
        await submit(
            hass,
            result,
            {CONF_ENCRYPTION_KEY: PASSWORD_KEY, CONF_AUTHENTICATION_KEY: other_ak.hex()},
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"][CONF_AUTHENTICATION_KEY] == other_ak.hex()
