"""Setting up a meter without knowing its standard: detection through the config flow, and
USB adapters found by Home Assistant.

The meters are the library's simulators behind a simulated serial line: a pseudo-terminal
whose far end turns what the meter sends at its own format into what a UART at the
reader's format receives (tests/reader/simulated_lines.py). Detection, the port check and
the live check open the real pty; only the detection timing is shrunk to the simulated
meters' cadence (the line runs ten times faster than real time).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USB, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_PORT
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import (
    EVENT_DATA_ENTRY_FLOW_PROGRESSED,
    FlowResult,
    FlowResultType,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter import config_flow, detect_flow
from custom_components.ch_smart_meter import ports as port_list
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
from custom_components.ch_smart_meter.reader.detect import Timing
from custom_components.ch_smart_meter.reader.model import SerialSettings, Standard
from custom_components.ch_smart_meter.reader.simulate.source import DEMO_KEY
from custom_components.ch_smart_meter.reader.transport import open_stream
from tests.reader.simulated_lines import (
    INTERVAL,
    Meter,
    NoiseMeter,
    meter_id,
    meter_on_line,
    source_on_line,
)

from .conftest import entry_data, wait_until
from .flows import submit

S = Standard
# One push interval of the simulated meters and a little more per format; polled meters
# are asked for their first answers (the line is ten times faster than real time).
FAST = Timing(cadence=INTERVAL * 1.3, quiet=0.1, burst_chars=100, ask=1.0)
TRANSLATIONS = Path(config_flow.__file__).parent / "translations"
# A P1 cable as Home Assistant's USB discovery reports it.
P1_CABLE = {"vid": "0403", "pid": "6001", "serial_number": "A1B2C3", "manufacturer": "FTDI"}
BY_ID_NAME = "usb-FTDI_P1_Converter_Cable_A1B2C3-if00-port0"


@pytest.fixture(autouse=True)
def quick_detection() -> Generator[None]:
    """Detection at the simulated meters' cadence; the live check listens 3 s at most."""
    with (
        patch.object(detect_flow, "DETECT_TIMING", FAST),
        patch.object(config_flow, "probe_timeout", lambda spec: 3.0),
    ):
        yield


@pytest.fixture
async def unload_entries(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload whatever the flow created (its session must not outlive the test)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def _detect_on(hass: HomeAssistant, path: str) -> FlowResult:
    """ "Find my meter automatically" → serial port → a path typed by hand."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert (result["type"], result["step_id"]) == (FlowResultType.MENU, "user")
    assert result["menu_options"][0] == "detect"
    result = await submit(hass, result, {"next_step_id": "detect"})
    assert (result["type"], result["step_id"]) == (FlowResultType.MENU, "connection")
    result = await submit(hass, result, {"next_step_id": "serial"})
    # Detection finds the serial format: the port is all the form asks.
    assert [str(key) for key in result["data_schema"].schema] == [CONF_PORT]
    result = await submit(hass, result, {CONF_PORT: "manual"})
    return await submit(hass, result, {CONF_DEVICE: path})


async def _until_done(hass: HomeAssistant, result: FlowResult) -> FlowResult:
    """Let the progress steps run to their end; what follows them."""
    async with asyncio.timeout(60):
        while result["type"] is FlowResultType.SHOW_PROGRESS:
            await hass.async_block_till_done()
            result = await submit(hass, result)
    return result


# ------------------------------------------------------------------ found


@pytest.mark.usefixtures("unload_entries")
@pytest.mark.parametrize(
    "meter",
    [
        Meter(S.DSMR, None, "115200 8N1", "dsmr5"),
        Meter(S.LG_MBUS, "lg-e450", "2400 8E1", "cii"),
    ],
    ids=lambda meter: meter.id,
)
async def test_a_meter_is_found_and_added(hass: HomeAssistant, meter: Meter) -> None:
    """Detection finds the standard and the serial format; no keys step for a plain meter;
    the live check reads it with what was found; the entry stores it."""
    async with meter_on_line(meter) as (line, source):
        result = await _detect_on(hass, line.path)
        assert (result["type"], result["step_id"]) == (FlowResultType.SHOW_PROGRESS, "detect_run")
        assert result["progress_action"] == "detect_listen"
        assert result["description_placeholders"]["port"] == line.path
        result = await _until_done(hass, result)
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        settings = meter.settings
        assert result["data"] == {
            CONF_STANDARD: meter.standard.value,
            CONF_URL: line.path,
            CONF_BAUDRATE: settings.baudrate,
            CONF_BYTESIZE: settings.bytesize,
            CONF_PARITY: settings.parity,
            CONF_STOPBITS: settings.stopbits,
        }
        assert result["result"].unique_id == meter_id(source)
        assert result["options"] == {CONF_UPDATE_INTERVAL: 5}


@pytest.mark.usefixtures("unload_entries")
async def test_an_encrypted_meter_brings_the_keys_step(hass: HomeAssistant) -> None:
    """Encrypted frames: the keys step appears (with the fields of the standard found)."""
    meter = Meter(S.LG_MBUS, "lg-e450", "2400 8E1", "cii", encrypted=True)
    async with meter_on_line(meter) as (line, source):
        result = await _until_done(hass, await _detect_on(hass, line.path))
        assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "keys")
        assert [str(key) for key in result["data_schema"].schema] == [
            CONF_ENCRYPTION_KEY,
            CONF_AUTHENTICATION_KEY,
        ]
        result = await _until_done(
            hass, await submit(hass, result, {CONF_ENCRYPTION_KEY: DEMO_KEY.hex(" ")})
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        assert result["data"][CONF_ENCRYPTION_KEY] == DEMO_KEY.hex()
        assert (result["data"][CONF_BAUDRATE], result["data"][CONF_PARITY]) == (2400, "E")
        assert result["result"].unique_id == meter_id(source)


@pytest.mark.usefixtures("unload_entries")
async def test_a_polled_meter_is_asked_and_the_progress_says_so(hass: HomeAssistant) -> None:
    """A Kamstrup KMP meter is silent until asked: found after the listening. The progress
    step follows detection (the frontend reloads it on each change, as here)."""
    shown: list[tuple[str, dict[str, str]]] = []

    @callback
    def reload(event: Event) -> None:
        """What the frontend does on this event (while detection runs: afterwards the
        test drives the flow itself)."""
        flow_id = event.data["flow_id"]

        async def fetch() -> None:
            if hass.config_entries.flow.async_get(flow_id)["step_id"] != "detect_run":
                return
            step = await hass.config_entries.flow.async_configure(flow_id)
            shown.append((step["progress_action"], step["description_placeholders"]))

        hass.async_create_task(fetch())

    unsubscribe = hass.bus.async_listen(EVENT_DATA_ENTRY_FLOW_PROGRESSED, reload)
    meter = Meter(S.KMP, None, "9600 8N1", "usb")
    try:
        async with meter_on_line(meter) as (line, _source):
            result = await _detect_on(hass, line.path)
            first = (result["progress_action"], result["description_placeholders"])
            result = await _until_done(hass, result)
    finally:
        unsubscribe()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["data"][CONF_STANDARD] == "kmp"
    assert result["title"].startswith("Kamstrup ")
    # Listening first (every standard that pushes, 8N1 and 7E1 from one opening), then
    # asking; the step counter advances.
    assert first[0] == "detect_listen"
    assert first[1]["formats"] == "115200 8N1 / 115200 7E1"
    assert (first[1]["step"], first[1]["seconds"]) == ("1", "60")
    asked = [placeholders for action, placeholders in shown if action == "detect_ask"]
    assert asked, shown
    assert asked[0]["standard"] == "Kamstrup KMP"
    assert asked[0]["formats"] == "9600 8N1"
    assert int(asked[0]["step"]) > 1


# ------------------------------------------------------------------ not found


@pytest.mark.usefixtures("socket_enabled")
async def test_nothing_detected_says_what_was_heard(
    hass: HomeAssistant, pty_pair: tuple[int, str]
) -> None:
    """A silent port: the form says what arrived at each format (numbers, formats and
    reason codes: no library English) and the likeliest explanation, translated; then the
    choices: search again, another port, the standard."""
    _master, path = pty_pair
    result = await _until_done(hass, await _detect_on(hass, path))
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "detect_failed")
    assert result["errors"] == {"base": "detect_silent"}
    heard = result["description_placeholders"]["heard"].splitlines()
    assert heard[0] == "- 115200 8N1 / 115200 7E1: 0"
    assert heard[1:] == [
        "- Kamstrup KMP 9600 8N1: 0",
        "- Kamstrup KMP 1200 8N2: 0",
        "- NES/OSGP MEP 9600 8N1: 0",
    ]
    for language in ("en", "de", "fr", "it"):
        texts = json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
        assert "detect_silent" in texts["config"]["error"]
        assert "{heard}" in texts["config"]["step"]["detect_failed"]["description"]
    choices = result["data_schema"].schema["next"].config["options"]
    assert choices == ["retry", "port", "standard"]

    result = await submit(hass, result, {"next": "standard"})
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "standard")
    hass.config_entries.flow.async_abort(result["flow_id"])


async def test_noise_is_summarised_with_its_explanation(hass: HomeAssistant) -> None:
    """Bytes at every format but no frame: each listening and ask has its line, and the
    explanation names the likely causes (an inverted line, the wrong kind of adapter)."""
    async with source_on_line(NoiseMeter(), SerialSettings(2400, 8, "N", 1)) as line:
        result = await _until_done(hass, await _detect_on(hass, line.path))
        assert result["step_id"] == "detect_failed"
        assert result["errors"]["base"] in {"detect_no_frame", "detect_bad_checksums"}
        lines = result["description_placeholders"]["heard"].splitlines()
        assert [line.split(":")[0] for line in lines[:4]] == [
            "- 115200 8N1 / 115200 7E1",
            "- 2400 8E1",
            "- 2400 8N1",
            "- 9600 8N1 / 9600 7E1",
        ]
        assert all(int(line.split(": ")[1].split()[0]) > 0 for line in lines[:4])
        # Search again: the port is checked and detection runs once more.
        result = await submit(hass, result, {"next": "retry"})
        assert (result["type"], result["step_id"]) == (FlowResultType.SHOW_PROGRESS, "detect_run")
        hass.config_entries.flow.async_abort(result["flow_id"])
        await hass.async_block_till_done()
        # The aborted detection may have been opening the port in an executor thread:
        # serialx finishes that open and closes it; the pty must still exist meanwhile
        # (else serialx reports the failed open of a cancelled connection as an error).
        await asyncio.sleep(0.5)


async def test_a_port_that_cannot_be_opened_goes_straight_back(hass: HomeAssistant) -> None:
    """No progress step for a port that fails at once (the frontend could miss its end):
    the form where the path was typed, with a sentence of its own."""
    result = await _detect_on(hass, "/dev/ttyUSB-ch-smart-meter-missing")
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "serial_manual")
    assert result["errors"] == {"base": "port_not_found"}
    assert result["description_placeholders"]["port"] == "/dev/ttyUSB-ch-smart-meter-missing"


async def test_closing_the_dialog_stops_detection_and_releases_the_port(
    hass: HomeAssistant,
) -> None:
    """Closing the dialog cancels detection at once: the port is closed (the descriptor
    count is back) and can be opened again."""
    slow = Meter(S.DSMR, None, "9600 7E1", "dsmr22")
    async with meter_on_line(slow, interval=30.0) as (line, _source):
        descriptors = len(os.listdir("/proc/self/fd"))
        with patch.object(detect_flow, "DETECT_TIMING", Timing()):
            result = await _detect_on(hass, line.path)
        assert result["type"] is FlowResultType.SHOW_PROGRESS
        await wait_until(lambda: len(line.stats.reader_formats) >= 2)  # the check, listening
        started = time.monotonic()
        hass.config_entries.flow.async_abort(result["flow_id"])
        await wait_until(lambda: len(os.listdir("/proc/self/fd")) == descriptors, timeout=1.0)
        assert time.monotonic() - started < 0.5
        stream = await open_stream(line.path, slow.settings)
        await stream.close()
        await hass.async_block_till_done()


async def test_a_quick_progress_step_stays_long_enough_to_be_seen(hass: HomeAssistant) -> None:
    """A task that ends at once (the simulated meter answers in milliseconds) is held for
    a moment, so that the frontend has subscribed to the flow before it moves on."""
    with patch.object(detect_flow, "MIN_PROGRESS_SECONDS", 0.5):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await submit(hass, result, {"next_step_id": "demo"})
        started = time.monotonic()
        result = await submit(hass, result, {CONF_STANDARD: "dsmr"})
        assert result["type"] is FlowResultType.SHOW_PROGRESS
        await asyncio.sleep(0.2)
        # Still checking, although the meter answered long ago.
        assert hass.config_entries.flow.async_get(result["flow_id"])["step_id"] == "probe"
        result = await _until_done(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert time.monotonic() - started >= 0.5
    await hass.config_entries.async_unload(result["result"].entry_id)


# ------------------------------------------------------------------ reconfigure


async def test_reconfigure_finds_the_meter_while_the_entry_lets_go_of_its_port(
    hass: HomeAssistant,
) -> None:
    """The entry reading the port is paused for the check, detection and the live check,
    and reads again afterwards."""
    meter = Meter(S.DSMR, None, "115200 8N1", "dsmr5")
    async with meter_on_line(meter) as (line, source):
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Meter",
            unique_id=meter_id(source),
            data=entry_data(line.path),
            options={CONF_UPDATE_INTERVAL: 0},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_until(lambda: entry.runtime_data.coordinator.reading is not None)
        result = await entry.start_reconfigure_flow(hass)
        assert (result["type"], result["step_id"]) == (FlowResultType.MENU, "reconfigure")
        result = await submit(hass, result, {"next_step_id": "detect"})
        result = await submit(hass, result, {"next_step_id": "serial"})
        result = await submit(hass, result, {CONF_PORT: "manual"})
        result = await submit(hass, result, {CONF_DEVICE: line.path})
        result = await _until_done(hass, result)
        assert (result["type"], result["reason"]) == (
            FlowResultType.ABORT,
            "reconfigure_successful",
        )
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        readings = entry.runtime_data.coordinator.reading
        await wait_until(lambda: entry.runtime_data.coordinator.reading is not readings)
        await hass.config_entries.async_unload(entry.entry_id)


# ------------------------------------------------------------------ USB adapters


def _usb(device: str, description: str = "P1 Converter Cable") -> UsbServiceInfo:
    return UsbServiceInfo(device=device, description=description, **P1_CABLE)


@pytest.fixture
def by_id_dir(tmp_path: Path) -> Generator[Path]:
    """A /dev/serial/by-id of this test's own."""
    folder = tmp_path / "by-id"
    folder.mkdir()
    with patch.object(port_list, "SERIAL_BY_ID", str(folder)):
        yield folder


@pytest.mark.usefixtures("unload_entries")
async def test_a_usb_adapter_leads_to_detection(hass: HomeAssistant, by_id_dir: Path) -> None:
    """Home Assistant reports a P1 cable: a confirmation (named by the adapter), then
    detection on its stable by-id path, then the entry."""
    meter = Meter(S.DSMR, None, "115200 8N1", "dsmr5")
    async with meter_on_line(meter) as (line, source):
        (by_id_dir / BY_ID_NAME).symlink_to(line.path)
        by_id = str(by_id_dir / BY_ID_NAME)
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USB}, data=_usb(line.path)
        )
        assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "usb_confirm")
        placeholders = result["description_placeholders"]
        assert (placeholders["name"], placeholders["port"]) == (
            "P1 Converter Cable (A1B2C3)",
            by_id,
        )
        flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert flows[0]["context"]["title_placeholders"] == {"name": "P1 Converter Cable (A1B2C3)"}
        # The same adapter reported again while the first flow runs: no second flow.
        again = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USB}, data=_usb(line.path)
        )
        assert (again["type"], again["reason"]) == (FlowResultType.ABORT, "already_in_progress")

        result = await submit(hass, result, {})
        assert (result["type"], result["step_id"]) == (FlowResultType.SHOW_PROGRESS, "detect_run")
        result = await _until_done(hass, result)
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        assert result["data"][CONF_URL] == by_id
        assert result["result"].unique_id == meter_id(source)


async def test_usb_adapters_that_are_not_for_us(hass: HomeAssistant, by_id_dir: Path) -> None:
    """An adapter that no matcher of the manifest fits, a port an entry reads already, and
    an adapter the user chose to ignore: no flow."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=_usb("/dev/ttyUSB3", "Zigbee dongle")
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "not_supported")

    (by_id_dir / BY_ID_NAME).symlink_to("/dev/ttyUSB3")
    MockConfigEntry(
        domain=DOMAIN, unique_id="E1", data=entry_data(str(by_id_dir / BY_ID_NAME))
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=_usb("/dev/ttyUSB3")
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")

    ignored = _usb("/dev/ttyUSB4", "USB M-Bus slave")
    MockConfigEntry(
        domain=DOMAIN, unique_id=detect_flow.usb_unique_id(ignored), source="ignore"
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USB}, data=ignored
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")


def test_usb_matching_follows_the_manifest() -> None:
    """The manifest's matchers, as Home Assistant applies them: ids exactly, the product
    text as a lower-case pattern (generic chips need it)."""
    manifest = json.loads((TRANSLATIONS.parent / "manifest.json").read_text(encoding="utf-8"))
    matchers = manifest["usb"]
    cases = {
        ("0403", "6001", "P1 Converter Cable v2"): True,
        ("10C4", "EA60", "USB M-Bus Slave"): True,
        ("1A86", "7523", "MBUS adapter"): True,
        ("067B", "2303", "USB P1 cable"): True,
        ("0403", "6001", "FT232R USB UART"): False,  # a generic FTDI: could be anything
        ("10C4", "EA60", "Sonoff Zigbee 3.0 USB Dongle Plus"): False,
        ("0403", "6015", "P1 cable"): False,  # another chip
    }
    for (vid, pid, description), expected in cases.items():
        info = UsbServiceInfo(
            device="/dev/ttyUSB0",
            vid=vid,
            pid=pid,
            serial_number=None,
            manufacturer=None,
            description=description,
        )
        assert detect_flow.usb_matches(info, matchers) is expected, description
