"""The push coordinator: runs the meter's reading source and turns readings into sensor values.

One :class:`~.reader.session.ReadingSource` per config entry (a session on a port, or a
CH-SMR subscription) reads the meter forever and reconnects by itself. For every reading
the coordinator feeds one channel per OBIS code (see ``channels.py``); at the end of each
update interval it flushes the channels, and only entities whose value changed write their
state. It also owns availability (silence longer than a few reading intervals), the log
policy for rejected frames (the source counts them), and asking for new keys when the meter's
frames keep failing on the key (Home Assistant's reauthentication, see ``reauth_flow.py``).

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

from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_RECONFIGURE, ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.core import DOMAIN as HOMEASSISTANT_DOMAIN
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.event import async_call_later

from .channels import (
    Channel,
    CounterChannel,
    CounterGuard,
    IgnoredChannel,
    LatestChannel,
    MeasurementChannel,
    SubMeterChannel,
)
from .const import (
    CONF_ACCEPTED_METER_ID,
    CONF_BASELINES,
    CONF_KEY_PROBLEM,
    CONF_LOW_TARIFF,
    CONF_UPDATE_INTERVAL,
    DEFAULT_LOW_TARIFF,
    DEFAULT_UPDATE_INTERVAL,
    DOMAIN,
    EXPORT_POWER,
    IMPORT_POWER,
    ISSUE_METER_REPLACED,
    KEY_ISSUE_FRAMES,
    LOGGER,
    NET_POWER,
    REAUTH_CHECK_STEP,
    REAUTH_END_STEP,
    REJECTION_SUMMARY_SECONDS,
    SILENCE_INTERVALS,
    SUBMETER_PREFIX,
)
from .entry_data import entry_meter_id, reading_interval
from .reader.errors import (
    DecryptionFailed,
    KeyRejected,
    KeyRequired,
    ReaderError,
    TransportError,
)
from .reader.model import DecodeResult, Reading, RejectedFrame, SubMeterReading
from .reader.obis import BY_CODE, STATUS_QUANTITIES, Quantity
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

# The text and code messages of the meter (0-0:96.13.0, 0-0:96.13.1): one sensor each.
MESSAGE_CODES = frozenset({"96.13.0", "96.13.1"})
# How fast a sub-meter's register can count, per hour, by unit: beyond the largest
# household meters (a G25 gas meter passes 40 m³/h, a district heating connection of a
# house draws well under 1 MW), so only a corrupt or replaced meter's value is held back.
SUBMETER_MAX_PER_HOUR = {"m³": 100.0, "kWh": 2000.0, "MWh": 2.0, "GJ": 7.2}


def submeter_key(channel: int) -> str:
    """The coordinator's key of the sub-meter on M-Bus channel ``channel``."""
    return f"{SUBMETER_PREFIX}{channel}"


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
        self.silence_limit = SILENCE_INTERVALS * reading_interval(entry.options, spec)
        self.low_tariff = int(entry.options.get(CONF_LOW_TARIFF, DEFAULT_LOW_TARIFF))

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
        # A replaced meter: offsets the user accepted, the id accepted, whether an issue is up.
        self._baselines: dict[str, float] = dict(entry.options.get(CONF_BASELINES, {}))
        self._accepted_meter_id: str = entry.options.get(CONF_ACCEPTED_METER_ID, self.meter_id)
        self._replacement_issue = False

        self.rejections = RejectionLog()
        # Notices of readings (e.g. swapped keys), each logged once: diagnostics list them.
        self.notices: list[str] = []
        self._key_failures = 0
        # Whether this entry waits for new keys: None until the first reading (a request
        # may be left over from before a reload), then whether this coordinator asked.
        self._reauth_requested: bool | None = None

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
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            # wait() neither raises the task's cancellation nor swallows our own.
            await asyncio.wait([task])
        await self.source.close()
        # Last: a reading delivered while the task stopped may have armed the timer again.
        if self._silence_timer is not None:
            self._silence_timer()
            self._silence_timer = None

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
            channel = self.channels[code] = self._new_channel(code)
            if not isinstance(channel, IgnoredChannel):
                self._flushing.append(channel)
        return channel

    def _new_channel(self, code: str) -> Channel:
        """The channel kind a catalogue entry needs: data, not branches in the hot path."""
        if code == NET_POWER:
            return MeasurementChannel(BY_CODE[IMPORT_POWER].decimals)
        if code in MESSAGE_CODES:
            return LatestChannel()
        entry = BY_CODE.get(code)
        if entry is None or entry.quantity is Quantity.IDENTIFIER:
            return IgnoredChannel()
        if entry.quantity in STATUS_QUANTITIES:
            return LatestChannel()  # a tariff or a count is never averaged
        if entry.counter:
            # Registers count kWh (kvarh); the meter's maximum power bounds how fast.
            guard = CounterGuard(self.spec.max_power / 3600, self._baselines.get(code, 0.0))
            return CounterChannel(guard, self._async_discontinuity_changed)
        return MeasurementChannel(entry.decimals)

    def submeter_channel(self, channel: int, kind: str, unit: str | None) -> SubMeterChannel:
        """The channel of the sub-meter on M-Bus ``channel``, created on first use."""
        key = submeter_key(channel)
        existing = self.channels.get(key)
        if isinstance(existing, SubMeterChannel):
            return existing
        per_hour = SUBMETER_MAX_PER_HOUR.get(unit or "", float("inf"))
        guard = CounterGuard(per_hour / 3600, self._baselines.get(key, 0.0))
        created = SubMeterChannel(kind, unit, guard, self._async_discontinuity_changed)
        self.channels[key] = created
        self._flushing.append(created)
        return created

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
        values = reading.values
        export = values.get(EXPORT_POWER)
        if export is not None and (imported := values.get(IMPORT_POWER)) is not None:
            # Signed, of one and the same reading (rounded: no float noise in a state).
            if (net := channels.get(NET_POWER)) is None:
                net = self.channel(NET_POWER)
                new_codes = [*(new_codes or ()), NET_POWER]
            net.add(round(imported - export, 6), now)
        if reading.text or reading.submeters:
            new_codes = self._feed_extras(reading, now, new_codes)
        self.reading = reading
        self._last_reading_at = now
        stats = self.source.stats
        self._bytes_at_reading = stats.bytes_received
        self._rejected_at_reading = stats.frames_rejected
        if reading.notices:
            self._async_log_notices(reading.notices)
        self._key_failures = 0
        if self._reauth_requested is not False:
            self._async_end_reauth()
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

    def _feed_extras(
        self, reading: Reading, now: float, new_codes: list[str] | None
    ) -> list[str] | None:
        """The meter's messages and its sub-meters: channels of their own."""
        created: list[str] = []
        for code, text in reading.text.items():
            if code in MESSAGE_CODES:
                if code not in self.channels:
                    created.append(code)
                self.channel(code).add(text, now)  # type: ignore[arg-type]
        for sub in reading.submeters:
            created += self._feed_submeter(sub, now)
        return [*(new_codes or ()), *created] if created else new_codes

    def _feed_submeter(self, sub: SubMeterReading, now: float) -> list[str]:
        key = submeter_key(sub.channel)
        new = key not in self.channels
        channel = self.submeter_channel(sub.channel, sub.kind.value, sub.unit)
        if sub.unit != channel.unit:
            return []  # another unit than the sensor's: never mixed into its register
        if sub.meter_id:
            channel.meter_id = sub.meter_id
        channel.add_capture(sub.value, sub.timestamp, now)
        return [key] if new else []

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
        self._reported_meter_id = reading.meter_id
        if reading.meter_id != self._accepted_meter_id:
            LOGGER.warning(
                "%s: the meter now reports the id %s instead of %s: a replaced meter?",
                self.entry.title,
                reading.meter_id,
                self._accepted_meter_id,
            )
            self._async_update_replacement_issue()
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
        if isinstance(error, KeyRequired | DecryptionFailed | KeyRejected):
            self._key_failures += 1
            if self._key_failures >= KEY_ISSUE_FRAMES:
                self._async_request_reauth(error)
        if now >= self._next_flush:
            self._async_flush(now)

    # ----------------------------------------------------------------- replaced meter

    @staticmethod
    def clock() -> float:
        """The monotonic clock of channels and guards (one clock, so a restored value's age
        and the readings' times compare)."""
        return monotonic()

    @property
    def replacement_issue_id(self) -> str:
        """The id of this entry's repair issue for a replaced meter or a register that jumped."""
        return f"{ISSUE_METER_REPLACED}_{self.entry.entry_id}"

    def _discontinuous(self) -> dict[str, CounterGuard]:
        return {
            code: channel.guard
            for code, channel in self.channels.items()
            if isinstance(channel, CounterChannel) and channel.guard.discontinuity
        }

    @callback
    def _async_discontinuity_changed(self) -> None:
        self._async_update_replacement_issue()

    @callback
    def _async_update_replacement_issue(self) -> None:
        """Raise (or remove) the repair issue: registers with a new baseline, or a new id."""
        held = self._discontinuous()
        new_id = self._reported_meter_id not in (None, self._accepted_meter_id)
        if not held and not new_id:
            if self._replacement_issue:
                self._replacement_issue = False
                ir.async_delete_issue(self.hass, DOMAIN, self.replacement_issue_id)
            return
        registers = ", ".join(
            f"{code}: {guard.published:g} → {guard.held:g}"
            for code, guard in sorted(held.items())
            if guard.published is not None
        )
        if held:
            LOGGER.warning(
                "%s: energy registers out of line with what they showed (%s): held until "
                "the new baseline is accepted in the repair issue",
                self.entry.title,
                registers,
            )
        self._replacement_issue = True
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.replacement_issue_id,
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_METER_REPLACED,
            translation_placeholders={
                "title": self.entry.title,
                "meter_id": self._reported_meter_id or self.meter_id,
                "previous_id": self._accepted_meter_id,
                "registers": registers or "-",
            },
            data={"entry_id": self.entry.entry_id},
        )

    def accept_baselines(self) -> dict[str, object]:
        """The options that make the held registers continue from their last values and
        accept the meter's id (the repair flow stores them; the entry then reloads)."""
        for code, guard in self._discontinuous().items():
            self._baselines[code] = guard.accept_baseline()
        return {
            CONF_BASELINES: dict(self._baselines),
            CONF_ACCEPTED_METER_ID: self._reported_meter_id or self._accepted_meter_id,
        }

    @callback
    def _async_request_reauth(self, error: ReaderError) -> None:
        """Ask the user for the meter's new keys: Home Assistant's reauthentication flow.

        Home Assistant lists the flow on the integrations page and raises a repair issue
        of its own that opens it; a key issue of this integration would repeat that issue
        without the form.
        """
        if self._reauth_requested:
            return
        if any(self.entry.async_get_active_flows(self.hass, {SOURCE_RECONFIGURE})):
            return  # the user is changing the settings already; asked at a later frame
        self._reauth_requested = True
        LOGGER.warning(
            "%s: %d frames in a row failed on the key (%s): asking for the meter's keys "
            "(Settings > Devices & services)",
            self.entry.title,
            KEY_ISSUE_FRAMES,
            error.reason.value,
        )
        self.entry.async_start_reauth(self.hass, data={CONF_KEY_PROBLEM: error.reason.value})

    @callback
    def _async_end_reauth(self) -> None:
        """Readings decode: a request for keys still open is no longer needed (the meter
        recovered, or its keys were changed another way, such as Reconfigure).

        A flow that is checking new keys, or has checked them, is left to end by itself:
        its user is about to see the result.
        """
        self._reauth_requested = False
        flows = self.hass.config_entries.flow
        for flow in list(self.entry.async_get_active_flows(self.hass, {SOURCE_REAUTH})):
            if flow.get("step_id") in (REAUTH_CHECK_STEP, REAUTH_END_STEP):
                continue
            LOGGER.info("%s: the meter's data decodes again: no new key needed", self.entry.title)
            flows.async_abort(flow["flow_id"])
            # Its repair issue: Home Assistant 2025.4 leaves it when a flow is aborted.
            ir.async_delete_issue(
                self.hass,
                HOMEASSISTANT_DOMAIN,
                f"config_entry_reauth_{DOMAIN}_{self.entry.entry_id}",
            )
