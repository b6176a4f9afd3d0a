"""Wired M-Bus (EN 13757-2) long frames carrying DLMS, and their segment reassembly.

``68 | L | L | 68 | C | A | CI | STSAP | DTSAP | APDU segment | checksum | 16``

* L counts the bytes from C to the end of the user data; the checksum is their sum modulo
  256.
* For DLMS the CI field carries the transport sequence: low nibble = segment number
  (0, 1, 2, ...), bit 0x10 = last segment. Austrian meters send ``00`` then ``11``; a
  three-segment message is ``00 01 12`` (a library that waits for ``11`` never completes it).
* The APDU is the concatenation of the bytes after DTSAP of every segment, in order.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import CrcError, MalformedFrame, TruncatedFrame, UnsupportedFrame
from .scan import MORE, NOISE, NOTHING, Reassembled, Scan, ScanKind

START = 0x68
STOP = 0x16
CI_LAST_SEGMENT = 0x10
CI_SEQUENCE = 0x0F
# C, A, CI, STSAP, DTSAP: a DLMS long frame carries at least these.
MIN_L = 5
# CI values 0x00-0x1F are the DLMS transport; anything else is another M-Bus application.
_CI_DLMS_MAX = 0x1F


class MbusFrame(NamedTuple):
    """A checked M-Bus long frame carrying one DLMS transport segment."""

    control: int
    address: int
    ci: int
    source_tsap: int
    destination_tsap: int
    segment: bytes
    raw: bytes

    @property
    def sequence(self) -> int:
        """The segment number (CI low nibble)."""
        return self.ci & CI_SEQUENCE

    @property
    def last(self) -> bool:
        """True on the final segment of a message."""
        return bool(self.ci & CI_LAST_SEGMENT)


def scan(buffer: bytes | bytearray, start: int) -> Scan:
    """Look for an M-Bus long frame starting at ``buffer[start]`` (0x68)."""
    available = len(buffer)
    if start + 4 > available:
        return MORE
    length = buffer[start + 1]
    if buffer[start + 2] != length or buffer[start + 3] != START or length < 3:
        return NOISE
    end = start + length + 6
    if end > available:
        return MORE
    body = buffer[start + 4 : start + 4 + length]
    if buffer[end - 1] != STOP:
        return Scan(ScanKind.ERROR, end, None, MalformedFrame("M-Bus frame without stop byte"))
    if sum(body) & 0xFF != buffer[end - 2]:
        return Scan(ScanKind.ERROR, end, None, CrcError("M-Bus checksum mismatch"))
    if length < MIN_L or body[2] > _CI_DLMS_MAX:
        # A valid M-Bus frame of another application (e.g. an OMS/EN 13757-3 meter reading).
        error = UnsupportedFrame(f"M-Bus frame with CI 0x{body[2]:02X} does not carry DLMS")
        return Scan(ScanKind.ERROR, end, None, error)
    frame = MbusFrame(
        control=body[0],
        address=body[1],
        ci=body[2],
        source_tsap=body[3],
        destination_tsap=body[4],
        segment=bytes(body[5:]),
        raw=bytes(buffer[start:end]),
    )
    return Scan(ScanKind.FRAME, end, frame)


class MbusReassembler:
    """Joins the segments of one DLMS message; a gap drops that message only."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._next = 0
        # After a gap: ignore segments until the next first segment.
        self._discarding = False

    def reset(self) -> None:
        """Forget a partial message."""
        self._parts = []
        self._next = 0
        self._discarding = False

    @property
    def pending(self) -> bool:
        """True while a message is incomplete."""
        return bool(self._parts)

    def add(self, frame: MbusFrame) -> Reassembled:
        """Add a segment: reports a dropped message and/or returns a completed APDU."""
        sequence = frame.sequence
        # Sequence 0 starts a message, unless 0 is what comes after segment 15 (wrap).
        if sequence == 0 and not (self._parts and self._next == 0):
            dropped = (
                TruncatedFrame("M-Bus message incomplete: its last segment never came")
                if self._parts
                else None
            )
            self._discarding = False
            if frame.last:
                self._parts = []
                return Reassembled(dropped, frame.segment)
            self._parts = [frame.segment]
            self._next = 1
            return Reassembled(dropped)
        if self._discarding:
            self._discarding = not frame.last
            return NOTHING
        if not self._parts or sequence != self._next:
            expected = self._next if self._parts else 0
            self._parts = []
            self._discarding = not frame.last
            return Reassembled(
                TruncatedFrame(
                    f"M-Bus segment {expected} missing (got segment {sequence}): message dropped"
                )
            )
        self._parts.append(frame.segment)
        self._next = (sequence + 1) & CI_SEQUENCE
        if frame.last:
            message = b"".join(self._parts)
            self._parts = []
            return Reassembled(None, message)
        return NOTHING
