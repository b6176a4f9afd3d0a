"""The reading session: keep a meter connection alive and turn its bytes into readings.

:class:`MeterSession` opens the stream, feeds the standard's decoder and hands every
:class:`~.model.Reading` and :class:`~.model.RejectedFrame` to a callback, in order,
straight from the transport's read callback (``ByteStream.receive``: no task switch per
chunk, the cheapest path through an event loop for a meter that never stops). It
reconnects forever with capped exponential backoff (plus jitter), and it reconnects when
an open connection stays silent for longer than ``max(60 s, 6 x interval)``: a TCP
connection to a ser2net or Wi-Fi bridge that died without a FIN looks open forever, and
that silent stall is what users of other readers fight with watchdog automations.

:func:`probe` is the connection test of the configuration flow: the first valid reading,
or the most specific reason why there is none.

Logging: one line per change of state (connected, lost, reconnected), never per frame
above debug level, and never any key material.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from .errors import (
    DecryptionFailed,
    FrameError,
    KeyRejected,
    KeyRequired,
    NoData,
    NoValidFrame,
    ReaderError,
    TlsRequired,
    TransportError,
)
from .model import DecodeResult, Reading, SerialSettings
from .polling import DialogueStats, Poller, open_link
from .spec import DecoderOptions, StandardSpec, StreamDecoder
from .transport import ByteStream, close_quietly, normalize_url, open_stream, redact_url

_LOGGER = logging.getLogger(__name__)

MIN_SILENCE_TIMEOUT: Final = 60.0
SILENCE_INTERVALS: Final = 6
JITTER: Final = 0.1  # up to +10 % on each backoff delay, so that readers do not march in step
# Reopening a local port or connecting to a LAN adapter costs next to nothing, and a link
# that comes back (an adapter replugged, a rebooted ser2net or Wi-Fi bridge) must be used
# within seconds, not after a backoff grown to a minute: retries never wait longer than this.
BACKOFF_MAX: Final = 4.0
# The connection test gives up on the key after this many frames failing authentication
# (one could be line noise: a corrupted ciphertext fails the tag check too).
PROBE_DECRYPTION_FAILURES: Final = 2
# Seconds the connection test listens at least; slow meters get two of their intervals more.
PROBE_TIMEOUT: Final = 20.0


def silence_timeout_for(spec: StandardSpec) -> float:
    """How long an open connection may stay silent before it is considered dead."""
    return max(MIN_SILENCE_TIMEOUT, SILENCE_INTERVALS * spec.interval)


def probe_timeout(spec: StandardSpec) -> float:
    """How long the connection test (:func:`probe`) listens to a meter of ``spec``."""
    return max(PROBE_TIMEOUT, 2 * spec.interval + 5)


@dataclass(slots=True)
class SourceStats:
    """Counters of a reading source (a session on a port, an MQTT subscription).

    The one place where frames are counted: ``rejected_by_reason`` is keyed by the errors'
    reason codes (``crc_mismatch``, ``key_required``...). ``reconnects`` counts the
    connections opened after the first attempt; ``ignored`` messages dropped on purpose
    (a CH-SMR source never reads back what this installation republishes); ``connected``
    is true while a connection delivers data.
    """

    frames_ok: int = 0
    frames_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    bytes_received: int = 0
    ignored: int = 0
    last_error: str | None = None
    connected: bool = False

    def count(self, result: DecodeResult) -> None:
        """Count a reading or a rejected frame."""
        if isinstance(result, Reading):
            self.frames_ok += 1
            return
        reason = result.error.reason.value
        self.frames_rejected += 1
        self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + 1
        self.last_error = result.error.message


class ReadingSource(Protocol):
    """What delivers one meter's readings: a :class:`MeterSession` on a port, or another
    source of the same shape (the CH-SMR subscription of the Home Assistant integration).
    It hands each reading and rejected frame to the callback it was made with."""

    async def run(self) -> None:
        """Deliver readings until cancelled or closed; reconnect by itself."""

    async def close(self) -> None:
        """Stop :meth:`run` and release what the source holds."""

    @property
    def stats(self) -> SourceStats:
        """The live counters (read them; :func:`dataclasses.asdict` for a snapshot)."""

    @property
    def recent_frames(self) -> list[bytes]:
        """The last raw frames or messages (good or rejected), newest last."""

    def diagnostics(self) -> dict[str, Any]:
        """What the decoder learned about the meter (layout, profile)."""

    def paused(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Release the port for a while (a connection test of it); read on after the block."""


class _ConnectionLost(Exception):
    """Internal: the current connection ended; carries the reason."""

    def __init__(self, error: ReaderError) -> None:
        super().__init__(error.message)
        self.error = error


class MeterSession:
    """Reads one meter until cancelled or closed; see the module docstring.

    One session runs once: after :meth:`close`, :meth:`run` returns at once.

    ``on_connection(True, None)`` is called when a connection delivers its first bytes,
    ``on_connection(False, error)`` when it is lost or cannot be opened; each once per
    change. ``silence_timeout`` overrides :func:`silence_timeout_for` (tests).
    """

    def __init__(
        self,
        url: str,
        spec: StandardSpec,
        options: DecoderOptions,
        *,
        serial: SerialSettings | None = None,
        on_result: Callable[[DecodeResult], None],
        on_connection: Callable[[bool, ReaderError | None], None] | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = BACKOFF_MAX,
        history: int = 5,
        silence_timeout: float | None = None,
        poll_interval: float | None = None,
    ) -> None:
        self._url = url
        self._spec = spec
        self._options = options.live()  # decoded as the bytes arrive
        self._serial = serial if serial is not None else spec.serial
        self._on_result = on_result
        self._on_connection = on_connection
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._silence_timeout = (
            silence_timeout if silence_timeout is not None else silence_timeout_for(spec)
        )
        # Polled standards: seconds from the start of one reading cycle to the next.
        self._poll_interval = max(spec.min_poll_interval, poll_interval or spec.interval)
        self._poller: Poller | None = None
        self._dialogue = DialogueStats()
        self._stats = SourceStats()
        self._recent: deque[bytes] = deque(maxlen=max(history, 0))
        self._stream: ByteStream | None = None
        self._decoder: StreamDecoder | None = None
        self._closing = False
        self._running = False
        self._wakeup = asyncio.Event()
        # Cleared while paused(); the run loop waits on it with the port closed (_idle set).
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._idle = asyncio.Event()
        self._backoff = backoff_initial
        self._state: bool | None = None  # None until the first connection attempt ends
        self._description = redact_url(normalize_url(url))  # safe to log

    # -- public state ----------------------------------------------------------------

    @property
    def stats(self) -> SourceStats:
        """The live counters."""
        return self._stats

    @property
    def recent_frames(self) -> list[bytes]:
        """The last raw frames (good or rejected), newest last."""
        return list(self._recent)

    @property
    def decoder(self) -> StreamDecoder | None:
        """The decoder of the running session; None before run()."""
        return self._decoder

    def diagnostics(self) -> dict[str, Any]:
        """What the decoder (or the poller, with the dialogue's counters) learned."""
        if self._poller is not None:
            return {
                **self._poller.diagnostics(),
                "poll_interval": self._poll_interval,
                "dialogue": dataclasses.asdict(self._dialogue),
            }
        return {} if self._decoder is None else self._decoder.diagnostics()

    # -- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Read until cancelled or :meth:`close` d; never raises except ``CancelledError``."""
        decoder = self._decoder = self._spec.create_decoder(self._options)
        if self._spec.create_poller is not None:
            self._poller = self._spec.create_poller(self._options, self._serial)
        attempts = 0
        self._running = True
        try:
            while not self._closing:
                if not self._resumed.is_set():
                    self._idle.set()
                    await self._resumed.wait()
                    self._idle.clear()
                    continue
                try:
                    await self._connect_and_read(decoder, first=attempts == 0)
                except _ConnectionLost as lost:
                    self._set_disconnected(lost.error)
                except Exception as err:  # a bug must not end the reading for good
                    _LOGGER.exception("Unexpected error while reading %s", self._description)
                    self._set_disconnected(TransportError(f"unexpected {type(err).__name__}"))
                finally:
                    attempts += 1
                    await close_quietly(self._stream)
                    self._stream = None
                    decoder.reset()
                if not self._closing and self._resumed.is_set():
                    await self._sleep_backoff()
        finally:
            self._running = False
            self._idle.set()
            self._stats.connected = False
            await close_quietly(self._stream)
            self._stream = None

    async def close(self) -> None:
        """Stop :meth:`run` (it returns) and close the connection."""
        self._closing = True
        self._wakeup.set()
        self._resumed.set()
        stream, self._stream = self._stream, None
        await close_quietly(stream)

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Release the port for a while (a connection test of the same port), then read on.

        The port is closed when the block starts, and reading resumes when it ends; the
        counters and the decoder's replay protection carry on.
        """
        self._resumed.clear()
        self._wakeup.set()
        stream, self._stream = self._stream, None
        await close_quietly(stream)
        try:
            if self._running:
                await self._idle.wait()
            yield
        finally:
            self._resumed.set()

    # -- internals -------------------------------------------------------------------

    async def _connect_and_read(self, decoder: StreamDecoder, *, first: bool) -> None:
        try:
            stream = await open_stream(self._url, self._serial)
        except TransportError as err:
            raise _ConnectionLost(err) from err
        if self._closing or not self._resumed.is_set():
            await close_quietly(stream)
            return
        self._stream = stream
        self._description = stream.description
        if not first:
            self._stats.reconnects += 1
        _LOGGER.debug("Opened %s", self._description)
        if self._poller is not None:
            await self._poll(stream, self._poller)
        else:
            await self._listen(stream, decoder)

    async def _listen(self, stream: ByteStream, decoder: StreamDecoder) -> None:
        """A push meter: decode whatever it sends, until the stream ends or falls silent."""
        loop = asyncio.get_running_loop()
        limit = self._silence_timeout
        received_any = False
        # One silence watchdog for the whole connection, not a timeout per chunk: moved on
        # only when fewer than ``limit`` seconds are left, to ``limit`` plus a tenth ahead,
        # so silence is detected after limit to 1.1 x limit seconds, and a meter sending
        # every second costs a timer operation every few seconds, not one per chunk (a
        # measurable share of the per-telegram cost in Home Assistant).
        watchdog: asyncio.Timeout | None = None

        def on_chunk(chunk: bytes) -> None:
            # Runs in the transport's read callback (see ByteStream.receive): decoding and
            # the readings' consumers run without a task switch per chunk.
            nonlocal received_any
            if not received_any:
                received_any = True
                self._set_connected()
            now = loop.time()
            if watchdog is not None and (watchdog.when() or 0.0) - now < limit:
                watchdog.reschedule(now + limit * 1.1)
            self._stats.bytes_received += len(chunk)
            self._handle(self._feed(decoder, chunk))

        try:
            async with asyncio.timeout_at(loop.time() + limit) as watchdog:
                try:
                    await stream.receive(on_chunk)
                except TransportError as err:
                    raise _ConnectionLost(err) from err
        except TimeoutError as err:
            raise _ConnectionLost(self._silence_error(received_any)) from err
        if not self._closing and self._resumed.is_set():
            raise _ConnectionLost(TransportError("connection closed by the remote side"))

    async def _poll(self, stream: ByteStream, poller: Poller) -> None:
        """A polled meter: one reading cycle every poll interval, until the stream ends or
        no reading came for the silence timeout."""
        loop = asyncio.get_running_loop()
        poller.reset()
        last_reading = loop.time()
        async with open_link(stream, self._dialogue, on_bytes=self._count_bytes) as link:
            while not self._closing and self._resumed.is_set():
                started = loop.time()
                self._dialogue.cycles += 1
                readings = self._stats.frames_ok
                answers = self._dialogue.answers
                try:
                    async with asyncio.timeout(poller.cycle_timeout()):
                        await poller.poll(link, self._handle_one)
                except TimeoutError:
                    _LOGGER.debug("A reading cycle of %s took too long", self._description)
                except TransportError as err:
                    if self._closing or not self._resumed.is_set():
                        return
                    raise _ConnectionLost(err) from err
                now = loop.time()
                if self._dialogue.answers > answers:
                    self._set_connected()
                if self._stats.frames_ok > readings:
                    last_reading = now
                elif now - last_reading >= self._silence_timeout:
                    raise _ConnectionLost(self._silence_error(self._state is True))
                await self._sleep_until(started + self._poll_interval)

    def _count_bytes(self, size: int) -> None:
        self._stats.bytes_received += size

    async def _sleep_until(self, moment: float) -> None:
        """Until ``moment`` (loop time), or earlier when closed or paused."""
        delay = moment - asyncio.get_running_loop().time()
        if delay <= 0:
            return
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wakeup.wait()

    def _handle_one(self, result: DecodeResult) -> None:
        self._handle([result])

    def _silence_error(self, received_any: bool) -> TransportError:
        seconds = f"{self._silence_timeout:g} s"
        if received_any:
            return TransportError(f"no data for {seconds}: the connection seems dead")
        return NoData(f"nothing received for {seconds}")

    def _feed(self, decoder: StreamDecoder, chunk: bytes) -> list[DecodeResult]:
        try:
            return decoder.feed(chunk)
        except Exception:
            # A decoder must not raise; if one does, lose the partial frame, not the session.
            _LOGGER.exception("Decoder of %s failed; its buffer is discarded", self._spec.title)
            decoder.reset()
            return []

    def _handle(self, results: list[DecodeResult]) -> None:
        for result in results:
            self._stats.count(result)
            if isinstance(result, Reading):
                self._backoff = self._backoff_initial
            else:
                _LOGGER.debug("Frame rejected from %s: %s", self._description, result.error.message)
            self._recent.append(result.frame)
            try:
                self._on_result(result)
            except Exception:
                _LOGGER.exception("Error in the reading callback")

    def _set_connected(self) -> None:
        self._stats.connected = True
        if self._state is True:
            return
        if self._state is False:
            _LOGGER.info("Reconnected to %s", self._description)
        else:
            _LOGGER.debug("Receiving data from %s", self._description)
        self._state = True
        self._notify(True, None)

    def _set_disconnected(self, error: ReaderError) -> None:
        self._stats.connected = False
        self._stats.last_error = error.message
        if self._state is False:
            _LOGGER.debug("Still no connection to %s: %s", self._description, error.message)
            return
        _LOGGER.warning(
            "Connection to %s %s: %s; retrying",
            self._description,
            "lost" if self._state else "failed",
            error.message,
        )
        self._state = False
        self._notify(False, error)

    def _notify(self, connected: bool, error: ReaderError | None) -> None:
        if self._on_connection is None:
            return
        try:
            self._on_connection(connected, error)
        except Exception:
            _LOGGER.exception("Error in the connection callback")

    async def _sleep_backoff(self) -> None:
        delay = min(self._backoff, self._backoff_max) * (1.0 + random.uniform(0.0, JITTER))
        self._backoff = min(self._backoff * 2, self._backoff_max)
        _LOGGER.debug("Next connection attempt to %s in %.3f s", self._description, delay)
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wakeup.wait()


# What probe() raises, most specific first (the config flow shows each by its reason).
PROBE_ERRORS: Final = (
    KeyRequired,
    KeyRejected,
    TlsRequired,
    DecryptionFailed,
    NoData,
    NoValidFrame,
    TransportError,
)


def _no_valid_frame(rejections: list[FrameError], received: int) -> NoValidFrame:
    if not rejections:
        return NoValidFrame(f"{received} bytes without a single complete frame")
    reasons = Counter(error.message for error in rejections)
    message, _ = reasons.most_common(1)[0]
    frames = "frame" if len(rejections) == 1 else "frames"
    return NoValidFrame(f"{len(rejections)} {frames} rejected, e.g. {message}")


@dataclass(slots=True)
class _ProbeTally:
    """What the live check saw: bytes, rejections; a reading ends it, key errors too."""

    received: int = 0
    ended: bool = False  # the remote side closed the connection
    rejections: list[FrameError] = field(default_factory=list)
    decryption_failures: int = 0

    def offer(self, result: DecodeResult) -> Reading | None:
        """The reading, or None after noting the rejection (raises for the key errors)."""
        if isinstance(result, Reading):
            return result
        error = result.error
        self.rejections.append(error)
        if isinstance(error, KeyRequired | KeyRejected | TlsRequired):
            raise error
        if isinstance(error, DecryptionFailed):
            self.decryption_failures += 1
            if self.decryption_failures >= PROBE_DECRYPTION_FAILURES:
                raise error
        return None

    def failure(self, timeout: float) -> ReaderError:
        """The most specific reason why no reading came."""
        if self.received == 0 and self.ended:
            return TransportError("connection closed by the remote side before any data")
        if self.received == 0:
            return NoData(f"nothing received in {timeout:g} s")
        for kind in (KeyRequired, KeyRejected, DecryptionFailed):
            for error in self.rejections:
                if isinstance(error, kind):
                    return error
        return _no_valid_frame(self.rejections, self.received)


async def probe(
    url: str,
    spec: StandardSpec,
    options: DecoderOptions,
    *,
    serial: SerialSettings | None = None,
    timeout: float = 20.0,
) -> Reading:
    """The first valid reading within ``timeout`` seconds, or the most specific error.

    :class:`TransportError` (cannot open), :class:`NoData` (not a single byte),
    :class:`KeyRequired` / :class:`KeyRejected` / :class:`DecryptionFailed` (no key, or
    the wrong one), :class:`NoValidFrame` (bytes but no valid frame). A polled meter is
    asked as the session asks it. The stream is always closed.
    """
    stream = await open_stream(
        url, serial if serial is not None else spec.serial, connect_timeout=min(timeout, 10.0)
    )
    tally = _ProbeTally()
    try:
        async with asyncio.timeout(timeout):
            if spec.create_poller is not None:
                poller = spec.create_poller(options, serial or spec.serial)
                return await _probe_polled(stream, poller, spec, tally)
            return await _probe_pushed(stream, spec.create_decoder(options.live()), tally)
    except TimeoutError:
        pass
    finally:
        await close_quietly(stream)
    raise tally.failure(timeout)


async def _probe_pushed(stream: ByteStream, decoder: StreamDecoder, tally: _ProbeTally) -> Reading:
    while chunk := await stream.read():
        tally.received += len(chunk)
        for result in decoder.feed(chunk):
            if (reading := tally.offer(result)) is not None:
                return reading
    tally.ended = True
    for result in decoder.flush():
        if (reading := tally.offer(result)) is not None:
            return reading
    raise tally.failure(0)


async def _probe_polled(
    stream: ByteStream, poller: Poller, spec: StandardSpec, tally: _ProbeTally
) -> Reading:
    loop = asyncio.get_running_loop()

    def count(size: int) -> None:
        tally.received += size

    def ended() -> None:
        tally.ended = True

    async with open_link(stream, DialogueStats(), on_bytes=count, on_end=ended) as link:
        while True:
            started = loop.time()
            results: list[DecodeResult] = []
            try:
                await poller.poll(link, results.append)
            except TransportError:
                if tally.ended:
                    raise tally.failure(0) from None
                raise
            for result in results:
                if (reading := tally.offer(result)) is not None:
                    return reading
            await asyncio.sleep(max(0.0, started + spec.min_poll_interval - loop.time()))
