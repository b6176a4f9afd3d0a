"""The CH-SMR republisher: each reading as a chapter-6 message over Home Assistant's MQTT.

The meter is real DSMR telegrams over TCP (conftest's FakeMeter); MQTT is the test harness's
MQTT integration with a mocked paho client (``mqtt_mock``), so every publish goes through
``mqtt.async_publish`` exactly as in production and is recorded with its arguments.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from unittest.mock import MagicMock

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ch_smart_meter import republish
from custom_components.ch_smart_meter.const import (
    CONF_REPUBLISH,
    CONF_REPUBLISH_GROUP,
    CONF_REPUBLISH_ID_IMS,
    CONF_REPUBLISH_INTERVAL,
    CONF_REPUBLISH_QOS,
    CONF_REPUBLISH_RETAIN,
    CONF_UPDATE_INTERVAL,
    DOMAIN,
    MAX_REPUBLISH_INTERVAL,
)
from custom_components.ch_smart_meter.reader.chsmr import decode_payload
from custom_components.ch_smart_meter.republish import RepublishSettings, republished_topics

from .conftest import (
    METER_ID,
    VALUES,
    Clock,
    FakeMeter,
    entry_data,
    send_reading,
    telegram,
    wait_until,
)

# mqtt_mock leaves MQTT's misc timer behind on 2025.4.4 (ha-conventions.md, phacc pitfalls).
pytestmark = pytest.mark.parametrize("expected_lingering_timers", [True])

GROUP = "house/flat-3"
TOPIC = f"dt/{GROUP}/{METER_ID}/ds"
ENTRY_ID = "01JCHSMRREPUBLISHTESTENTRY"


def republishing_entry(url: str, **options: Any) -> MockConfigEntry:
    """A DSMR meter entry with its republisher on (sensors average over 5 s)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Iskraemeco {METER_ID}",
        unique_id=METER_ID,
        data=entry_data(url),
        options={
            CONF_UPDATE_INTERVAL: 5,
            CONF_REPUBLISH: True,
            CONF_REPUBLISH_GROUP: GROUP,
            **options,
        },
        entry_id=ENTRY_ID,
    )


async def set_up(hass: HomeAssistant, entry: MockConfigEntry, meter: FakeMeter) -> None:
    """Set the entry up and wait for the session and the republisher to be ready."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await meter.wait_connected()


def publishes(mqtt_mock: MagicMock) -> list[tuple[Any, ...]]:
    """(topic, payload, qos, retain) of every CH-SMR message published so far."""
    return [call.args for call in mqtt_mock.async_publish.call_args_list if call.args[0] == TOPIC]


def expected_meter(second: int = 0, **overrides: float) -> dict[str, Any]:
    """The "meter" object chapter 6 asks for, for conftest.telegram(second, **overrides)."""
    values = {**VALUES, **{code.replace("_", "."): v for code, v in overrides.items()}}
    return {
        "ts": f"2026-06-27T14:00:{second:02d}+02:00",
        "96.1.1": METER_ID,
        "1.8.0": round(values["1.8.1"] + values["1.8.2"], 3),
        "2.8.0": round(values["2.8.1"] + values["2.8.2"], 3),
        **values,
        **STATUS,
    }


# What the test telegram says about the meter (tariff, failures, sags and swells): the
# recommendation lets grid operators publish more than Tables 1 and 2, so they go along.
STATUS = {
    "96.14.0": 1,
    "96.7.21": 4,
    "96.7.9": 2,
    "32.32.0": 2,
    "52.32.0": 1,
    "72.32.0": 0,
    "32.36.0": 0,
    "52.36.0": 3,
    "72.36.0": 0,
}


async def test_every_reading_is_published_as_chapter_6(
    hass: HomeAssistant, mqtt_mock: MagicMock, fake_meter: FakeMeter
) -> None:
    """Every telegram gives one message: exact topic, payload, QoS 0, no retain; the sensors
    still average over their own 5 s interval."""
    await set_up(hass, republishing_entry(fake_meter.url), fake_meter)
    for second, power in enumerate((1.0, 2.0, 3.5)):
        await send_reading(hass, fake_meter, telegram(second=second, **{"1_7_0": power}))
    await hass.async_block_till_done()

    sent = publishes(mqtt_mock)
    assert len(sent) == 3
    for second, (power, (topic, payload, qos, retain)) in enumerate(
        zip((1.0, 2.0, 3.5), sent, strict=True)
    ):
        assert topic == TOPIC
        assert type(qos) is int and qos == 0
        assert retain is False
        assert json.loads(payload) == {"meter": expected_meter(second, **{"1_7_0": power})}
        # Compact JSON; ts and the meter id first, values in catalogue order, floats exact.
        assert payload.startswith(f'{{"meter":{{"ts":"2026-06-27T14:00:0{second}+02:00",')
        assert f'"96.1.1":"{METER_ID}","1.8.0":3580.245,' in payload
        assert decode_payload(payload, topic=topic).values["1.7.0"] == power
    # The power sensor published the first reading and averages the next ones (5 s).
    state = hass.states.get(f"sensor.iskraemeco_{METER_ID.lower()}_grid_power")
    assert state is not None and float(state.state) == 1.0


@pytest.mark.parametrize(("qos", "retain"), [(1, True), (0, True), (1, False)])
async def test_qos_and_retain_are_passed_as_int_and_bool(
    hass: HomeAssistant, mqtt_mock: MagicMock, fake_meter: FakeMeter, qos: int, retain: bool
) -> None:
    """QoS and retain reach mqtt.async_publish as an int and a bool (None is deprecated)."""
    entry = republishing_entry(
        fake_meter.url, **{CONF_REPUBLISH_QOS: qos, CONF_REPUBLISH_RETAIN: retain}
    )
    await set_up(hass, entry, fake_meter)
    await send_reading(hass, fake_meter, telegram())
    await hass.async_block_till_done()
    ((_topic, _payload, sent_qos, sent_retain),) = publishes(mqtt_mock)
    assert type(sent_qos) is int and sent_qos == qos
    assert sent_retain is retain


async def test_id_ims_is_sanitised_and_group_defaults_to_the_location(
    hass: HomeAssistant, mqtt_mock: MagicMock, fake_meter: FakeMeter
) -> None:
    """No group: a slug of the location name; id_ims without / + #."""
    hass.config.location_name = "Chalet Bärgsunne"
    entry = republishing_entry(fake_meter.url, **{CONF_REPUBLISH_ID_IMS: "E/45+#1"})
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={k: v for k, v in entry.options.items() if k != CONF_REPUBLISH_GROUP}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await send_reading(hass, fake_meter, telegram())
    await hass.async_block_till_done()
    topics = [call.args[0] for call in mqtt_mock.async_publish.call_args_list]
    assert topics == ["dt/chalet_bargsunne/E_45__1/ds"]


async def test_rate_limit_publishes_the_latest_reading_at_most_every_n_seconds(
    hass: HomeAssistant, mqtt_mock: MagicMock, fake_meter: FakeMeter
) -> None:
    """With N = 5 s: the first reading at once, then the latest one every 5 s while readings
    flow (a trailing timer, so the gap never exceeds N), superseded ones counted."""
    clock = Clock()
    entry = republishing_entry(fake_meter.url, **{CONF_REPUBLISH_INTERVAL: 5})
    with pytest.MonkeyPatch.context() as patcher:
        patcher.setattr(republish, "monotonic", clock)
        await set_up(hass, entry, fake_meter)

        await send_reading(hass, fake_meter, telegram(second=0))
        for second in (1, 2, 3):
            clock.advance(1)
            await send_reading(hass, fake_meter, telegram(second=second))
        await hass.async_block_till_done()
        assert [json.loads(p[1])["meter"]["ts"][-11:-6] for p in publishes(mqtt_mock)] == ["00:00"]

        clock.advance(2)  # t = 5 s: the timer publishes the latest reading (second 3)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
        await hass.async_block_till_done()
        stamps = [json.loads(p[1])["meter"]["ts"][-11:-6] for p in publishes(mqtt_mock)]
        assert stamps == ["00:00", "00:03"]

        clock.advance(1)  # t = 6 s: within the slot, held for t = 10 s
        await send_reading(hass, fake_meter, telegram(second=6))
        assert len(publishes(mqtt_mock)) == 2
        clock.advance(4)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
        await hass.async_block_till_done()
        stamps = [json.loads(p[1])["meter"]["ts"][-11:-6] for p in publishes(mqtt_mock)]
        assert stamps == ["00:00", "00:03", "00:06"]

        clock.advance(20)  # a pause longer than N: the next reading goes out at once
        await send_reading(hass, fake_meter, telegram(second=30))
        await hass.async_block_till_done()
        assert len(publishes(mqtt_mock)) == 4
        stats = entry.runtime_data.republisher.stats
        assert (stats.published, stats.superseded, stats.failed) == (4, 2, 0)


def test_rate_limit_is_capped_at_ten_seconds(hass: HomeAssistant) -> None:
    """Chapter 6 wants data at least every 10 s: a larger N is capped."""
    settings = RepublishSettings.from_options(
        hass, {CONF_REPUBLISH: True, CONF_REPUBLISH_INTERVAL: 60}, "E1"
    )
    assert settings.interval == MAX_REPUBLISH_INTERVAL == 10
    assert RepublishSettings.from_options(hass, {CONF_REPUBLISH_INTERVAL: -3}, "E1").interval == 0


async def test_without_mqtt_a_repair_issue_until_mqtt_is_set_up(
    hass: HomeAssistant,
    mock_hass_config: None,
    mqtt_mock_entry: Any,
    fake_meter: FakeMeter,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Republisher on, MQTT not set up: an actionable issue, readings skipped (counted), the
    meter works; setting MQTT up deletes the issue and publishing starts."""
    entry = republishing_entry(fake_meter.url)
    await set_up(hass, entry, fake_meter)
    assert entry.state is ConfigEntryState.LOADED
    issue = issue_registry.async_get_issue(DOMAIN, f"mqtt_missing_{ENTRY_ID}")
    assert issue is not None
    assert issue.translation_key == "mqtt_missing"
    assert issue.translation_placeholders == {"title": entry.title, "topic": TOPIC}
    assert issue.severity is ir.IssueSeverity.WARNING
    await send_reading(hass, fake_meter, telegram(second=0))
    assert entry.runtime_data.republisher.stats.skipped_no_mqtt == 1
    assert entry.runtime_data.coordinator.reading is not None

    mqtt_mock = await mqtt_mock_entry()
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, f"mqtt_missing_{ENTRY_ID}") is None
    await send_reading(hass, fake_meter, telegram(second=1))
    await hass.async_block_till_done()
    assert len(publishes(mqtt_mock)) == 1


async def test_turning_the_republisher_off_deletes_the_issue(
    hass: HomeAssistant, fake_meter: FakeMeter, issue_registry: ir.IssueRegistry
) -> None:
    """The other way out of the issue: the republisher off (options change, reload)."""
    entry = republishing_entry(fake_meter.url)
    await set_up(hass, entry, fake_meter)
    assert issue_registry.async_get_issue(DOMAIN, f"mqtt_missing_{ENTRY_ID}") is not None
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_REPUBLISH: False})
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, f"mqtt_missing_{ENTRY_ID}") is None
    assert entry.runtime_data.republisher is None


async def test_publish_failures_are_counted_logged_once_and_never_fatal(
    hass: HomeAssistant,
    mqtt_mock: MagicMock,
    fake_meter: FakeMeter,
    caplog: pytest.LogCaptureFixture,
    hass_client: ClientSessionGenerator,
) -> None:
    """A broker that refuses: each failure counted, one warning, the meter's sensors go on;
    when the broker accepts again, one info line."""
    entry = republishing_entry(fake_meter.url)
    await set_up(hass, entry, fake_meter)
    mqtt_mock.async_publish.side_effect = HomeAssistantError("broker gone")
    with caplog.at_level(logging.DEBUG, logger="custom_components.ch_smart_meter"):
        for second in range(4):
            await send_reading(hass, fake_meter, telegram(second=second))
        await hass.async_block_till_done()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "CH-SMR" in r.message]
    assert len(warnings) == 1
    assert "broker gone" in warnings[0].message
    stats = entry.runtime_data.republisher.stats
    assert (stats.published, stats.failed, stats.last_error) == (0, 4, "broker gone")
    assert entry.runtime_data.coordinator.reading is not None
    assert entry.runtime_data.coordinator.available

    mqtt_mock.async_publish.side_effect = None
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="custom_components.ch_smart_meter"):
        await send_reading(hass, fake_meter, telegram(second=5))
        await hass.async_block_till_done()
    assert stats.published == 1
    assert any("works again" in r.message for r in caplog.records)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["republisher"] == {
        "topic": TOPIC,
        "interval": 0,
        "qos": 0,
        "retain": False,
        "mqtt_ready": True,
        "queued": 0,
        "published": 1,
        "failed": 4,
        "skipped_no_mqtt": 0,
        "superseded": 0,
        "dropped": 0,
        "last_error": "broker gone",
    }


async def test_a_stalled_broker_costs_bounded_memory(
    hass: HomeAssistant, mqtt_mock: MagicMock, fake_meter: FakeMeter
) -> None:
    """Readings queue while a publish hangs; beyond the limit the oldest are dropped."""
    entry = republishing_entry(fake_meter.url)
    await set_up(hass, entry, fake_meter)
    republisher = entry.runtime_data.republisher
    reading = decode_payload(json.dumps({"meter": expected_meter()}))
    hang = hass.loop.create_future()
    mqtt_mock.async_publish.side_effect = lambda *args, **kwargs: hang
    for _ in range(republish.QUEUE_LIMIT + 6):
        republisher.async_on_reading(reading)
    await hass.async_block_till_done(wait_background_tasks=False)
    # The queue filled up (the oldest six dropped); the worker hangs on the first one.
    assert republisher.stats.dropped == 6
    assert republisher.diagnostics()["queued"] == republish.QUEUE_LIMIT - 1
    hang.set_result(None)
    mqtt_mock.async_publish.side_effect = None
    await wait_until(lambda: republisher.stats.published == republish.QUEUE_LIMIT)
    assert republisher.diagnostics()["queued"] == 0


async def test_republished_topics_follow_the_options(hass: HomeAssistant) -> None:
    """The loop protection reads the options of every entry, loaded or not."""
    on = MockConfigEntry(
        domain=DOMAIN,
        title="A",
        unique_id="A1",
        data=entry_data("socket://127.0.0.1:1"),
        options={CONF_REPUBLISH: True, CONF_REPUBLISH_GROUP: "g"},
    )
    off = MockConfigEntry(
        domain=DOMAIN, title="B", unique_id="B1", data=entry_data("socket://127.0.0.1:2")
    )
    on.add_to_hass(hass)
    off.add_to_hass(hass)
    assert republished_topics(hass) == {"dt/g/A1/ds": "A"}
    assert republished_topics(hass, exclude_entry_id=on.entry_id) == {}


async def test_unload_stops_publishing(
    hass: HomeAssistant, mqtt_mock: MagicMock, fake_meter: FakeMeter
) -> None:
    """After unload nothing is published and no task or timer stays behind."""
    entry = republishing_entry(fake_meter.url, **{CONF_REPUBLISH_INTERVAL: 3})
    await set_up(hass, entry, fake_meter)
    await send_reading(hass, fake_meter, telegram(second=0))
    await send_reading(hass, fake_meter, telegram(second=1))  # held for the next slot
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await hass.async_block_till_done()
    assert len(publishes(mqtt_mock)) == 1
