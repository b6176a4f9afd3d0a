"""What detection reports: its progress, what each step heard, what it found.

:class:`Detection` is the result of :func:`.detect.detect`; :class:`NothingDetected` the
error when no standard was recognised, with a summary of what arrived per step and the
likeliest explanation, in words a user can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Final

from .errors import ReaderError, Reason
from .model import Reading, SerialSettings, Standard


class Phase(StrEnum):
    """What a step of detection does."""

    LISTEN = "listen"  # listen for a push meter at a format
    ASK = "ask"  # send a polled standard's request


@dataclass(frozen=True, slots=True)
class Progress:
    """The step detection is at, for a progress display."""

    phase: Phase
    step: int  # 1-based
    steps: int
    formats: tuple[SerialSettings, ...]  # heard in this step (empty: no serial format)
    standard: Standard | None  # the polled standard asked
    elapsed: float
    budget: float

    def describe(self) -> str:
        """English, e.g. ``listening at 115200 8N1 and 115200 7E1 (step 1 of 5)``."""
        names = " and ".join(serial.describe() for serial in self.formats)
        where = f" at {names}" if names else ""
        what = "listening" if self.phase is Phase.LISTEN else f"asking a {self.standard} meter"
        return f"{what}{where} (step {self.step} of {self.steps})"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Frames one reason rejected in one step, and which standards' decoders said so."""

    reason: Reason
    frames: int
    standards: tuple[Standard, ...]


@dataclass(frozen=True, slots=True)
class Heard:
    """What one step heard."""

    phase: Phase
    formats: tuple[SerialSettings, ...]
    seconds: float
    received: int  # bytes
    bursts: int = 0  # bursts heard to their end (bytes, then silence)
    rejections: tuple[Rejection, ...] = ()
    standard: Standard | None = None  # the polled standard asked
    answers: int = 0  # answers of a polled meter

    def describe(self) -> str:
        """English, e.g. ``2400 8N1: 1546 bytes, no valid frame (3 checksum mismatch)``."""
        names = " and ".join(serial.describe() for serial in self.formats) or "the port"
        if self.phase is Phase.ASK:
            names = f"{self.standard} at {names}"
        if self.received == 0:
            return f"{names}: nothing in {self.seconds:.0f} s"
        rejected = ", ".join(
            f"{r.frames} {r.reason.value.replace('_', ' ')} ({', '.join(r.standards)})"
            for r in self.rejections
        )
        return f"{names}: {self.received} bytes, no valid frame" + (
            f" ({rejected})" if rejected else ""
        )


@dataclass(frozen=True, slots=True)
class Detection:
    """What was found: enough to fill in the rest of the configuration.

    ``preset`` is the id of the standard's serial preset with exactly these settings, if
    one has; ``serial`` is ``None`` on a transport without serial format (ser2net raw).
    ``frames``: how many frames proved it (readings, or encrypted frames: one only when
    the time ran out before a second came).
    """

    standard: Standard
    serial: SerialSettings | None
    preset: str | None
    encrypted: bool
    meter_id: str | None
    seconds: float
    frames: int = 1
    heard: tuple[Heard, ...] = ()
    reading: Reading | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (the command line's output)."""
        return {
            "standard": self.standard.value,
            "serial": None if self.serial is None else self.serial.describe(),
            "encrypted": self.encrypted,
            "preset": self.preset,
            "meter_id": self.meter_id,
        }


class NothingDetected(ReaderError):
    """No standard was recognised at any format; ``heard`` says what arrived instead."""

    reason: ClassVar[Reason] = Reason.NOTHING_DETECTED
    default_message: ClassVar[str] = "no meter recognised"

    def __init__(
        self, heard: Sequence[Heard], seconds: float, untried: Sequence[SerialSettings] = ()
    ) -> None:
        self.heard = tuple(heard)
        self.seconds = seconds
        self.untried = tuple(untried)
        super().__init__(summarise(self.heard, self.untried))

    @property
    def diagnosis(self) -> Diagnosis:
        """The likeliest explanation, as data (a user interface words it itself)."""
        return diagnose(self.heard)


def summarise(heard: Sequence[Heard], untried: Sequence[SerialSettings] = ()) -> str:
    """What was heard per step, then the likeliest explanation."""
    steps = "; ".join(item.describe() for item in heard) or "nothing tried"
    late = ", ".join(serial.describe() for serial in untried)
    late = f" Not tried in the time given: {late}." if late else ""
    return f"{steps}.{late} {_hint(heard)}"


class Finding(StrEnum):
    """The likeliest explanation of a detection that recognised nothing."""

    SILENT = "silent"  # not a byte at any format
    SINGLE_ENCRYPTED = "single_encrypted"  # one encrypted frame, not seen a second time
    BAD_CHECKSUMS = "bad_checksums"  # frames whose checksums fail
    NO_FRAME = "no_frame"  # bytes, but nothing that framed


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """:class:`Finding` and where it was seen: the formats of the step that showed it
    (empty when it concerns every step), and the standards whose decoders saw it."""

    finding: Finding
    formats: tuple[SerialSettings, ...] = ()
    standards: tuple[Standard, ...] = ()


def diagnose(heard: Sequence[Heard]) -> Diagnosis:
    """The likeliest explanation of what ``heard`` shows (first match wins)."""
    if not any(item.received for item in heard):
        return Diagnosis(Finding.SILENT)
    for item in heard:
        keys = [r for r in item.rejections if r.reason in _KEY_REASONS]
        if keys:
            return Diagnosis(Finding.SINGLE_ENCRYPTED, item.formats, keys[0].standards)
    for item in heard:
        checksums = [r for r in item.rejections if r.reason in _CHECKSUM]
        if checksums:
            return Diagnosis(Finding.BAD_CHECKSUMS, item.formats, checksums[0].standards)
    return Diagnosis(Finding.NO_FRAME)


def _hint(heard: Sequence[Heard]) -> str:
    diagnosis = diagnose(heard)
    formats = [serial.describe() for serial in diagnosis.formats]
    if diagnosis.finding is Finding.SILENT:
        return (
            "Nothing arrived at all: is the customer interface enabled (grid operators "
            "deliver it switched off), and on a P1 port is the data-request line powered?"
        )
    if diagnosis.finding is Finding.SINGLE_ENCRYPTED:
        return (
            f"A single encrypted frame ({', '.join(diagnosis.standards)}) at "
            f"{' and '.join(formats)}, not "
            "seen a second time: try again, the meter may send rarely."
        )
    if diagnosis.finding is Finding.BAD_CHECKSUMS:
        return (
            f"Frames with bad checksums at {', '.join(formats)}: a noisy line, or "
            "a format close to the meter's but not the same."
        )
    return (
        "Bytes but no valid frame at any format: an inverted data line (P1 needs an "
        "inverter or RX inversion)? an adapter of the wrong kind (the L&G CII needs an "
        "M-Bus slave adapter)? a meter that sends at another format?"
    )


_KEY_REASONS: Final = frozenset(
    {Reason.KEY_REQUIRED, Reason.DECRYPTION_FAILED, Reason.KEY_REJECTED}
)
_CHECKSUM: Final = frozenset({Reason.CRC_MISMATCH})
