"""HDLC frame format type 3 (IEC 62056-46) as push customer interfaces send it.

``7E | format (2) | destination address (1-4) | source address (1-4) | control | HCS (2) |
information | FCS (2) | 7E``

* The format field is ``1010 S LLL LLLLLLLL``: type 3, the segmentation bit S (more segments
  follow: Iskra AM550), and the frame length = the bytes between the two flags.
* Each address byte's least significant bit marks the last byte of that address.
* HCS and FCS are CRC-16/X.25, sent least significant byte first; a frame without an
  information field has no HCS. A bad HCS means "not a frame start" (skipped as noise); a
  bad FCS behind a good header is a damaged frame (reported as a CRC error).
* There is no byte stuffing: 0x7E may occur inside a frame, so frames are cut by their length,
  never at the next flag. The closing flag may be the next frame's opening flag, so it is
  left in the buffer.
* The first segment of a message starts with the LLC header ``E6 E7 00``
  (:func:`strip_llc`).
"""

from __future__ import annotations

from typing import NamedTuple

from ..crc import crc16_x25
from ..errors import CrcError
from .scan import MORE, NOISE, Scan, ScanKind

FLAG = 0x7E
FORMAT_TYPE_3 = 0xA0
SEGMENTATION_BIT = 0x08
MAX_ADDRESS_BYTES = 4
# Format (2), one-byte addresses (2), control (1), FCS (2).
MIN_FRAME_LENGTH = 7
LLC_HEADERS = (b"\xe6\xe7\x00", b"\xe6\xe6\x00")


class HdlcFrame(NamedTuple):
    """A checked HDLC frame."""

    segmented: bool  # the S bit: more segments of the same message follow
    destination: int
    source: int
    control: int
    information: bytes  # empty when the frame has no information field
    raw: bytes  # the whole frame, both flags included (for diagnostics)


def _address_end(buffer: bytes | bytearray, pos: int, limit: int) -> int:
    """Index after the HDLC address at ``pos``; -1 past ``limit``, -2 if longer than 4 bytes."""
    end = pos + MAX_ADDRESS_BYTES
    while pos < end:
        if pos >= limit:
            return -1
        if buffer[pos] & 1:
            return pos + 1
        pos += 1
    return -2


def scan(buffer: bytes | bytearray, start: int) -> Scan:
    """Look for an HDLC frame whose opening flag is at ``buffer[start]``."""
    available = len(buffer)
    if start + 3 > available:
        return MORE
    fmt = buffer[start + 1]
    if fmt & 0xF0 != FORMAT_TYPE_3:
        return NOISE
    length = (fmt & 0x07) << 8 | buffer[start + 2]
    if length < MIN_FRAME_LENGTH:
        return NOISE
    frame_start = start + 1
    frame_end = frame_start + length  # index of the closing flag
    complete = frame_end <= available
    limit = frame_end if complete else available
    source_pos = _address_end(buffer, start + 3, limit)
    control_pos = _address_end(buffer, source_pos, limit) if source_pos >= 0 else source_pos
    if control_pos < 0:
        return MORE if control_pos == -1 and not complete else NOISE
    header_end = control_pos + 1  # after the control byte
    # After the header: FCS only (2 bytes), or HCS + information + FCS (4 bytes or more).
    rest = frame_end - header_end
    if rest != 2 and rest < 4:
        return NOISE
    has_information = rest >= 4
    # A header whose HCS fails is not a frame start (noise after a closing flag looks like
    # one every sixteenth time): it is skipped silently. A frame whose header is right but
    # whose FCS fails is damaged: it is reported.
    if not complete:
        # Check the header now, so that noise that looks like a frame start is not waited for.
        if has_information and header_end + 2 <= available:
            hcs = buffer[header_end] | buffer[header_end + 1] << 8
            if hcs != crc16_x25(buffer[frame_start:header_end]):
                return NOISE
        return MORE
    fcs = buffer[frame_end - 2] | buffer[frame_end - 1] << 8
    if fcs != crc16_x25(buffer[frame_start : frame_end - 2]):
        if has_information:
            hcs = buffer[header_end] | buffer[header_end + 1] << 8
            if hcs != crc16_x25(buffer[frame_start:header_end]):
                return NOISE
        error = CrcError(f"HDLC frame check sequence mismatch ({length}-byte frame)")
        return Scan(ScanKind.ERROR, frame_end, None, error)
    if has_information:
        hcs = buffer[header_end] | buffer[header_end + 1] << 8
        if hcs != crc16_x25(buffer[frame_start:header_end]):
            # The FCS matched: the sender computed a wrong HCS. Not a frame to trust.
            return Scan(
                ScanKind.ERROR, frame_end, None, CrcError("HDLC header check sequence mismatch")
            )
        information = bytes(buffer[header_end + 2 : frame_end - 2])
    else:
        information = b""
    frame = HdlcFrame(
        bool(fmt & SEGMENTATION_BIT),
        int.from_bytes(buffer[start + 3 : source_pos], "big"),
        int.from_bytes(buffer[source_pos:control_pos], "big"),
        buffer[control_pos],
        information,
        bytes(buffer[start : frame_end + 1])
        if frame_end < available and buffer[frame_end] == FLAG
        else bytes(buffer[start:frame_end]) + b"\x7e",
    )
    return Scan(ScanKind.FRAME, frame_end, frame)


def strip_llc(information: bytes) -> bytes:
    """The APDU part of a first segment: without the LLC header ``E6 E7 00`` if present."""
    if information[:3] in LLC_HEADERS:
        return information[3:]
    return information
