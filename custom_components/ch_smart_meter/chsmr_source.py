"""CH-SMR as a source: a meter read from another reader's MQTT messages (standard ``ch-smr``).

The architecture's "Transport" becomes an MQTT subscription to one meter's topic; there is
no framer. :class:`ChSmrSource` has the shape of :class:`~.reader.session.MeterSession`
(``run``, ``close``, ``stats``, ``recent_frames``), so the coordinator treats both alike:
same entities, same energy guard, same availability (interval 10 s: unavailable after 30 s
of silence), same counting and rate-limited logging of rejected messages.

Loop protection: messages on a topic that a republisher of this installation publishes are
ignored (counted), whatever the options say later. The config flow does not offer such
topics in the first place.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final

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
from .reader.chsmr import decode_payload
from .reader.errors import ChSmrError, ReaderError, TransportError
from .reader.model import DecodeResult, Reading, RejectedFrame, Standard
from .reader.standards import DecoderOptions, StandardSpec, get_spec
from .republish import republished_topics

# The recommendation asks readers for data at least every 10 s.
CHSMR_INTERVAL: Final = 10.0
# A message longer than this is no CH-SMR reading (Tables 1 and 2 fit in well under 2 kB).
MAX_MESSAGE_BYTES: Final = 64 * 1024


class ChSmrLineDecoder:
    """CH-SMR messages one per line (a capture, a log): the ``StreamDecoder`` of the spec."""

    def __init__(self, options: DecoderOptions) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Decode every complete line."""
        self._buffer += data
        results: list[DecodeResult] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[: end + 1]
            if line:
                results.append(_decode(line))
        if len(self._buffer) > MAX_MESSAGE_BYTES:
            self._buffer.clear()
            results.append(RejectedFrame(ChSmrError("line too long")))
        return results

    def flush(self) -> list[DecodeResult]:
        """A last line without a line break."""
        line = bytes(self._buffer).strip()
        self._buffer.clear()
        return [_decode(line)] if line else []

    def reset(self) -> None:
        """Forget a partial line."""
        self._buffer.clear()


def _decode(line: bytes) -> DecodeResult:
    try:
        return decode_payload(line)
    except ChSmrError as err:
        return RejectedFrame(err, line)


CHSMR_SPEC: Final = StandardSpec(
    standard=Standard.CH_SMR,
    title="CH-SMR reader over MQTT",
    serial_presets=(),
    interval=CHSMR_INTERVAL,
    create_decoder=ChSmrLineDecoder,
    description="Chapter 6 of the Swiss recommendation: JSON on dt/<group>/<id_ims>/ds",
)


def spec_for(standard: str) -> StandardSpec:
    """The spec of any standard id an entry may hold, CH-SMR included.

    Raises ``KeyError`` or ``ValueError`` like ``reader.standards.get_spec``.
    """
    if standard == Standard.CH_SMR:
        return CHSMR_SPEC
    return get_spec(standard)


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
    if entry.data.get(CONF_STANDARD) != Standard.CH_SMR:
        return
    if await async_mqtt_client(hass) is None:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="mqtt_unavailable",
            translation_placeholders={"topic": str(entry.data.get(CONF_TOPIC))},
        )


@dataclass(slots=True)
class ChSmrSourceStats:
    """Counters of a CH-SMR source, for diagnostics (the fields of ``SessionStats`` and more)."""

    frames_ok: int = 0
    frames_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    # Messages ignored because this installation republishes their topic itself (a loop).
    ignored_republished: int = 0
    reconnects: int = 0
    bytes_received: int = 0
    last_error: str | None = None
    connected: bool = False


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
        self._stats = ChSmrSourceStats()
        self._recent: deque[bytes] = deque(maxlen=max(history, 0))
        self._mqtt_changed = asyncio.Event()
        self._blocked: dict[str, str] = {}
        self._warned_loop = False
        self._subscribed_once = False
        self._connected: bool | None = None

    # -- the MeterSession shape ------------------------------------------------------

    @property
    def stats(self) -> ChSmrSourceStats:
        """A snapshot of the counters."""
        return replace(self._stats, rejected_by_reason=dict(self._stats.rejected_by_reason))

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
        if message.topic in self._blocked:
            self._stats.ignored_republished += 1
            return
        payload = message.payload
        if isinstance(payload, str):
            payload = payload.encode()
        stats = self._stats
        stats.bytes_received += len(payload)
        result: DecodeResult
        if len(payload) > MAX_MESSAGE_BYTES:
            payload = payload[:256]
            result = RejectedFrame(ChSmrError("message too long"), payload)
        else:
            try:
                result = decode_payload(
                    payload, topic=message.topic, source_in_base_units=self._base_units
                )
            except ChSmrError as err:
                result = RejectedFrame(err, payload)
        self._recent.append(payload)
        if isinstance(result, Reading):
            stats.frames_ok += 1
        else:
            stats.frames_rejected += 1
            reason = result.error.translation_key
            stats.rejected_by_reason[reason] = stats.rejected_by_reason.get(reason, 0) + 1
        self._on_result(result)


def _quietly(unsubscribe: CALLBACK_TYPE) -> None:
    """Unsubscribe from an MQTT client that may have gone away with its entry."""
    try:
        unsubscribe()
    except Exception as err:  # the old client is gone; nothing to undo
        LOGGER.debug("Unsubscribing from an MQTT client that went away: %s", err)


@callback
def create_chsmr_source(
    hass: HomeAssistant,
    entry: ConfigEntry,
    *,
    on_result: Callable[[DecodeResult], None],
    on_connection: Callable[[bool, ReaderError | None], None],
) -> ChSmrSource:
    """The source of a ``ch-smr`` entry (the coordinator's hook)."""
    return ChSmrSource(hass, entry, on_result=on_result, on_connection=on_connection)
