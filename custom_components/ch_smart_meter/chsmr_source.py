"""CH-SMR as a source: a meter read from another reader's MQTT messages (standard ``ch-smr``).

The architecture's "Transport" becomes an MQTT subscription to one meter's topic; there is
no framer. :class:`ChSmrSource` is a :class:`~.reader.session.ReadingSource` like the
session on a port, so the coordinator treats both alike: same entities, same energy guard,
same availability (interval 10 s: unavailable after 30 s of silence), same counting and
rate-limited logging of rejected messages.

Loop protection: messages on a topic that a republisher of this installation publishes are
ignored (counted), whatever the options say later. The config flow does not offer such
topics in the first place.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady

from .const import (
    CONF_SOURCE_UNITS,
    CONF_STANDARD,
    CONF_TOPIC,
    DOMAIN,
    LOGGER,
    SOURCE_UNITS_BASE,
)
from .mqtt_link import async_mqtt_client, async_track_entries, async_track_mqtt_entry
from .reader.errors import ReaderError, TransportError
from .reader.model import DecodeResult, Standard
from .reader.session import SourceStats
from .reader.standards.chsmr import decode_message
from .republish import republished_topics


def source_topics(hass: HomeAssistant, *, exclude_entry_id: str | None = None) -> dict[str, str]:
    """Topic -> entry title of every CH-SMR source entry of this installation."""
    return {
        str(entry.data[CONF_TOPIC]): entry.title
        for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False)
        if entry.data.get(CONF_STANDARD) == Standard.CH_SMR
        and CONF_TOPIC in entry.data
        and entry.entry_id != exclude_entry_id
    }


async def async_ensure_mqtt(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Set-up of a ``ch-smr`` entry waits for MQTT; without it Home Assistant retries later."""
    if await async_mqtt_client(hass) is None:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="mqtt_unavailable",
            translation_placeholders={"topic": str(entry.data.get(CONF_TOPIC))},
        )


class ChSmrSource:
    """Subscribes to one meter's CH-SMR topic and hands its readings to the coordinator."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        on_result: Callable[[DecodeResult], None],
        on_connection: Callable[[bool, ReaderError | None], None] | None = None,
        history: int = 5,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.topic: str = entry.data[CONF_TOPIC]
        self._base_units = entry.options.get(CONF_SOURCE_UNITS) == SOURCE_UNITS_BASE
        self._on_result = on_result
        self._on_connection = on_connection
        self._stats = SourceStats()
        self._recent: deque[bytes] = deque(maxlen=max(history, 0))
        self._mqtt_changed = asyncio.Event()
        self._blocked: dict[str, str] = {}
        self._warned_loop = False
        self._subscribed_once = False
        self._connected: bool | None = None

    # -- the ReadingSource protocol --------------------------------------------------

    @property
    def stats(self) -> SourceStats:
        """The live counters."""
        return self._stats

    def diagnostics(self) -> dict[str, Any]:
        """The topic read, and the units its reader publishes in."""
        return {"topic": self.topic, "source_in_base_units": self._base_units}

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Nothing to release: a subscription holds no port."""
        yield

    @property
    def recent_frames(self) -> list[bytes]:
        """The last messages (good or rejected), newest last."""
        return list(self._recent)

    async def run(self) -> None:
        """Subscribe while MQTT is there; resubscribe after MQTT is reloaded. Runs until
        cancelled."""
        unsubscribers: list[CALLBACK_TYPE] = [
            async_track_mqtt_entry(self.hass, self._mqtt_changed.set),
            async_track_entries(self.hass, DOMAIN, self._async_update_blocked),
        ]
        self._async_update_blocked()
        try:
            while True:
                self._mqtt_changed.clear()
                await self._async_subscribe_while_mqtt_is_up()
                await self._mqtt_changed.wait()
        finally:
            for unsubscribe in unsubscribers:
                unsubscribe()

    async def close(self) -> None:
        """Nothing to release: the subscription ends with ``run``."""

    # -- subscription ----------------------------------------------------------------

    async def _async_subscribe_while_mqtt_is_up(self) -> None:
        mqtt = await async_mqtt_client(self.hass)
        if mqtt is None:
            self._async_set_connected(False, TransportError("MQTT is not set up"))
            return
        unsubscribe = await mqtt.async_subscribe(
            self.hass, self.topic, self._async_on_message, 0, None
        )
        unsubscribe_status = mqtt.async_subscribe_connection_status(
            self.hass, self._async_on_status
        )
        if self._subscribed_once:
            self._stats.reconnects += 1
        self._subscribed_once = True
        self._async_on_status(mqtt.is_connected(self.hass))
        try:
            await self._mqtt_changed.wait()
        finally:
            unsubscribe_status()
            _quietly(unsubscribe)

    @callback
    def _async_on_status(self, connected: bool) -> None:
        self._async_set_connected(
            connected, None if connected else TransportError("the MQTT broker is not connected")
        )

    @callback
    def _async_set_connected(self, connected: bool, error: ReaderError | None) -> None:
        self._stats.connected = connected
        if error is not None:
            self._stats.last_error = error.message
        if connected == self._connected:
            return
        # Like a session on a port, the source logs its link: once when lost (Home
        # Assistant's MQTT client logs a lost broker at debug level only), once when back.
        if not connected:
            LOGGER.warning(
                "%s: %s; its readings resume when it is back",
                self.entry.title,
                error.detail if error is not None and error.detail else "no MQTT connection",
            )
        elif self._connected is False:
            LOGGER.info("%s: MQTT is connected again", self.entry.title)
        self._connected = connected
        if self._on_connection is not None:
            self._on_connection(connected, error)

    @callback
    def _async_update_blocked(self) -> None:
        """Topics this installation republishes; a source never reads them back."""
        self._blocked = republished_topics(self.hass)
        if self.topic in self._blocked and not self._warned_loop:
            self._warned_loop = True
            LOGGER.warning(
                "%s: messages on %s are ignored: %s republishes that topic in this Home "
                "Assistant, reading them back would make a loop",
                self.entry.title,
                self.topic,
                self._blocked[self.topic],
            )
        elif self.topic not in self._blocked:
            self._warned_loop = False

    # -- messages (hot path) ---------------------------------------------------------

    @callback
    def _async_on_message(self, message: Any) -> None:
        stats = self._stats
        if message.topic in self._blocked:
            stats.ignored += 1
            return
        payload = message.payload
        if isinstance(payload, str):
            payload = payload.encode()
        stats.bytes_received += len(payload)
        result = decode_message(payload, topic=message.topic, source_in_base_units=self._base_units)
        stats.count(result)
        self._recent.append(result.frame)
        self._on_result(result)


def _quietly(unsubscribe: CALLBACK_TYPE) -> None:
    """Unsubscribe from an MQTT client that may have gone away with its entry."""
    try:
        unsubscribe()
    except Exception as err:  # the old client is gone; nothing to undo
        LOGGER.debug("Unsubscribing from an MQTT client that went away: %s", err)
