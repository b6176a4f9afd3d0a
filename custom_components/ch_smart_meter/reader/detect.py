"""Detect my meter: which standard, which serial format, whether a key is needed.

Most users know neither their meter's standard nor its serial format. :func:`detect`
listens on the port with each plausible format in turn (:data:`FORMATS`, the list of the
protocol notes), feeds what it hears to the decoders of every push standard of the
registry at once, and recognises the standard by what the decoders accept: a frame with
a valid checksum and framing that gives a reading, or an encrypted one that cannot be read
without a key. Polled standards (KMP, MEP) are asked last, one reading cycle per serial
preset, and only when no push meter was recognised.

How long it listens follows the meters' cadences rather than a fixed time per format: a
meter that sends every ten seconds has to be heard once at each format, so each format
gets one push interval (:class:`Timing`), and it is left as soon as one whole burst of
bytes was heard there without a valid frame. Two shortcuts keep the worst case near a
minute:

* A 7-bit format with parity is not opened on its own: 7E1 and 8N1 characters are both
  ten bits long, so a UART at 8N1 receives a 7E1 character as its seven data bits with
  the parity bit as bit 7, and what a port at 115200 7E1 would deliver is exactly what it
  delivers at 115200 8N1 with bit 7 cleared. Both are decoded from one opening.
* A port silent for a whole push interval at one format is silent at all of them (a UART
  at the wrong format still receives something from a meter that sends), so the other
  formats are not tried.

When several standards accept the same bytes (the DLMS standards share one decoder), the
one chosen is, in this order: the one with a reading rather than a key error; the one
whose frames account for more of the bytes (a Smarty envelope found inside an HDLC frame
is a coincidence); the bytes as read rather than with bit 7 cleared; the standard the
meter's profile belongs to; the standard that lists the format earliest among its serial
presets; the registry's order. An encrypted frame counts only once it is seen twice, since
a Smarty envelope has no checksum and random bytes can look like one (about once in 5 MB);
only when every format was tried (or the time is up) does a single encrypted frame do,
if its standard lists the format among its presets.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from .detect_report import (
    Detection,
    Heard,
    NothingDetected,
    Phase,
    Progress,
    Rejection,
)
from .errors import ReaderError, Reason
from .model import DecodeResult, Reading, RejectedFrame, SerialSettings, Standard
from .polling import DialogueStats, open_link
from .profiles import BY_ID
from .spec import DecoderOptions, StandardSpec, StreamDecoder
from .standards import meter_specs
from .transport import ByteStream, close_quietly, normalize_url, open_stream, url_scheme

_LOGGER = logging.getLogger(__name__)

# The serial formats worth trying, in order (protocol notes §0.1): DSMR 5, Iskra AM550 and
# Smarty; the L&G CII over an M-Bus slave adapter; Kamstrup HAN; the L&G E360; DSMR 4;
# DSMR 2.2/3. 8N1 comes before 7E1 at 115200: a DSMR 5 telegram also reads at 7E1.
FORMATS: Final = (
    SerialSettings(115200, 8, "N", 1),
    SerialSettings(2400, 8, "E", 1),
    SerialSettings(2400, 8, "N", 1),
    SerialSettings(9600, 8, "N", 1),
    SerialSettings(115200, 7, "E", 1),
    SerialSettings(9600, 7, "E", 1),
)
# Schemes whose serial format is set at the far end or not at all (ser2net in raw mode):
# every format hears the same bytes, so one listening is all there is.
_FORMATLESS_SCHEMES: Final = frozenset({"socket", "tcp"})
# An encrypted frame without a checksum of its own could be noise: it must repeat.
KEY_ERRORS_TO_CONFIRM: Final = 2


def _frame_bits(serial: SerialSettings) -> float:
    return 1 + serial.bytesize + (serial.parity.upper() != "N") + float(serial.stopbits)


@dataclass(frozen=True, slots=True)
class Timing:
    """How long detection listens. The defaults suit real meters; tests shrink them.

    ``cadence``: the longest push interval of a supported meter (DSMR 4, Smarty, Kamstrup
    and the E360 send every 10 s, the E450 every 5 s, DSMR 5 every second).
    ``quiet``: the silence that ends a burst (a DSMR 5 pauses about 0.9 s between
    telegrams). ``burst_chars``: the longest burst a meter sends (an E450 push is about
    550 characters, 2.5 s at 2400 8E1).
    """

    cadence: float = 10.0
    quiet: float = 0.5
    burst_chars: int = 1024
    # The longest a polled standard is asked at one format: its first answers, not a whole
    # reading cycle (a KMP cycle through an optical head takes 2.3 s, a MEP identification
    # more); a valid answer to the request proves the standard.
    ask: float = 4.0

    def burst_time(self, serial: SerialSettings | None) -> float:
        """Seconds the longest burst takes at ``serial``."""
        if serial is None:
            return 0.0
        return self.burst_chars * _frame_bits(serial) / serial.baudrate

    def window(self, serial: SerialSettings | None) -> float:
        """The longest listening at one format: one push interval and one whole burst."""
        return self.cadence + self.burst_time(serial) + self.quiet


@dataclass(frozen=True, slots=True)
class View:
    """A format decoded from one opening of the port: the bytes as read, or (``mask``
    0x7F) a 7-bit format read through the 8-bit one of the same character length."""

    serial: SerialSettings | None
    mask: int = 0xFF


@dataclass(frozen=True, slots=True)
class Listening:
    """One opening of the port and the formats heard through it."""

    serial: SerialSettings | None  # None: a transport without serial format
    views: tuple[View, ...]


def plan(formats: Sequence[SerialSettings], *, formatless: bool = False) -> tuple[Listening, ...]:
    """The openings that hear ``formats``: 7-bit formats ride on the 8N1 one of their speed."""
    if formatless:
        return (Listening(None, (View(None),)),)
    carriers = {
        (s.baudrate, float(s.stopbits)): s for s in formats if (s.bytesize, s.parity) == (8, "N")
    }
    listenings: dict[SerialSettings, list[View]] = {}
    for serial in formats:
        carrier = carriers.get((serial.baudrate, float(serial.stopbits)))
        if serial.bytesize == 7 and serial.parity.upper() != "N" and carrier is not None:
            listenings.setdefault(carrier, [View(carrier)]).append(View(serial, 0x7F))
        else:
            listenings.setdefault(serial, []).insert(0, View(serial))
    return tuple(Listening(serial, tuple(views)) for serial, views in listenings.items())


# --------------------------------------------------------------------------------------------
# Listening
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tap:
    """One push standard's decoder on one view, and the evidence it gathered."""

    spec: StandardSpec
    order: int  # the standard's place in the registry
    view: View
    view_index: int
    decoder: StreamDecoder
    readings: int = 0
    key_errors: int = 0
    explained: int = 0  # bytes of the frames behind the readings and key errors
    first: Reading | None = None
    rejected: Counter[Reason] = field(default_factory=Counter)

    def feed(self, chunk: bytes, masked: bytes) -> None:
        data = masked if self.view.mask != 0xFF else chunk
        try:
            results = self.decoder.feed(data)
        except Exception:
            # A decoder must not raise; if one does, it loses its buffer, not the detection.
            _LOGGER.exception("The %s decoder failed during detection", self.spec.title)
            self.decoder.reset()
            return
        for result in results:
            self._count(result)

    def _count(self, result: DecodeResult) -> None:
        if isinstance(result, Reading):
            self.readings += 1
            self.explained += len(result.frame)
            self.first = self.first or result
            return
        error = result.error
        self.rejected[error.reason] += 1
        if error.about_keys:
            self.key_errors += 1
            self.explained += len(result.frame)

    @property
    def confirmed(self) -> bool:
        return self.readings > 0 or self.key_errors >= KEY_ERRORS_TO_CONFIRM

    @property
    def preset(self) -> str | None:
        for preset in self.spec.serial_presets:
            if preset.settings == self.view.serial:
                return preset.id
        return None

    def rank(self) -> tuple[bool, float, int, bool, int, int]:
        """Larger is likelier (see the module docstring)."""
        frames = self.readings + self.key_errors
        presets = [preset.settings for preset in self.spec.serial_presets]
        place = presets.index(self.view.serial) if self.view.serial in presets else len(presets)
        return (
            self.readings > 0,
            self.explained / frames if frames else 0.0,
            -self.view_index,
            self._home(),
            -place,
            -self.order,
        )

    def found(self) -> _Found:
        return _Found(
            self.spec.standard,
            self.view.serial,
            self.preset,
            self.readings == 0,
            self.first,
            self.readings + self.key_errors,
        )

    def _home(self) -> bool:
        """The meter's profile (DLMS) belongs to this standard."""
        profile = BY_ID.get(str(self.decoder.diagnostics().get("profile")))
        if profile is None:
            return False
        if profile.standards:
            return self.spec.standard in profile.standards
        return any(offered.id == profile.id for offered in self.spec.profiles)


def _rejections(taps: Iterable[_Tap]) -> tuple[Rejection, ...]:
    by_reason: dict[Reason, tuple[int, list[Standard]]] = {}
    for tap in taps:
        for reason, frames in tap.rejected.items():
            most, standards = by_reason.get(reason, (0, []))
            if tap.spec.standard not in standards:
                standards.append(tap.spec.standard)
            by_reason[reason] = (max(most, frames), standards)
    return tuple(
        Rejection(reason, frames, tuple(standards))
        for reason, (frames, standards) in by_reason.items()
    )


def _best(taps: Iterable[_Tap]) -> _Tap | None:
    confirmed = [tap for tap in taps if tap.confirmed]
    return max(confirmed, key=_Tap.rank) if confirmed else None


def _unconfirmed(taps: Iterable[_Tap]) -> _Tap | None:
    """The likeliest standard of a single encrypted frame heard at one of its presets."""
    seen = [tap for tap in taps if tap.key_errors and tap.preset is not None]
    return max(seen, key=_Tap.rank) if seen else None


_MASK_7BIT: Final = bytes(value & 0x7F for value in range(256))


@dataclass(slots=True)
class _Listened:
    found: _Tap | None
    unconfirmed: _Tap | None  # a single encrypted frame, when nothing was confirmed
    heard: Heard
    silent: bool  # nothing arrived during a whole window


async def _listen(
    stream: ByteStream,
    listening: Listening,
    taps: list[_Tap],
    timing: Timing,
    deadline: float,
) -> _Listened:
    """Listen until a standard is confirmed, a whole burst was heard without one, or the
    window (one push interval and a burst) ends."""
    loop = asyncio.get_running_loop()
    opened = loop.time()
    allowance = timing.burst_time(listening.serial) + timing.quiet
    end = min(deadline, opened + timing.window(listening.serial))
    masked_view = any(view.mask != 0xFF for view in listening.views)
    received = bursts = 0
    burst_start: float | None = None
    last = opened
    candidates = 0
    found: _Tap | None = None
    while found is None and (now := loop.time()) < end:
        try:
            async with asyncio.timeout(min(timing.quiet, end - now)):
                chunk: bytes | None = await stream.read()
        except TimeoutError:
            chunk = None
        now = loop.time()
        if chunk == b"":
            break  # the remote side closed the connection
        if chunk is not None:
            burst_start = now if burst_start is None else burst_start
            last = now
            received += len(chunk)
            masked = chunk.translate(_MASK_7BIT) if masked_view else chunk
            for tap in taps:
                tap.feed(chunk, masked)
            continue
        if burst_start is None or now - last < timing.quiet:
            continue
        # A burst ended: decide, wait for a second encrypted frame, or give up this format.
        bursts += 1
        whole = burst_start - opened >= timing.quiet  # its beginning was heard too
        burst_start = None
        found = _best(taps)
        pending = sum(tap.key_errors for tap in taps)
        if found is None and pending > candidates:
            candidates = pending
            end = max(end, min(deadline, now + timing.cadence + allowance))
        elif found is None and whole and not pending:
            break
    found = found or _best(taps)
    heard = Heard(
        Phase.LISTEN,
        tuple(view.serial for view in listening.views if view.serial is not None),
        loop.time() - opened,
        received,
        bursts,
        _rejections(taps),
    )
    silent = received == 0 and loop.time() >= opened + timing.window(listening.serial)
    return _Listened(found, None if found else _unconfirmed(taps), heard, silent)


# --------------------------------------------------------------------------------------------
# Asking polled meters
# --------------------------------------------------------------------------------------------


async def _ask(
    stream: ByteStream, spec: StandardSpec, formats: tuple[SerialSettings, ...], timeout: float
) -> tuple[list[DecodeResult], Heard]:
    """One reading cycle of a polled standard; the results count only if the meter answered."""
    assert spec.create_poller is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    stats = DialogueStats()
    received = 0

    def count(size: int) -> None:
        nonlocal received
        received += size

    results: list[DecodeResult] = []
    try:
        async with open_link(stream, stats, on_bytes=count) as link, asyncio.timeout(timeout):
            serial = formats[0] if formats else None
            await spec.create_poller(DecoderOptions(), serial).poll(link, results.append)
    except (TimeoutError, ReaderError) as err:
        _LOGGER.debug("Asking a %s meter: %s", spec.title, err)
    counter: Counter[Reason] = Counter(
        result.error.reason for result in results if not isinstance(result, Reading)
    )
    heard = Heard(
        Phase.ASK,
        formats,
        loop.time() - started,
        received,
        rejections=tuple(Rejection(r, n, (spec.standard,)) for r, n in counter.items()),
        standard=spec.standard,
        answers=stats.answers,
    )
    return (results if stats.answers else []), heard


class _Found(NamedTuple):
    standard: Standard
    serial: SerialSettings | None
    preset: str | None
    encrypted: bool
    reading: Reading | None
    frames: int


def _proven(ask: _Ask, results: list[DecodeResult], answers: int) -> _Found | None:
    """What the answers of a polled meter prove: a reading, a key the meter wants, or
    (a cycle cut short by the time given) valid answers to the requests and nothing else."""
    readings = [result for result in results if isinstance(result, Reading)]
    key_errors = [
        result
        for result in results
        if isinstance(result, RejectedFrame) and result.error.about_keys
    ]
    if not (readings or key_errors) and (answers == 0 or results):
        return None
    reading = readings[0] if readings else None
    frames = len(readings) + len(key_errors) or answers
    encrypted = bool(key_errors) and not readings
    return _Found(ask.spec.standard, ask.serial, ask.preset, encrypted, reading, frames)


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


type ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class _Ask:
    spec: StandardSpec
    serial: SerialSettings | None
    preset: str | None
    timeout: float


def _asks(specs: Sequence[StandardSpec], timing: Timing) -> list[_Ask]:
    asks = []
    for spec in specs:
        if spec.create_poller is None:
            continue
        for preset in spec.serial_presets or (None,):
            serial = None if preset is None else preset.settings
            poller = spec.create_poller(DecoderOptions(), serial)
            timeout = min(poller.cycle_timeout(), timing.ask)
            asks.append(_Ask(spec, serial, None if preset is None else preset.id, timeout))
    return asks


async def detect(
    url: str,
    *,
    on_progress: ProgressCallback | None = None,
    budget: float = 60.0,
    timing: Timing | None = None,
    formats: Sequence[SerialSettings] = FORMATS,
    specs: Sequence[StandardSpec] | None = None,
) -> Detection:
    """Find the standard and serial format of the meter at ``url`` (see the module docstring).

    Raises :class:`TransportError` at once when the port cannot be opened (or is lost), and
    :class:`NothingDetected` when no standard was recognised within ``budget`` seconds.
    Cancelling the task closes the port at once. ``timing``, ``formats`` and ``specs``
    (default: the registry's port standards) exist for tests and tools.
    """
    timing = timing or Timing()
    specs = list(meter_specs() if specs is None else specs)
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + budget
    formatless = url_scheme(normalize_url(url)) in _FORMATLESS_SCHEMES
    listenings = plan(formats, formatless=formatless)
    pushed = [(order, spec) for order, spec in enumerate(specs) if spec.create_poller is None]
    asks = _asks(specs, timing)
    reserve = sum(ask.timeout for ask in asks)
    steps = len(listenings) + len(asks)
    heard: list[Heard] = []

    def report(
        step: int, phase: Phase, formats: tuple[SerialSettings, ...], std: Standard | None
    ) -> None:
        if on_progress is None:
            return
        try:
            on_progress(Progress(phase, step, steps, formats, std, loop.time() - started, budget))
        except Exception:
            _LOGGER.exception("Error in the detection progress callback")

    def result(found: _Found) -> Detection:
        return Detection(
            standard=found.standard,
            serial=found.serial,
            preset=found.preset,
            encrypted=found.encrypted,
            meter_id=None if found.reading is None else found.reading.meter_id,
            frames=found.frames,
            seconds=loop.time() - started,
            heard=tuple(heard),
            reading=found.reading,
        )

    unconfirmed: _Tap | None = None
    untried: list[SerialSettings] = []
    silent = False
    for step, listening in enumerate(listenings, start=1):
        views = tuple(view.serial for view in listening.views if view.serial is not None)
        if silent:
            break  # silent at one format, silent at all
        if heard and loop.time() >= deadline - reserve:
            untried.extend(views)
            continue
        report(step, Phase.LISTEN, views, None)
        taps = [
            _Tap(spec, order, view, index, spec.create_decoder(DecoderOptions()))
            for index, view in enumerate(listening.views)
            for order, spec in pushed
        ]
        stream = await open_stream(url, listening.serial)
        try:
            listened = await _listen(stream, listening, taps, timing, deadline - reserve)
        finally:
            await close_quietly(stream)
        heard.append(listened.heard)
        if listened.found is not None:
            return result(listened.found.found())
        unconfirmed = unconfirmed or listened.unconfirmed
        silent = listened.silent
    if unconfirmed is not None:
        return result(unconfirmed.found())  # something pushes encrypted frames: not polled

    for offset, ask in enumerate(asks, start=len(listenings) + 1):
        formats_asked = () if ask.serial is None else (ask.serial,)
        remaining = deadline - loop.time()
        if remaining <= 0:
            untried.extend(formats_asked)
            continue
        report(offset, Phase.ASK, formats_asked, ask.spec.standard)
        stream = await open_stream(url, ask.serial)
        try:
            results, asked = await _ask(
                stream, ask.spec, formats_asked, min(ask.timeout, remaining)
            )
        finally:
            await close_quietly(stream)
        heard.append(asked)
        if (proven := _proven(ask, results, asked.answers)) is not None:
            return result(proven)
    raise NothingDetected(heard, loop.time() - started, untried)


__all__ = [
    "FORMATS",
    "Detection",
    "Heard",
    "Listening",
    "NothingDetected",
    "Phase",
    "Progress",
    "Rejection",
    "Timing",
    "View",
    "detect",
    "plan",
]
