"""The DLMS data-notification APDU (tag 0x0F) that push meters send.

``0F | long-invoke-id-and-priority (4) | date-time | notification-body (one Data value)``

The date-time is an octet-string without its type tag: ``0C`` + 12 bytes, or ``00`` when
absent. Some meters send it tagged (``09 0C`` + 12 bytes) or as a typed date-time
(``19`` + 12 bytes); all three are accepted.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import MalformedFrame, TruncatedFrame, UnsupportedFrame
from . import axdr

TAG = 0x0F
DATE_TIME_LENGTH = 12

# APDUs a push interface should not carry, named for a useful rejection message.
_OTHER_APDUS: dict[int, str] = {
    0x01: "initiate-request",
    0x08: "initiate-response",
    0x60: "AARQ",
    0x61: "AARE",
    0x62: "RLRQ",
    0x63: "RLRE",
    0xC0: "get-request",
    0xC1: "set-request",
    0xC2: "event-notification-request",
    0xC3: "action-request",
    0xC4: "get-response",
    0xC5: "set-response",
    0xC7: "action-response",
    0xD8: "exception-response",
    0xDC: "general-ded-ciphering",
    0xDD: "general-ciphering",
    0xDF: "general-signing",
}


class DataNotification(NamedTuple):
    """A parsed data-notification."""

    long_invoke_id: int  # all 32 bits: invoke id (0-23) and the priority/flags bits
    date_time: bytes | None  # the 12 raw bytes, None when absent
    body: axdr.Value


def apdu_name(tag: int) -> str:
    """A readable name of an APDU tag, for messages."""
    return _OTHER_APDUS.get(tag, f"APDU 0x{tag:02X}")


def parse(apdu: bytes, memo: axdr.ObjectListMemo | None = None) -> DataNotification:
    """Parse a data-notification; raises Truncated/Malformed/UnsupportedFrame.

    The body must use the APDU up to its end (zero padding is tolerated), which is also
    what tells a wrong key from a right one when a frame carries no authentication tag.
    ``memo`` skips decoding a push object list identical to the previous one.
    """
    if not apdu:
        raise TruncatedFrame("empty APDU")
    if apdu[0] != TAG:
        raise UnsupportedFrame(f"{apdu_name(apdu[0])} is not a data-notification")
    if len(apdu) < 7:
        raise TruncatedFrame("data-notification header cut off")
    invoke = apdu[1] << 24 | apdu[2] << 16 | apdu[3] << 8 | apdu[4]
    pos = 5
    marker = apdu[pos]
    date_time = None
    start: int | None = None
    if marker == 0x00:
        pos += 1
    elif marker in (DATE_TIME_LENGTH, axdr.DATE_TIME):
        start = pos + 1
    elif marker == axdr.OCTET_STRING:
        length = apdu[pos + 1]
        if length == 0:
            pos += 2
        elif length == DATE_TIME_LENGTH:
            start = pos + 2
        else:
            raise MalformedFrame(f"data-notification date-time of {length} bytes")
    else:
        raise MalformedFrame(f"data-notification date-time starts with 0x{marker:02X}")
    if start is not None:
        pos = start + DATE_TIME_LENGTH
        if pos > len(apdu):
            raise TruncatedFrame("data-notification date-time cut off")
        date_time = apdu[start:pos]
    if pos >= len(apdu):
        raise TruncatedFrame("data-notification without a body")
    body, end = axdr.decode_body(apdu, pos, memo)
    if end < len(apdu) and apdu[end:].strip(b"\x00"):
        raise MalformedFrame(f"{len(apdu) - end} bytes after the data-notification body")
    return DataNotification(invoke, date_time, body)
