"""End to end: CH-SMR out of one real Home Assistant and into another, through a real broker.

* A Mosquitto broker on a free 127.0.0.1 port.
* Home Assistant "reader": the MQTT integration on that broker and ch_smart_meter on the
  in-process simulated DSMR meter (one telegram a second) with the republisher on
  (group ``e2e/house``, every reading).
* Home Assistant "consumer" (another system on the same broker; a ch-smr entry in the
  reader's own installation would be refused as a loop): the MQTT integration only; the
  test adds the CH-SMR meter through the config flow over the REST API, as a person would
  (listen, pick the meter), and switches its sensors to "every reading" in the options.
* A paho subscriber checks every message on the broker against chapter 6, and the consumer's
  sensors must show exactly the reader's values.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import urllib.error
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from custom_components.ch_smart_meter.const import (
    CONF_REPUBLISH,
    CONF_REPUBLISH_GROUP,
    CONF_STANDARD,
    CONF_UPDATE_INTERVAL,
    CONF_URL,
    DOMAIN,
)
from custom_components.ch_smart_meter.reader.model import Reading
from custom_components.ch_smart_meter.reader.obis import BY_CODE, CATALOGUE, Quantity
from custom_components.ch_smart_meter.reader.simulate.stream import open_simulated_stream
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from .harness import (
    Broker,
    BrokerTap,
    ConfigEntrySeed,
    HomeAssistant,
    errors_in_log,
    http_status,
    mosquitto_binary,
    wait_for,
)

MOSQUITTO = mosquitto_binary()
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto is not installed (Debian package mosquitto)"
)

SIMULATOR_URL = "simulator://dsmr?interval=1"
GROUP = "e2e/house"
TABLE_1 = ("1.8.0", "2.8.0", "1.7.0", "2.7.0", "32.7.0", "52.7.0", "72.7.0", "31.7.0", "51.7.0")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?[+-]\d\d:\d\d$")
PARTIAL_OBIS = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")
# Plausible ranges in the units of Tables 1 and 2 (kW, not W; V; A; kWh).
RANGES = {
    Quantity.ACTIVE_POWER: (0.0, 50.0),
    Quantity.REACTIVE_POWER: (0.0, 50.0),
    Quantity.VOLTAGE: (180.0, 260.0),
    Quantity.CURRENT: (0.0, 100.0),
    Quantity.ACTIVE_ENERGY: (0.0, 1e7),
    Quantity.REACTIVE_ENERGY: (0.0, 1e7),
}
KEY_TO_CODE = {entry.key: entry.code for entry in CATALOGUE}


def simulated_meter_id() -> str:
    """The id in the simulated meter's telegrams (the reader's entry has it as unique id)."""
    frame = open_simulated_stream(SIMULATOR_URL).simulator.next_frame()
    results = get_spec("dsmr").create_decoder(DecoderOptions()).feed(frame)
    return next(result.meter_id for result in results if isinstance(result, Reading))


def mqtt_seed(port: int) -> ConfigEntrySeed:
    """The MQTT integration on the test broker (version 1.2: both HA versions migrate it)."""
    return ConfigEntrySeed(
        domain="mqtt",
        title="MQTT",
        data={"broker": "127.0.0.1", "port": port},
        version=1,
        minor_version=2,
    )


def check_chapter_6(
    topic: str, payload: bytes, meter_id: str, expected_topic: str
) -> dict[str, Any]:
    """One message against chapter 6; returns its "meter" object."""
    assert topic == expected_topic
    document = json.loads(payload)
    assert list(document) == ["meter"], "metadata belongs outside 'meter'; we send none"
    meter = document["meter"]
    assert TS.match(meter["ts"]), meter["ts"]
    assert datetime.fromisoformat(meter["ts"]).utcoffset() is not None
    assert meter["96.1.1"] == meter_id
    for code in TABLE_1:
        assert code in meter, f"Table 1 value {code} missing"
    for code, value in meter.items():
        if code in ("ts", "96.1.1"):
            continue
        assert PARTIAL_OBIS.match(code), code
        assert isinstance(value, int | float) and not isinstance(value, bool), (code, value)
        entry = BY_CODE.get(code)
        if entry is not None and entry.quantity in RANGES:
            low, high = RANGES[entry.quantity]
            assert low <= value <= high, (code, value)
    return meter


def sensor_values(states: dict[str, dict[str, Any]], prefix: str) -> dict[str, float]:
    """OBIS code -> numeric state of the sensors whose entity id starts with ``prefix``."""
    values: dict[str, float] = {}
    for entity_id, state in states.items():
        key = entity_id.removeprefix(prefix)
        if entity_id.startswith(prefix) and key in KEY_TO_CODE:
            values[KEY_TO_CODE[key]] = float(state["state"])
    return values


def flow_step(instance: HomeAssistant, path: str, body: dict[str, Any] | None = None) -> Any:
    """One step of a flow over the REST API (GET polls a progress step)."""
    if body is None:
        return instance.get(path)
    return instance.post(path, body)


def add_chsmr_meter(consumer: HomeAssistant, topic: str) -> str:
    """The consumer's user adds the meter: standard, filter, listen, pick; then every
    reading written (options). Returns the entry id."""
    base = "/api/config/config_entries/flow"
    flow = consumer.post(base, {"handler": DOMAIN, "show_advanced_options": False})
    assert (flow["type"], flow["step_id"]) == ("menu", "user"), flow
    assert "chsmr" in flow["menu_options"]  # offered: MQTT is set up
    flow = flow_step(consumer, f"{base}/{flow['flow_id']}", {"next_step_id": "chsmr"})
    assert flow["step_id"] == "chsmr", flow
    # The group has two levels: dt/+/+/ds would not match it, dt/# does.
    flow = flow_step(consumer, f"{base}/{flow['flow_id']}", {"topic_filter": "dt/#"})
    assert (flow["type"], flow["step_id"]) == ("progress", "chsmr_listen"), flow
    flow_id = flow["flow_id"]
    flow = wait_for(
        lambda: (step := flow_step(consumer, f"{base}/{flow_id}"))["type"] != "progress" and step,
        20,
        "the CH-SMR flow to finish listening",
        step=0.5,
    )
    assert flow["step_id"] == "chsmr_pick", flow
    meters = flow["data_schema"][0]["selector"]["select"]["options"]
    assert [meter["value"] for meter in meters] == [topic]
    created = flow_step(consumer, f"{base}/{flow_id}", {"meter": topic})
    assert created["type"] == "create_entry", created
    entry_id: str = created["result"]["entry_id"]

    options = "/api/config/config_entries/options/flow"
    flow = consumer.post(options, {"handler": entry_id})
    assert flow["step_id"] == "init", flow
    flow = flow_step(
        consumer, f"{options}/{flow['flow_id']}", {CONF_UPDATE_INTERVAL: 0, "source_units": "kilo"}
    )
    assert flow["step_id"] == "republish", flow
    flow = flow_step(consumer, f"{options}/{flow['flow_id']}", {})
    assert flow["type"] == "create_entry", flow
    return entry_id


def test_chsmr_from_one_home_assistant_to_another(tmp_path: Path) -> None:
    """Republished, checked on the wire, read back by another HA: the same values."""
    started = time.monotonic()
    assert MOSQUITTO is not None
    meter_id = simulated_meter_id()
    topic = f"dt/{GROUP}/{meter_id}/ds"
    broker = Broker(MOSQUITTO, tmp_path)
    tap = BrokerTap(broker.port)
    reader = HomeAssistant(
        "reader",
        tmp_path,
        [
            mqtt_seed(broker.port),
            ConfigEntrySeed(
                domain=DOMAIN,
                title="Simulated meter",
                data={CONF_STANDARD: "dsmr", CONF_URL: SIMULATOR_URL},
                options={
                    CONF_UPDATE_INTERVAL: 0,
                    CONF_REPUBLISH: True,
                    CONF_REPUBLISH_GROUP: GROUP,
                },
                unique_id=meter_id,
            ),
        ],
    )
    consumer = HomeAssistant("consumer", tmp_path, [mqtt_seed(broker.port)])
    timings: dict[str, float] = {}
    try:
        try:
            reader.wait_ready()
            consumer.wait_ready()
            timings["both up"] = time.monotonic() - started
            wait_for(lambda: len(tap.snapshot()) >= 2, 30, "CH-SMR messages on the broker")
            timings["first messages"] = time.monotonic() - started

            entry_id = add_chsmr_meter(consumer, topic)
            timings["consumer entry"] = time.monotonic() - started
            entries = consumer.get(f"/api/config/config_entries/entry?domain={DOMAIN}")
            assert [(e["entry_id"], e["state"]) for e in entries] == [(entry_id, "loaded")]

            reader_prefix = "sensor.simulated_meter_"
            consumer_prefix = f"sensor.ch_smr_{meter_id.lower()}_"

            def latest(instance: HomeAssistant) -> dict[str, Any] | None:
                """The meter's latest CH-SMR payload from a Home Assistant's HTTP view."""
                try:
                    payload: dict[str, Any] = instance.get(f"/api/ch_smart_meter/{meter_id}")
                except urllib.error.HTTPError:
                    return None  # 503 before its first reading
                return payload

            def same_moment() -> tuple[dict[str, Any], ...] | None:
                # Both show the same reading when their latest payloads carry the same ts,
                # and still do after the states were read (a reading arrives every second).
                mine, yours = latest(reader), latest(consumer)
                if mine is None or yours is None or mine["meter"]["ts"] != yours["meter"]["ts"]:
                    return None
                ours, theirs = reader.states(), consumer.states()
                if latest(reader) != mine or latest(consumer) != yours:
                    return None
                return ours, theirs, mine, yours

            ours, theirs, mine, yours = wait_for(
                same_moment, 20, "both Home Assistants at the same reading"
            )
            timings["values compared"] = time.monotonic() - started
            # The consumer holds exactly the reading the reader published, every value of it
            # (Table 1 complete, per-phase values included even where their sensors are off).
            assert yours == mine
            assert set(TABLE_1) <= set(mine["meter"])
            # The sensors enabled by default show the same values on both sides...
            reader_values = sensor_values(ours, reader_prefix)
            consumer_values = sensor_values(theirs, consumer_prefix)
            assert {"1.8.0", "2.8.0"} <= set(reader_values)
            assert consumer_values == reader_values
            # Grid power (import minus export, the power sensor enabled by default) too.
            grid = ours[f"{reader_prefix}grid_power"]["state"]
            assert theirs[f"{consumer_prefix}grid_power"]["state"] == grid
            # ... and they are the values of the message with that timestamp on the broker.
            message = next(
                json.loads(m.payload)["meter"]
                for m in reversed(tap.snapshot())
                if json.loads(m.payload)["meter"]["ts"] == mine["meter"]["ts"]
            )
            assert message == mine["meter"]
            assert {code: message[code] for code in consumer_values} == consumer_values
            assert float(grid) == round(message["1.7.0"] - message["2.7.0"], 6)

            # The HTTP view of the reader returns the same format, authenticated.
            served = reader.get(f"/api/ch_smart_meter/{meter_id}")
            check_chapter_6(topic, json.dumps(served).encode(), meter_id, topic)
            listing = reader.get("/api/ch_smart_meter")["meters"]
            assert [(m["meter_id"], m["topic"]) for m in listing] == [(meter_id, topic)]
            assert http_status(lambda: reader.get("/api/ch_smart_meter/nope")) == 404
            reader.api.token = None
            assert http_status(lambda: reader.get(f"/api/ch_smart_meter/{meter_id}")) == 401
        except Exception as err:
            raise AssertionError(
                f"{err}\n--- reader log ---\n{reader.log_tail()}\n"
                f"--- consumer log ---\n{consumer.log_tail()}"
            ) from err
    finally:
        tap.stop()
        reader.stop_async()
        consumer.stop_async()
        reader.wait_stopped()
        consumer.wait_stopped()
        broker.stop()

    # Every message on the broker follows chapter 6, and none is missing: the simulated
    # meter sends one reading a second and every one was published.
    messages = tap.snapshot()
    assert len(messages) >= 5
    stamps = []
    for message in messages:
        assert message.retain is False
        stamps.append(
            datetime.fromisoformat(
                check_chapter_6(message.topic, message.payload, meter_id, topic)["ts"]
            )
        )
    gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(stamps)}
    assert gaps == {1.0}, f"readings not published one by one: gaps {sorted(gaps)}"
    assert not errors_in_log(reader), errors_in_log(reader)
    assert not errors_in_log(consumer), errors_in_log(consumer)
    total = time.monotonic() - started
    print(f"e2e timings (s): {timings}, total {total:.1f}, messages {len(messages)}")
