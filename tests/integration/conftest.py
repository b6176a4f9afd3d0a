"""Fixtures for the Home Assistant integration tests.

The meter is real bytes over a real connection: :class:`FakeMeter` is a TCP server on
127.0.0.1 (like ser2net in raw mode) that sends the DSMR telegrams a test builds with the
library's encoder. The integration reads it through its real session and decoder, so a test
controls exactly what the meter says and observes what Home Assistant shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import PropertyMock, patch

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter import detect_flow
from custom_components.ch_smart_meter import ports as port_list
from custom_components.ch_smart_meter.const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_PARITY,
    CONF_STANDARD,
    CONF_STOPBITS,
    CONF_UPDATE_INTERVAL,
    CONF_URL,
    DOMAIN,
)
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    DEFAULT_EQUIPMENT_ID,
    encode_telegram,
    encrypt_smarty,
)
from custom_components.ch_smart_meter.reader.simulate.outputs import PtyOutput, run
from custom_components.ch_smart_meter.reader.simulate.source import Simulator

METER_ID = DEFAULT_EQUIPMENT_ID
# The key of the encrypted test meter: a test value, never a real meter's key.
TEST_KEY = bytes.fromhex("0F0E0D0C0B0A09080706050403020100")
SYSTEM_TITLE = bytes.fromhex("5341475903E1E8F1")
START = datetime(2026, 6, 27, 12, 0, 0, tzinfo=UTC)

# A three-phase household meter, in CH-SMR units, at the resolutions a DSMR 5 meter writes.
VALUES: dict[str, float] = {
    "1.8.1": 1234.567,
    "1.8.2": 2345.678,
    "2.8.1": 100.5,
    "2.8.2": 200.25,
    "1.7.0": 1.234,
    "2.7.0": 0.0,
    "32.7.0": 230.1,
    "52.7.0": 231.2,
    "72.7.0": 229.8,
    "31.7.0": 5.0,
    "51.7.0": 2.0,
    "71.7.0": 1.0,
    "21.7.0": 0.8,
    "41.7.0": 0.3,
    "61.7.0": 0.134,
    "22.7.0": 0.0,
    "42.7.0": 0.0,
    "62.7.0": 0.0,
}


def telegram(
    values: Mapping[str, float] | None = None,
    *,
    second: int = 0,
    equipment_id: str = METER_ID,
    **overrides: float,
) -> bytes:
    """A DSMR 5.0.2 telegram of the test meter ``second`` seconds after :data:`START`."""
    merged = dict(VALUES if values is None else values)
    merged.update({code.replace("_", "."): value for code, value in overrides.items()})
    return encode_telegram(
        merged, timestamp=START + timedelta(seconds=second), equipment_id=equipment_id
    )


def encrypted_telegram(counter: int = 1, key: bytes = TEST_KEY) -> bytes:
    """The test telegram in the Luxembourg Smarty envelope."""
    return encrypt_smarty(telegram(), key, SYSTEM_TITLE, counter)


class FakeMeter:
    """A TCP serial server on 127.0.0.1 that sends what the test tells it to."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._connected = asyncio.Event()
        self.port = 0
        self.connections = 0
        # Sent to every client as soon as it connects (a meter that talks on its own).
        self.greeting: bytes = b""

    @property
    def url(self) -> str:
        """The address the integration is configured with."""
        return f"socket://127.0.0.1:{self.port}"

    @property
    def clients(self) -> int:
        """Connections open now."""
        return len(self._writers)

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections += 1
        self._connected.set()
        if self.greeting:
            writer.write(self.greeting)
        try:
            while await reader.read(4096):
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            if not self._writers:
                self._connected.clear()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def wait_connected(self, timeout: float = 5.0) -> None:
        """Until a client is connected."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def send(self, data: bytes) -> None:
        """Send bytes to every connected client (waits for one to connect)."""
        await self.wait_connected()
        for writer in list(self._writers):
            writer.write(data)
            await writer.drain()

    async def wait_disconnected(self, timeout: float = 5.0) -> None:
        """Until no client is connected."""
        async with asyncio.timeout(timeout):
            while self._writers:
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self.wait_disconnected()
        if self._server is not None:
            await self._server.wait_closed()


@pytest.fixture
async def fake_meter(socket_enabled: None) -> AsyncIterator[FakeMeter]:
    """A started :class:`FakeMeter` (loopback sockets only: pytest-socket allows 127.0.0.1)."""
    meter = FakeMeter()
    await meter.start()
    yield meter
    await meter.close()


@pytest.fixture(autouse=True)
def instant_progress() -> Generator[None]:
    """Progress steps end as soon as their task does (in a browser a quick task is held for
    a second, so that the frontend sees the step; tests/integration/test_detect_flow.py
    checks that)."""
    with patch.object(detect_flow, "MIN_PROGRESS_SECONDS", 0.0):
        yield


@pytest.fixture(autouse=True)
def short_setup_wait() -> Generator[None]:
    """Set-up waits for the port only briefly in tests (the fake meter is silent at first)."""
    with patch("custom_components.ch_smart_meter.coordinator.SETUP_CONNECT_TIMEOUT", 0.5):
        yield


class Clock:
    """A monotonic clock the test moves by hand (guard windows, silence)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@pytest.fixture
def clock() -> Generator[Clock]:
    """Replace the coordinator's monotonic clock."""
    fake = Clock()
    with patch("custom_components.ch_smart_meter.coordinator.monotonic", fake):
        yield fake


def entry_data(url: str, **extra: Any) -> dict[str, Any]:
    """Config entry data of a DSMR meter at ``url``."""
    return {
        CONF_STANDARD: "dsmr",
        CONF_URL: url,
        CONF_BAUDRATE: 115200,
        CONF_BYTESIZE: 8,
        CONF_PARITY: "N",
        CONF_STOPBITS: 1.0,
        **extra,
    }


@pytest.fixture
def update_interval() -> int:
    """The update interval option of the test entry (0: every reading is written)."""
    return 0


@pytest.fixture
def entry_extra() -> dict[str, Any]:
    """More data of the test entry (keys)."""
    return {}


@pytest.fixture
def mock_config_entry(
    fake_meter: FakeMeter, update_interval: int, entry_extra: dict[str, Any]
) -> MockConfigEntry:
    """An entry for the fake meter."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Iskraemeco {METER_ID}",
        unique_id=METER_ID,
        data=entry_data(fake_meter.url, **entry_extra),
        options={CONF_UPDATE_INTERVAL: update_interval},
        entry_id="01JCHSMARTMETERTESTENTRY00",
    )


@contextlib.asynccontextmanager
async def meter_on_by_id_pty(
    simulator: Simulator, tmp_path: Path, by_id_name: str
) -> AsyncIterator[tuple[str, Path]]:
    """A simulated meter on a pseudo-terminal that the config flow lists like a USB adapter
    (a fake /dev/serial/by-id link, an FTDI description): yields (pty path, by-id path)."""
    output = PtyOutput(simulator)
    task = asyncio.get_running_loop().create_task(run(simulator, output))
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / by_id_name).symlink_to(output.path)
    ports = [SimpleNamespace(device=output.path, description="FT232R USB UART")]
    try:
        with (
            patch.object(port_list, "SERIAL_BY_ID", str(by_id)),
            patch.object(port_list.serialx, "list_serial_ports", return_value=ports),
        ):
            yield output.path, by_id / by_id_name
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await output.close()


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the event loop run until ``predicate()`` holds (the session reads in the background)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


type Setup = Callable[[], Awaitable[MockConfigEntry]]


@pytest.fixture
def setup_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, fake_meter: FakeMeter
) -> Setup:
    """Add the entry, set it up and wait until the session is connected to the fake meter."""

    async def setup() -> MockConfigEntry:
        if hass.config_entries.async_get_entry(mock_config_entry.entry_id) is None:
            mock_config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        await fake_meter.wait_connected()
        return mock_config_entry

    return setup


async def send_reading(hass: HomeAssistant, meter: FakeMeter, data: bytes) -> None:
    """Send a telegram and wait until the integration has processed it."""
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    coordinator = entry.runtime_data.coordinator
    before = coordinator.source.stats.frames_ok + coordinator.source.stats.frames_rejected
    await meter.send(data)
    await wait_until(
        lambda: (
            coordinator.source.stats.frames_ok + coordinator.source.stats.frames_rejected > before
        )
    )
    await hass.async_block_till_done()


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, also those disabled by default (as core's fixture)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield
