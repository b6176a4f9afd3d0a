"""CH-SMR over HTTP: the authenticated views return the very payload of the republisher."""

from __future__ import annotations

from http import HTTPStatus

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ch_smart_meter.const import CONF_REPUBLISH, CONF_REPUBLISH_GROUP
from custom_components.ch_smart_meter.reader.chsmr import encode_payload

from .conftest import METER_ID, FakeMeter, Setup, send_reading, telegram


async def test_meter_view(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    setup_integration: Setup,
    fake_meter: FakeMeter,
) -> None:
    """401 without a token; 503 before the first reading; then the CH-SMR payload;
    404 for unknown meters and after unload."""
    entry = await setup_integration()
    anonymous = await hass_client_no_auth()
    response = await anonymous.get(f"/api/ch_smart_meter/{METER_ID}")
    assert response.status == HTTPStatus.UNAUTHORIZED
    response = await anonymous.get("/api/ch_smart_meter")
    assert response.status == HTTPStatus.UNAUTHORIZED

    client = await hass_client()
    response = await client.get(f"/api/ch_smart_meter/{METER_ID}")
    assert response.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.headers["Retry-After"] == "10"

    await send_reading(hass, fake_meter, telegram(second=3))
    response = await client.get(f"/api/ch_smart_meter/{METER_ID}")
    assert response.status == HTTPStatus.OK
    assert response.content_type == "application/json"
    body = await response.text()
    assert body == encode_payload(entry.runtime_data.coordinator.reading)
    assert body.startswith(f'{{"meter":{{"ts":"2026-06-27T14:00:03+02:00","96.1.1":"{METER_ID}"')

    response = await client.get("/api/ch_smart_meter/UNKNOWN")
    assert response.status == HTTPStatus.NOT_FOUND

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    response = await client.get(f"/api/ch_smart_meter/{METER_ID}")
    assert response.status == HTTPStatus.NOT_FOUND


async def test_meter_list(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    setup_integration: Setup,
    fake_meter: FakeMeter,
) -> None:
    """The listing: id, title, standard, availability, last ts, link, republished topic."""
    entry = await setup_integration()
    client = await hass_client()
    meters = (await (await client.get("/api/ch_smart_meter")).json())["meters"]
    assert meters == [
        {
            "meter_id": METER_ID,
            "title": entry.title,
            "standard": "dsmr",
            "available": False,
            "ts": None,
            "url": f"/api/ch_smart_meter/{METER_ID}",
            "topic": None,
        }
    ]
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_REPUBLISH: True, CONF_REPUBLISH_GROUP: "home"}
    )
    await hass.async_block_till_done()
    await fake_meter.wait_connected()
    await send_reading(hass, fake_meter, telegram())
    meters = (await (await client.get("/api/ch_smart_meter")).json())["meters"]
    assert meters[0]["available"] is True
    assert meters[0]["ts"] == "2026-06-27T14:00:00+02:00"
    assert meters[0]["topic"] == f"dt/home/{METER_ID}/ds"
