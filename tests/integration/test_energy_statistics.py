"""The energy guard as the energy dashboard sees it: Home Assistant's own recorder compiles
the statistics of an hour in which a frame leaps, a meter is replaced and its new baseline is
accepted in the repair flow; the hourly sum is what the meter counted, never negative, never
absurd."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
    statistics_during_period,
)

from custom_components.ch_smart_meter.const import DOMAIN

from .conftest import METER_ID, Clock, FakeMeter, Setup, send_reading, telegram

ENERGY_IMPORT = f"sensor.iskraemeco_{METER_ID.lower()}_energy_import"
HOUR = datetime(2026, 6, 27, 10, tzinfo=UTC)


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """A real recorder (in-memory SQLite), set up before the integration."""


# Home Assistant's clock (states, recorder) is frozen and moved by the test; the event loop
# (asyncio) keeps real time, so that the real connection's timeouts behave.
@pytest.mark.freeze_time(HOUR + timedelta(seconds=5), ignore=["asyncio"])
async def test_hourly_statistics_around_a_leap_and_a_replaced_meter(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    clock: Clock,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry = await setup_integration()

    async def meter_says(minute: float, tariff_1: float, tariff_2: float = 2345.678) -> None:
        """1.8.0 = tariff 1 + tariff 2, at ``minute`` past the hour."""
        moment = HOUR + timedelta(minutes=minute)
        clock.now = 1000.0 + minute * 60
        freezer.move_to(moment)
        await send_reading(
            hass,
            fake_meter,
            telegram(second=int(minute * 60) % 60, **{"1_8_1": tariff_1, "1_8_2": tariff_2}),
        )

    await meter_says(0.1, 1234.567)  # 3580.245 kWh
    await meter_says(5, 1234.822)  # +0.255 kWh
    await meter_says(8, 91234.567)  # a frame with a leap of 90000 kWh: held
    assert state(hass, ENERGY_IMPORT) == "3580.5"
    await meter_says(8.1, 1234.922)  # back in line: the leap is forgotten
    assert state(hass, ENERGY_IMPORT) == "3580.6"
    for minute in (12, 12.5, 13.2):  # a replaced meter: its registers start low
        await meter_says(minute, 1.5, 0.5)
    assert state(hass, ENERGY_IMPORT) == "3580.6"  # held, never lower
    issue_id = f"meter_replaced_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    # The user accepts the new baseline (the repair flow; its HTTP path: test_sensor.py).
    freezer.move_to(HOUR + timedelta(minutes=15))
    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    await manager.async_configure(flow["flow_id"], {})
    await hass.async_block_till_done()
    await fake_meter.wait_connected()

    await meter_says(50, 1.8, 0.5)  # the new meter counted 0.3 kWh since it was put in
    assert state(hass, ENERGY_IMPORT) == "3580.9"
    await meter_says(59, 1.9, 0.5)
    assert state(hass, ENERGY_IMPORT) == "3581.0"

    freezer.move_to(HOUR + timedelta(hours=1, minutes=1))
    await async_wait_recording_done(hass)
    for period in range(12):
        do_adhoc_statistics(hass, start=HOUR + timedelta(minutes=5 * period))
    await async_wait_recording_done(hass)

    hourly = await hass.async_add_executor_job(
        statistics_during_period, hass, HOUR, None, {ENERGY_IMPORT}, "hour"
    )
    (hour,) = hourly[ENERGY_IMPORT]
    assert hour["state"] == pytest.approx(3581.0)
    # What the meters counted in the hour: 0.755 kWh on the old one before the change (from
    # 3580.245 at the hour's first reading) and 0.4 on the new one, nothing else.
    assert hour["sum"] == pytest.approx(3581.0 - 3580.245)
    five_minutes = await hass.async_add_executor_job(
        statistics_during_period, hass, HOUR, None, {ENERGY_IMPORT}, "5minute"
    )
    sums = [row["sum"] for row in five_minutes[ENERGY_IMPORT]]
    assert sums == sorted(sums) and sums[-1] - sums[0] < 1.0  # never down, never a leap
