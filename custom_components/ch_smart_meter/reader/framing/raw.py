"""APDUs sent without link layer, framed by their own length; and DSMR text on a DLMS port.

Captures (``.llcpdu`` files), TCP bridges and some meters deliver bare APDUs, optionally
behind the LLC header ``E6 E7 00``: a general-glo-ciphering APDU (``DB``) and a
general-block-transfer block (``E0``) carry their length; a data-notification (``0F``)
ends where its A-XDR body ends. Each candidate is checked for plausibility first (system
title length, security control byte, date-time marker, body tag), so that noise is
recognised as such without waiting for bytes.
"""

from __future__ import annotations

from ..dlms.axdr import (
    ARRAY,
    DATE_TIME,
    OCTET_STRING,
    STRUCTURE,
    MalformedData,
    decode,
    read_length,
)
from ..errors import MalformedFrame, TruncatedFrame, UnsupportedFrame
from .hdlc import LLC_HEADERS
from .scan import MORE, NOISE, Scan, ScanKind

LLC_FIRST = 0xE6
TAG_CIPHERED = 0xDB
TAG_NOTIFICATION = 0x0F
TAG_BLOCK = 0xE0
APDU_TAGS = frozenset({TAG_CIPHERED, TAG_NOTIFICATION, TAG_BLOCK})
STARTS = frozenset({LLC_FIRST, *APDU_TAGS})
DSMR_START = 0x2F  # "/"
# A raw APDU longer than this is not waited for (noise that looked like a header).
MAX_APDU = 8 * 1024
# Security control bytes of general-glo-ciphering (suite 0/1; authenticated/encrypted).
_SECURITY_CONTROLS = frozenset({0x10, 0x20, 0x30, 0x11, 0x21, 0x31})
_DATE_TIME_LENGTH = 12


def scan(buffer: bytes | bytearray, start: int) -> Scan:
    """An APDU at ``buffer[start]``; the frame is its bytes, LLC header included."""
    size = len(buffer)
    apdu = start
    if buffer[start] == LLC_FIRST:
        if start + 4 > size:
            return MORE
        if bytes(buffer[start : start + 3]) not in LLC_HEADERS:
            return NOISE
        apdu = start + 3
        if buffer[apdu] not in APDU_TAGS:
            return NOISE
    end = _apdu_end(buffer, apdu)
    if isinstance(end, Scan):
        if end.kind is ScanKind.MORE and size - start > MAX_APDU:
            return NOISE
        return end
    return Scan(ScanKind.FRAME, end, bytes(buffer[start:end]))


def strong_start(buffer: bytes | bytearray, start: int) -> bool:
    """A start random bytes rarely give: the LLC header, a ciphered APDU (its system
    title length, header and security control are checked by :func:`scan`) or a
    data-notification (its whole body must decode); a bare block-transfer tag is not."""
    if buffer[start] == LLC_FIRST:
        return bytes(buffer[start : start + 3]) in LLC_HEADERS or start + 3 > len(buffer)
    return buffer[start] in (TAG_CIPHERED, TAG_NOTIFICATION)


def _apdu_end(buffer: bytes | bytearray, start: int) -> int | Scan:
    size = len(buffer)
    tag = buffer[start]
    try:
        if tag == TAG_CIPHERED:
            if start + 12 > size:
                return MORE
            if buffer[start + 1] != 8:  # the system title is 8 bytes
                return NOISE
            length, body = read_length(buffer, start + 10)
            if length < 5 or length > MAX_APDU:
                return NOISE
            if body >= size:
                return MORE
            if buffer[body] not in _SECURITY_CONTROLS:
                return NOISE
            end = body + length
            return MORE if end > size else end
        if tag == TAG_BLOCK:
            if start + 7 > size:
                return MORE
            if buffer[start + 2] << 8 | buffer[start + 3] == 0:  # blocks count from 1
                return NOISE
            length, data = read_length(buffer, start + 6)
            if length > MAX_APDU:
                return NOISE
            end = data + length
            return MORE if end > size else end
        if start + 7 > size:
            return MORE
        return _notification_end(buffer, start)
    except TruncatedFrame:
        return MORE
    except MalformedFrame:
        return NOISE


def _notification_end(buffer: bytes | bytearray, start: int) -> int | Scan:
    """Where a data-notification ends: only its A-XDR body tells."""
    marker = buffer[start + 5]
    if marker == 0x00:
        body = start + 6
    elif marker in (_DATE_TIME_LENGTH, DATE_TIME):
        body = start + 6 + _DATE_TIME_LENGTH
    elif marker == OCTET_STRING and buffer[start + 6] in (0, _DATE_TIME_LENGTH):
        body = start + 7 + buffer[start + 6]
    else:
        return NOISE
    if body >= len(buffer):
        return MORE
    if buffer[body] not in (ARRAY, STRUCTURE):  # a push body is an array or a structure
        return NOISE
    try:
        _, end = decode(bytes(buffer[body:]), 0)
    except TruncatedFrame:
        return MORE
    except MalformedData as err:
        # The bad span ends where the decoder found the fault: the same on any chunking.
        return Scan(ScanKind.ERROR, body + err.offset + 1, None, err)
    return body + end


def scan_dsmr(buffer: bytes | bytearray, start: int) -> Scan:
    """A DSMR text telegram (``/XXX5...``) on a DLMS port: the wrong standard, say so."""
    if start + 5 > len(buffer):
        return MORE
    ident = bytes(buffer[start + 1 : start + 5])
    if ident[:3].isalpha() and ident[3:4].isdigit():
        error = UnsupportedFrame("a DSMR text telegram, not DLMS: choose the standard P1 DSMR")
        return Scan(ScanKind.ERROR, start + 5, None, error)
    return NOISE
