"""End-to-end tests run real processes (Mosquitto, Home Assistant): no in-process hass."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the suite's autouse fixture: these tests start no in-process Home Assistant."""


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """The broker, the subscriber and the HTTP API are on 127.0.0.1 (pytest-socket allows it)."""
