"""The push coordinator: runs the meter's reading source and turns readings into sensor values.

One :class:`~.reader.session.ReadingSource` per config entry (a session on a port, or a
CH-SMR subscription) reads the meter forever and reconnects by itself. For every reading
the coordinator feeds one channel per OBIS code (see ``channels.py``); at the end of each
update interval it flushes the channels, and only entities whose value changed write their
state. It also owns availability (silence longer than a few reading intervals), the log
policy for rejected frames (the source counts them), and the repair issue for a rejected key.

An outage is logged once each way: the source logs its link (a warning when it is lost, an
info line when it is back), the coordinator the sensors (an info line when they become
unavailable, and one when readings return, unless the source's link came back meanwhile: its
own line already says so).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from time import monotonic

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.event import async_call_later

from .channels import Channel, CounterChannel, IgnoredChannel, MeasurementChannel
from .const import (
    CONF_UPDATE_INTERVAL,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    ISSUE_KEY_REJECTED,
    KEY_ISSUE_FRAMES,
    LOGGER,
    REJECTION_SUMMARY_SECONDS,
    SILENCE_INTERVALS,
)
from .entry_data import entry_meter_id
from .reader.errors import DecryptionFailed, KeyRequired, ReaderError, TransportError
from .reader.model import DecodeResult, Reading, RejectedFrame
from .reader.obis import BY_CODE, ObisEntry, Quantity
from .reader.session import ReadingSource
from .reader.spec import StandardSpec

type NewChannelsListener = Callable[[list[str]], None]
type ReadingListener = Callable[[Reading], None]
type ResultCallback = Callable[[DecodeResult], None]
type ConnectionCallback = Callable[[bool, ReaderError | None], None]
# Makes the entry's reading source, given where it delivers readings and connection changes.
type SourceFactory = Callable[[ResultCallback, ConnectionCallback], ReadingSource]

# How long set-up waits for the port to open before it lets the session keep trying alone.
# Short: a port that cannot be opened fails at once, and Home Assistant warns about set-ups
# that take more than 10 s.
SETUP_CONNECT_TIMEOUT = 3.0
# Bytes after the last reading, in frames of its size: more than this and not one frame in
# them (not even a rejected one) is a meter speaking another way, not a frame cut off.
NOISE_FRAMES = 2


def _channel_for(entry: ObisEntry | None) -> Channel:
    """The channel kind a catalogue entry needs: data, not branches in the hot path."""
    if entry is None or entry.quantity is Quantity.IDENTIFIER:
        return IgnoredChannel()
    if entry.counter:
        return CounterChannel()
    return MeasurementChannel(entry.decimals)


@dataclass(slots=True)
class RejectionLog:
    """What the log said about rejected frames: each reason once, then summaries (the
    source counts the frames themselves)."""

    logged: set[str] = field(default_factory=set)
    since_summary: dict[str, int] = field(default_factory=dict)
    next_summary: float = 0.0


class ChSmartMeterCoordinator:
    """Reads one meter and feeds its sensors."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        spec: StandardSpec,
        make_source: SourceFactory,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.spec = spec
        self.meter_id = entry_meter_id(entry)
        self.update_interval = float(
            entry.options.get(CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL)
        )
        self.silence_limit = SILENCE_INTERVALS * self.spec.interval

        self.channels: dict[str, Channel] = {}
        self._flushing: list[Channel] = []
        self.last_reading_channel = Channel()
        self.rejected_channel = Channel()
        self.rejected_channel.value = 0
        self._new_channels_listener: NewChannelsListener | None = None
        # Called with every reading, before any averaging (the CH-SMR republisher).
        self._reading_listeners: list[ReadingListener] = []

        self.available = False
        self._silent = False
        # The source lost its link since the last reading: it logged that, and logs its
        # return itself (see _async_set_available).
        self._link_lost = False
        # The source's counters at the last reading: what arrived since then, and how.
        self._bytes_at_reading = 0
        self._rejected_at_reading = 0
        self.reading: Reading | None = None
        self.connected = False
        self.last_connection_error: ReaderError | None = None
        self._last_reading_at = 0.0
        self._next_flush = 0.0
        self._silence_timer: CALLBACK_TYPE | None = None
        self._device_details: tuple[str | None, str | None] = (None, None)
        self._reported_meter_id: str | None = None

        self.rejections = RejectionLog()
        # Notices of readings (e.g. swapped keys), each logged once: diagnostics list them.
        self.notices: list[str] = []
        self._key_failures = 0
        self._key_issue: str | None = None

        self.source = make_source(self._on_result, self._on_connection)
        self._task: asyncio.Task[None] | None = None
        self._first_connection: asyncio.Future[ReaderError | None] | None = None

    # ----------------------------------------------------------------- life cycle

    @property
    def device_info(self) -> DeviceInfo:
        """The meter as a device; manufacturer and model once a reading named them."""
        info = DeviceInfo(
            identifiers={(DOMAIN, self.meter_id)},
            name=self.entry.title,
            serial_number=self.meter_id,
        )
        manufacturer, model = self._device_details
        if manufacturer:
            info["manufacturer"] = manufacturer
        if model:
            info["model"] = model
        return info

    async def async_start(self) -> None:
        """Open the meter's port and start reading.

        Raises ``ConfigEntryNotReady`` (Home Assistant retries later) when the port cannot be
        opened at all; silence is no reason to fail: the entities show it as unavailable.
        """
        self._first_connection = self.hass.loop.create_future()
        self._task = self.entry.async_create_background_task(
            self.hass, self._async_run(), name=f"{DOMAIN} source {self.entry.title}"
        )
        # Not listen_once: its remover must stay valid for the unload after a stop.
        self.entry.async_on_unload(
            self.hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, self._async_on_stop)
        )
        try:
            async with asyncio.timeout(SETUP_CONNECT_TIMEOUT):
                error = await asyncio.shield(self._first_connection)
        except TimeoutError:
            LOGGER.debug("%s: the port is not open yet; the session keeps trying", self.entry.title)
            return
        if error is not None:
            await self.async_shutdown()
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": error.message},
            )

    async def _async_run(self) -> None:
        """Run the source; it reconnects by itself, so an exception here is a bug."""
        try:
            await self.source.run()
        except Exception:
            LOGGER.exception("%s: reading the meter stopped unexpectedly", self.entry.title)

    async def _async_on_stop(self, _event: Event) -> None:
        await self.async_shutdown()

    async def async_shutdown(self) -> None:
        """Stop reading and release the port; nothing stays behind."""
        if self._silence_timer is not None:
            self._silence_timer()
            self._silence_timer = None
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            # wait() neither raises the task's cancellation nor swallows our own.
            await asyncio.wait([task])
        await self.source.close()

    # ----------------------------------------------------------------- session callbacks

    @callback
    def _on_connection(self, connected: bool, error: ReaderError | None) -> None:
        self.connected = connected
        self.last_connection_error = error
        first = self._first_connection
        if first is not None and not first.done():
            # Only "the port cannot be opened" fails set-up; anything else is for later.
            first.set_result(error if not connected and isinstance(error, TransportError) else None)
        if connected:
            LOGGER.debug("%s: connected", self.entry.title)
        elif error is not None:
            self._link_lost = True
            LOGGER.debug("%s: disconnected: %s", self.entry.title, error.message)

    @callback
    def _on_result(self, result: DecodeResult) -> None:
        if isinstance(result, Reading):
            self.async_handle_reading(result)
        else:
            self.async_handle_rejected(result)

    # ----------------------------------------------------------------- readings

    def set_new_channels_listener(self, listener: NewChannelsListener) -> Callable[[], None]:
        """Call ``listener`` with the codes of channels created by a reading."""
        self._new_channels_listener = listener

        def remove() -> None:
            self._new_channels_listener = None

        return remove

    def add_reading_listener(self, listener: ReadingListener) -> Callable[[], None]:
        """Call ``listener`` with every reading (not averaged); returns the remover."""
        self._reading_listeners.append(listener)

        def remove() -> None:
            if listener in self._reading_listeners:
                self._reading_listeners.remove(listener)

        return remove

    def channel(self, code: str) -> Channel:
        """The channel of a code, created on first use."""
        channel = self.channels.get(code)
        if channel is None:
            channel = self.channels[code] = _channel_for(BY_CODE.get(code))
            if not isinstance(channel, IgnoredChannel):
                self._flushing.append(channel)
        return channel

    @callback
    def async_handle_reading(self, reading: Reading) -> None:
        """Feed a reading to the channels; flush them when the update interval is over."""
        now = monotonic()
        channels = self.channels
        new_codes: list[str] | None = None
        for code, value in reading.values.items():
            channel = channels.get(code)
            if channel is None:
                channel = self.channel(code)
                if not isinstance(channel, IgnoredChannel):
                    if new_codes is None:
                        new_codes = []
                    new_codes.append(code)
            channel.add(value, now)
        self.reading = reading
        self._last_reading_at = now
        stats = self.source.stats
        self._bytes_at_reading = stats.bytes_received
        self._rejected_at_reading = stats.frames_rejected
        if reading.notices:
            self._async_log_notices(reading.notices)
        if self._key_failures:
            self._key_failures = 0
            self._async_clear_key_issue()
        if reading.meter_id != self._reported_meter_id:
            self._async_meter_identified(reading)
        for listener in self._reading_listeners:
            listener(reading)
        if not self.available:
            # Back (or the first reading): every sensor writes its state once, with this
            # reading's values. Writing before the flush would show the last values from
            # before the silence, stamped now (the recorder would keep them).
            self._async_set_available(True)
            self._async_flush(now, write_all=True)
        elif now >= self._next_flush:
            self._async_flush(now)
        self._link_lost = False
        # After the flush: new sensors start with this reading's value, not unavailable.
        if new_codes is not None and self._new_channels_listener is not None:
            self._new_channels_listener(new_codes)
        if self._silence_timer is None:
            self._silence_timer = async_call_later(
                self.hass, self.silence_limit, self._async_check_silence
            )

    @callback
    def _async_log_notices(self, notices: tuple[str, ...]) -> None:
        """Log what a reading says about how it was obtained: once, not with every frame."""
        for notice in notices:
            if notice not in self.notices:
                self.notices.append(notice)
                LOGGER.warning("%s: %s", self.entry.title, notice)

    @callback
    def _async_flush(self, now: float, *, write_all: bool = False) -> None:
        self._next_flush = now + self.update_interval
        for channel in self._flushing:
            if channel.take() or write_all:
                channel.listener()
        if self.reading is not None:
            self.last_reading_channel.publish(self.reading.timestamp)
        self.rejected_channel.publish(self.source.stats.frames_rejected)

    @callback
    def _async_check_silence(self, _now: datetime) -> None:
        self._silence_timer = None
        silent_for = monotonic() - self._last_reading_at
        if silent_for < self.silence_limit:
            self._silence_timer = async_call_later(
                self.hass, self.silence_limit - silent_for, self._async_check_silence
            )
            return
        self._async_set_available(False)

    @callback
    def _async_set_available(self, available: bool) -> None:
        self.available = available
        if available:
            if self._silent:
                self._silent = False
                # One line on recovery: a source whose link was lost has just logged that
                # it is back (a session's "Reconnected to ..."); a second line says nothing.
                LOGGER.log(
                    logging.DEBUG if self._link_lost else logging.INFO,
                    "%s: the meter is sending again",
                    self.entry.title,
                )
        else:
            self._silent = True
            self._async_log_silence()
            for channel in self._flushing:
                channel.discard()
            # The first reading after the silence is published at once.
            self._next_flush = 0.0
            for channel in self._flushing:
                channel.listener()

    @callback
    def _async_log_silence(self) -> None:
        """Info, once (quality scale "log-when-unavailable"); the entities show it too.

        A warning instead when a meter that pushes its frames kept sending bytes without a
        single frame in them: a meter at another speed or parity than the port's. No
        rejected-frame warning tells that (there is no frame to reject), and it is what a
        user has to fix. (A polled meter's bytes may be the echo of our own requests.)
        """
        stats = self.source.stats
        received = stats.bytes_received - self._bytes_at_reading
        recent = self.source.recent_frames
        frame_size = len(recent[-1]) if recent else 0
        if (
            self.spec.create_poller is None
            and not self._link_lost
            and stats.frames_rejected == self._rejected_at_reading
            and received > NOISE_FRAMES * frame_size
        ):
            LOGGER.warning(
                "%s: no reading from the meter for %.0f seconds, though it sent %d bytes: not "
                "one frame in them (are the port's speed and parity the meter's?); its sensors "
                "are unavailable",
                self.entry.title,
                self.silence_limit,
                received,
            )
            return
        LOGGER.info(
            "%s: no reading from the meter for %.0f seconds; its sensors are unavailable",
            self.entry.title,
            self.silence_limit,
        )

    @callback
    def _async_meter_identified(self, reading: Reading) -> None:
        """First reading, or one from another meter: keep the device registry in step."""
        if self._reported_meter_id is None and reading.meter_id != self.meter_id:
            LOGGER.warning(
                "%s: the meter now reports the id %s instead of %s; treating it as a replaced "
                "meter, its sensors continue",
                self.entry.title,
                reading.meter_id,
                self.meter_id,
            )
        self._reported_meter_id = reading.meter_id
        details = (reading.manufacturer, reading.model)
        if details in (self._device_details, (None, None)):
            return
        self._device_details = details
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id, **self.device_info
        )

    # ----------------------------------------------------------------- rejected frames

    @callback
    def async_handle_rejected(self, rejected: RejectedFrame) -> None:
        """Log a rejected frame's reason once, then a summary now and then."""
        error = rejected.error
        reason = error.reason.value
        log = self.rejections
        first = reason not in log.logged
        if first:
            log.logged.add(reason)
            LOGGER.warning(
                "%s: a frame from the meter was rejected: %s (later ones of this kind are "
                "logged at debug level and summarised every %d minutes)",
                self.entry.title,
                error.message,
                REJECTION_SUMMARY_SECONDS // 60,
            )
        else:
            LOGGER.debug("%s: frame rejected: %s", self.entry.title, error.message)
            log.since_summary[reason] = log.since_summary.get(reason, 0) + 1
        now = monotonic()
        if first and log.next_summary == 0.0:
            log.next_summary = now + REJECTION_SUMMARY_SECONDS
        elif now >= log.next_summary and log.since_summary:
            LOGGER.info(
                "%s: frames rejected in the last %d minutes: %s",
                self.entry.title,
                REJECTION_SUMMARY_SECONDS // 60,
                ", ".join(f"{key} {n}" for key, n in sorted(log.since_summary.items())),
            )
            log.since_summary.clear()
            log.next_summary = now + REJECTION_SUMMARY_SECONDS
        if isinstance(error, KeyRequired | DecryptionFailed):
            self._key_failures += 1
            if self._key_failures >= KEY_ISSUE_FRAMES:
                self._async_raise_key_issue(error)
        if now >= self._next_flush:
            self._async_flush(now)

    @property
    def key_issue_id(self) -> str:
        """The id of this entry's repair issue for a rejected or missing key."""
        return f"{ISSUE_KEY_REJECTED}_{self.entry.entry_id}"

    @callback
    def _async_raise_key_issue(self, error: ReaderError) -> None:
        translation_key = "key_required" if isinstance(error, KeyRequired) else "key_rejected"
        if self._key_issue == translation_key:
            return
        self._key_issue = translation_key
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.key_issue_id,
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=translation_key,
            translation_placeholders={"title": self.entry.title},
        )

    @callback
    def _async_clear_key_issue(self) -> None:
        if self._key_issue is not None:
            self._key_issue = None
            ir.async_delete_issue(self.hass, DOMAIN, self.key_issue_id)
