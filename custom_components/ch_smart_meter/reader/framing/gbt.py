"""DLMS general-block-transfer (GBT, APDU tag 0xE0) reassembly.

``E0 | block-control | block-number (2) | block-number-ack (2) | block-data``

Block control: bit 7 = last block, bit 6 = streaming, bits 0-5 = window. The block data is
an A-XDR octet-string (length byte(s) + data; 0x81/0x82 long forms occur). L&G E450/E570
send blocks 1..n with control 0x40 and 0xC0 on the last. The concatenated block data is the
APDU (a data-notification, or a general-glo-ciphering APDU around one).

A duplicated, missing or out-of-order block drops that message with a specific reason;
the following blocks are ignored until the next block 1, so the next message decodes
normally.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import MalformedFrame, TruncatedFrame
from .scan import NOTHING, Reassembled

TAG = 0xE0
LAST_BLOCK = 0x80
STREAMING = 0x40
HEADER_LENGTH = 6  # tag, control, number (2), acknowledged number (2)
# A push is a few hundred bytes; a message of more than this is garbage.
MAX_MESSAGE = 64 * 1024


class GbtBlock(NamedTuple):
    """One parsed general-block-transfer APDU."""

    last: bool
    streaming: bool
    window: int
    number: int
    acknowledged: int
    data: bytes


def parse_block(apdu: bytes) -> GbtBlock:
    """Parse a 0xE0 APDU; raises Truncated/MalformedFrame."""
    if len(apdu) < HEADER_LENGTH + 1:
        raise TruncatedFrame("general-block-transfer header cut off")
    if apdu[0] != TAG:
        raise MalformedFrame(f"not a general-block-transfer APDU (tag 0x{apdu[0]:02X})")
    control = apdu[1]
    number = apdu[2] << 8 | apdu[3]
    acknowledged = apdu[4] << 8 | apdu[5]
    pos = HEADER_LENGTH
    length = apdu[pos]
    pos += 1
    if length >= 0x80:
        count = length - 0x80
        if count == 0 or count > 4:
            raise MalformedFrame(f"general-block-transfer block {number}: bad length form")
        if pos + count > len(apdu):
            raise TruncatedFrame(f"general-block-transfer block {number}: length cut off")
        length = int.from_bytes(apdu[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(apdu):
        raise TruncatedFrame(
            f"general-block-transfer block {number} announces {length} bytes, "
            f"{len(apdu) - pos} present"
        )
    if end < len(apdu):
        raise MalformedFrame(
            f"general-block-transfer block {number}: {len(apdu) - end} bytes after its data"
        )
    return GbtBlock(
        last=bool(control & LAST_BLOCK),
        streaming=bool(control & STREAMING),
        window=control & 0x3F,
        number=number,
        acknowledged=acknowledged,
        data=apdu[pos:end],
    )


class GbtReassembler:
    """Joins general-block-transfer blocks into the APDU they carry."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._last_number = 0
        # After a dropped message: ignore blocks until the next block 1.
        self._discarding = False

    def reset(self) -> None:
        """Forget a partial message."""
        self._parts = []
        self._size = 0
        self._last_number = 0
        self._discarding = False

    @property
    def pending(self) -> bool:
        """True while a message is incomplete."""
        return bool(self._parts)

    def pending_error(self) -> TruncatedFrame | None:
        """The error that describes the incomplete message, if any (end of input)."""
        if not self._parts:
            return None
        return TruncatedFrame(
            f"general-block-transfer message incomplete: blocks 1-{self._last_number} "
            "received, the last block never came"
        )

    def add(self, apdu: bytes) -> Reassembled:
        """Add one 0xE0 APDU: reports a dropped message and/or returns a completed one."""
        try:
            block = parse_block(apdu)
        except (TruncatedFrame, MalformedFrame) as err:
            dropped_earlier = self._parts
            self._drop()
            if dropped_earlier:
                err.detail = f"{err.detail}; the message it belonged to was dropped"
            return Reassembled(err)
        number = block.number
        if number == 1:
            dropped = self.pending_error()
            self._parts = [block.data]
            self._size = len(block.data)
            self._last_number = 1
            self._discarding = False
            return self._finish(block, dropped)
        if self._discarding:
            return NOTHING
        if not self._parts:
            self._drop()
            return Reassembled(
                TruncatedFrame(
                    f"general-block-transfer block {number} without its first block: "
                    "message dropped"
                )
            )
        expected = self._last_number + 1
        if number != expected:
            if number == self._last_number:
                reason = f"block {number} duplicated"
                error: MalformedFrame | TruncatedFrame = MalformedFrame(
                    f"general-block-transfer {reason}: message dropped"
                )
            elif number > expected:
                missing = (
                    f"block {expected} missing"
                    if number == expected + 1
                    else f"blocks {expected}-{number - 1} missing"
                )
                error = TruncatedFrame(f"general-block-transfer {missing}: message dropped")
            else:
                error = MalformedFrame(
                    f"general-block-transfer block {number} out of order after block "
                    f"{self._last_number}: message dropped"
                )
            self._drop()
            return Reassembled(error)
        self._parts.append(block.data)
        self._size += len(block.data)
        self._last_number = number
        if self._size > MAX_MESSAGE:
            self._drop()
            return Reassembled(
                MalformedFrame(f"general-block-transfer message larger than {MAX_MESSAGE} bytes")
            )
        return self._finish(block, None)

    def _finish(self, block: GbtBlock, dropped: TruncatedFrame | None) -> Reassembled:
        if not block.last:
            return NOTHING if dropped is None else Reassembled(dropped)
        message = b"".join(self._parts)
        self._parts = []
        self._size = 0
        self._last_number = 0
        return Reassembled(dropped, message)

    def _drop(self) -> None:
        self._parts = []
        self._size = 0
        self._last_number = 0
        self._discarding = True
