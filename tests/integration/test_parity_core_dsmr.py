"""Parity with Home Assistant core's ``dsmr``: every value core shows, we show, with the same number.

Each DSMR capture of ../shared/testdata/dsmr goes, as bytes over loopback TCP, to two
integrations in the same Home Assistant: core's ``dsmr`` (the installed Home Assistant's
own, so its sensor definitions of that version) and ch_smart_meter. Core is configured as
its config flow would configure it: the flow's own connection check
(``_validate_dsmr_connection``) reads the capture and finds the serial ids; the DSMR
version is the one a user of that meter picks (:data:`CORE_VERSIONS`). Then the states of
both, with every entity enabled, are compared:

* every core sensor with a value (not ``unknown``) is looked up among ours
  (:data:`OUR_CODES`: core's ``obis_reference`` -> our OBIS code, sub-meters by channel);
* numbers are compared exactly (``Decimal``) after the unit conversion (core shows what the
  meter sends, W or kW; we show kW) and after core's own rounding to 3 decimals;
* the active tariff is compared as the tariff number (core calls 1 "low" and 2 "normal",
  swapped in Belgium and Hungary; we call the low tariff's number, by default 2, "low");
* the timestamp is compared as a point in time (core shows UTC, we keep the meter's offset).

What remains must equal :data:`KNOWN_DIFFERENCES`, where every entry says why; captures
core cannot be set up with at all must equal :data:`CORE_REFUSES`. The README's "Coming
from core dsmr" explains both tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from unittest.mock import patch

import pytest
from dsmr_parser.clients.protocol import create_dsmr_protocol
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.exceptions import ParseError
from homeassistant.components.dsmr import config_flow as core_flow
from homeassistant.components.dsmr import const as core_const
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter.const import (
    CONF_ENCRYPTION_KEY,
    CONF_UPDATE_INTERVAL,
    DEFAULT_LOW_TARIFF,
    DOMAIN,
)
from custom_components.ch_smart_meter.coordinator import submeter_key
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.dsmr.variants import (
    TelegramFacts,
    read_identification,
    recognise_variant,
)
from custom_components.ch_smart_meter.reader.model import Reading
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import encrypt_smarty
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.sensor import EXTRA_SENSORS, LAST_READING, SENSORS
from tests.conftest import testdata_dir as capture_folder

from .conftest import SYSTEM_TITLE, TEST_KEY, entry_data, wait_until

FOLDER: Final = capture_folder("dsmr")
CAPTURES: Final = sorted(p.name for p in FOLDER.iterdir() if p.suffix in (".txt", ".hex"))

# The published keys of the two encrypted captures (see the folder's MANIFEST.md).
KEYS: Final = {
    "nexxtlab__smarty_lu_sagemcom_encrypted.hex": "D491470F47126332B07D1923B3504188",
    "arduino_dsmr2__synthetic_encrypted_sagemcom_t210dr.hex": "AA" * 16,
}

# Core's DSMR versions of the installed Home Assistant (2026 added the encrypted ones).
CORE_DSMR_VERSIONS: Final = frozenset(core_const.DSMR_VERSIONS)
ENCRYPTED_CORE: Final = "MSn" in CORE_DSMR_VERSIONS

# Our variant (recognised from the telegram) -> the DSMR version a core user picks for it.
# DSMR 3.0 meters are read as "2.2" in core (same serial settings and gas profile); core
# has no Irish Iskra version (its "5" reads the lines core shows for it); the Austrian
# plaintext captures are what the T210-D-R encrypts, so as plaintext "5" reads them, and
# encrypted they are core's SAGEMCOM_T210_D_R (2026 and later only).
CORE_VERSIONS: Final = {
    "dsmr5": "5",
    "dsmr4": "4",
    "dsmr3": "2.2",
    "dsmr22": "2.2",
    "emucs": "5B",
    "smarty": "5L",
    "austria": "5",
    "q3d": "Q3D",
    "iskra_ie": "5",
    "eon_hu": "5EONHU",
    "nordic": "5S",
    "dsmr": "5",
}

# Our variant of an encrypted telegram -> core's DSMR version for it.
ENCRYPTED_VERSIONS: Final = {
    "austria": "SAGEMCOM_T210_D_R",
    "encrypted": "SAGEMCOM_T210_D_R",
    "smarty_encrypted": "MSn",
}

# Core's obis_reference -> the partial OBIS code of our sensor ("last_reading": the
# time of the last reading, which is the meter's time stamp).
OUR_CODES: Final = {
    "P1_MESSAGE_TIMESTAMP": LAST_READING.key,
    "CURRENT_ELECTRICITY_USAGE": "1.7.0",
    "CURRENT_ELECTRICITY_DELIVERY": "2.7.0",
    "ELECTRICITY_ACTIVE_TARIFF": "96.14.0",
    "ELECTRICITY_IMPORTED_TOTAL": "1.8.0",
    "ELECTRICITY_EXPORTED_TOTAL": "2.8.0",
    **{f"ELECTRICITY_USED_TARIFF_{n}": f"1.8.{n}" for n in range(1, 5)},
    **{f"ELECTRICITY_DELIVERED_TARIFF_{n}": f"2.8.{n}" for n in range(1, 5)},
    "SHORT_POWER_FAILURE_COUNT": "96.7.21",
    "LONG_POWER_FAILURE_COUNT": "96.7.9",
    "TEXT_MESSAGE": "96.13.0",
    "ACTUAL_TRESHOLD_ELECTRICITY": "17.0.0",
    "BELGIUM_CURRENT_AVERAGE_DEMAND": "1.4.0",
    "BELGIUM_MAXIMUM_DEMAND_MONTH": "1.6.0",
    "EON_HU_ELECTRICITY_COMBINED": "15.8.0",
    "EON_HU_INSTANTANEOUS_POWER_FACTOR_TOTAL": "13.7.0",
    "EON_HU_FREQUENCY": "14.7.0",
    **{
        f"{name}_L{phase}": f"{c}.{d}.0"
        for name, d, cs in (
            ("INSTANTANEOUS_ACTIVE_POWER", 7, (21, 41, 61)),
            ("INSTANTANEOUS_VOLTAGE", 7, (32, 52, 72)),
            ("INSTANTANEOUS_CURRENT", 7, (31, 51, 71)),
            ("FUSE_THRESHOLD", 4, (31, 51, 71)),
            ("EON_HU_INSTANTANEOUS_POWER_FACTOR", 7, (33, 53, 73)),
        )
        for phase, c in enumerate(cs, 1)
    },
    **{
        f"INSTANTANEOUS_ACTIVE_POWER_L{p}_POSITIVE": f"{c}.7.0"
        for p, c in ((1, 21), (2, 41), (3, 61))
    },
    **{
        f"INSTANTANEOUS_ACTIVE_POWER_L{p}_NEGATIVE": f"{c}.7.0"
        for p, c in ((1, 22), (2, 42), (3, 62))
    },
    **{f"VOLTAGE_SAG_L{p}_COUNT": f"{c}.32.0" for p, c in ((1, 32), (2, 52), (3, 72))},
    **{f"VOLTAGE_SWELL_L{p}_COUNT": f"{c}.36.0" for p, c in ((1, 32), (2, 52), (3, 72))},
}
# Core's sub-meter readings: compared with our sub-meter of the same channel (M-Bus
# devices) or with any of ours (the single gas reading of DSMR 2.2 to 5).
GAS_REFERENCES: Final = frozenset({"HOURLY_GAS_METER_READING", "GAS_METER_READING"})
MBUS_REFERENCE: Final = "MBUS_METER_READING"

# Core's unit -> (our unit, power of ten from ours to core's).
UNITS: Final = {
    "W": ("kW", 3),
    "Wh": ("kWh", 3),
    "var": ("kvar", 3),
    "varh": ("kvarh", 3),
}
# Core rounds every number to this many decimals (DSMREntity.native_value).
CORE_DECIMALS: Final = 3
# Core's tariff words -> the tariff number (core's translate_tariff, undone).
_CORE_TARIFF_SWAPPED: Final = frozenset({"5B", "5EONHU"})


@dataclass(frozen=True)
class CoreValue:
    """One value a core sensor shows."""

    key: str  # the description key, "[channel]" appended for an M-Bus device's reading
    reference: str
    channel: int
    state: str
    unit: str | None

    def __str__(self) -> str:
        return f"{self.key}={self.state}{' ' + self.unit if self.unit else ''}"


@dataclass(frozen=True)
class OurValue:
    """One value one of our sensors shows."""

    state: str
    unit: str | None

    def __str__(self) -> str:
        return f"{self.state}{' ' + self.unit if self.unit else ''}"


# ------------------------------------------------------------------ the expected outcome

# Captures core's dsmr cannot be set up with (its config flow refuses them): core shows
# nothing for them, so there is nothing to compare. Reason per capture.
NO_TELEGRAM = "core's flow reads no telegram (it rejects the capture)"
NO_IDENTIFIER = "core's flow finds no equipment identifier, which its DSMR version requires"
NO_VERSION = "core has no DSMR version for encrypted telegrams (before 2026)"
CORE_REFUSES: Final[dict[str, str]] = {
    # A DSMR 4.2 telegram published without its CRC ("!" alone): core's parser requires
    # the CRC of a DSMR 4; we read it by the DSMR 2.2/3 rule (see the decoder's docstring).
    "amshan__lg_e350_xmx5_dsmr42_b.txt": NO_TELEGRAM,
    # CRC failures (the reporter redacted the id, a transcription error, a deliberately
    # wrong CRC) and a capture cut before its "!": we reject them too.
    "amsreader__elgama_gh1177-1.txt": NO_TELEGRAM,
    "amsreader__kaifa_gh1067-2.txt": NO_TELEGRAM,
    "amsreader__kamstrup_gh712-2.txt": NO_TELEGRAM,
    "dsmrreader__negative_invalid_crc_kaifa.txt": NO_TELEGRAM,
    "amsreader__sagemcom_gh264-1.txt": NO_TELEGRAM,
    # A header byte 0xAB (a Python "\253" escape where meters send the text "\253"):
    # core's reader takes ASCII only and drops the connection; we take latin-1.
    "dsmrreader__fluvius_multiple_gas_devices.txt": NO_TELEGRAM,
    "dsmrreader__fluvius_with_peak_data.txt": NO_TELEGRAM,
    "dsmrreader__fluvius_without_gas.txt": NO_TELEGRAM,
    # No 0-0:96.1.1 (a DSMR 2.2 style Iskra without id; the Irish Iskra): core's flow
    # refuses a meter without an equipment identifier; we use the header as the id.
    "amsreader__iskraemeco_gh1037-1.txt": NO_IDENTIFIER,
    "dsmr_parser__telegram_iskra_ie.txt": NO_IDENTIFIER,
    **(
        {}
        if ENCRYPTED_CORE
        else {
            # Before 2026 core reads no encrypted telegram, and an Austrian T210-D-R's
            # plaintext has no equipment identifier for its "5".
            "arduino_dsmr2__synthetic_encrypted_sagemcom_t210dr.hex": NO_VERSION,
            "nexxtlab__smarty_lu_sagemcom_encrypted.hex": NO_VERSION,
            "dsmr_parser__telegram_sagemcom_t210_d_r.txt": NO_IDENTIFIER,
            "openhab__sagemcom_t210d_austria_dsmr50.txt": NO_IDENTIFIER,
            # A CRC of 3 hex digits ("!B9F"): dsmr-parser before 1.5 wants 4.
            "dsmr_parser__telegram_unpadded_crc.txt": NO_TELEGRAM,
        }
    ),
}

# Nordic meters (no P1 version line) flag the time "W" (UTC+1) all year; core's parser
# ignores the flag and reads the time as Amsterdam's local time, so in summer core shows
# it an hour early. We take the meter's flag (as DSMR specifies), so our time of the
# reading is the one the meter states.
TIME_FLAG = "core ignores the meter's S/W flag; we keep it"

# (capture, core sensor key) -> why we show it differently or not at all.
KNOWN_DIFFERENCES: Final[dict[tuple[str, str], str]] = {
    ("amshan__ell5_se_p1_c.txt", "timestamp"): TIME_FLAG,
    ("amshan__kamstrup_kam5_se_p1.txt", "timestamp"): TIME_FLAG,
    ("amsreader__landisgyr_gh497-1.txt", "timestamp"): TIME_FLAG,
}


# ------------------------------------------------------------------ the meter


@contextlib.asynccontextmanager
async def meter(data: bytes, *, hang_up: bool) -> AsyncIterator[int]:
    """A loopback TCP meter that sends ``data`` to every client as it connects; with
    ``hang_up`` it then closes the connection (so core's flow check ends at once)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
            if not hang_up:
                while await reader.read(4096):
                    pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


# The end of a text capture after its CRC digits, as stored: some were saved without the
# line end or with a stray LF (dsmr-reader's captures end "!0422\n\r\n").
_AFTER_CRC: Final = re.compile(rb"(![0-9A-Fa-f]{0,4})[\r\n]*\Z")


def read_capture(name: str) -> bytes:
    """The bytes a meter sends: a text telegram with the CR LF that DSMR writes after the
    CRC (outside the CRC: no value changes; core's reader waits for it), an encrypted one
    from its hex."""
    raw = (FOLDER / name).read_bytes()
    if name.endswith(".hex"):
        return bytes.fromhex(raw.decode("ascii").strip())
    return _AFTER_CRC.sub(rb"\1\r\n", raw)


def decode(frame: bytes, key: str | None) -> tuple[Reading | None, str]:
    """Our reading of a capture (None when we reject it) and its variant's id.

    A rejected capture's variant is recognised from its text, as the decoder would."""
    decoder = DsmrDecoder(DecoderOptions(encryption_key=bytes.fromhex(key) if key else None))
    results = [*decoder.feed(frame), *decoder.flush()]
    readings = [r for r in results if isinstance(r, Reading)]
    if readings and decoder.variant is not None:
        return readings[0], decoder.variant.id
    text = frame.decode("latin-1")
    lines = text.splitlines()
    version = next((line.partition("(")[2].rstrip(")") for line in lines if ":0.2.8(" in line), "")
    identification = read_identification(lines[0] if lines else "")
    facts = TelegramFacts(
        identification.flag,
        identification.model,
        version,
        any(":96.1.4(" in line for line in lines),
        frame[:1] == b"\xdb",
        True,
    )
    return None, recognise_variant(facts).id


def core_input(name: str) -> tuple[bytes, str, str | None]:
    """What the meter sends to both integrations, core's DSMR version for it and the key.

    A Sagemcom T210-D-R sends its telegrams encrypted, and core reads them only so (from
    2026 on): there, its plaintext captures are sent encrypted with a test key."""
    frame = read_capture(name)
    key = KEYS.get(name)
    _, variant = decode(frame, key)
    if key is not None:
        return frame, ENCRYPTED_VERSIONS.get(variant, variant), key
    if variant == "austria" and ENCRYPTED_CORE:
        envelope = encrypt_smarty(frame, TEST_KEY, SYSTEM_TITLE, 1)
        return envelope, ENCRYPTED_VERSIONS[variant], TEST_KEY.hex()
    return frame, CORE_VERSIONS[variant], None


# ------------------------------------------------------------------ core's side

# How long core's flow check waits for a telegram: 30 s in core; the capture is sent at
# once, so a short wait tells the same (a capture core rejects would cost 30 s each).
FLOW_WAIT: Final = 2.0


class _ShortFlowWait:
    """``asyncio`` as core's config flow module sees it, with the short wait."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    def timeout(_delay: float) -> asyncio.Timeout:
        return asyncio.timeout(FLOW_WAIT)


def core_parses(frame: bytes, version: str) -> bool:
    """Whether core's reader takes a plaintext capture: the steps of dsmr-parser's
    ``DSMRProtocol.data_received`` (latin-1, telegram buffer, ASCII only) and the telegram
    parser of ``version``, CRC checked."""
    factory, _ = create_dsmr_protocol(version, None)
    parser = factory.args[1]
    buffer = TelegramBuffer()
    buffer.append(frame.decode("latin-1"))
    try:
        return any(
            parser.parse(telegram.encode("latin-1").decode("ascii"))
            for telegram in buffer.get_all()
        )
    except (ParseError, ValueError):
        return False


async def core_shows(
    hass: HomeAssistant, frame: bytes, version: str, key: str | None
) -> list[CoreValue] | str:
    """What core's dsmr shows for a capture, or why it cannot be set up with it."""
    if version not in CORE_DSMR_VERSIONS:
        return NO_VERSION
    if not key and not core_parses(frame, version):
        # Not sent: core's reader would raise in its data_received for a header byte
        # that is not ASCII (an error Home Assistant's test harness fails any test for).
        return NO_TELEGRAM
    legacy = "host" in inspect.signature(core_flow.DSMRConnection.__init__).parameters
    async with meter(frame, hang_up=True) as port:
        flow_input: dict[str, Any] = {core_const.CONF_DSMR_VERSION: version}
        if legacy:
            flow_input |= {"host": "127.0.0.1", "port": port}
        else:
            flow_input |= {"port": f"socket://127.0.0.1:{port}"}
            if key:
                flow_input["encryption_key"] = key
        try:
            with patch.object(core_flow, "asyncio", _ShortFlowWait()):
                ids = await core_flow._validate_dsmr_connection(
                    hass, flow_input, core_const.DSMR_PROTOCOL
                )
        except core_flow.CannotCommunicate:
            return NO_IDENTIFIER if not key and core_parses(frame, version) else NO_TELEGRAM
    async with meter(frame, hang_up=False) as port:
        data = {
            "host": "127.0.0.1",  # the network form every version reads
            "port": port,
            core_const.CONF_DSMR_VERSION: version,
            "protocol": core_const.DSMR_PROTOCOL,
            **ids,
        }
        if key and not legacy:
            data["encryption_key"] = key
        entry = MockConfigEntry(
            domain=core_const.DOMAIN,
            data=data,
            # Entities appear with the first telegram after the throttle window; the
            # connection itself takes the first one (an empty telegram), so: no window.
            options={core_const.CONF_TIME_BETWEEN_UPDATE: 0},
        )
        entry.add_to_hass(hass)
        # core dsmr 2026 depends on "usb" for USB discovery only; a TCP meter needs none.
        hass.config.components.add("usb")
        assert await hass.config_entries.async_setup(entry.entry_id)
        try:
            return await _core_values(hass, entry)
        finally:
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()


async def _core_values(hass: HomeAssistant, entry: MockConfigEntry) -> list[CoreValue] | str:
    """The values core's entities show, once they exist (with the first telegram core
    takes; none after a while: core rejects every telegram of the capture)."""
    registry = er.async_get(hass)
    try:
        await wait_until(
            lambda: bool(er.async_entries_for_config_entry(registry, entry.entry_id)), FLOW_WAIT
        )
    except TimeoutError:
        return NO_TELEGRAM
    await hass.async_block_till_done()
    shown = []
    component = hass.data["sensor"]
    for registry_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
        entity = component.get_entity(registry_entry.entity_id)
        state = hass.states.get(registry_entry.entity_id)
        assert entity is not None and state is not None
        if state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            continue  # core shows no value
        description = entity.entity_description
        channel = getattr(entity, "_mbus_id", 0)
        shown.append(
            CoreValue(
                f"{description.key}[{channel}]" if channel else description.key,
                description.obis_reference,
                channel,
                state.state,
                state.attributes.get("unit_of_measurement"),
            )
        )
    return sorted(shown, key=lambda value: value.key)


# ------------------------------------------------------------------ our side


async def we_show(
    hass: HomeAssistant, frame: bytes, reading: Reading, key: str | None
) -> dict[str, OurValue]:
    """What ch_smart_meter shows for a capture, by our sensor's key (unique id suffix)."""
    async with meter(frame, hang_up=False) as port:
        extra = {CONF_ENCRYPTION_KEY: key} if key else {}
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=reading.meter_id,
            data=entry_data(f"socket://127.0.0.1:{port}", **extra),
            options={CONF_UPDATE_INTERVAL: 0},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        coordinator = entry.runtime_data.coordinator
        await wait_until(lambda: coordinator.source.stats.frames_ok > 0)
        await hass.async_block_till_done()
        prefix = f"{coordinator.meter_id}_"
        shown = {}
        for registry_entry in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
            state = hass.states.get(registry_entry.entity_id)
            if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
                continue
            shown[registry_entry.unique_id.removeprefix(prefix)] = OurValue(
                state.state, state.attributes.get("unit_of_measurement")
            )
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    return shown


_OUR_KEYS: Final = {code: d.key for code, d in (SENSORS | EXTRA_SENSORS).items()} | {
    LAST_READING.key: LAST_READING.key
}


def _same_number(core: CoreValue, ours: OurValue) -> bool:
    """The same number after converting ours to core's unit and rounding as core does."""
    our_unit, power = UNITS.get(core.unit or "", (core.unit, 0))
    if our_unit != ours.unit:
        return False
    try:
        converted = Decimal(ours.state).scaleb(power)
        return Decimal(core.state) == Decimal(repr(round(float(converted), CORE_DECIMALS)))
    except ArithmeticError:
        return False


def _tariff_number(core: CoreValue, version: str) -> int | None:
    number = {"low": 1, "normal": 2}.get(core.state)
    if number is not None and version in _CORE_TARIFF_SWAPPED:
        number = 3 - number
    return number


def _matches(core: CoreValue, ours: OurValue, version: str) -> bool:
    """Whether our sensor shows what core's does."""
    if core.reference == "ELECTRICITY_ACTIVE_TARIFF":
        low = DEFAULT_LOW_TARIFF
        ours_number = low if ours.state == "low" else 3 - low
        return _tariff_number(core, version) == ours_number
    if core.reference == "P1_MESSAGE_TIMESTAMP":
        return datetime.fromisoformat(core.state) == datetime.fromisoformat(ours.state)
    if core.reference == "TEXT_MESSAGE":
        return core.state == ours.state
    return _same_number(core, ours)


def differences(core: list[CoreValue], ours: dict[str, OurValue], version: str) -> dict[str, str]:
    """Core's values we don't show, or show differently: core key -> what we show."""
    found: dict[str, str] = {}
    submeters = {key: value for key, value in ours.items() if key.startswith("mbus")}
    for value in core:
        if value.reference == MBUS_REFERENCE:
            candidates = [
                ours_value
                for key, ours_value in submeters.items()
                if key.startswith(f"{submeter_key(value.channel)}_")
            ]
        elif value.reference in GAS_REFERENCES:
            candidates = list(submeters.values())
        elif (code := OUR_CODES.get(value.reference)) is not None and code in _OUR_KEYS:
            candidates = [ours[_OUR_KEYS[code]]] if _OUR_KEYS[code] in ours else []
        else:
            candidates = []
        if not any(_matches(value, candidate, version) for candidate in candidates):
            shown = ", ".join(str(c) for c in candidates) or "nothing"
            found[value.key] = f"core {value}, we show {shown}"
    return found


# ------------------------------------------------------------------ the test


@pytest.mark.parametrize("expected_lingering_timers", [True])  # core's keep-alive timer
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "socket_enabled")
@pytest.mark.parametrize("capture", CAPTURES)
async def test_we_show_what_core_dsmr_shows(
    hass: HomeAssistant, capture: str, expected_lingering_timers: bool
) -> None:
    """Every value core's dsmr shows for a capture, we show with the same number, but for
    the explained differences."""
    frame, version, key = core_input(capture)
    reading, _ = decode(frame, key)
    core = await core_shows(hass, frame, version, key)
    if isinstance(core, str):
        assert CORE_REFUSES.get(capture) == core, f"{capture} ({version}): {core}"
        return
    assert capture not in CORE_REFUSES, f"{capture}: core reads it now ({version})"
    assert reading is not None, f"{capture}: core shows {core}, we reject the capture"
    ours = await we_show(hass, frame, reading, key)
    found = differences(core, ours, version)
    expected = {
        core_key: reason
        for (name, core_key), reason in KNOWN_DIFFERENCES.items()
        if name == capture
    }
    report = "\n".join(f"  {capture} [{version}] {k}: {v}" for k, v in sorted(found.items()))
    assert set(found) == set(expected), f"differences:\n{report}"
