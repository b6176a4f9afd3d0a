"""Real faults of the meter's link, with real components, seen from Home Assistant.

Every fault is staged for real: a pseudo-terminal whose meter end closes, a device node
that disappears, a TCP serial server that resets, refuses or stays silent, a trickle, a
meter at the wrong baud, a restarted MQTT broker. The integration reads through its real
session, transport and decoder. Each test asserts what a user sees:

* readings resume within :data:`RESUME_LIMIT` seconds of the link coming back (measured
  from that moment to the first new reading; printed, and the maximum at the end);
* the sensors go unavailable only after the silence limit, and come back with the first
  reading;
* one warning per outage and one info line on recovery, nothing more above debug level;
* nothing left behind after the entry unloads (file descriptors, tasks);
* no energy value shown lower than one shown before.

The silence limit and the session's silence watchdog are shortened where a fault does not
depend on them; the 30 s "connection refused" outage is real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from unittest.mock import patch

import pytest
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.ch_smart_meter.const import (
    CONF_REPUBLISH,
    CONF_REPUBLISH_GROUP,
    CONF_STANDARD,
    CONF_TOPIC,
    CONF_UPDATE_INTERVAL,
    DOMAIN,
)
from custom_components.ch_smart_meter.coordinator import ChSmartMeterCoordinator
from custom_components.ch_smart_meter.reader.crc import crc16_arc
from custom_components.ch_smart_meter.reader.model import Reading
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.meters.dsmr import equipment_id
from custom_components.ch_smart_meter.reader.simulate.source import Simulator
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from ..e2e.harness import mosquitto_binary
from .conftest import entry_data, wait_until
from .fault_links import Feeder, Mosquitto, MqttPeer, PtyLine, TcpMeter, at_wrong_baud
from .fault_watch import (
    INTEGRATION_LOGGER,
    Watch,
    assert_never_lower,
    fds_left,
    fds_to,
    open_fds,
    task_names,
    where,
)

RESUME_LIMIT: Final = 5.0
METER_ID: Final = equipment_id(1)  # the simulated meter's (seed 1)
TITLE: Final = "Fault meter"
PREFIX: Final = "sensor.fault_meter_"
DSMR_INTERVAL: Final = get_spec("dsmr").interval
# Simulated meters send every 0.2 s, a minute of meter time per second (registers move).
FRAME_INTERVAL: Final = 0.2
ACCELERATION: Final = 60.0
# Timer slack: a limit is checked by a loop timer, readings arrive every FRAME_INTERVAL.
SLACK: Final = 0.5

# Resume times of this run by fault, printed at the end (pytest -s).
RESUMES: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report_resumes() -> Iterator[None]:
    """Print the resume times and their maximum after the module's tests."""
    yield
    if RESUMES:
        lines = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in RESUMES.items())
        print(f"\nresume times: {lines}; max {max(RESUMES.values()):.2f} s")


def record_resume(name: str, seconds: float) -> None:
    """Keep a resume time, print it and check it against the limit."""
    RESUMES[name] = max(seconds, RESUMES.get(name, 0.0))
    print(f"\n{name}: readings resumed {seconds:.2f} s after the link came back")
    assert seconds <= RESUME_LIMIT, f"{name}: readings resumed after {seconds:.2f} s"


@contextmanager
def limits(*, silence: float, watchdog: float) -> Iterator[None]:
    """Silence limit of the sensors and silence watchdog of the session, in seconds."""
    with (
        patch(
            "custom_components.ch_smart_meter.coordinator.SILENCE_INTERVALS",
            silence / DSMR_INTERVAL,
        ),
        patch("custom_components.ch_smart_meter.reader.session.MIN_SILENCE_TIMEOUT", watchdog),
        patch("custom_components.ch_smart_meter.reader.session.SILENCE_INTERVALS", 0),
    ):
        yield


def simulated_meter() -> Simulator:
    """The simulated DSMR 5 household meter (seed 1), fast."""
    return Simulator(create_source("dsmr"), interval=FRAME_INTERVAL, acceleration=ACCELERATION)


@dataclass
class Setup:
    """An entry set up on a faulty link, and what to compare after it unloads."""

    entry: MockConfigEntry
    coordinator: ChSmartMeterCoordinator
    watch: Watch


@asynccontextmanager
async def nothing_left_behind() -> AsyncIterator[None]:
    """Around a whole test (meter included): no file descriptor and no task more after it
    than before it."""
    fds_before = open_fds()
    tasks_before = task_names()
    yield
    await asyncio.sleep(0)
    assert task_names() <= tasks_before, task_names() - tasks_before
    assert not fds_left(fds_before, open_fds())


def dsmr_entry(url: str, **options: Any) -> MockConfigEntry:
    """A DSMR entry on ``url`` writing every reading."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=METER_ID,
        data=entry_data(url),
        options={CONF_UPDATE_INTERVAL: 0, **options},
    )


@asynccontextmanager
async def meter_entry(
    hass: HomeAssistant,
    url_or_entry: str | MockConfigEntry,
    *,
    prefix: str = PREFIX,
    logs: bool = True,
) -> AsyncIterator[Setup]:
    """Set up an entry (a DSMR one on a URL); after the block, unload it and check that
    its tasks are gone."""
    watch = Watch(hass, prefix, logs=logs)
    watch.start()
    entry = dsmr_entry(url_or_entry) if isinstance(url_or_entry, str) else url_or_entry
    if hass.config_entries.async_get_entry(entry.entry_id) is None:
        entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        coordinator = entry.runtime_data.coordinator
        watch.follow(coordinator)
        yield Setup(entry, coordinator, watch)
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.NOT_LOADED
        # The entry's tasks are named after it (source, republisher).
        left = [n for n in task_names() if n.startswith(DOMAIN) and n.endswith(entry.title)]
        assert not left
    finally:
        watch.stop()


def check_outage(
    watch: Watch,
    *,
    lost: float,
    back: float,
    silence: float,
    warnings: int = 1,
    about: str = "",
) -> None:
    """What the user saw of one outage (the fault at ``lost``, the link back at ``back``).

    Availability: unavailable only after ``silence`` seconds without a reading, back with
    the first reading, writing that reading's values. Log (records mentioning ``about``):
    ``warnings`` warnings; before the link is back at most one line about the sensors
    being unavailable; after it exactly one info line; nothing else above debug level.
    """
    last = watch.last_reading_before(lost)
    first = min(at for at, _ in watch.readings if at > back)
    gone = watch.unavailable_times(since=lost)
    if first - last > silence + SLACK:
        assert gone, "the sensors stayed available through a silence beyond the limit"
        assert gone[0] - last >= silence - 0.05, (
            f"unavailable {gone[0] - last:.2f} s after the last reading (limit {silence} s)"
        )
        assert gone[0] - last <= silence + SLACK
        # Back with the first reading, with its values (not the last ones from before): within
        # half a frame interval of it, so never with the next one (the event loop of a busy
        # CI machine lags by tens of milliseconds).
        assert abs(watch.available_again(gone[0]) - first) <= FRAME_INTERVAL / 2
        watch.assert_first_states_show(first)
    elif first - last < silence - SLACK:
        assert not gone, f"unavailable at {where(gone)} though silent less than {silence} s"

    before = watch.records(since=lost, until=back, about=about)
    after = watch.records(since=back, about=about)
    lines = "\n".join(["log:", *before, "-- the link is back --", *after])
    print(lines)
    warned = [r for r in before + after if not r.startswith(("DEBUG", "INFO"))]
    assert len(warned) == warnings, lines
    assert all(r.startswith("WARNING") for r in warned), lines
    unavailable = [r for r in before + after if "its sensors are unavailable" in r]
    assert len(unavailable) == (1 if gone else 0), lines
    assert len([r for r in before if r.startswith("INFO")]) <= 1, lines
    assert len([r for r in after if r.startswith("INFO")]) == 1, lines


async def test_pty_meter_end_closes_and_reopens(hass: HomeAssistant) -> None:
    """The meter's end of the pty closes (the node goes away) and comes back at the same
    node: the session reconnects by itself; the sensors stay available through the short
    gap."""
    silence = 3.0
    async with nothing_left_behind():
        line = PtyLine()
        path = line.path
        feeder = Feeder(simulated_meter(), line)
        feeder.start()
        try:
            with limits(silence=silence, watchdog=60.0):
                async with meter_entry(hass, path) as setup:
                    watch = setup.watch
                    await watch.reading_after(time.monotonic())
                    await asyncio.sleep(0.3)

                    lost = time.monotonic()
                    feeder.unplug()
                    # The session sees the end and closes its descriptor: the node is free.
                    await wait_until(lambda: fds_to(path) == 0)
                    feeder.plug(await PtyLine.at(path))
                    back = time.monotonic()
                    record_resume("pty reopened", await watch.reading_after(back))
                    await asyncio.sleep(0.3)
                    check_outage(watch, lost=lost, back=back, silence=silence)
                    assert_never_lower(watch.energy_states())
                # Unloaded: only the meter's own end of the node is left open.
                assert fds_to(path) == 1
        finally:
            await feeder.stop()


async def test_usb_adapter_unplugged_and_plugged_back(hass: HomeAssistant, tmp_path: Path) -> None:
    """The entry uses a by-id path; the adapter is unplugged (its pty closes, udev removes
    the link) and plugged back later as a new pty behind the same path."""
    silence = 1.5
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    link = by_id / "usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0"
    async with nothing_left_behind():
        line = PtyLine()
        link.symlink_to(line.path)
        feeder = Feeder(simulated_meter(), line)
        feeder.start()
        try:
            with limits(silence=silence, watchdog=60.0):
                async with meter_entry(hass, str(link)) as setup:
                    watch = setup.watch
                    await watch.reading_after(time.monotonic())
                    await asyncio.sleep(0.3)

                    lost = time.monotonic()
                    feeder.unplug()
                    link.unlink()
                    await asyncio.sleep(silence + 1.5)
                    line = PtyLine()
                    link.symlink_to(line.path)
                    feeder.plug(line)
                    back = time.monotonic()
                    record_resume("adapter replugged", await watch.reading_after(back))
                    await asyncio.sleep(0.3)
                    check_outage(watch, lost=lost, back=back, silence=silence)
                    assert_never_lower(watch.energy_states())
                assert fds_to(line.path) == 1
        finally:
            await feeder.stop()


@pytest.mark.usefixtures("socket_enabled")
async def test_tcp_server_resets_the_connection(hass: HomeAssistant) -> None:
    """The serial server resets the connection (RST) and keeps listening."""
    silence = 3.0
    async with nothing_left_behind():
        meter = TcpMeter()
        await meter.start()
        feeder = Feeder(simulated_meter(), meter)
        feeder.start()
        try:
            with limits(silence=silence, watchdog=60.0):
                async with meter_entry(hass, meter.url) as setup:
                    watch = setup.watch
                    await watch.reading_after(time.monotonic())
                    await asyncio.sleep(0.3)

                    lost = time.monotonic()
                    await meter.reset()
                    back = time.monotonic()  # it still listens: the link is back at once
                    record_resume("tcp reset", await watch.reading_after(back))
                    await asyncio.sleep(0.3)
                    check_outage(watch, lost=lost, back=back, silence=silence)
                    assert_never_lower(watch.energy_states())
                    assert meter.connections == 2
                await meter.wait_no_clients()
        finally:
            await feeder.stop()
            await meter.stop()


@pytest.mark.usefixtures("socket_enabled")
async def test_tcp_server_refuses_connections_for_30_s(hass: HomeAssistant) -> None:
    """The serial server goes away for 30 s (connection refused), then listens again on
    the same port, right after a refused attempt: the capped backoff (4 s) reconnects
    within seconds even then."""
    silence = 1.5
    async with nothing_left_behind():
        meter = TcpMeter()
        await meter.start()
        feeder = Feeder(simulated_meter(), meter)
        feeder.start()
        try:
            with limits(silence=silence, watchdog=60.0):
                async with meter_entry(hass, meter.url) as setup:
                    watch = setup.watch
                    await watch.reading_after(time.monotonic())
                    await asyncio.sleep(0.3)

                    lost = time.monotonic()
                    await meter.stop()
                    await asyncio.sleep(30.0)
                    # The worst moment to come back: just after a refused attempt, when the
                    # session waits its longest backoff (4 s plus up to 10 %) for the next.
                    await watch.logged("Next connection attempt", since=time.monotonic())
                    await meter.start()
                    back = time.monotonic()
                    record_resume("tcp refused 30 s", await watch.reading_after(back))
                    await asyncio.sleep(0.3)
                    check_outage(watch, lost=lost, back=back, silence=silence)
                    assert_never_lower(watch.energy_states())
                await meter.wait_no_clients()
        finally:
            await feeder.stop()
            await meter.stop()


@pytest.mark.usefixtures("socket_enabled")
async def test_tcp_server_accepts_but_sends_nothing(hass: HomeAssistant) -> None:
    """The serial server keeps the connection open but sends nothing (its serial side
    died): the session's silence watchdog drops the connection and reconnects."""
    silence = 1.5
    watchdog = 2.0
    async with nothing_left_behind():
        meter = TcpMeter()
        await meter.start()
        feeder = Feeder(simulated_meter(), meter)
        feeder.start()
        try:
            with limits(silence=silence, watchdog=watchdog):
                async with meter_entry(hass, meter.url) as setup:
                    watch = setup.watch
                    await watch.reading_after(time.monotonic())
                    await asyncio.sleep(0.3)

                    lost = time.monotonic()
                    meter.muted = True
                    await wait_until(lambda: meter.connections >= 2, timeout=watchdog * 1.1 + 2)
                    reconnected = time.monotonic() - lost
                    assert watchdog <= reconnected <= watchdog * 1.1 + 1.5, reconnected
                    await asyncio.sleep(1.0)
                    meter.muted = False
                    back = time.monotonic()
                    record_resume("tcp silent", await watch.reading_after(back))
                    await asyncio.sleep(0.3)
                    check_outage(watch, lost=lost, back=back, silence=silence)
                    assert_never_lower(watch.energy_states())
                await meter.wait_no_clients()
        finally:
            await feeder.stop()
            await meter.stop()


def short_telegram(energy: float, power: float, second: int) -> bytes:
    """A DSMR 5 telegram with two values (151 bytes): 7.5 s at one byte every 50 ms."""
    body = (
        "/ISK5\\2M550T-1012\r\n\r\n"
        f"0-0:1.0.0(2606271400{second:02d}S)\r\n"
        f"0-0:96.1.1({METER_ID.encode().hex().upper()})\r\n"
        f"1-0:1.8.1({energy:010.3f}*kWh)\r\n"
        f"1-0:1.7.0({power:06.3f}*kW)\r\n"
        "!"
    ).encode()
    return body + b"%04X\r\n" % crc16_arc(body)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")  # import power is off by default
async def test_slow_trickle(hass: HomeAssistant) -> None:
    """One byte every 50 ms: a telegram takes 7.5 s. The session's silence watchdog (2 s
    here) watches bytes, not telegrams, so no timeout fires; the reading is exact."""
    async with nothing_left_behind():
        line = PtyLine()
        try:
            # The sensors' silence limit stays real (30 s): the trickle must not reach it.
            with limits(silence=3 * DSMR_INTERVAL, watchdog=2.0):
                async with meter_entry(hass, line.path) as setup:
                    watch = setup.watch
                    start = time.monotonic()
                    line.send(short_telegram(1234.5, 0.4, second=0))
                    await watch.reading_after(start)

                    trickled = short_telegram(1234.567, 1.25, second=10)
                    # The telegram is complete with its last CRC digit (the CRLF follows).
                    complete = trickled.index(b"!") + 4
                    completed_at = 0.0
                    for index, byte in enumerate(trickled):
                        line.send(bytes([byte]))
                        if index == complete:
                            completed_at = time.monotonic()
                        await asyncio.sleep(0.05)
                    assert len(watch.readings) == 2
                    record_resume(
                        "trickle (last CRC digit to reading)",
                        await watch.reading_after(completed_at),
                    )
                    readings = [reading for _, reading in watch.readings]
                    assert len(readings) == 2
                    assert readings[1].values == {
                        "1.8.1": 1234.567,
                        "1.7.0": 1.25,
                        "1.8.0": 1234.567,
                    }
                    assert readings[1].meter_id == METER_ID
                    assert setup.coordinator.source.stats.reconnects == 0
                    assert setup.coordinator.source.stats.frames_rejected == 0
                    assert not watch.unavailable_times()
                    assert watch.records(since=start) == []  # nothing above debug
                    shown = {
                        key: state.state
                        for key in ("energy_import", "power_import")
                        if (state := hass.states.get(f"{PREFIX}{key}")) is not None
                    }
                    assert shown == {"energy_import": "1234.567", "power_import": "1.25"}
                    assert_never_lower(watch.energy_states())
        finally:
            line.close()


async def test_garbage_at_the_wrong_baud_then_good_frames(hass: HomeAssistant) -> None:
    """For 20 s the meter's frames arrive as a 9600 7E1 meter's look on a 115200 8N1 port,
    then as they should: the sensors go unavailable after the silence limit, with one
    warning that bytes arrive without a frame in them, and come back with the first good
    frame."""
    silence = 1.5
    async with nothing_left_behind():
        line = PtyLine()
        path = line.path
        feeder = Feeder(simulated_meter(), line)
        feeder.start()
        try:
            with limits(silence=silence, watchdog=2.0):
                async with meter_entry(hass, path) as setup:
                    watch = setup.watch
                    await watch.reading_after(time.monotonic())
                    await asyncio.sleep(0.3)

                    lost = time.monotonic()
                    feeder.transform = at_wrong_baud
                    await asyncio.sleep(20.0)
                    feeder.transform = None
                    back = time.monotonic()
                    record_resume("wrong baud", await watch.reading_after(back))
                    await asyncio.sleep(0.3)
                    check_outage(watch, lost=lost, back=back, silence=silence)
                    # The one warning says what is wrong: bytes, but not one frame in them.
                    (warning,) = [r for r in watch.records(since=lost) if "WARNING" in r]
                    assert "not one frame" in warning
                    stats = setup.coordinator.source.stats
                    assert stats.frames_rejected == 0
                    assert stats.reconnects == 0
                    assert_never_lower(watch.energy_states())
        finally:
            await feeder.stop()


CHSMR_METER: Final = "CH1021234567890"
CHSMR_TOPIC: Final = f"dt/elsewhere/{CHSMR_METER}/ds"
CHSMR_PREFIX: Final = f"sensor.ch_smr_{CHSMR_METER.lower()}_"
REPUBLISH_GROUP: Final = "faults"


def chsmr_message(energy: float) -> bytes:
    """What another CH-SMR reader publishes about its meter now."""
    meter = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "96.1.1": CHSMR_METER,
        "1.8.0": round(energy, 3),
        "1.7.0": 0.5,
    }
    return json.dumps({"meter": meter}).encode()


@pytest.mark.usefixtures("socket_enabled", "mock_hass_config")
async def test_mqtt_broker_restarted(hass: HomeAssistant, tmp_path: Path) -> None:
    """A real Mosquitto restarted while a meter entry republishes CH-SMR and a CH-SMR
    source entry reads another reader's meter: both resume once Home Assistant's MQTT
    client is connected again (its 10 s retry shortened to 0.5 s: Home Assistant's, not
    ours), and the source entry's sensors come back with the first message."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (Debian package mosquitto)")
    async with nothing_left_behind():
        silence = 1.5
        broker = Mosquitto(binary, tmp_path)
        await broker.start()
        tap = MqttPeer(broker.port, "fault-tap", subscribe=f"dt/{REPUBLISH_GROUP}/#")
        reader = MqttPeer(broker.port, "fault-reader")
        line = PtyLine()
        feeder = Feeder(simulated_meter(), line)
        energy = 100.0

        async def publish_readings() -> None:
            nonlocal energy
            while True:
                energy += 0.001
                reader.publish(CHSMR_TOPIC, chsmr_message(energy))
                await asyncio.sleep(FRAME_INTERVAL)

        mqtt_entry = MockConfigEntry(
            domain="mqtt",
            data={"broker": "127.0.0.1", "port": broker.port},
            version=1,
            minor_version=2,
        )
        source_entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"CH-SMR {CHSMR_METER}",
            unique_id=CHSMR_METER,
            data={CONF_STANDARD: "ch-smr", CONF_TOPIC: CHSMR_TOPIC},
            options={CONF_UPDATE_INTERVAL: 0},
        )
        publishing: asyncio.Task[None] | None = None
        try:
            with (
                limits(silence=silence, watchdog=60.0),
                patch("homeassistant.components.mqtt.client.RECONNECT_INTERVAL_SECONDS", 0.5),
            ):
                mqtt_entry.add_to_hass(hass)
                assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
                assert await mqtt.async_wait_for_mqtt_client(hass)
                tap.start()
                reader.start()
                await asyncio.wait_for(tap.connected.wait(), 5)
                await asyncio.wait_for(reader.connected.wait(), 5)
                publishing = asyncio.get_running_loop().create_task(publish_readings())
                feeder.start()
                meter = dsmr_entry(
                    line.path, **{CONF_REPUBLISH: True, CONF_REPUBLISH_GROUP: REPUBLISH_GROUP}
                )
                async with (
                    meter_entry(hass, meter, logs=False) as republishing,
                    meter_entry(hass, source_entry, prefix=CHSMR_PREFIX) as source,
                ):
                    watch = source.watch
                    await watch.reading_after(time.monotonic())
                    await tap.message_after(time.monotonic())
                    await asyncio.sleep(0.3)

                    lost = time.monotonic()
                    await broker.stop()
                    await asyncio.sleep(2.0)
                    back = await broker.start()
                    record_resume("mqtt source entry", await watch.reading_after(back))
                    record_resume("mqtt republisher", await tap.message_after(back))
                    await asyncio.sleep(0.3)

                    # The source entry: its sensors, and its own lines.
                    check_outage(
                        watch, lost=lost, back=back, silence=silence, about=source_entry.title
                    )
                    # The republishing entry: one warning for the failed publishes, one info line
                    # when publishing works again; its sensors never noticed.
                    assert [r.split(":")[0] for r in watch.records(since=lost, about=TITLE)] == [
                        f"WARNING {INTEGRATION_LOGGER}",
                        f"INFO {INTEGRATION_LOGGER}",
                    ]
                    assert not republishing.watch.unavailable_times()
                    assert republishing.entry.runtime_data.republisher.stats.published > 0
                    assert_never_lower(watch.energy_states())
                    assert_never_lower(republishing.watch.energy_states())
                assert await hass.config_entries.async_unload(mqtt_entry.entry_id)
                await hass.async_block_till_done()
        finally:
            if publishing is not None:
                publishing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publishing
            await feeder.stop()
            await tap.stop()
            await reader.stop()
            await broker.stop()


async def test_restored_energy_is_the_floor_while_the_meter_streams(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """Home Assistant starts while the meter is sending (the in-process half of the restart
    test in tests/e2e): the energy sensors known from before restore their last values, and
    a lower register value arriving while they are set up is never shown."""
    # What the meter will send first (a copy of it, decoded): the restored values are 1 kWh
    # higher, as after a restart with a meter whose registers start lower.
    (first,) = (
        get_spec("dsmr").create_decoder(DecoderOptions()).feed(simulated_meter().next_frame())
    )
    assert isinstance(first, Reading)
    restored = {
        "energy_import": first.values["1.8.0"] + 1.0,
        "energy_export": first.values["2.8.0"] + 1.0,
    }
    async with nothing_left_behind():
        line = PtyLine()
        feeder = Feeder(simulated_meter(), line)
        entry = dsmr_entry(line.path)
        entry.add_to_hass(hass)
        for key in restored:
            entity_registry.async_get_or_create(
                "sensor",
                DOMAIN,
                f"{METER_ID}_{key}",
                config_entry=entry,
                suggested_object_id=f"fault_meter_{key}",
            )
        mock_restore_cache_with_extra_data(
            hass,
            [
                (
                    State(f"{PREFIX}{key}", str(value)),
                    {"native_value": value, "native_unit_of_measurement": "kWh"},
                )
                for key, value in restored.items()
            ],
        )
        feeder.start()
        await asyncio.sleep(0.5)  # the meter is sending before Home Assistant reads it
        try:
            async with meter_entry(hass, entry) as setup:
                await setup.watch.reading_after(time.monotonic())
                await asyncio.sleep(1.0)
                floor = {f"{PREFIX}{key}": value for key, value in restored.items()}
                assert_never_lower(setup.watch.energy_states(), floor=floor)
                # The meter stays below the restored values: they are all the sensors show.
                assert setup.watch.energy_states() == {e: [v] for e, v in floor.items()}
        finally:
            await feeder.stop()
