"""The config flow for the DLMS standards (P1 DLMS, L&G M-Bus/DLMS, Kamstrup DLMS).

The live check is real: it reads the library's simulated DLMS meters, in this process
(``simulator://`` addresses, with keys in the address for encrypted meters) or on a
pseudo-terminal found through a /dev/serial/by-id link. Only the USB port list (this
machine has no USB adapters) is replaced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter import config_flow
from custom_components.ch_smart_meter.const import (
    CONF_AUTHENTICATION_KEY,
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_ENCRYPTION_KEY,
    CONF_PARITY,
    CONF_STANDARD,
    CONF_STOPBITS,
    CONF_UPDATE_INTERVAL,
    CONF_URL,
    DOMAIN,
)
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from .conftest import meter_on_by_id_pty, wait_until
from .flows import finish_probe, submit

DLMS = ("p1-dlms", "lg-mbus", "kamstrup-dlms")
# Test keys of the simulated meters, never a real meter's.
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
OTHER = bytes.fromhex("A5" * 16)
# What the simulated meters of seed 1 send about themselves: (maker and id, unique id).
# Entries of simulated meters are titled "Simulated meter <id>" instead.
METERS = {
    "p1-dlms": ("Landis+Gyr LGZ1030632443637", "LGZ1030632443637"),
    "lg-mbus": ("Landis+Gyr 6865712", "6865712"),
    "kamstrup-dlms": ("Kamstrup 5706567280232362", "5706567280232362"),
}
# The first (usual) serial preset of each standard, as the flow offers it (the bare format:
# the translations name the preset).
FIRST_PRESETS = {
    "p1-dlms": ("115200 8N1", (115200, 8, "N", 1.0)),
    "lg-mbus": ("2400 8E1", (2400, 8, "E", 1.0)),
    "kamstrup-dlms": ("2400 8N1", (2400, 8, "N", 1.0)),
}
BY_ID_NAME = "usb-FTDI_FT232R_P1_DLMS_A9Z8Y7-if00-port0"


def _url(standard: str, key: bytes | None = EK, auth_key: bytes | None = AK) -> str:
    """A fast simulated meter of ``standard``, ciphered when ``key`` is given."""
    url = f"simulator://{standard}?interval=0.2"
    if key is not None:
        url += f"&key={key.hex()}"
    if auth_key is not None:
        url += f"&auth_key={auth_key.hex()}"
    return url


def _keys(ek: bytes | None, ak: bytes | None) -> dict[str, str]:
    """The keys step's input, typed as a user would (upper case, spaces)."""
    keys = {}
    if ek is not None:
        keys[CONF_ENCRYPTION_KEY] = ek.hex(" ").upper()
    if ak is not None:
        keys[CONF_AUTHENTICATION_KEY] = ak.hex(" ").upper()
    return keys


@pytest.fixture(autouse=True)
def quick_probe() -> Generator[None]:
    """The live check listens 1.5 s instead of 20 s."""
    with patch.object(config_flow, "probe_timeout", lambda spec: 1.5):
        yield


@pytest.fixture
async def unload_entries(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload whatever the flow created (its session must not outlive the test)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _start(hass: HomeAssistant, standard: str, *, has_key: bool = True) -> FlowResult:
    """ "I know my meter's standard" → ``standard`` (a key was handed out) → connection."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await submit(hass, result, {"next_step_id": "standard"})
    result = await submit(hass, result, {CONF_STANDARD: standard, "has_key": has_key})
    assert (result["type"], result["step_id"]) == (FlowResultType.MENU, "connection")
    return result


async def _to_keys(hass: HomeAssistant, standard: str, url: str) -> FlowResult:
    """Standard → a device path typed by hand (here a simulator:// address) → keys step."""
    result = await submit(hass, await _start(hass, standard), {"next_step_id": "serial"})
    preset = get_spec(standard).serial_presets[0].id
    result = await submit(hass, result, {CONF_PORT: "manual", "serial_preset": preset})
    result = await submit(hass, result, {CONF_DEVICE: url})
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "keys")
    return result


async def _check_keys(
    hass: HomeAssistant, result: FlowResult, ek: bytes | None, ak: bytes | None
) -> FlowResult:
    return await finish_probe(hass, await submit(hass, result, _keys(ek, ak)))


# ------------------------------------------------------------------ offered, with presets


async def test_dlms_standards_are_offered(hass: HomeAssistant) -> None:
    """The three DLMS standards follow DSMR, in the order of the recommendation."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await submit(hass, result, {"next_step_id": "standard"})
    options = [
        option["value"] for option in result["data_schema"].schema[CONF_STANDARD].config["options"]
    ]
    assert options[:4] == ["dsmr", *DLMS]


@pytest.mark.parametrize("standard", DLMS)
async def test_serial_presets_and_editable_format(hass: HomeAssistant, standard: str) -> None:
    """The standard's presets are offered, its usual one first; custom starts from it."""
    result = await submit(hass, await _start(hass, standard), {"next_step_id": "serial"})
    presets = result["data_schema"].schema["serial_preset"].config["options"]
    label, (baudrate, bytesize, parity, stopbits) = FIRST_PRESETS[standard]
    assert presets[0] == {"value": get_spec(standard).serial_presets[0].id, "label": label}
    assert len(presets) == len(get_spec(standard).serial_presets) + 1
    assert presets[-1]["value"] == "custom"

    result = await submit(hass, result, {CONF_PORT: "manual", "serial_preset": "custom"})
    result = await submit(hass, result, {CONF_DEVICE: _url(standard)})
    assert result["step_id"] == "serial_format"
    defaults = {str(key): key.default() for key in result["data_schema"].schema}
    assert defaults == {
        "baudrate": baudrate,
        "bytesize": str(bytesize),
        "parity": {"N": "none", "E": "even"}[parity],
        "stopbits": str(int(stopbits)),
    }
    result = await submit(
        hass, result, {"baudrate": 9600, "bytesize": "8", "parity": "even", "stopbits": "1"}
    )
    # Every DLMS standard may be encrypted (and the user said a key was handed out).
    assert result["step_id"] == "keys"
    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_ENCRYPTION_KEY,
        CONF_AUTHENTICATION_KEY,
    ]


# ------------------------------------------------------------------ success


@pytest.mark.usefixtures("unload_entries")
@pytest.mark.parametrize("standard", DLMS)
async def test_plain_simulated_meter(hass: HomeAssistant, standard: str) -> None:
    """The demo path of each standard: no keys step, the entry is created and loads."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await submit(hass, result, {"next_step_id": "demo"})
    result = await finish_probe(hass, await submit(hass, result, {CONF_STANDARD: standard}))

    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    _title, unique_id = METERS[standard]
    assert result["title"] == f"Simulated meter {unique_id}"
    baudrate, bytesize, parity, stopbits = FIRST_PRESETS[standard][1]
    assert result["data"] == {
        CONF_STANDARD: standard,
        CONF_URL: f"simulator://{standard}",
        CONF_BAUDRATE: baudrate,
        CONF_BYTESIZE: bytesize,
        CONF_PARITY: parity,
        CONF_STOPBITS: stopbits,
    }
    assert result["options"] == {CONF_UPDATE_INTERVAL: 5}
    entry = result["result"]
    assert entry.unique_id == unique_id
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("unload_entries")
@pytest.mark.parametrize("standard", DLMS)
async def test_encrypted_meter_every_key_error_then_success(
    hass: HomeAssistant, standard: str
) -> None:
    """No key, a wrong EK, a wrong AK, then both keys right (stored normalised)."""
    result = await _to_keys(hass, standard, _url(standard))

    result = await _check_keys(hass, result, None, None)
    assert (result["step_id"], result["errors"]) == ("keys", {CONF_ENCRYPTION_KEY: "key_required"})

    # The check says which key is wrong: its field is marked.
    result = await _check_keys(hass, result, OTHER, AK)
    assert (result["step_id"], result["errors"]) == (
        "keys",
        {CONF_ENCRYPTION_KEY: "decryption_failed"},
    )

    result = await _check_keys(hass, result, EK, OTHER)
    assert (result["step_id"], result["errors"]) == (
        "keys",
        {CONF_AUTHENTICATION_KEY: "authentication_key_wrong"},
    )

    result = await _check_keys(hass, result, EK, AK)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["title"] == f"Simulated meter {METERS[standard][1]}"
    assert result["data"][CONF_ENCRYPTION_KEY] == EK.hex()
    assert result["data"][CONF_AUTHENTICATION_KEY] == AK.hex()


@pytest.mark.usefixtures("unload_entries")
@pytest.mark.parametrize("standard", ["lg-mbus", "kamstrup-dlms"])
async def test_encryption_key_alone(hass: HomeAssistant, standard: str) -> None:
    """Frames with a tag decrypt without the AK (unchecked tag, the content must parse)."""
    result = await _check_keys(hass, await _to_keys(hass, standard, _url(standard)), EK, None)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"][CONF_ENCRYPTION_KEY] == EK.hex()
    assert CONF_AUTHENTICATION_KEY not in result["data"]


@pytest.mark.parametrize("standard", ["p1-dlms", "lg-mbus"])
async def test_swapped_keys_are_not_tried_outside_kamstrup(
    hass: HomeAssistant, standard: str
) -> None:
    """Only Kamstrup keys are known to be handed out swapped; elsewhere it is a wrong key."""
    result = await _check_keys(hass, await _to_keys(hass, standard, _url(standard)), AK, EK)
    assert (result["step_id"], result["errors"]) == (
        "keys",
        {CONF_ENCRYPTION_KEY: "decryption_failed"},
    )


# ------------------------------------------------------------------ Kamstrup: swapped keys


@pytest.mark.usefixtures("unload_entries")
async def test_kamstrup_swapped_keys_stored_in_working_order(hass: HomeAssistant) -> None:
    """Keys typed the wrong way round work; the user is told, the entry stores them right."""
    result = await _to_keys(hass, "kamstrup-dlms", _url("kamstrup-dlms"))
    result = await _check_keys(hass, result, AK, EK)

    _title, unique_id = METERS["kamstrup-dlms"]
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "keys_swapped")
    assert result["description_placeholders"] == {"meter": unique_id}
    assert result["data_schema"] is None or not result["data_schema"].schema

    result = await submit(hass, result, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Simulated meter {unique_id}"
    assert result["data"][CONF_ENCRYPTION_KEY] == EK.hex()
    assert result["data"][CONF_AUTHENTICATION_KEY] == AK.hex()
    # In the working order the meter's frames verify at once: no notice any more.
    entry = result["result"]
    await hass.async_block_till_done()
    await wait_until(lambda: entry.runtime_data.coordinator.reading is not None)
    assert entry.runtime_data.coordinator.reading.notices == ()
    assert entry.runtime_data.coordinator.notices == []


async def test_kamstrup_swapped_keys_on_reconfigure(hass: HomeAssistant) -> None:
    """Reconfigure with the keys swapped: told, then stored in the working order."""
    title, unique_id = METERS["kamstrup-dlms"]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=unique_id,
        data={CONF_STANDARD: "kamstrup-dlms", CONF_URL: "/dev/gone"},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await submit(hass, result, {"next_step_id": "standard"})
    result = await submit(hass, result, {CONF_STANDARD: "kamstrup-dlms", "has_key": True})
    result = await submit(hass, result, {"next_step_id": "serial"})
    result = await submit(hass, result, {CONF_PORT: "manual", "serial_preset": "han_8e1"})
    result = await submit(hass, result, {CONF_DEVICE: _url("kamstrup-dlms")})
    result = await _check_keys(hass, result, AK, EK)
    assert result["step_id"] == "keys_swapped"
    result = await submit(hass, result, {})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    assert entry.data[CONF_ENCRYPTION_KEY] == EK.hex()
    assert entry.data[CONF_AUTHENTICATION_KEY] == AK.hex()
    assert (entry.data[CONF_BAUDRATE], entry.data[CONF_PARITY]) == (2400, "E")
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


# ------------------------------------------------------------------ duplicates


@pytest.mark.parametrize(
    ("standard", "ek", "ak"),
    [("lg-mbus", EK, AK), ("p1-dlms", None, None), ("kamstrup-dlms", AK, EK)],
)
async def test_same_meter_twice(
    hass: HomeAssistant, standard: str, ek: bytes | None, ak: bytes | None
) -> None:
    """A meter that already has an entry aborts, before any swapped-keys notice."""
    MockConfigEntry(
        domain=DOMAIN,
        unique_id=METERS[standard][1],
        data={CONF_STANDARD: standard, CONF_URL: "/dev/ttyOTHER"},
    ).add_to_hass(hass)
    url = _url(standard) if ek is not None else _url(standard, None, None)
    result = await _check_keys(hass, await _to_keys(hass, standard, url), ek, ak)
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")


# ------------------------------------------------------------------ a real pseudo-terminal


@pytest.fixture
async def am550_on_a_pty(tmp_path: Path) -> AsyncIterator[Path]:
    """An encrypted Iskraemeco AM550 (HDLC segmentation) on a pty, linked from a by-id name."""
    source = create_source(
        "p1-dlms", SourceOptions(key=EK, authentication_key=AK, model="iskra-am550")
    )
    simulator = Simulator(source, interval=0.2, start=datetime(2026, 6, 27, 12, tzinfo=UTC))
    async with meter_on_by_id_pty(simulator, tmp_path, BY_ID_NAME) as (_pty, by_id):
        yield by_id


@pytest.mark.usefixtures("unload_entries")
async def test_encrypted_p1_dlms_meter_on_a_serial_port(
    hass: HomeAssistant, am550_on_a_pty: Path
) -> None:
    """The AM550 preset (115200 8N1) on a real pty: wrong keys, then the right ones."""
    result = await submit(hass, await _start(hass, "p1-dlms"), {"next_step_id": "serial"})
    result = await submit(hass, result, {CONF_PORT: str(am550_on_a_pty), "serial_preset": "am550"})
    result = await _check_keys(hass, result, OTHER, OTHER)
    assert result["errors"] == {CONF_ENCRYPTION_KEY: "decryption_failed"}
    result = await _check_keys(hass, result, EK, AK)

    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["title"].startswith("Iskraemeco ISK")
    assert result["data"] == {
        CONF_STANDARD: "p1-dlms",
        CONF_URL: str(am550_on_a_pty),
        CONF_BAUDRATE: 115200,
        CONF_BYTESIZE: 8,
        CONF_PARITY: "N",
        CONF_STOPBITS: 1.0,
        CONF_ENCRYPTION_KEY: EK.hex(),
        CONF_AUTHENTICATION_KEY: AK.hex(),
    }
    entry = result["result"]
    assert entry.unique_id == result["title"].removeprefix("Iskraemeco ")
    await hass.async_block_till_done()
    await wait_until(lambda: entry.runtime_data.coordinator.reading is not None)
    assert entry.runtime_data.coordinator.reading.meter_id == entry.unique_id
