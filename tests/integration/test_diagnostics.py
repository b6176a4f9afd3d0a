"""Diagnostics: counters, raw frames and the last reading, and never a key."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.ch_smart_meter.const import (
    CONF_AUTHENTICATION_KEY,
    CONF_ENCRYPTION_KEY,
    DOMAIN,
)
from custom_components.ch_smart_meter.diagnostics import async_get_config_entry_diagnostics

from .conftest import (
    TEST_KEY,
    FakeMeter,
    Setup,
    encrypted_telegram,
    entry_data,
    send_reading,
    telegram,
)

AUTH_KEY = "00112233445566778899aabbccddeeff"


@pytest.mark.parametrize(
    "entry_extra", [{CONF_ENCRYPTION_KEY: TEST_KEY.hex(), CONF_AUTHENTICATION_KEY: AUTH_KEY}]
)
async def test_diagnostics(
    hass: HomeAssistant,
    setup_integration: Setup,
    fake_meter: FakeMeter,
    snapshot: SnapshotAssertion,
) -> None:
    """Everything a bug report needs; the keys are redacted, in any spelling."""
    entry = await setup_integration()
    await send_reading(hass, fake_meter, encrypted_telegram(1))
    await send_reading(hass, fake_meter, telegram(second=1).replace(b"(001234.567", b"(001234.568"))
    diagnostics: dict[str, Any] = await async_get_config_entry_diagnostics(hass, entry)

    text = repr(diagnostics).lower()
    for secret in (TEST_KEY.hex(), AUTH_KEY, TEST_KEY.hex(" "), TEST_KEY.hex(":")):
        assert secret not in text
    assert diagnostics["entry"]["data"][CONF_ENCRYPTION_KEY] == "**REDACTED**"
    assert diagnostics["source"]["frames_rejected"] == 1
    assert diagnostics["source"]["rejected_by_reason"] == {"crc_mismatch": 1}
    assert diagnostics["decoder"] == {"variant": "encrypted"}  # of the last good telegram
    assert len(diagnostics["recent_frames"]) == 2

    diagnostics["home_assistant"] = "<version>"
    diagnostics["entry"]["data"]["url"] = "socket://127.0.0.1:<port>"
    diagnostics["source"]["last_error"] = diagnostics["source"]["last_error"].split(":")[0]
    assert diagnostics == snapshot


async def test_diagnostics_before_any_reading(
    hass: HomeAssistant, setup_integration: Setup
) -> None:
    """A silent meter: the report says so instead of failing."""
    entry = await setup_integration()
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["last_reading"] is None
    assert diagnostics["recent_frames"] == []
    assert diagnostics["available"] is False


async def _download(hass: HomeAssistant, hass_client: Any, entry_id: str) -> dict[str, Any]:
    """The diagnostics file as the frontend's download gets it (HTTP, the real handler)."""
    client = await hass_client()
    response = await client.get(f"/api/diagnostics/config_entry/{entry_id}")
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body["data"]


async def test_diagnostics_of_an_entry_whose_port_cannot_be_opened(
    hass: HomeAssistant, hass_client: Any
) -> None:
    """An unplugged adapter: set-up retries, and the diagnostics say why, keys redacted."""
    assert await async_setup_component(hass, "diagnostics", {})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Unplugged meter",
        unique_id="unplugged",
        data=entry_data("/dev/serial/by-id/usb-not-plugged-in", encryption_key=TEST_KEY.hex()),
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY

    diagnostics = await _download(hass, hass_client, entry.entry_id)
    assert diagnostics["entry"]["state"] == "setup_retry" and diagnostics["entry"]["retrying"]
    assert "no such device" in diagnostics["entry"]["reason"]
    assert diagnostics["entry"]["data"][CONF_ENCRYPTION_KEY] == "**REDACTED**"
    assert TEST_KEY.hex() not in repr(diagnostics).lower()
    assert "source" not in diagnostics  # nothing runs: no counters to show

    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    diagnostics = await _download(hass, hass_client, entry.entry_id)
    assert diagnostics["entry"]["state"] == "not_loaded" and not diagnostics["entry"]["retrying"]


async def test_diagnostics_of_an_entry_that_failed(hass: HomeAssistant, hass_client: Any) -> None:
    """A standard this version does not know: set-up fails for good; diagnostics still work."""
    assert await async_setup_component(hass, "diagnostics", {})
    entry = MockConfigEntry(
        domain=DOMAIN, title="Future meter", unique_id="future", data={"standard": "sml"}
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    diagnostics = await _download(hass, hass_client, entry.entry_id)
    assert diagnostics["entry"]["state"] == "setup_error"
    assert diagnostics["entry"]["data"] == {"standard": "sml"}


async def test_diagnostics_download_of_a_loaded_entry(
    hass: HomeAssistant, hass_client: Any, setup_integration: Setup, fake_meter: FakeMeter
) -> None:
    """Loaded: the same download also carries the running source's counters."""
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_integration()
    await send_reading(hass, fake_meter, telegram())
    diagnostics = await _download(hass, hass_client, entry.entry_id)
    assert diagnostics["entry"]["state"] == "loaded"
    assert diagnostics["source"]["frames_ok"] == 1
