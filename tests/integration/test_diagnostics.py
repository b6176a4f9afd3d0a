"""Diagnostics: counters, raw frames and the last reading, and never a key."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from syrupy.assertion import SnapshotAssertion

from custom_components.ch_smart_meter.const import CONF_AUTHENTICATION_KEY, CONF_ENCRYPTION_KEY
from custom_components.ch_smart_meter.diagnostics import async_get_config_entry_diagnostics

from .conftest import TEST_KEY, FakeMeter, Setup, encrypted_telegram, send_reading, telegram

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
