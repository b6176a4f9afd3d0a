"""Options flow of the CH-SMR republisher: defaults, preview, loop and clash refusals,
retained-message clean-up, and the units option of a CH-SMR source."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ch_smart_meter.const import (
    CONF_LOW_TARIFF,
    CONF_REPUBLISH,
    CONF_REPUBLISH_GROUP,
    CONF_REPUBLISH_ID_IMS,
    CONF_REPUBLISH_INTERVAL,
    CONF_REPUBLISH_QOS,
    CONF_REPUBLISH_RETAIN,
    CONF_SOURCE_UNITS,
    CONF_STANDARD,
    CONF_TOPIC,
    CONF_UPDATE_INTERVAL,
    DOMAIN,
)

from .conftest import METER_ID, FakeMeter, entry_data, send_reading, telegram

pytestmark = pytest.mark.parametrize("expected_lingering_timers", [True])


def meter_entry(unique_id: str = METER_ID, title: str = "Meter", **options: Any) -> MockConfigEntry:
    """A DSMR meter entry (not set up unless a test does it)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=unique_id,
        data=entry_data("socket://127.0.0.1:9"),
        options={CONF_UPDATE_INTERVAL: 5, **options},
    )


async def open_republisher_form(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Options: keep the first step as it is, arrive at the republisher step."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UPDATE_INTERVAL: 5}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "republish")
    return result


@pytest.mark.usefixtures("mqtt_mock")
async def test_defaults_show_the_topic(hass: HomeAssistant) -> None:
    """Off; group from the location name, id_ims from the meter id; the topic shown."""
    hass.config.location_name = "Haus Sonnenhof"
    entry = meter_entry(unique_id="E 45/12")
    entry.add_to_hass(hass)
    result = await open_republisher_form(hass, entry)
    defaults = result["data_schema"]({})
    assert defaults == {
        CONF_REPUBLISH: False,
        CONF_REPUBLISH_GROUP: "haus_sonnenhof",
        CONF_REPUBLISH_ID_IMS: "E 45_12",
        CONF_REPUBLISH_INTERVAL: 0,
        CONF_REPUBLISH_QOS: "0",
        CONF_REPUBLISH_RETAIN: False,
    }
    assert result["description_placeholders"]["topic"] == "dt/haus_sonnenhof/E 45_12/ds"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_REPUBLISH] is False


async def test_turning_it_on_previews_topic_and_message_then_saves(
    hass: HomeAssistant, mqtt_mock: MagicMock, fake_meter: FakeMeter
) -> None:
    """The preview shows the sanitised topic and the meter's latest reading as CH-SMR."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Meter",
        unique_id=METER_ID,
        data=entry_data(fake_meter.url),
        options={CONF_UPDATE_INTERVAL: 5},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await send_reading(hass, fake_meter, telegram())

    result = await open_republisher_form(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_REPUBLISH: True,
            CONF_REPUBLISH_GROUP: " building/ flat+3 ",
            CONF_REPUBLISH_ID_IMS: "meter#1",
            CONF_REPUBLISH_INTERVAL: 7.0,
            CONF_REPUBLISH_QOS: "1",
            CONF_REPUBLISH_RETAIN: True,
        },
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "republish_preview")
    placeholders = result["description_placeholders"]
    assert placeholders["topic"] == "dt/building/flat_3/meter_1/ds"
    assert placeholders["payload"].startswith('{"meter":{"ts":"2026-06-27T14:00:00+02:00",')
    assert mqtt_mock.async_publish.call_count == 0  # nothing published before saving
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_UPDATE_INTERVAL: 5,
        CONF_LOW_TARIFF: 2,
        CONF_REPUBLISH: True,
        CONF_REPUBLISH_GROUP: "building/flat_3",
        CONF_REPUBLISH_ID_IMS: "meter_1",
        CONF_REPUBLISH_INTERVAL: 7,
        CONF_REPUBLISH_QOS: 1,
        CONF_REPUBLISH_RETAIN: True,
    }
    await hass.async_block_till_done()
    # The entry reloaded with its republisher on.
    assert entry.runtime_data.republisher is not None
    assert entry.runtime_data.republisher.topic == "dt/building/flat_3/meter_1/ds"


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_topic_that_would_loop_or_clash_is_refused(hass: HomeAssistant) -> None:
    """The source topic of a CH-SMR entry here (a loop) or another meter's topic (a clash)."""
    source = MockConfigEntry(
        domain=DOMAIN,
        title="CH-SMR reader meter",
        unique_id="CH1",
        data={CONF_STANDARD: "ch-smr", CONF_TOPIC: "dt/home/CH1/ds"},
    )
    other = meter_entry(
        unique_id="E2", title="Other meter", **{CONF_REPUBLISH: True, CONF_REPUBLISH_GROUP: "home"}
    )
    entry = meter_entry()
    for item in (source, other, entry):
        item.add_to_hass(hass)
    result = await open_republisher_form(hass, entry)
    for id_ims, error, conflict in (
        ("CH1", "topic_is_source", "CH-SMR reader meter"),
        ("E2", "topic_in_use", "Other meter"),
    ):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {CONF_REPUBLISH: True, CONF_REPUBLISH_GROUP: "home", CONF_REPUBLISH_ID_IMS: id_ims},
        )
        assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "republish")
        assert result["errors"] == {"base": error}
        assert result["description_placeholders"]["conflict"] == conflict
    # The same values with the republisher off are fine (nothing is published).
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_REPUBLISH: False, CONF_REPUBLISH_GROUP: "home", CONF_REPUBLISH_ID_IMS: "CH1"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_without_mqtt_the_options_say_why(hass: HomeAssistant) -> None:
    """No MQTT integration: a page that says why there is no republisher to set up (the
    other options are saved); a republisher switched on earlier keeps its form, to be
    switched off."""
    entry = meter_entry(title="Meter A")
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UPDATE_INTERVAL: 7}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "republish_unavailable")
    assert result["description_placeholders"] == {"title": "Meter A"}
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_UPDATE_INTERVAL] == 7

    on = meter_entry(unique_id="E2", **{CONF_REPUBLISH: True})
    on.add_to_hass(hass)
    result = await open_republisher_form(hass, on)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_REPUBLISH: False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert on.options[CONF_REPUBLISH] is False


@pytest.mark.parametrize(
    ("change", "cleared"),
    [
        ({CONF_REPUBLISH: False}, True),
        ({CONF_REPUBLISH_RETAIN: False}, True),
        ({CONF_REPUBLISH_GROUP: "elsewhere"}, True),
        ({}, False),
    ],
)
async def test_a_retained_message_is_removed_when_no_longer_kept_up_to_date(
    hass: HomeAssistant, mqtt_mock: MagicMock, change: dict[str, Any], cleared: bool
) -> None:
    """An empty retained message on the old topic when it stops being maintained."""
    old = {
        CONF_REPUBLISH: True,
        CONF_REPUBLISH_GROUP: "home",
        CONF_REPUBLISH_RETAIN: True,
        CONF_REPUBLISH_QOS: 0,
    }
    entry = meter_entry(**old)
    entry.add_to_hass(hass)
    result = await open_republisher_form(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**old, CONF_REPUBLISH_QOS: "0", **change}
    )
    if result["type"] is FlowResultType.FORM:
        result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    calls = [call.args for call in mqtt_mock.async_publish.call_args_list]
    assert calls == ([(f"dt/home/{METER_ID}/ds", "", 0, True)] if cleared else [])


async def test_a_ch_smr_source_has_the_units_option(hass: HomeAssistant) -> None:
    """kW/kWh as the recommendation says, or W/Wh for readers that publish base units."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="CH-SMR CH1",
        unique_id="CH1",
        data={CONF_STANDARD: "ch-smr", CONF_TOPIC: "dt/home/CH1/ds"},
        options={CONF_UPDATE_INTERVAL: 5, CONF_SOURCE_UNITS: "kilo"},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_UPDATE_INTERVAL,
        CONF_LOW_TARIFF,
        CONF_SOURCE_UNITS,
    ]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UPDATE_INTERVAL: 5, CONF_SOURCE_UNITS: "base"}
    )
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_SOURCE_UNITS] == "base"
