"""The P1 DSMR decoder: telegrams (DSMR 2.2 to 5.0.2 and their country variants) and the
Luxembourg "Smarty" / Sagemcom T210-D-R encrypted envelope, into readings.

Why not ``dsmr-parser``, which the tests use as the reference for what a telegram contains:
its ``TelegramParser`` runs one regular expression per specification object over the
whole telegram and computes the CRC one character at a time, many times slower than one
pass over the lines (``scripts/bench/dsmr.py`` measures both); and it loses what the
Swiss format needs: its stock ``V5`` specification drops 2.8.0, 3.8.0/4.8.0, 3.7.0/4.7.0
and the reactive per-phase lines, timestamps come back converted to UTC (the meter's S/W
offset is gone), units are passed through unconverted, and the encrypted path expects hex
text.

Decoding rules
--------------
* CRC-16/ARC over ``/`` .. ``!``; 1 to 4 hex digits accepted (some meters do not
  zero-pad). No digits at all is the legacy DSMR 2.2/3 form: without a CRC nothing tells a
  whole telegram from one cut at a ``!`` that line noise wrote into a line, whose 1.8.0
  would then be tariff 1 alone. Such a telegram is accepted only when it ends as a DSMR
  2.2/3 telegram ends (``!`` CR LF), has a value line, carries no P1 version line of
  DSMR 4 or later (which always carry a CRC), and comes from a meter that has not sent a
  valid CRC before (the decoder remembers it per stream).
* Values: every electricity line (A = 1) whose C.D.E is in :data:`obis.BY_CODE`, in CH-SMR
  units (:mod:`.lines`), and the tariff indicator and failure counters of the abstract
  objects (0-0:96.14.0, 96.7.21, 96.7.9). Without a 1.8.0 (2.8.0) line, 1.8.0 (2.8.0) is
  the exact sum of the tariff registers 1.8.1, 1.8.2, ... (2.8.x).
* Extras (:mod:`.extras`): the sub-meters of the M-Bus channels (gas, water, heat) with
  their own capture times, the text messages and the power failure log.
* Meter id: 0-0:96.1.1 (hex-encoded text), else 0-0:42.0.0 (Smarty), else the
  identification line. Manufacturer from the FLAG id of the identification line.
* Time: ``YYMMDDhhmmssX`` with X = S (+02:00) or W (+01:00); other forms are local time
  in ``DecoderOptions.timezone``; no time at all: the host clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from ..crc import crc16_arc
from ..dlms import cipher
from ..errors import (
    CrcError,
    DecryptionFailed,
    FrameError,
    KeyRole,
    MalformedFrame,
    UnsupportedFrame,
)
from ..framing.dsmr import DsmrFramer
from ..framing.silence import SilenceWatch
from ..model import DecodeResult, Reading, RejectedFrame, TimeSource
from ..numbers import Exact, exact_sum
from ..spec import DecoderOptions
from .extras import Extras, read_extras
from .lines import VALUE_KINDS, LineKind, ParsedLine, hex_text, parse_line, parse_time
from .variants import (
    MANUFACTURERS,
    DsmrVariant,
    TelegramFacts,
    read_identification,
    recognise_variant,
)

_NO_EXTRAS: Final = Extras((), MappingProxyType({}), ())


def check_crc(telegram: bytes) -> bool:
    """Check the CRC of a telegram ``/`` .. ``!CCCC`` (line end optional).

    Returns ``True`` when it carries a CRC that matches, ``False`` when it carries none
    (DSMR 2.2/3); raises :class:`CrcError` or :class:`MalformedFrame` otherwise.
    """
    bang = telegram.rfind(b"!")
    if bang < 0:
        raise MalformedFrame("no end marker '!'")
    given_text = telegram[bang + 1 :].strip()
    if not given_text:
        return False
    try:
        given = int(given_text, 16)
    except ValueError as err:
        raise MalformedFrame(f"CRC {given_text[:8]!r} is not hexadecimal") from err
    if len(given_text) > 4:
        raise MalformedFrame(f"CRC {given_text[:8]!r} is longer than 4 digits")
    computed = crc16_arc(telegram[: bang + 1])
    if computed != given:
        raise CrcError(f"given {given:04X}, computed {computed:04X}")
    return True


class DecodedTelegram(NamedTuple):
    """A telegram's reading, its layout, and whether it carried a (valid) CRC."""

    reading: Reading
    variant: DsmrVariant
    crc: bool


# Without CRC digits, a telegram ends with exactly this.
LEGACY_END = b"!\r\n"


def _check_without_crc(telegram: bytes, version: str, *, crc_expected: bool) -> None:
    """Raise unless a telegram without CRC digits may be taken as a DSMR 2.2/3 one."""
    if not telegram.endswith(LEGACY_END):
        raise MalformedFrame("the end marker '!' is followed by neither a CRC nor CR LF")
    if crc_expected:
        raise CrcError("no CRC, but this meter's telegrams carry a CRC")
    if version[:1].isdigit() and int(version[:1]) >= 4:
        raise CrcError(f"no CRC in a telegram of P1 version {version}: DSMR 4 and later carry one")


class MeterId(NamedTuple):
    """A meter's id and the partial OBIS code it was read from."""

    value: str
    obis: str


@lru_cache(maxsize=64)  # a meter repeats its ids: decoded once, not per telegram
def meter_id(equipment_id: str | None, device_name: str | None, identification: str) -> MeterId:
    """0-0:96.1.1, else 0-0:42.0.0, else the identification line."""
    if equipment_id and (decoded := hex_text(equipment_id)):
        return MeterId(decoded, "96.1.1")
    if device_name and (decoded := hex_text(device_name)):
        return MeterId(decoded, "42.0.0")
    return MeterId(identification or "unknown", "96.1.1")


def decode_telegram(
    telegram: bytes,
    options: DecoderOptions,
    *,
    raw: bytes | None = None,
    encrypted: bool = False,
    authenticated: bool = False,
    crc_expected: bool = False,
    fallback_manufacturer: str | None = None,
) -> DecodedTelegram:
    """Decode one complete plaintext telegram; raise a :class:`FrameError` when it is not
    a valid one. ``raw`` is what arrived (the envelope when encrypted), kept in the reading.
    ``crc_expected``: the meter has sent valid CRCs, so a telegram without one is damaged;
    ``authenticated``: a verified authentication tag protects it, CRC or not.
    """
    if telegram[:1] != b"/":
        raise UnsupportedFrame("not a DSMR telegram (does not start with '/')")
    has_crc = check_crc(telegram)
    lines = telegram.decode("latin-1").split("\n")
    identification = read_identification(lines[0].rstrip("\r"))

    values: dict[str, float] = {}
    # Tariff registers for a missing total: total code -> {register code: exact value}.
    tariffs: dict[str, dict[str, Exact]] = {}
    timestamp_text = equipment_id = device_name = None
    version = ""
    belgian = False
    extra_lines: list[ParsedLine] = []  # sub-meters, text, failure log: read at the end
    for line in lines[1:]:
        parsed = parse_line(line)
        kind = parsed.kind
        if kind in VALUE_KINDS:
            if parsed.value is not None:
                values[parsed.code] = parsed.value
            if parsed.total is not None:
                tariffs.setdefault(parsed.total, {})[parsed.code] = parsed.exact
        elif kind is LineKind.TIME:
            timestamp_text = parsed.code
        elif kind is LineKind.EQUIPMENT_ID:
            equipment_id = parsed.code
        elif kind is LineKind.DEVICE_NAME:
            device_name = parsed.code
        elif kind is LineKind.VERSION:
            version = parsed.code
        elif kind is LineKind.BELGIAN_VERSION:
            belgian = True
        elif kind is not LineKind.SKIP:
            extra_lines.append(parsed)
    for total, registers in tariffs.items():
        if total not in values:
            values[total] = exact_sum(registers.values())
    if not has_crc and not values:
        raise MalformedFrame("no CRC and no value line: not a telegram")
    if not has_crc and not authenticated:
        _check_without_crc(telegram, version, crc_expected=crc_expected)

    meter = meter_id(equipment_id, device_name, identification.text)
    variant = recognise_variant(
        TelegramFacts(
            identification.flag, identification.model, version, belgian, encrypted, has_crc
        )
    )
    timestamp = parse_time(timestamp_text, options.timezone) if timestamp_text else None
    time_source = TimeSource.METER
    if timestamp is None:
        timestamp = options.clock().astimezone(options.timezone)
        time_source = TimeSource.HOST
    extras = read_extras(tuple(extra_lines), options.timezone) if extra_lines else _NO_EXTRAS
    reading = Reading(
        timestamp=timestamp,
        meter_id=meter.value,
        values=values,
        id_obis=meter.obis,
        time_source=time_source,
        manufacturer=MANUFACTURERS.get(identification.flag, fallback_manufacturer),
        model=identification.model or None,
        frame=telegram if raw is None else raw,
        submeters=extras.submeters,
        text=dict(extras.text),  # the remembered extras are shared: each reading its own
        events=extras.events,
    )
    return DecodedTelegram(reading, variant, has_crc)


class DsmrDecoder:
    """P1 byte stream in, readings and rejected frames out (the StreamDecoder protocol).

    Text telegrams and Smarty envelopes may arrive on the same stream; the decoder
    recognises each. ``variant`` is the layout of the last decoded telegram (diagnostics).
    """

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self._options = options or DecoderOptions()
        self._framer = DsmrFramer()
        self._guard = cipher.InvocationCounterGuard()
        self._silence = SilenceWatch(self._options.arrival_clock)
        # This meter has sent a valid CRC: a telegram without one is damaged. Kept over a
        # reconnect (the same meter), like the replay protection.
        self._crc_seen = False
        self.variant: DsmrVariant | None = None

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Consume a chunk of the byte stream; return what it completed, in order."""
        out: list[DecodeResult] = []
        if self._silence.broken():
            # What was still waiting for bytes will not get them: the line fell silent.
            self._decode_all(self._framer.flush_frames(), out)
        self._decode_all(self._framer.frames(data), out)
        return out

    def flush(self) -> list[DecodeResult]:
        """End of input: a pending incomplete frame is reported truncated."""
        out: list[DecodeResult] = []
        self._decode_all(self._framer.flush_frames(), out)
        return out

    def reset(self) -> None:
        """Forget partial frames (after a reconnect). Replay protection is kept."""
        self._framer.reset()
        self._silence.reset()

    def diagnostics(self) -> dict[str, Any]:
        """The layout of the last decoded telegram."""
        return {"variant": None if self.variant is None else self.variant.id}

    def decode_frame(self, frame: bytes) -> DecodeResult:
        """Decode one complete frame: a telegram ``/`` .. ``!CCCC`` or a Smarty envelope."""
        try:
            if frame[:1] == b"\xdb":
                decoded = self._decode_envelope(frame)
            else:
                decoded = decode_telegram(frame, self._options, crc_expected=self._crc_seen)
        except FrameError as err:
            return RejectedFrame(err, frame)
        self.variant = decoded.variant
        self._crc_seen = self._crc_seen or decoded.crc
        return decoded.reading

    def _decode_all(self, items: Iterable[bytes | RejectedFrame], out: list[DecodeResult]) -> None:
        """Decode the framer's frames; a rejected one goes back to the framer, which
        resumes at a frame start inside it (it may hold the start of the next frame)."""
        for item in items:
            if isinstance(item, RejectedFrame):
                out.append(item)
                continue
            result = self.decode_frame(item)
            if isinstance(result, RejectedFrame):
                self._framer.rescan(item)
            out.append(result)

    def _decode_envelope(self, frame: bytes) -> DecodedTelegram:
        apdu, _ = cipher.parse_general_glo_ciphering(frame)
        options = self._options
        key = options.encryption_key
        authentication_key = options.authentication_key or cipher.SMARTY_AUTHENTICATION_KEY
        try:
            decrypted = cipher.decrypt(apdu, key, authentication_key)
        except DecryptionFailed as err:
            assert key is not None  # without a key decrypt() raises KeyRequired
            if _is_sane_telegram(cipher.plaintext_without_tag(apdu, key)):
                raise DecryptionFailed(
                    "the encryption key is right, the authentication key (GAK) is wrong",
                    wrong_key=KeyRole.AUTHENTICATION,
                ) from err
            raise
        plaintext = decrypted.plaintext
        if plaintext[:1] != b"/":
            raise DecryptionFailed("the decrypted content is not a DSMR telegram")
        decoded = decode_telegram(
            plaintext,
            options,
            raw=frame,
            encrypted=True,
            authenticated=decrypted.authenticated,
            crc_expected=self._crc_seen,
            fallback_manufacturer=MANUFACTURERS.get(apdu.manufacturer),
        )
        # Only an authentic, valid telegram moves the counter on: garbage cannot lock out
        # the meter's next frames.
        self._guard.check(apdu.system_title, apdu.invocation_counter)
        return decoded


def _is_sane_telegram(plaintext: bytes) -> bool:
    """True when an untagged decryption gives a telegram with a valid CRC."""
    if plaintext[:1] != b"/":
        return False
    try:
        return check_crc(plaintext.rstrip(b"\r\n")) or b"\n1-0:" in plaintext
    except FrameError:
        return False
