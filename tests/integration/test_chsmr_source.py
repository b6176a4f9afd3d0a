"""CH-SMR as a source: another reader's MQTT messages become the same sensors.

MQTT is the test harness's MQTT integration with a mocked paho client (``mqtt_mock``):
``async_fire_mqtt_message`` delivers a message exactly as the broker would, through the
integration's real subscription matching.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from unittest.mock import MagicMock, patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.ch_smart_meter import chsmr_flow
from custom_components.ch_smart_meter.const import (
    CONF_REPUBLISH,
    CONF_REPUBLISH_GROUP,
    CONF_REPUBLISH_ID_IMS,
    CONF_SOURCE_UNITS,
    CONF_STANDARD,
    CONF_TOPIC,
    CONF_UPDATE_INTERVAL,
    DOMAIN,
)
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.spec import Carrier, DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec, meter_specs
from custom_components.ch_smart_meter.reader.standards.chsmr import ChSmrLineDecoder

from .conftest import Clock, entry_data, wait_until

# mqtt_mock leaves MQTT's misc timer behind on 2025.4.4 (ha-conventions.md, phacc pitfalls).
pytestmark = [
    pytest.mark.parametrize("expected_lingering_timers", [True]),
    # The tests read the import power sensor (disabled by default: grid power shows it).
    pytest.mark.usefixtures("entity_registry_enabled_by_default"),
]

METER = "CH1021234567890"
TOPIC = f"dt/zev-sonnenhof/{METER}/ds"
PREFIX = f"sensor.ch_smr_{METER.lower()}"


def message(ts: str = "2026-06-27T14:05:10+02:00", **values: Any) -> str:
    """A CH-SMR message of the test meter ("1_7_0" stands for "1.7.0")."""
    meter: dict[str, Any] = {"ts": ts, "96.1.1": METER}
    meter.update({code.replace("_", "."): value for code, value in values.items()})
    return json.dumps({"meter": meter})


def source_entry(topic: str = TOPIC, **options: Any) -> MockConfigEntry:
    """A ch-smr entry as the flow creates it (every reading written)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"CH-SMR {METER}",
        unique_id=METER,
        data={CONF_STANDARD: "ch-smr", CONF_TOPIC: topic},
        options={CONF_UPDATE_INTERVAL: 0, **options},
        entry_id="01JCHSMRSOURCETESTENTRY000",
    )


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set the entry up (MQTT is there)."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def deliver(hass: HomeAssistant, payload: str | bytes, topic: str = TOPIC) -> None:
    """One message from the broker."""
    async_fire_mqtt_message(hass, topic, payload)
    await hass.async_block_till_done()


def state(hass: HomeAssistant, key: str) -> str:
    """A sensor's state."""
    current = hass.states.get(f"{PREFIX}_{key}")
    assert current is not None, key
    return current.state


# ------------------------------------------------------------------ runtime


async def test_messages_become_the_same_sensors(hass: HomeAssistant, mqtt_mock: MagicMock) -> None:
    """Tolerant decoding (offset spellings, integers, extra keys, unknown codes), exact
    values, the same entities as a directly read meter."""
    await set_up(hass, source_entry())
    await deliver(
        hass,
        json.dumps(
            {
                "meter": {
                    "ts": "2026-06-27T12:05:10Z",
                    "96.1.1": METER,
                    "1.8.0": 12345.67,
                    "2.8.0": 0,
                    "1.7.0": 1.234,
                    "32.7.0": 231,
                    "31.7.0": 2.64,
                    "99.99.9": 7,
                    "firmware": "x",
                },
                "device": {"vendor": "another reader"},
            }
        ),
    )
    assert state(hass, "energy_import") == "12345.67"
    assert state(hass, "energy_export") == "0.0"
    assert state(hass, "power_import") == "1.234"
    assert state(hass, "voltage_l1") == "231.0"
    assert state(hass, "current_l1") == "2.64"
    assert state(hass, "last_reading") == "2026-06-27T12:05:10+00:00"
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.runtime_data.coordinator.reading.values["99.99.9"] == 7.0  # unknown codes are kept
    registry = er.async_get(hass)
    energy = registry.async_get(f"{PREFIX}_energy_import")
    assert energy is not None and energy.unique_id == f"{METER}_energy_import"

    await deliver(hass, message(ts="2026-06-27T14:05:20+02:00", **{"1_8_0": 12345.68}))
    assert state(hass, "energy_import") == "12345.68"
    assert state(hass, "last_reading") == "2026-06-27T12:05:20+00:00"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_only_the_meters_topic_is_read(hass: HomeAssistant, mqtt_mock: MagicMock) -> None:
    """Another meter of the same reader does not leak into this entry."""
    await set_up(hass, source_entry())
    await deliver(hass, message(**{"1_7_0": 9.0}), topic="dt/zev-sonnenhof/OTHER/ds")
    assert state(hass, "last_reading") == STATE_UNKNOWN
    assert hass.states.get(f"{PREFIX}_power_import") is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_base_units_option(hass: HomeAssistant, mqtt_mock: MagicMock) -> None:
    """A reader that publishes W and Wh: scaled to kW and kWh, exactly."""
    await set_up(hass, source_entry(**{CONF_SOURCE_UNITS: "base"}))
    await deliver(hass, message(**{"1_7_0": 1234, "1_8_0": 12345670, "32_7_0": 230}))
    assert state(hass, "power_import") == "1.234"
    assert state(hass, "energy_import") == "12345.67"
    assert state(hass, "voltage_l1") == "230.0"


async def test_broken_messages_are_rejected_counted_and_logged_once(
    hass: HomeAssistant, mqtt_mock: MagicMock, caplog: pytest.LogCaptureFixture
) -> None:
    """Not JSON, no ts, a ts without offset, a non-numeric value: each rejected on its own."""
    await set_up(hass, source_entry())
    await deliver(hass, message(**{"1_7_0": 1.5}))
    with caplog.at_level(logging.DEBUG, logger="custom_components.ch_smart_meter"):
        for payload in (
            b"\xff not json",
            json.dumps({"meter": {"96.1.1": METER, "1.7.0": 1.0}}),
            json.dumps({"meter": {"ts": "2026-06-27T14:05:10", "1.7.0": 1.0}}),
            message(**{"1_7_0": "1.0 kW"}),
        ):
            await deliver(hass, payload)
    assert state(hass, "power_import") == "1.5"
    assert state(hass, "frames_rejected") == "4"
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.coordinator
    assert coordinator.source.stats.rejected_by_reason == {"chsmr_invalid": 4}
    assert coordinator.source.stats.frames_rejected == 4
    assert coordinator.source.stats.frames_ok == 1
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("custom_")
    ]
    assert len(warnings) == 1 and "not JSON" in warnings[0].message


async def test_silence_makes_the_sensors_unavailable_after_30_s(
    hass: HomeAssistant, mqtt_mock: MagicMock, clock: Clock
) -> None:
    """Interval 10 s, three intervals of silence: unavailable; the next message: back."""
    await set_up(hass, source_entry())
    await deliver(hass, message(**{"1_7_0": 1.5}))
    clock.advance(29)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=29))
    await hass.async_block_till_done()
    assert state(hass, "power_import") == "1.5"
    clock.advance(2)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    assert state(hass, "power_import") == STATE_UNAVAILABLE
    await deliver(hass, message(**{"1_7_0": 2.5}))
    assert state(hass, "power_import") == "2.5"


async def test_a_topic_republished_here_is_ignored_even_after_a_later_change(
    hass: HomeAssistant, mqtt_mock: MagicMock, caplog: pytest.LogCaptureFixture
) -> None:
    """No loop: once any entry of this installation republishes on the source's topic,
    its messages are ignored (counted, one warning)."""
    await set_up(hass, source_entry())
    await deliver(hass, message(**{"1_7_0": 1.5}))
    other = MockConfigEntry(
        domain=DOMAIN, title="Direct meter", unique_id="E0025", data=entry_data("/dev/null")
    )
    other.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        other,
        options={
            CONF_REPUBLISH: True,
            CONF_REPUBLISH_GROUP: "zev-sonnenhof",
            CONF_REPUBLISH_ID_IMS: METER,
        },
    )
    await hass.async_block_till_done()
    await deliver(hass, message(**{"1_7_0": 9.9}))
    assert state(hass, "power_import") == "1.5"
    source = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.source
    assert source.stats.ignored == 1
    assert any("would make a loop" in r.message for r in caplog.records)


async def test_without_mqtt_set_up_is_retried(hass: HomeAssistant) -> None:
    """No MQTT integration: the entry waits (set-up retry) with a translated reason."""
    entry = source_entry()
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None and "MQTT" in entry.reason


async def test_unload_unsubscribes(hass: HomeAssistant, mqtt_mock: MagicMock) -> None:
    """After unload a message reaches nobody; set-up again reads again."""
    entry = source_entry()
    await set_up(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await deliver(hass, message(**{"1_7_0": 1.5}))  # no subscriber: nothing happens
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await deliver(hass, message(**{"1_7_0": 2.5}))
    assert state(hass, "power_import") == "2.5"


def test_spec_and_line_decoder() -> None:
    """The ch-smr spec (MQTT, 10 s interval, no serial line) and its line decoder."""
    spec = get_spec("ch-smr")
    assert spec.carrier is Carrier.MQTT and spec not in meter_specs()
    assert spec.interval == 10.0 and spec.serial is None
    assert isinstance(spec.create_decoder(DecoderOptions()), ChSmrLineDecoder)
    decoder = ChSmrLineDecoder(DecoderOptions())
    results = decoder.feed(message(**{"1_7_0": 1.0}).encode() + b"\nnot json\n" + b'{"meter"')
    assert [type(result) for result in results] == [Reading, RejectedFrame]
    assert isinstance(decoder.flush()[0], RejectedFrame)
    assert decoder.flush() == []


# ------------------------------------------------------------------ config flow


@pytest.fixture
def quick_listen() -> Any:
    """The flow listens 0.2 s instead of 5 s."""
    with patch.object(chsmr_flow, "LISTEN_SECONDS", 0.2):
        yield


async def _listen(hass: HomeAssistant, flow_id: str, *messages: tuple[str, str]) -> Any:
    """Submit the topic filter, deliver ``messages`` while the flow listens, return the
    result after listening."""
    mqtt_client = hass.data["mqtt"].client

    def subscriptions() -> int:
        return sum(call.args[0] == "dt/#" for call in mqtt_client.async_subscribe.call_args_list)

    before = subscriptions()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {chsmr_flow.CONF_TOPIC_FILTER: "dt/#"}
    )
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["progress_action"] == "chsmr_listen"
    await wait_until(lambda: subscriptions() > before)
    for topic, payload in messages:
        async_fire_mqtt_message(hass, topic, payload)
    flow = hass.config_entries.flow._progress[flow_id]
    await wait_until(lambda: flow._chsmr_listen_task is None or flow._chsmr_listen_task.done())
    await hass.async_block_till_done(wait_background_tasks=False)
    return await hass.config_entries.flow.async_configure(flow_id)


async def _start(hass: HomeAssistant) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "chsmr"}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "chsmr")
    assert result["data_schema"]({})[chsmr_flow.CONF_TOPIC_FILTER] == "dt/+/+/ds"
    return result


async def test_the_first_step_offers_ch_smr_only_with_mqtt(hass: HomeAssistant) -> None:
    """Without MQTT the choice is not there."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert "chsmr" not in result["menu_options"]


async def test_flow_listens_lists_and_creates_the_entry(
    hass: HomeAssistant, mqtt_mock: MagicMock, quick_listen: None
) -> None:
    """Meters seen (group, id_ims, latest values); ours and broken ones are not offered."""
    republishing = MockConfigEntry(
        domain=DOMAIN,
        title="Direct meter",
        unique_id="E0025",
        data=entry_data("/dev/null"),
        options={CONF_REPUBLISH: True, CONF_REPUBLISH_GROUP: "home"},
    )
    republishing.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["menu_options"][-1] == "chsmr"
    result = await _start(hass)
    result = await _listen(
        hass,
        result["flow_id"],
        (TOPIC, message(**{"1_7_0": 1.234, "1_8_0": 12345.67})),
        (TOPIC, message(**{"1_7_0": 1.5, "1_8_0": 12345.68})),
        ("dt/a/b/CH2/ds", json.dumps({"meter": {"ts": "2026-06-27T12:00:00Z", "2.7.0": 3}})),
        ("dt/home/E0025/ds", message(**{"1_7_0": 0.5})),
        ("dt/x/BROKEN/ds", "not json"),
        ("dt/x/other/cmd", "{}"),
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "chsmr_pick")
    assert result["description_placeholders"]["count"] == "2"
    assert result["description_placeholders"]["republished"] == "dt/home/E0025/ds (Direct meter)"
    meters = result["data_schema"].schema[chsmr_flow.CONF_METER].config["options"]
    assert meters == [
        {"value": "dt/a/b/CH2/ds", "label": "CH2 · a/b · 2.7.0 = 3"},
        {"value": TOPIC, "label": f"{METER} · zev-sonnenhof · 1.7.0 = 1.5, 1.8.0 = 12345.7"},
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {chsmr_flow.CONF_METER: TOPIC}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"CH-SMR {METER}"
    assert result["data"] == {CONF_STANDARD: "ch-smr", CONF_TOPIC: TOPIC}
    assert result["options"] == {CONF_UPDATE_INTERVAL: 5, CONF_SOURCE_UNITS: "kilo"}
    entry = result["result"]
    assert entry.unique_id == METER
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    # The same meter again: aborted.
    result = await _start(hass)
    result = await _listen(hass, result["flow_id"], (TOPIC, message(**{"1_7_0": 1.0})))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {chsmr_flow.CONF_METER: TOPIC}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ((), "no_meters"),
        ((("dt/home/E0025/ds", message(**{"1_7_0": 0.5})),), "only_republished"),
        (((TOPIC, '{"meter": {"1.7.0": 1}}'),), "invalid_messages"),
    ],
)
async def test_flow_says_why_nothing_is_offered(
    hass: HomeAssistant,
    mqtt_mock: MagicMock,
    quick_listen: None,
    messages: tuple[tuple[str, str], ...],
    error: str,
) -> None:
    """Back on the topic form with the reason."""
    MockConfigEntry(
        domain=DOMAIN,
        title="Direct meter",
        unique_id="E0025",
        data=entry_data("/dev/null"),
        options={CONF_REPUBLISH: True, CONF_REPUBLISH_GROUP: "home"},
    ).add_to_hass(hass)
    result = await _start(hass)
    result = await _listen(hass, result["flow_id"], *messages)
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "chsmr")
    assert result["errors"] == {"base": error}
    assert result["description_placeholders"]["filter"] == "dt/#"
    assert result["description_placeholders"]["republished"] == "dt/home/E0025/ds (Direct meter)"


async def test_flow_rejects_an_invalid_filter(hass: HomeAssistant, mqtt_mock: MagicMock) -> None:
    """# only at the end."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {chsmr_flow.CONF_TOPIC_FILTER: "dt/#/ds"}
    )
    assert result["errors"] == {chsmr_flow.CONF_TOPIC_FILTER: "invalid_topic_filter"}


async def test_flow_aborts_when_mqtt_goes_away(hass: HomeAssistant, mqtt_mock: MagicMock) -> None:
    """CH-SMR chosen, MQTT removed meanwhile: a translated abort."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    mqtt_entry = hass.config_entries.async_entries("mqtt")[0]
    assert await hass.config_entries.async_remove(mqtt_entry.entry_id)
    await hass.async_block_till_done()
    mqtt_mock.connected = False  # what the real client is after its entry went away
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "chsmr"}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "mqtt_not_set_up")


async def test_reconfigure_follows_the_meter_to_a_new_topic(
    hass: HomeAssistant, mqtt_mock: MagicMock, quick_listen: None
) -> None:
    """The reader moved the meter to another group: same meter, new topic; another meter is
    refused."""
    entry = source_entry()
    await set_up(hass, entry)
    moved = f"dt/building-b/{METER}/ds"
    result = await entry.start_reconfigure_flow(hass)
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "chsmr")
    result = await _listen(
        hass,
        result["flow_id"],
        (moved, message(**{"1_7_0": 1.0})),
        ("dt/building-b/CH2/ds", json.dumps({"meter": {"ts": "2026-06-27T12:00:00Z"}})),
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {chsmr_flow.CONF_METER: moved}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    await hass.async_block_till_done()
    assert entry.data[CONF_TOPIC] == moved
    assert entry.state is ConfigEntryState.LOADED

    result = await entry.start_reconfigure_flow(hass)
    result = await _listen(
        hass, result["flow_id"], ("dt/b/CH2/ds", json.dumps({"meter": {"ts": "2026-06-27T12:00Z"}}))
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {chsmr_flow.CONF_METER: "dt/b/CH2/ds"}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "wrong_meter")


# ------------------------------------------------------------------ MQTT discovery


def _discovery(topic: str = TOPIC, payload: str = "") -> MqttServiceInfo:
    return MqttServiceInfo(
        topic=topic,
        payload=payload or message(**{"1_7_0": 1.234, "1_8_0": 12345.67}),
        qos=0,
        retain=False,
        subscribed_topic="dt/+/+/ds",
        timestamp=0.0,
    )


async def test_discovery_confirms_and_creates_the_entry(
    hass: HomeAssistant, mqtt_mock: MagicMock
) -> None:
    """A new meter on the broker: confirm, then the same entry as the user flow."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "mqtt"}, data=_discovery()
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "mqtt_confirm")
    assert result["description_placeholders"] == {
        "id_ims": METER,
        "meter_id": METER,
        "group": "zev-sonnenhof",
        "topic": TOPIC,
        "values": "1.7.0 = 1.234, 1.8.0 = 12345.7",
    }
    # Further messages of the same meter do not start more flows.
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "mqtt"}, data=_discovery()
    )
    assert (again["type"], again["reason"]) == (FlowResultType.ABORT, "already_in_progress")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_STANDARD: "ch-smr", CONF_TOPIC: TOPIC}
    await hass.async_block_till_done()
    # Configured now: discovery of it ends at once.
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "mqtt"}, data=_discovery()
    )
    assert (again["type"], again["reason"]) == (FlowResultType.ABORT, "already_configured")


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("dt/home/E0025/ds", "", "republished_here"),
        (TOPIC, "not json", "invalid_discovery_info"),
        ("dt/ds", "", "invalid_discovery_info"),
    ],
)
async def test_discovery_aborts(
    hass: HomeAssistant, mqtt_mock: MagicMock, topic: str, payload: str, reason: str
) -> None:
    """Our own republished topic (a loop), broken messages, topics that are not CH-SMR."""
    MockConfigEntry(
        domain=DOMAIN,
        title="Direct meter",
        unique_id="E0025",
        data=entry_data("/dev/null"),
        options={CONF_REPUBLISH: True, CONF_REPUBLISH_GROUP: "home"},
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "mqtt"}, data=_discovery(topic, payload)
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, reason)


async def test_the_manifest_matcher_starts_discovery(
    hass: HomeAssistant, mqtt_mock: MagicMock
) -> None:
    """manifest.json "mqtt": ["dt/+/+/ds"]: a message on the broker starts the flow."""
    async_fire_mqtt_message(hass, TOPIC, message(**{"1_7_0": 1.0}))
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["step_id"] for flow in flows] == ["mqtt_confirm"]
    # The discovered flow's title names what was found (USB adapters name theirs).
    assert flows[0]["context"]["title_placeholders"] == {"name": f"CH-SMR {METER}"}
