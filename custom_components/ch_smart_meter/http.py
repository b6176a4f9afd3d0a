"""CH-SMR over HTTP: an authenticated Home Assistant view per meter (chapter 6 allows
"additional interfaces such as an HTTP REST API" that "should return the same format").

* ``GET /api/ch_smart_meter`` lists the meters of this installation.
* ``GET /api/ch_smart_meter/<meter id>`` returns the meter's latest reading as the very
  CH-SMR payload the republisher publishes (``reader.chsmr.encode_payload``); 404 for an
  unknown meter, 503 (with ``Retry-After``) before its first reading.

Views cannot be unregistered, so they are registered once (``async_setup``) and look the
meter up per request among the loaded entries: an unloaded or removed meter is a 404.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from .const import DOMAIN
from .data import ChSmartMeterData
from .reader.chsmr import encode_payload, format_timestamp

BASE_URL: Final = f"/api/{DOMAIN}"
RETRY_AFTER_SECONDS: Final = 10


def _meters(hass: HomeAssistant) -> list[ChSmartMeterData]:
    return [
        entry.runtime_data
        for entry in hass.config_entries.async_loaded_entries(DOMAIN)
        if isinstance(getattr(entry, "runtime_data", None), ChSmartMeterData)
    ]


def find_meter(hass: HomeAssistant, meter_id: str) -> ChSmartMeterData | None:
    """The loaded meter with this id (the entry's meter id, or the id it now reports)."""
    for meter in _meters(hass):
        reading = meter.coordinator.reading
        if meter.coordinator.meter_id == meter_id or (
            reading is not None and reading.meter_id == meter_id
        ):
            return meter
    return None


def meter_summary(meter: ChSmartMeterData) -> dict[str, Any]:
    """One line of the listing."""
    coordinator = meter.coordinator
    reading = coordinator.reading
    republisher = meter.republisher
    return {
        "meter_id": coordinator.meter_id,
        "title": coordinator.entry.title,
        "standard": coordinator.spec.standard.value,
        "available": coordinator.available,
        "ts": None if reading is None else format_timestamp(reading.timestamp),
        "url": f"{BASE_URL}/{coordinator.meter_id}",
        "topic": None if republisher is None else republisher.topic,
    }


class ChSmrMetersView(HomeAssistantView):
    """The meters of this installation."""

    url = BASE_URL
    name = f"api:{DOMAIN}:meters"
    requires_auth = True

    async def get(self, request: web.Request) -> web.Response:
        """List the loaded meters."""
        hass = request.app[KEY_HASS]
        return self.json({"meters": [meter_summary(meter) for meter in _meters(hass)]})


class ChSmrMeterView(HomeAssistantView):
    """The latest CH-SMR message of one meter."""

    url = BASE_URL + "/{meter_id}"
    name = f"api:{DOMAIN}:meter"
    requires_auth = True

    async def get(self, request: web.Request, meter_id: str) -> web.Response:
        """The meter's latest reading as a CH-SMR payload."""
        hass = request.app[KEY_HASS]
        meter = find_meter(hass, meter_id)
        if meter is None:
            return self.json_message(f"unknown meter: {meter_id}", HTTPStatus.NOT_FOUND)
        reading = meter.coordinator.reading
        if reading is None:
            response = self.json_message(
                "no reading from this meter yet", HTTPStatus.SERVICE_UNAVAILABLE
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return web.Response(
            text=encode_payload(reading),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the views (once, at integration set-up)."""
    hass.http.register_view(ChSmrMetersView())
    hass.http.register_view(ChSmrMeterView())
