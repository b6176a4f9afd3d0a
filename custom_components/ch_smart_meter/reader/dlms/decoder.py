"""The DLMS push stream decoder shared by P1 DLMS, L&G M-Bus/DLMS and Kamstrup DLMS.

Bytes in, :class:`~..model.Reading` and :class:`~..model.RejectedFrame` out:

1. Link layer, recognised by its first byte whatever the standard expects: HDLC (``7E``),
   wired M-Bus long frames (``68 L L 68``), or APDUs without link layer (``E6 E7 00`` LLC
   header, ``DB`` ciphered, ``0F`` notification, ``E0`` block) when the stream starts with
   one and continues back to back. Noise between frames is skipped; a frame failing its
   checksum is reported once and the decoder resynchronises on the next frame, also one
   that started inside the failed frame's span (a cut frame claims bytes of the next):
   a damaged frame costs at most itself. A silence on the line (``arrival_clock``) ends
   whatever was unfinished: the rest of a push never follows seconds later.
2. Segments: the HDLC S bit, M-Bus CI sequence numbers, then general-block-transfer blocks.
3. general-glo-ciphering: AES-GCM with the tag checked when the authentication key is
   known; without a tag (or without the key) the plaintext must parse completely, or the key
   is wrong. The invocation counter must increase (replays are dropped).
4. The data-notification, its layout (:mod:`.layouts`), the meter profile
   (:mod:`..profiles`) and the exact conversion to CH-SMR units (:mod:`.scaling`); the
   M-Bus sub-meters' entries (:mod:`.submeters`). A push of sub-meter values only (the
   E450 pushes them on their own) is a reading without values, of the meter this stream
   last named when it names none itself. A push that carries its time twice (header and
   clock object) must agree with itself: parts of two pushes put together do not.

One decoder per byte stream. Feeding byte by byte gives what feeding one chunk gives: all
decisions depend on the bytes, never on how they were cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ..errors import (
    DecryptionFailed,
    FrameError,
    InconsistentFrame,
    KeyRequired,
    KeyRole,
    ReplayedFrame,
    TruncatedFrame,
    UnsupportedFrame,
)
from ..framing import hdlc, mbus, raw
from ..framing.gbt import TAG as GBT_TAG
from ..framing.gbt import GbtReassembler
from ..framing.scan import NOISE, Reassembled, Scan, ScanKind
from ..framing.silence import SilenceWatch
from ..model import DecodeResult, Reading, RejectedFrame, Standard, TimeSource
from ..profiles import (
    Detection,
    MeterProfile,
    detect,
    refine,
    sibling,
)
from ..spec import DecoderOptions
from . import cipher, cosem_time, identity, layouts, notification, scaling, submeters
from .axdr import ObjectListMemo

_RAW_STARTS = raw.STARTS
_HDLC_FLAG = hdlc.FLAG
_MBUS_START = mbus.START
_DSMR_START = raw.DSMR_START
_LINK_STARTS = frozenset({_HDLC_FLAG, _MBUS_START})
_FRAME_STARTS = frozenset({_HDLC_FLAG, _MBUS_START, _DSMR_START})

# A push's header time and its clock object (0-0:1.0.0) may differ this much: real L&G
# E450 pushes show the clock 0 to 2 s after the header (the meter reads its clock while
# encoding). Parts of two pushes differ by the push interval, 5 s or more.
MAX_CLOCK_DISAGREEMENT = timedelta(seconds=4)
# Conclusive power checks in a row that must agree before a current scaling holds for the
# next pushes: one damaged push that passed a weak checksum (an 8-bit sum) must not decide
# how the undamaged ones after it are read (the fuzzer saw 32.768 kW from a flipped bit
# turn the next idle pushes' 0.5 A into 50 A).
CURRENT_CONFIRMATIONS = 3
# A frame cut off by the end of the input is reported when it holds more than this (a
# lone flag or start byte at the end is not a frame).
_MIN_PENDING_FRAME = 4

SWAPPED_KEYS_NOTICE = (
    "the encryption key (GUEK) and the authentication key (GAK) are swapped: "
    "the frames only verify with the two keys exchanged; consider exchanging them"
)


class Framing(StrEnum):
    """The link layer a standard expects (all are recognised anyway).

    With RAW, APDUs without link layer are looked for anywhere in the stream (resync after
    noise); with HDLC (which also finds M-Bus long frames) only from the stream's start, so that noise can never pose as
    an APDU header and hold up real frames.
    """

    HDLC = "hdlc"
    RAW = "raw"


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What distinguishes the DLMS standards: data, not code."""

    standard: Standard
    framing: Framing = Framing.HDLC
    # Danish Kamstrup keys (labelled 64/65) are handed out swapped.
    try_swapped_keys: bool = False


class DlmsStreamDecoder:
    """The :class:`~..standards.StreamDecoder` of every DLMS push standard.

    ``last_notification`` is the last data-notification parsed, raw values before scaling.
    """

    def __init__(self, options: DecoderOptions, config: PipelineConfig) -> None:
        self._options = options
        self._config = config
        self._buffer = bytearray()
        # Errors of candidates inside a span already reported bad are not reported again.
        self._quiet_until = 0
        # APDUs without link layer are only taken back to back from the start of the stream:
        # the absolute stream offset where the next one may start; -1 once the stream has
        # shown a link layer (or did not start with a raw APDU). Noise that happens to look
        # like an APDU header can then never hold up real frames.
        self._raw_next = 0
        self._consumed = 0  # bytes removed from the front of the buffer so far
        # A standard that expects APDUs without link layer looks for them everywhere.
        self._raw_anywhere = config.framing is Framing.RAW
        # A raw APDU failed: it may have taken in the start of the next one (a cut APDU's
        # length claims bytes of the next). Until a raw APDU frames again, one may start
        # anywhere, also inside the failed one; only strong starts are taken then.
        self._raw_search = False
        # The stream has shown raw APDUs (after noise or a damaged one, search for the
        # next instead of taking the stream for one with a link layer).
        self._raw_stream = False
        self._silence = SilenceWatch(options.arrival_clock)
        self._hdlc_segments: list[bytes] = []
        self._message_frames: list[bytes] = []
        self._mbus = mbus.MbusReassembler()
        self._gbt = GbtReassembler()
        self._guard = cipher.InvocationCounterGuard()
        self._object_list = ObjectListMemo()
        # Per profile id: the current exponent a conclusive power check found. One stream
        # is one meter, so what was learned once holds for the next pushes.
        self._learned_current: dict[str, int] = {}
        # Per profile id: a current exponent other checks found, and how many in a row.
        self._current_votes: dict[str, tuple[int, int]] = {}
        # The last data-notification parsed (raw values before scaling): for diagnostics.
        self.last_notification: notification.DataNotification | None = None
        # The meter profile of the last reading and how it was chosen: for diagnostics.
        self.last_profile: str | None = None
        self.last_detection: Detection | None = None
        # (meter id, its CH-SMR field) of the last push that named the meter.
        self._meter: tuple[str, str] | None = None

    # -- StreamDecoder -------------------------------------------------------------------

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Consume a chunk of the byte stream; return what it completed, in order."""
        out: list[DecodeResult] = []
        if self._silence.broken():
            # Silence: what was unfinished stays so; what comes now starts afresh (also
            # an APDU without link layer, as after a reconnect).
            out += self.flush()
            self._raw_next = self._consumed
        buffer = self._buffer
        buffer += data
        pos = self._run(out)
        if pos:
            del buffer[:pos]
            self._consumed += pos
            self._quiet_until = max(0, self._quiet_until - pos)
        return out

    def flush(self) -> list[DecodeResult]:
        """End of input: report an incomplete frame or message (truncated) and clear it.

        A frame still waiting for its bytes is reported, and framing goes on inside the
        span it waited for: frames that started there are decoded, not lost with it."""
        out: list[DecodeResult] = []
        self._run(out, final=True)
        if self._hdlc_segments:
            self._reject(
                out,
                TruncatedFrame("HDLC segmented message incomplete: its last segment never came"),
                b"".join(self._message_frames),
            )
        if self._mbus.pending:
            self._reject(
                out,
                TruncatedFrame("M-Bus message incomplete: its last segment never came"),
                b"".join(self._message_frames),
            )
        gbt_error = self._gbt.pending_error()
        if gbt_error is not None:
            self._reject(out, gbt_error, b"".join(self._message_frames))
        self._clear_partial()
        return out

    def reset(self) -> None:
        """Forget partial frames (after a reconnect); replay protection is kept."""
        self._clear_partial()
        self._raw_next = self._consumed
        self._silence.reset()

    def diagnostics(self) -> dict[str, Any]:
        """The meter profile of the last reading and how it was chosen."""
        return {
            "profile": self.last_profile,
            "detection": None if self.last_detection is None else str(self.last_detection),
        }

    # -- link layer ----------------------------------------------------------------------

    def _clear_partial(self) -> None:
        self._consumed += len(self._buffer)
        if self._raw_next >= 0:
            self._raw_next = self._consumed
        self._buffer.clear()
        self._quiet_until = 0
        self._raw_search = False
        self._hdlc_segments = []
        self._message_frames = []
        self._mbus.reset()
        self._gbt.reset()

    def _run(self, out: list[DecodeResult], *, final: bool = False) -> int:
        """Decode the buffer as far as possible; returns how many bytes were consumed.

        ``final``: no more bytes will come, so a frame waiting for more is truncated."""
        buffer = self._buffer
        size = len(buffer)
        pos = 0
        while pos < size:
            byte = buffer[pos]
            is_raw = False
            if byte == _HDLC_FLAG:
                if pos + 1 < size and buffer[pos + 1] == _HDLC_FLAG:
                    pos += 1  # a closing flag, then the next opening flag
                    continue
                scan = hdlc.scan(buffer, pos)
            elif byte == _MBUS_START:
                scan = mbus.scan(buffer, pos)
            elif byte in _RAW_STARTS and self._raw_allowed(pos):
                is_raw = True
                scan = self._scan_raw(pos)
            elif byte == _DSMR_START:
                scan = raw.scan_dsmr(buffer, pos)
            else:
                pos = self._next_candidate(pos + 1)
                continue
            kind = scan.kind
            if kind is ScanKind.MORE:
                if not final:
                    break
                if size - pos < _MIN_PENDING_FRAME:
                    pos += 1
                    continue
                error = TruncatedFrame(f"frame cut off after {size - pos} bytes")
                scan = Scan(ScanKind.ERROR, size, None, error)
                kind = ScanKind.ERROR
            if kind is ScanKind.FRAME:
                results: list[DecodeResult] = []
                self._on_frame(scan, buffer, pos, results)
                if _failed(results):
                    # The frame passed its check but not what it carries: a raw APDU is
                    # framed by its own length only, and a frame check matches a cut frame
                    # joined to the next one's start 1 time in 65,536. Look inside it;
                    # what fails in there is not reported again.
                    if pos >= self._quiet_until:
                        out += results
                    self._raw_search = self._raw_search or is_raw
                    self._quiet_until = max(self._quiet_until, scan.end)
                    pos += 1
                else:
                    out += results
                    self._raw_search = self._raw_search and not is_raw
                    pos = scan.end
            elif kind is ScanKind.NOISE:
                pos += 1
            else:
                if byte in _LINK_STARTS:
                    # A link frame with a bad checksum: this stream has a link layer.
                    self._raw_next = -1
                    self._raw_search = self._raw_stream = False
                elif is_raw and self._raw_stream:
                    self._raw_search = True
                if pos >= self._quiet_until:
                    assert scan.error is not None
                    end = min(scan.end, size)
                    self._reject(out, scan.error, bytes(buffer[pos:end]))
                    self._quiet_until = max(self._quiet_until, scan.end)
                pos += 1
        return pos

    def _scan_raw(self, pos: int) -> Scan:
        """A raw APDU candidate at ``pos`` (raw APDUs are allowed there)."""
        if self._raw_search and not raw.strong_start(self._buffer, pos):
            return NOISE
        scan = raw.scan(self._buffer, pos)
        if scan.kind is ScanKind.NOISE:
            if self._raw_stream:
                self._raw_search = True
            else:
                self._raw_next = -1
        elif scan.kind is not ScanKind.MORE:
            self._raw_next = self._consumed + scan.end
            self._raw_stream = self._raw_stream or scan.kind is ScanKind.FRAME
        return scan

    def _next_candidate(self, pos: int) -> int:
        """Index of the next byte that may start a frame (skipping noise quickly)."""
        buffer = self._buffer
        size = len(buffer)
        while pos < size:
            byte = buffer[pos]
            if byte in _FRAME_STARTS or (byte in _RAW_STARTS and self._raw_allowed(pos)):
                return pos
            pos += 1
        return pos

    def _raw_allowed(self, pos: int) -> bool:
        """Raw APDUs: anywhere on a raw standard, or while looking for the next one after
        a failed one; otherwise only back to back from the stream's start, and never
        inside a span already reported bad."""
        if self._raw_anywhere or self._raw_search:
            return True
        if pos < self._quiet_until:
            return False
        return self._raw_next == self._consumed + pos

    def _on_frame(self, scan: Scan, buffer: bytearray, pos: int, out: list[DecodeResult]) -> None:
        frame = scan.frame
        if isinstance(frame, hdlc.HdlcFrame | mbus.MbusFrame):
            self._raw_next = -1
            self._raw_search = self._raw_stream = False
        if isinstance(frame, hdlc.HdlcFrame):
            self._on_hdlc(frame, out)
        elif isinstance(frame, mbus.MbusFrame):
            self._message_frames.append(frame.raw)
            self._on_reassembled(self._mbus.add(frame), out)
        else:
            apdu: bytes = frame
            self._message_frames.append(apdu)
            self._on_link_message(hdlc.strip_llc(apdu), out)

    def _on_hdlc(self, frame: hdlc.HdlcFrame, out: list[DecodeResult]) -> None:
        information = frame.information
        if not information:
            return  # a supervisory frame: nothing to decode
        if self._hdlc_segments and information[:3] in hdlc.LLC_HEADERS:
            # Only the first segment of a message carries the LLC header (the segments
            # carry no number): the pending message lost its last segment.
            self._drop_frames(
                out,
                TruncatedFrame("HDLC segmented message incomplete: the next one started"),
                0,
            )
            self._hdlc_segments = []
        self._message_frames.append(frame.raw)
        if self._hdlc_segments:
            self._hdlc_segments.append(information)
        else:
            self._hdlc_segments = [hdlc.strip_llc(information)]
        if frame.segmented:
            return
        message = b"".join(self._hdlc_segments)
        self._hdlc_segments = []
        self._on_link_message(message, out)

    def _on_reassembled(self, result: Reassembled, out: list[DecodeResult]) -> None:
        if result.dropped is not None:
            # The current segment may have started the next message: keep its frame.
            keep = 1 if (self._mbus.pending or result.message is not None) else 0
            self._drop_frames(out, result.dropped, keep)
        if result.message is not None:
            self._on_link_message(result.message, out)
        elif not self._mbus.pending:
            self._message_frames = []

    def _on_link_message(self, message: bytes, out: list[DecodeResult]) -> None:
        """One link-layer message: a GBT block, or a complete APDU."""
        if not message:
            self._reject(out, TruncatedFrame("empty message"), b"".join(self._message_frames))
            self._message_frames = []
            return
        if message[0] == GBT_TAG:
            result = self._gbt.add(message)
            if result.dropped is not None:
                # A block 1 that displaced an incomplete message starts the next one.
                keep = 1 if (self._gbt.pending or result.message is not None) else 0
                self._drop_frames(out, result.dropped, keep)
            if result.message is not None:
                self._on_apdu(result.message, out)
            elif not self._gbt.pending:
                self._message_frames = []
            return
        self._on_apdu(message, out)

    # -- application layer ---------------------------------------------------------------

    def _on_apdu(self, apdu: bytes, out: list[DecodeResult]) -> None:
        frame = b"".join(self._message_frames)
        self._message_frames = []
        try:
            reading = self._decode_apdu(apdu, frame)
        except FrameError as err:
            self._reject(out, err, frame)
            return
        out.append(reading)

    def _drop_frames(self, out: list[DecodeResult], error: FrameError, keep: int) -> None:
        """Reject a dropped message with its frames, keeping the last ``keep`` frames."""
        frames = self._message_frames
        split = len(frames) - keep
        self._reject(out, error, b"".join(frames[:split]))
        self._message_frames = frames[split:]

    def _reject(self, out: list[DecodeResult], error: FrameError, frame: bytes) -> None:
        out.append(RejectedFrame(error, frame))

    def _decode_apdu(self, apdu: bytes, frame: bytes) -> Reading:
        tag = apdu[0]
        if tag == notification.TAG:
            return self._reading(notification.parse(apdu, self._object_list), frame, None, ())
        if tag != cipher.TAG_GENERAL_GLO_CIPHERING:
            raise UnsupportedFrame(f"{notification.apdu_name(tag)} is not a push notification")
        ciphered, _ = cipher.parse_general_glo_ciphering(apdu)
        options = self._options
        try:
            decrypted = cipher.decrypt(
                ciphered,
                options.encryption_key,
                options.authentication_key,
                try_swapped=self._config.try_swapped_keys,
            )
        except DecryptionFailed as err:
            detail, wrong_key = self._which_key_is_wrong(ciphered)
            raise DecryptionFailed(detail, wrong_key=wrong_key) from err
        plaintext = decrypted.plaintext
        try:
            parsed = self._plaintext_notification(plaintext)
        except FrameError as err:
            if decrypted.authenticated:
                raise  # the keys are right: the meter sent something we cannot read
            # Without a verified tag a wrong key gives garbage: say which key to check.
            raise DecryptionFailed("the decrypted content is not a valid notification") from err
        self._guard.check(ciphered.system_title, ciphered.invocation_counter)
        notices = (SWAPPED_KEYS_NOTICE,) if decrypted.keys_swapped else ()
        return self._reading(parsed, frame, ciphered.system_title, notices)

    def _which_key_is_wrong(self, ciphered: cipher.CipheredApdu) -> tuple[str, KeyRole | None]:
        """Detail for a tag that did not verify: is the encryption key at least right?"""
        key = self._options.encryption_key
        if key is not None and ciphered.encrypted:
            try:
                self._plaintext_notification(cipher.plaintext_without_tag(ciphered, key))
            except FrameError:
                return (
                    "the frames do not decrypt with this encryption key (GUEK)",
                    KeyRole.ENCRYPTION,
                )
            return (
                "the encryption key (GUEK) is right but the authentication key (GAK) does "
                "not match: correct it, or leave it empty if the meter's operator gave none",
                KeyRole.AUTHENTICATION,
            )
        return "the authentication tag does not verify with these keys", None

    def _plaintext_notification(self, plaintext: bytes) -> notification.DataNotification:
        if not plaintext:
            raise TruncatedFrame("empty plaintext")
        if plaintext[0] == GBT_TAG:
            raise UnsupportedFrame("block transfer inside ciphering is not supported")
        return notification.parse(plaintext, self._object_list)

    def _reading(
        self,
        parsed: notification.DataNotification,
        frame: bytes,
        system_title: bytes | None,
        notices: tuple[str, ...],
    ) -> Reading:
        options = self._options
        self.last_notification = parsed
        content = layouts.split(parsed.body, self._object_list)
        logical_name = identity.logical_name(content)
        profile, detection = detect(
            self._config.standard,
            override=options.profile,
            list_id=identity.list_id(content),
            logical_name=logical_name,
            system_title=system_title,
        )
        entries = content.entries
        if content.layout is layouts.Layout.VALUES_ONLY:
            entries, profile = identity.map_values(content, profile)
        scaled = self._scale(entries, profile, detection)
        if profile.model_code and detection is not Detection.USER:
            refined = refine(profile, scaled.identities.get(profile.model_code))
            if refined is not profile:
                profile = refined
                scaled = self._scale(entries, profile, detection)
        if detection is not Detection.USER:
            profile = sibling(profile, scaled.voltage_exponent, scaled.current_exponent)
        if not scaled.values and not scaled.submeters:
            raise UnsupportedFrame(
                f"the push ({content.layout.value} layout) carries no electricity values"
            )
        meter_id, id_obis = identity.meter_id(scaled.identities, profile, system_title)
        if meter_id:
            self._meter = meter_id, id_obis
        elif self._meter is not None:
            meter_id, id_obis = self._meter
        timestamp, time_source = self._timestamp(parsed, content, scaled)
        readings = (
            submeters.read(
                scaled.submeters, content.capture_times, profile, timestamp, options.timezone
            )
            if scaled.submeters
            else ()
        )
        self.last_profile = profile.id
        self.last_detection = detection
        return Reading(
            timestamp=timestamp,
            meter_id=meter_id,
            values=scaled.values,
            id_obis=id_obis,
            time_source=time_source,
            manufacturer=identity.manufacturer(profile, detection, logical_name, system_title),
            model=identity.model(profile, detection, scaled.identities),
            frame=frame,
            notices=notices,
            submeters=readings,
        )

    def _scale(
        self, entries: list[layouts.Entry], profile: MeterProfile, detection: Detection
    ) -> scaling.Scaled:
        scaled = scaling.scale(
            entries,
            profile,
            trusted=detection is Detection.USER,
            learned_current_exponent=self._learned_current.get(profile.id),
        )
        found = scaled.learned_current_exponent
        if found is None or found == self._learned_current.get(profile.id):
            return scaled
        candidate, votes = self._current_votes.get(profile.id, (found, 0))
        votes = votes + 1 if candidate == found else 1
        if votes >= CURRENT_CONFIRMATIONS:
            self._learned_current[profile.id] = found
            votes = 0
        self._current_votes[profile.id] = (found, votes)
        return scaled

    def _timestamp(
        self,
        parsed: notification.DataNotification,
        content: layouts.PushContent,
        scaled: scaling.Scaled,
    ) -> tuple[datetime, TimeSource]:
        """The push's own time, else a pushed clock, else the host clock; a push whose
        header time and clock object disagree is two pushes put together."""
        zone = self._options.timezone
        moments = [
            None if encoded is None else cosem_time.parse_datetime(encoded, zone)
            for encoded in (parsed.date_time, content.leading_time, scaled.clock)
        ]
        header, clock = moments[0], moments[2]
        if header is not None and clock is not None and not _agree(header, clock):
            raise InconsistentFrame(
                f"the push's time {header.isoformat()} and its clock object "
                f"{clock.isoformat()} disagree: parts of two pushes"
            )
        for moment in moments:
            if moment is not None:
                return moment, TimeSource.METER
        return self._options.clock(), TimeSource.HOST


def _agree(first: datetime, second: datetime) -> bool:
    """Two times of one push: the same instant, or the same wall-clock time (a meter
    that sends its local time without deviation may set the DST flag on one only)."""
    naive = abs(first.replace(tzinfo=None) - second.replace(tzinfo=None))
    return min(abs(first - second), naive) <= MAX_CLOCK_DISAGREEMENT


def _failed(results: list[DecodeResult]) -> bool:
    """Whether decoding a frame gave rejections and no reading, other than those of a frame
    that was understood (no key configured, a replay)."""
    return any(
        isinstance(result, RejectedFrame) and not isinstance(result.error, _UNDERSTOOD)
        for result in results
    ) and not any(isinstance(result, Reading) for result in results)


_UNDERSTOOD = (KeyRequired, ReplayedFrame)
