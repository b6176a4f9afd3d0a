"""The CH-SMR republisher: a meter's readings as chapter-6 messages over MQTT.

Topic ``dt/<group>/<id_ims>/ds``, payload ``{"meter": {"ts": ..., "96.1.1": ..., "1.8.0": ...}}``
(``reader.chsmr.encode_payload``), published through Home Assistant's MQTT integration.

* Every reading the meter sends is published, independent of the sensors' update interval;
  or, with a rate limit of N seconds (N <= 10), the latest reading every N seconds while
  readings flow (a trailing timer, so the gap never exceeds N: chapter 6 asks for data at
  least every 10 s).
* The hot path (one call per reading) appends the reading to a bounded queue; one worker
  task per entry encodes and publishes in order. A stalled broker costs at most
  ``QUEUE_LIMIT`` readings of memory, the oldest are dropped and counted.
* MQTT missing is a repair issue (set MQTT up, or turn the republisher off), deleted as soon
  as MQTT appears. Publish failures are counted for diagnostics, never fatal, and logged
  once per run of failures (at most every few minutes), not per message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import monotonic
from types import ModuleType
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import slugify

from .const import (
    CONF_REPUBLISH,
    CONF_REPUBLISH_GROUP,
    CONF_REPUBLISH_ID_IMS,
    CONF_REPUBLISH_INTERVAL,
    CONF_REPUBLISH_QOS,
    CONF_REPUBLISH_RETAIN,
    DOMAIN,
    ISSUE_MQTT_MISSING,
    LOGGER,
    MAX_REPUBLISH_INTERVAL,
    REJECTION_SUMMARY_SECONDS,
)
from .entry_data import entry_meter_id
from .mqtt_link import async_mqtt_client, async_track_mqtt_entry, mqtt_module
from .reader.chsmr import encode_payload, sanitize_group, sanitize_level, topic_for
from .reader.model import Reading

# Registers a listener for every reading of the meter; returns its remover.
type ReadingSubscription = Callable[[Callable[[Reading], None]], Callable[[], None]]

# Readings waiting for a slow or stalled broker; beyond this the oldest are dropped.
QUEUE_LIMIT: Final = 120
# The group when the Home Assistant location has no usable name.
FALLBACK_GROUP: Final = "home"


def default_group(hass: HomeAssistant) -> str:
    """The default group: the Home Assistant location's name as a slug ("Home" -> "home")."""
    return slugify(hass.config.location_name or "") or FALLBACK_GROUP


@dataclass(frozen=True, slots=True)
class RepublishSettings:
    """What the republisher of one entry does; built from the entry's options."""

    enabled: bool
    group: str
    id_ims: str
    interval: int  # 0: every reading
    qos: int
    retain: bool

    @property
    def topic(self) -> str:
        """``dt/<group>/<id_ims>/ds``."""
        return topic_for(self.group, self.id_ims)

    @classmethod
    def from_options(
        cls, hass: HomeAssistant, options: Mapping[str, Any], meter_id: str
    ) -> RepublishSettings:
        """The settings in ``options``, the defaults for what is missing."""
        interval = int(options.get(CONF_REPUBLISH_INTERVAL, 0))
        return cls(
            enabled=bool(options.get(CONF_REPUBLISH, False)),
            group=sanitize_group(str(options.get(CONF_REPUBLISH_GROUP) or default_group(hass))),
            id_ims=sanitize_level(str(options.get(CONF_REPUBLISH_ID_IMS) or meter_id)),
            interval=min(max(interval, 0), MAX_REPUBLISH_INTERVAL),
            qos=1 if int(options.get(CONF_REPUBLISH_QOS, 0)) else 0,
            retain=bool(options.get(CONF_REPUBLISH_RETAIN, False)),
        )

    @classmethod
    def of_entry(cls, hass: HomeAssistant, entry: ConfigEntry) -> RepublishSettings:
        """The republisher settings of a config entry."""
        return cls.from_options(hass, entry.options, entry_meter_id(entry))


def republished_topics(
    hass: HomeAssistant, *, exclude_entry_id: str | None = None
) -> dict[str, str]:
    """Topic -> entry title of every republisher of this installation that is on.

    Read from the entries' options (not from running republishers), so that an entry that
    is not loaded right now still counts: the loop protection must not depend on timing.
    """
    topics: dict[str, str] = {}
    for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False):
        if entry.entry_id == exclude_entry_id or not entry.options.get(CONF_REPUBLISH):
            continue
        topics[RepublishSettings.of_entry(hass, entry).topic] = entry.title
    return topics


async def async_clear_retained(hass: HomeAssistant, topic: str) -> None:
    """Remove a retained message from the broker (an empty retained message), if MQTT is up."""
    mqtt = mqtt_module(hass)
    if mqtt is None:
        return
    try:
        await mqtt.async_publish(hass, topic, "", 0, True)
    except HomeAssistantError as err:
        LOGGER.debug("Could not clear the retained message on %s: %s", topic, err)


@dataclass(slots=True)
class PublishStats:
    """Counters of a republisher, for diagnostics."""

    published: int = 0
    failed: int = 0
    # Readings not published because MQTT was not set up or its client not ready.
    skipped_no_mqtt: int = 0
    # Readings replaced by a newer one within the rate limit (on purpose, not lost).
    superseded: int = 0
    # Readings dropped because the broker did not keep up (queue full).
    dropped: int = 0
    last_error: str | None = None


class Republisher:
    """Publishes one meter's readings as CH-SMR; see the module docstring."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, settings: RepublishSettings
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.settings = settings
        self.topic = settings.topic
        self.stats = PublishStats()
        self._qos = settings.qos
        self._retain = settings.retain
        self._interval = float(settings.interval)
        # The MQTT integration while its client is ready; None otherwise.
        self._mqtt: ModuleType | None = None
        self._mqtt_changed = asyncio.Event()
        self._queue: deque[Reading] = deque()
        self._wake = asyncio.Event()
        self._next_allowed = 0.0
        self._pending: Reading | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._failing = False
        self._next_failure_log = 0.0
        self._issue_raised = False

    @property
    def issue_id(self) -> str:
        """The id of this entry's "MQTT is missing" repair issue."""
        return f"{ISSUE_MQTT_MISSING}_{self.entry.entry_id}"

    @property
    def mqtt_ready(self) -> bool:
        """True while the MQTT client is ready to publish."""
        return self._mqtt is not None

    # ----------------------------------------------------------------- life cycle

    @callback
    def async_start(self) -> None:
        """Follow the MQTT integration and start the publishing worker (stops on unload)."""
        entry = self.entry
        entry.async_on_unload(async_track_mqtt_entry(self.hass, self._mqtt_changed.set))
        entry.async_on_unload(self._async_stop)
        entry.async_create_background_task(
            self.hass, self._async_follow_mqtt(), f"{DOMAIN} republisher MQTT {entry.title}"
        )
        entry.async_create_background_task(
            self.hass, self._async_publish_loop(), f"{DOMAIN} republisher {entry.title}"
        )

    @callback
    def _async_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = None
        self._queue.clear()
        self._mqtt = None
        self._async_clear_issue()

    async def _async_follow_mqtt(self) -> None:
        """Keep ``_mqtt`` and the repair issue in step with the MQTT integration."""
        while True:
            self._mqtt_changed.clear()
            self._mqtt = None
            if mqtt_module(self.hass) is None:
                self._async_raise_issue()
            else:
                self._async_clear_issue()
                self._mqtt = await async_mqtt_client(self.hass)
                if self._mqtt is not None:
                    LOGGER.debug("%s: republishing CH-SMR on %s", self.entry.title, self.topic)
            await self._mqtt_changed.wait()

    @callback
    def _async_raise_issue(self) -> None:
        if self._issue_raised:
            return
        self._issue_raised = True
        LOGGER.warning(
            "%s: the CH-SMR republisher is on but the MQTT integration is not set up",
            self.entry.title,
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_MQTT_MISSING,
            translation_placeholders={"title": self.entry.title, "topic": self.topic},
        )

    @callback
    def _async_clear_issue(self) -> None:
        if self._issue_raised:
            self._issue_raised = False
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    # ----------------------------------------------------------------- readings (hot path)

    @callback
    def async_on_reading(self, reading: Reading) -> None:
        """A reading of the meter: publish it now, or as the latest one at the next slot."""
        if not self._interval:
            self._enqueue(reading)
            return
        now = monotonic()
        if self._timer is None and now >= self._next_allowed:
            self._next_allowed = now + self._interval
            self._enqueue(reading)
            return
        if self._pending is not None:
            self.stats.superseded += 1
        self._pending = reading
        if self._timer is None:
            self._timer = self.hass.loop.call_later(
                self._next_allowed - now, self._async_release_pending
            )

    @callback
    def _async_release_pending(self) -> None:
        self._timer = None
        reading, self._pending = self._pending, None
        if reading is not None:
            self._next_allowed = monotonic() + self._interval
            self._enqueue(reading)

    def _enqueue(self, reading: Reading) -> None:
        if self._mqtt is None:
            self.stats.skipped_no_mqtt += 1
            return
        queue = self._queue
        if len(queue) >= QUEUE_LIMIT:
            queue.popleft()
            self.stats.dropped += 1
        queue.append(reading)
        self._wake.set()

    # ----------------------------------------------------------------- worker

    async def _async_publish_loop(self) -> None:
        """Encode and publish queued readings, in order, one at a time."""
        queue = self._queue
        wake = self._wake
        while True:
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            reading = queue.popleft()
            mqtt = self._mqtt
            if mqtt is None:
                self.stats.skipped_no_mqtt += 1
                continue
            try:
                await mqtt.async_publish(
                    self.hass, self.topic, encode_payload(reading), self._qos, self._retain
                )
            except (HomeAssistantError, OSError, ValueError) as err:
                self._async_failed(err)
            except Exception as err:  # publishing must go on whatever happens
                self._async_failed(err, unexpected=True)
            else:
                self.stats.published += 1
                if self._failing:
                    self._failing = False
                    LOGGER.info(
                        "%s: publishing CH-SMR on %s works again", self.entry.title, self.topic
                    )

    @callback
    def _async_failed(self, err: BaseException, *, unexpected: bool = False) -> None:
        self.stats.failed += 1
        self.stats.last_error = str(err) or type(err).__name__
        now = monotonic()
        if self._failing or now < self._next_failure_log:
            LOGGER.debug("%s: publishing CH-SMR failed: %s", self.entry.title, err)
            return
        self._failing = True
        self._next_failure_log = now + REJECTION_SUMMARY_SECONDS
        LOGGER.warning(
            "%s: publishing CH-SMR on %s failed: %s (further failures are counted in the "
            "diagnostics and logged at debug level)",
            self.entry.title,
            self.topic,
            self.stats.last_error,
            exc_info=unexpected,
        )

    def diagnostics(self) -> dict[str, Any]:
        """Settings and counters (no secrets involved)."""
        return {
            "topic": self.topic,
            "interval": self.settings.interval,
            "qos": self._qos,
            "retain": self._retain,
            "mqtt_ready": self.mqtt_ready,
            "queued": len(self._queue),
            "published": self.stats.published,
            "failed": self.stats.failed,
            "skipped_no_mqtt": self.stats.skipped_no_mqtt,
            "superseded": self.stats.superseded,
            "dropped": self.stats.dropped,
            "last_error": self.stats.last_error,
        }


@callback
def async_setup_republisher(
    hass: HomeAssistant, entry: ConfigEntry, subscribe: ReadingSubscription
) -> Republisher | None:
    """Start the entry's republisher if its options turn it on; it stops with the entry.

    ``subscribe`` delivers every reading of the meter (the coordinator's, not averaged).
    """
    settings = RepublishSettings.of_entry(hass, entry)
    if not settings.enabled:
        return None
    republisher = Republisher(hass, entry, settings)
    republisher.async_start()
    entry.async_on_unload(subscribe(republisher.async_on_reading))
    return republisher
