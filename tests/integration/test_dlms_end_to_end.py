"""End to end for the DLMS meters: simulated meters on real pseudo-terminals feed the integration.

The library's simulated meters write exactly what an E450 behind an M-Bus slave adapter or a
Kamstrup HAN port writes (HDLC, general-block-transfer, AES-GCM); each push comes with the
reading a correct decoder must produce, which is what the sensors must show. Covered: an
encrypted E450 added through the config flow, Kamstrup plain and encrypted (10-second and
hourly lists), the meter profile option, the entities these meters add, values outside the
catalogue, the swapped-keys notice at run time, and diagnostics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import termios
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.ch_smart_meter import config_flow
from custom_components.ch_smart_meter.const import (
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
    DOMAIN,
)
from custom_components.ch_smart_meter.diagnostics import async_get_config_entry_diagnostics
from custom_components.ch_smart_meter.reader.dlms.decoder import SWAPPED_KEYS_NOTICE
from custom_components.ch_smart_meter.reader.obis import BY_CODE, Quantity
from custom_components.ch_smart_meter.reader.simulate import dlms_meters, dlms_models
from custom_components.ch_smart_meter.reader.simulate.dlms_encoder import DataTag
from custom_components.ch_smart_meter.reader.simulate.dlms_meters import (
    DlmsSource,
    SimulatedDlmsMeter,
    SimulatedPush,
)
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.outputs import PtyOutput, run
from custom_components.ch_smart_meter.reader.simulate.source import Simulator, SourceOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from .conftest import wait_until

# Test keys of the simulated meters, never a real meter's.
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
START = datetime(2026, 6, 27, 11, 59, tzinfo=UTC)
CURRENTS = ("31.7.0", "51.7.0", "71.7.0")
HAS_REACTIVE_ENERGY_CLASS = hasattr(SensorDeviceClass, "REACTIVE_ENERGY")


class PtyMeter:
    """A simulated DLMS meter on a pseudo-terminal that remembers every push it sent."""

    def __init__(self, source: DlmsSource, *, interval: float, acceleration: float) -> None:
        self.source = source
        self.simulator = Simulator(
            source, interval=interval, acceleration=acceleration, start=START
        )
        self.output = PtyOutput(self.simulator)
        self.path = self.output.path
        self.pushes: list[SimulatedPush] = []
        self._task: asyncio.Task[int] | None = None

    def start(self) -> None:
        """Push on the simulator's schedule (again)."""
        self._task = asyncio.get_running_loop().create_task(run(self.simulator, self))

    def send(self, frame: bytes) -> None:
        """The simulator's output: remember the push, write its frames to the pty."""
        assert self.source.last_push is not None
        self.pushes.append(self.source.last_push)
        self.output.send(frame)

    def write(self, push: SimulatedPush) -> None:
        """Write one push built by the test."""
        self.pushes.append(push)
        self.output.send(push.wire)

    def forget_format(self) -> None:
        """Let the next reader's character format apply, as on a UART.

        Linux pseudo-terminals cannot do parity: they drop PARENB. Once a reader has asked
        for 8E1, asking for it again changes nothing, and the kernel refuses such a request
        (EINVAL), which a real serial port never does. Resetting the speed makes the next
        open change something again. Called between two readers of an 8E1 port.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            attributes = termios.tcgetattr(fd)
            attributes[4] = attributes[5] = termios.B38400
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
        finally:
            os.close(fd)

    async def stop(self) -> None:
        """Stop pushing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def close(self) -> None:
        """Stop and close both ends of the pty."""
        await self.stop()
        await self.output.close()

    @property
    def meter_id(self) -> str:
        """The id the simulated meter reports."""
        meter = self.source.meter
        return meter.identity.text(meter.model.id_kind)

    def latest(self) -> dict[str, Decimal]:
        """Per code, the value of the last push that carried it (what the sensors show)."""
        values: dict[str, Decimal] = {}
        for push in self.pushes:
            values.update(push.values)
        return values


type StartMeter = Callable[..., PtyMeter]


@pytest.fixture
async def pty_meter(hass: HomeAssistant) -> AsyncIterator[StartMeter]:
    """Start simulated meters on ptys; at the end unload every entry, then close the ptys."""
    # The meters' clocks are Swiss time without an offset (deviation "not specified"):
    # Home Assistant runs in the meters' zone, as a Swiss installation does.
    await hass.config.async_set_time_zone("Europe/Zurich")
    meters: list[PtyMeter] = []

    def start(
        standard: str,
        *,
        key: bytes | None = None,
        authentication_key: bytes | None = None,
        model: dlms_models.DlmsMeterModel | None = None,
        interval: float = 0.1,
        acceleration: float = 1.0,
        running: bool = True,
    ) -> PtyMeter:
        if model is None:
            source = create_source(
                standard, SourceOptions(key=key, authentication_key=authentication_key)
            )
        else:
            source = dlms_meters.create_dlms_source(
                model, key=key, authentication_key=authentication_key
            )
        assert isinstance(source, DlmsSource)
        meter = PtyMeter(source, interval=interval, acceleration=acceleration)
        if running:
            meter.start()
        meters.append(meter)
        return meter

    yield start
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    for meter in meters:
        await meter.close()


def _entry(standard: str, path: str, meter_id: str, **data: Any) -> MockConfigEntry:
    """An entry for the meter ``meter_id`` on ``path`` with the standard's usual format."""
    serial = get_spec(standard).serial
    assert serial is not None
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{standard} meter",
        unique_id=meter_id,
        data={
            CONF_STANDARD: standard,
            CONF_URL: path,
            CONF_BAUDRATE: serial.baudrate,
            CONF_BYTESIZE: serial.bytesize,
            CONF_PARITY: serial.parity,
            CONF_STOPBITS: serial.stopbits,
            **data,
        },
        options={CONF_UPDATE_INTERVAL: 0},
    )


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _as_floats(values: Mapping[str, Decimal]) -> dict[str, float]:
    return {code: float(value) for code, value in values.items()}


async def _settled(
    hass: HomeAssistant, entry: MockConfigEntry, meter: PtyMeter, expected: Mapping[str, float]
) -> None:
    """Stop the meter and wait until the entry has processed its last push."""
    await meter.stop()
    await wait_until(
        lambda: (
            entry.runtime_data.coordinator.reading is not None
            and dict(entry.runtime_data.coordinator.reading.values) == expected
        ),
        timeout=10,
    )
    await hass.async_block_till_done()


def _shown(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Decimal]:
    """The values the meter's sensors show, by partial OBIS code."""
    keys = {BY_CODE[code].key: code for code in BY_CODE}
    shown: dict[str, Decimal] = {}
    for registry_entry in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        key = registry_entry.unique_id.removeprefix(f"{entry.unique_id}_")
        state = hass.states.get(registry_entry.entity_id)
        if key in keys and state is not None and state.state not in ("unknown", "unavailable"):
            shown[keys[key]] = Decimal(state.state)
    return shown


def _catalogued(values: Iterable[str]) -> set[str]:
    return {code for code in values if code in BY_CODE}


# ------------------------------------------------------------------ E450 through the flow


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_encrypted_e450_through_the_config_flow(
    hass: HomeAssistant, pty_meter: StartMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """GBT in HDLC with EK+AK on a pty at the E450 preset → sensors show exactly each value."""
    meter = pty_meter("lg-mbus", key=EK, authentication_key=AK)
    flow = hass.config_entries.flow
    result = await flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await flow.async_configure(result["flow_id"], {"next_step_id": "standard"})
    result = await flow.async_configure(
        result["flow_id"], {CONF_STANDARD: "lg-mbus", "has_key": True}
    )
    result = await flow.async_configure(result["flow_id"], {"next_step_id": "serial"})
    result = await flow.async_configure(
        result["flow_id"], {CONF_PORT: "manual", "serial_preset": "cii"}
    )
    result = await flow.async_configure(result["flow_id"], {CONF_DEVICE: meter.path})
    assert result["step_id"] == "keys"
    real_probe = config_flow.probe

    async def probe_on_a_uart(*args: Any, **kwargs: Any) -> Any:
        try:
            return await real_probe(*args, **kwargs)
        finally:
            meter.forget_format()  # the entry opens the port next, 8E1 again

    with patch.object(config_flow, "probe", probe_on_a_uart):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ENCRYPTION_KEY: EK.hex(), CONF_AUTHENTICATION_KEY: AK.hex()}
        )
        assert result["type"] is FlowResultType.SHOW_PROGRESS
        await hass.async_block_till_done()
        result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    push = meter.pushes[-1]
    assert entry.unique_id == push.meter_id
    assert result["title"] == f"Landis+Gyr {push.meter_id}"
    # The E450 CII over an M-Bus slave adapter: 2400 8E1.
    assert (entry.data[CONF_BAUDRATE], entry.data[CONF_PARITY]) == (2400, "E")
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    # The options offer the meter profiles of the standard; every reading is written.
    meter.forget_format()  # the options reload the entry, which opens the port again
    result = await hass.config_entries.options.async_init(entry.entry_id)
    profiles = result["data_schema"].schema[CONF_PROFILE].config["options"]
    assert [p["value"] for p in profiles] == ["auto", *(p.id for p in get_spec("lg-mbus").profiles)]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UPDATE_INTERVAL: 0, CONF_PROFILE: "auto"}
    )
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinator.update_interval == 0
    await wait_until(lambda: entry.runtime_data.coordinator.reading is not None, timeout=10)

    await _settled(hass, entry, meter, _as_floats(meter.pushes[-1].values))
    last = meter.pushes[-1]
    reading = entry.runtime_data.coordinator.reading
    assert (reading.meter_id, reading.id_obis) == (last.meter_id, last.id_obis)
    assert reading.timestamp == last.timestamp
    assert reading.timestamp.utcoffset() is not None
    shown = _shown(hass, entry)
    # Every catalogued value of the push has a sensor showing exactly it: energies incl.
    # reactive (3.8.0, 4.8.0), powers, per-phase voltages and currents.
    assert set(shown) == _catalogued(last.values)
    assert {"1.8.0", "2.8.0", "3.8.0", "4.8.0", "1.7.0", "32.7.0", "71.7.0"} <= set(shown)
    assert shown == dict(last.values)

    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert (device.manufacturer, device.model) == ("Landis+Gyr", "E450")
    assert entry.runtime_data.source.stats.rejected_by_reason.get("decryption_failed") is None
    assert SWAPPED_KEYS_NOTICE not in caplog.text

    assert await hass.config_entries.async_unload(entry.entry_id)


# ------------------------------------------------------------------ Kamstrup


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    "keys", [{}, {"key": EK, "authentication_key": AK}], ids=["plain", "encrypted"]
)
async def test_kamstrup(hass: HomeAssistant, pty_meter: StartMeter, keys: dict[str, bytes]) -> None:
    """The 10-second list and the hourly list (energies in 10 Wh) both reach the sensors."""
    # Ten simulated minutes per push: an hourly list every sixth push.
    meter = pty_meter("kamstrup-dlms", acceleration=6000, **keys)
    entry_keys = {CONF_ENCRYPTION_KEY: EK.hex(), CONF_AUTHENTICATION_KEY: AK.hex()} if keys else {}
    entry = _entry("kamstrup-dlms", meter.path, meter.meter_id, **entry_keys)
    await _set_up(hass, entry)
    # Until the integration itself has read an hourly list.
    await wait_until(
        lambda: (
            entry.runtime_data.coordinator.reading is not None
            and "1.8.0" in entry.runtime_data.coordinator.reading.values
        ),
        timeout=10,
    )
    await _settled(hass, entry, meter, _as_floats(meter.pushes[-1].values))
    # Both lists were sent; only the hourly one carries the energy registers.
    assert {push.hourly for push in meter.pushes} == {True, False}
    assert all(("1.8.0" in push.values) == push.hourly for push in meter.pushes)

    expected = meter.latest()
    shown = _shown(hass, entry)
    assert set(shown) == _catalogued(expected)
    assert {"1.8.0", "2.8.0", "3.8.0", "4.8.0", "3.7.0", "4.7.0", "31.7.0", "72.7.0"} <= set(shown)
    assert shown == expected
    reading = entry.runtime_data.coordinator.reading
    assert reading.meter_id == meter.pushes[-1].meter_id
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.manufacturer == "Kamstrup"
    assert entry.runtime_data.source.stats.frames_rejected == 0


async def test_kamstrup_swapped_keys_notice_is_logged_once(
    hass: HomeAssistant, pty_meter: StartMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry with the keys stored swapped reads the meter and says so once, not per push."""
    meter = pty_meter("kamstrup-dlms", key=EK, authentication_key=AK)
    entry = _entry(
        "kamstrup-dlms",
        meter.path,
        meter.meter_id,
        **{CONF_ENCRYPTION_KEY: AK.hex(), CONF_AUTHENTICATION_KEY: EK.hex()},
    )
    with caplog.at_level(logging.WARNING):
        await _set_up(hass, entry)
        await wait_until(lambda: entry.runtime_data.source.stats.frames_ok >= 4, timeout=10)
    swapped = [r for r in caplog.records if SWAPPED_KEYS_NOTICE in r.getMessage()]
    assert len(swapped) == 1
    assert swapped[0].levelno == logging.WARNING
    assert swapped[0].getMessage().startswith(entry.title)
    assert entry.runtime_data.source.stats.frames_rejected == 0
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["notices"] == [SWAPPED_KEYS_NOTICE]
    text = caplog.text.lower()
    for secret in (EK.hex(), AK.hex()):
        assert secret not in text


# ------------------------------------------------------------------ meter profile option


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_profile_override_takes_effect(hass: HomeAssistant, pty_meter: StartMeter) -> None:
    """E450 currents come in 0.01 A; forcing the E570 profile (currents in A) reloads the
    entry and scales them so, while everything else stays."""
    meter = pty_meter("lg-mbus")
    entry = _entry("lg-mbus", meter.path, meter.meter_id)
    await _set_up(hass, entry)
    await wait_until(lambda: entry.runtime_data.coordinator.reading is not None, timeout=10)
    await _settled(hass, entry, meter, _as_floats(meter.pushes[-1].values))
    before = meter.pushes[-1]
    assert _shown(hass, entry) == dict(before.values)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["decoder"]["profile"] == "lg-e450"
    assert diagnostics["decoder"]["detection"] == "logical device name"

    meter.start()
    meter.forget_format()  # the options reload the entry, which opens the port again
    old_coordinator = entry.runtime_data.coordinator
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UPDATE_INTERVAL: 0, CONF_PROFILE: "lg-e570"}
    )
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_PROFILE] == "lg-e570"
    # Reloaded: a new coordinator reads with the forced profile.
    await wait_until(
        lambda: (
            entry.state is ConfigEntryState.LOADED
            and entry.runtime_data.coordinator is not old_coordinator
            and entry.runtime_data.coordinator.reading is not None
        ),
        timeout=10,
    )

    def e570(push: SimulatedPush) -> dict[str, float]:
        """The push read with the E570 scaling: currents in A instead of 0.01 A."""
        return {
            code: float(value * 100 if code in CURRENTS else value)
            for code, value in push.values.items()
        }

    await _settled(hass, entry, meter, e570(meter.pushes[-1]))
    after = meter.pushes[-1]
    shown = _shown(hass, entry)
    assert shown == {
        code: value * 100 if code in CURRENTS else value for code, value in after.values.items()
    }
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.model == "E570"
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["decoder"]["profile"] == "lg-e570"
    assert diagnostics["decoder"]["detection"] == "user"


# ------------------------------------------------------------------ entities


def _register(obis: str, unit: Decimal = dlms_models.WH) -> dlms_models.CaptureObject:
    return dlms_models.CaptureObject(
        dlms_models.ObjectKind.REGISTER,
        obis,
        tag=DataTag.DOUBLE_LONG_UNSIGNED,
        unit=unit,
        rounding=ROUND_FLOOR,
    )


# An E450 whose push list also carries 5.8.0 (reactive energy QI, outside the catalogue),
# reactive power import and per-phase active power: what some operators configure.
E450_WITH_EXTRAS = replace(
    dlms_models.LG_E450,
    id="lg-e450-extras",
    objects=(
        *dlms_models.LG_E450.objects,
        _register("1-1:5.8.0"),
        _register("1-0:3.7.0"),
        _register("1-0:21.7.0"),
    ),
)
EXTRA_COUNTS = {
    "1.8.0": 12_345_678,
    "2.8.0": 2_345_678,
    "3.8.0": 345_678,
    "4.8.0": 45_678,
    "5.8.0": 5_678,
    "1.7.0": 1_234,
    "2.7.0": 0,
    "3.7.0": 321,
    "21.7.0": 500,
    "32.7.0": 231,
    "52.7.0": 230,
    "72.7.0": 229,
    "31.7.0": 300,
    "51.7.0": 150,
    "71.7.0": 250,
}


def _expected_classes(code: str) -> tuple[str | None, str | None, str, bool]:
    """(device class, unit, state class, enabled) a catalogue code's sensor must have here."""
    entry = BY_CODE[code]
    device_class = {
        Quantity.ACTIVE_ENERGY: SensorDeviceClass.ENERGY,
        Quantity.ACTIVE_POWER: SensorDeviceClass.POWER,
        Quantity.VOLTAGE: SensorDeviceClass.VOLTAGE,
        Quantity.CURRENT: SensorDeviceClass.CURRENT,
        # Reactive classes only where this Home Assistant accepts kvarh / kvar.
        Quantity.REACTIVE_ENERGY: SensorDeviceClass("reactive_energy")
        if HAS_REACTIVE_ENERGY_CLASS
        else None,
        Quantity.REACTIVE_POWER: SensorDeviceClass.REACTIVE_POWER
        if HAS_REACTIVE_ENERGY_CLASS
        else None,
    }[entry.quantity]
    state_class = (
        SensorStateClass.TOTAL_INCREASING if entry.counter else SensorStateClass.MEASUREMENT
    )
    # Import and export power are off: the grid power sensor shows both, signed.
    enabled = (
        entry.phase is None
        and entry.quantity not in (Quantity.REACTIVE_ENERGY, Quantity.REACTIVE_POWER)
        and code not in ("1.7.0", "2.7.0")
    )
    return device_class, entry.unit, state_class, enabled


async def test_entities_of_a_dlms_meter(
    hass: HomeAssistant, pty_meter: StartMeter, caplog: pytest.LogCaptureFixture
) -> None:
    """Each catalogued value gets a sensor with the right classes (per Home Assistant
    version), per-phase and reactive ones disabled by default; 5.8.0, outside the
    catalogue, gets none and causes no error."""
    meter = pty_meter("lg-mbus", model=E450_WITH_EXTRAS, running=False)
    pusher = SimulatedDlmsMeter(E450_WITH_EXTRAS, seed=7)
    entry = _entry("lg-mbus", meter.path, pusher.identity.equipment_id)
    await _set_up(hass, entry)
    push = pusher.push_counts(EXTRA_COUNTS, datetime(2026, 6, 27, 12, tzinfo=UTC))
    assert "5.8.0" in push.values
    meter.write(push)
    await wait_until(lambda: entry.runtime_data.coordinator.reading is not None, timeout=10)
    await hass.async_block_till_done()
    reading = entry.runtime_data.coordinator.reading
    assert "5.8.0" in reading.values  # decoded, but no sensor is made of it

    registry = er.async_get(hass)
    entities = {
        e.unique_id.removeprefix(f"{entry.unique_id}_"): e
        for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    by_code = {BY_CODE[code].key: code for code in BY_CODE}
    made = {by_code[key] for key in entities if key in by_code}
    assert made == _catalogued(push.values)
    assert "5.8.0" not in BY_CODE
    for code in made:
        registry_entry = entities[BY_CODE[code].key]
        device_class, unit, state_class, enabled = _expected_classes(code)
        assert registry_entry.original_device_class == device_class, code
        assert registry_entry.unit_of_measurement == unit, code
        assert registry_entry.capabilities == {"state_class": state_class}, code
        assert (registry_entry.disabled_by is None) is enabled, code
        state = hass.states.get(registry_entry.entity_id)
        if enabled:
            assert state is not None and Decimal(state.state) == push.values[code], code
        else:
            assert state is None, code
    assert {"1.8.0", "2.8.0"} <= {c for c in made if _expected_classes(c)[3]}
    # Import minus export power of the same push, signed, enabled.
    grid = hass.states.get(entities["net_power"].entity_id)
    assert entities["net_power"].disabled_by is None and grid is not None
    assert Decimal(grid.state) == push.values["1.7.0"] - push.values["2.7.0"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert entry.runtime_data.source.stats.frames_rejected == 0


# ------------------------------------------------------------------ diagnostics


async def test_diagnostics(
    hass: HomeAssistant, pty_meter: StartMeter, snapshot: SnapshotAssertion
) -> None:
    """Profile, counters by outcome and raw frames in hex for an encrypted E450; no key."""
    meter = pty_meter("lg-mbus", running=False)
    pusher = SimulatedDlmsMeter(
        dlms_models.LG_E450, seed=3, ciphering=dlms_meters.Ciphering(EK, AK)
    )
    entry = _entry(
        "lg-mbus",
        meter.path,
        pusher.identity.equipment_id,
        **{CONF_ENCRYPTION_KEY: EK.hex(), CONF_AUTHENTICATION_KEY: AK.hex()},
    )
    await _set_up(hass, entry)
    counts = {
        code: value for code, value in EXTRA_COUNTS.items() if code in pusher.model.register_codes
    }
    first = pusher.push_counts(counts, datetime(2026, 6, 27, 12, tzinfo=UTC))
    second = pusher.push_counts(counts, datetime(2026, 6, 27, 12, 0, 5, tzinfo=UTC))
    stats = lambda: entry.runtime_data.source.stats  # noqa: E731

    meter.write(first)
    await wait_until(lambda: stats().frames_ok == 1, timeout=10)
    meter.write(first)  # a replay: same invocation counter
    await wait_until(lambda: stats().frames_rejected == 1, timeout=10)
    meter.write(second)
    await wait_until(lambda: stats().frames_ok == 2, timeout=10)
    await hass.async_block_till_done()

    diagnostics: dict[str, Any] = await async_get_config_entry_diagnostics(hass, entry)
    text = repr(diagnostics).lower()
    for key in (EK, AK):
        for spelling in (key.hex(), key.hex(" "), key.hex(":")):
            assert spelling not in text
    assert diagnostics["decoder"] == {"profile": "lg-e450", "detection": "logical device name"}
    source = diagnostics["source"]
    assert (source["frames_ok"], source["frames_rejected"]) == (2, 1)
    assert source["rejected_by_reason"] == {"replayed": 1}
    assert diagnostics["recent_frames"] == [first.wire.hex(), first.wire.hex(), second.wire.hex()]
    assert diagnostics["last_reading"]["timestamp"] == "2026-06-27T14:00:05+02:00"

    diagnostics["home_assistant"] = "<version>"
    diagnostics["entry"]["data"][CONF_URL] = "<pty>"
    assert diagnostics == snapshot


async def test_diagnostics_redact_keys_in_the_address(
    hass: HomeAssistant, pty_meter: StartMeter
) -> None:
    """A simulated meter's keys in its address are redacted like the entry's keys."""
    url = f"simulator://kamstrup-dlms?interval=0.1&key={EK.hex()}&auth_key={AK.hex()}"
    entry = _entry(
        "kamstrup-dlms",
        url,
        "5706567280232362",
        **{CONF_ENCRYPTION_KEY: EK.hex(), CONF_AUTHENTICATION_KEY: AK.hex()},
    )
    await _set_up(hass, entry)
    await wait_until(lambda: entry.runtime_data.coordinator.reading is not None, timeout=10)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["data"][CONF_URL] == (
        "simulator://kamstrup-dlms?interval=0.1&key=REDACTED&auth_key=REDACTED"
    )
    text = repr(diagnostics).lower()
    for key in (EK, AK):
        assert key.hex() not in text
    assert diagnostics["decoder"]["profile"] == "kamstrup-omnipower"


async def test_meter_time_is_swiss_whatever_home_assistants_zone(
    hass: HomeAssistant, pty_meter: StartMeter
) -> None:
    """A meter time without offset is Swiss local time, even in a UTC container."""
    meter = pty_meter("kamstrup-dlms")  # Kamstrup sends its clock with deviation unspecified
    await hass.config.async_set_time_zone("UTC")
    entry = _entry("kamstrup-dlms", meter.path, meter.meter_id)
    await _set_up(hass, entry)
    await wait_until(lambda: entry.runtime_data.coordinator.reading is not None, timeout=10)
    reading = entry.runtime_data.coordinator.reading
    sent = next(push for push in meter.pushes if push.timestamp == reading.timestamp)
    assert reading.timestamp.utcoffset() == sent.timestamp.utcoffset()
    assert reading.timestamp.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
