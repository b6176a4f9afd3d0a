"""The three CRCs of the customer interfaces, one implementation each, computed in C.

* CRC-16/ARC (DSMR P1 telegrams): reflected polynomial 0x8005, init 0, no final XOR.
* CRC-16/X.25 (HDLC HCS/FCS): reflected polynomial 0x1021, init 0xFFFF, final XOR 0xFFFF.
* CRC-16/XMODEM (Kamstrup KMP): polynomial 0x1021, init 0, not reflected; the standard
  library has it as ``binascii.crc_hqx``.

A table loop in Python costs a dictionary-free lookup and four operations per byte, which
for a 1 KiB DSMR telegram is most of what checking it costs; both CRC-16s here are
evaluated by the interpreter's C code instead (``scripts/bench/dsmr.py`` measures it).
"""

from __future__ import annotations

import binascii
from typing import Final

type Bytes = bytes | bytearray | memoryview

# --------------------------------------------------------------------------------------
# CRC-16/ARC by parity masks.
#
# With initial value 0 and no final XOR the CRC is linear over GF(2) in the message bits,
# and leading zero bytes leave it at 0: bit j of the CRC is the parity of the message bits
# selected by a fixed mask that depends only on each bit's distance from the end. Read as
# one big-endian integer (last byte lowest), a message of up to _ARC_BLOCK bytes is
# checked with 16 ANDs and bit counts. The masks are read sequentially, which a cold CPU
# cache prefetches, instead of by random table lookups.
#
# Longer messages are cut into blocks: the first takes the remainder, every later one
# _ARC_BLOCK bytes. Continuing a reflected CRC from state s over a block of at least two
# bytes equals starting from 0 over the same block with its first two bytes XORed with s
# (low byte first), so each block is one more masked evaluation.

_ARC_POLYNOMIAL: Final = 0xA001  # 0x8005 reflected
_ARC_BLOCK: Final = 2048  # DSMR telegrams: ~0.8-1.5 KiB


def _arc_table() -> tuple[int, ...]:
    """The byte step of the reference definition: CRC of one byte from state 0."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _ARC_POLYNOMIAL if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def _arc_masks(size: int) -> tuple[int, ...]:
    """For each CRC bit j, the message bits (big-endian integer) whose parity it is."""
    table = _arc_table()
    # spread[v]: bit j of the byte v moved to bit 8 j, so that one integer collects, for
    # the bits of the byte at one distance from the end, the 16 mask bytes side by side.
    spread = tuple(sum(((v >> j) & 1) << (8 * j) for j in range(8)) for v in range(256))
    # The CRC of the single bit b of a byte followed by the current distance of zero bytes.
    states = [table[1 << bit] for bit in range(8)]
    columns = bytearray()
    for _ in range(size):
        column = 0
        for bit, state in enumerate(states):
            column |= (spread[state & 0xFF] | spread[state >> 8] << 64) << bit
            states[bit] = (state >> 8) ^ table[state & 0xFF]
        columns += column.to_bytes(16, "little")
    return tuple(int.from_bytes(columns[j::16], "little") for j in range(16))


_ARC_MASKS: Final = _arc_masks(_ARC_BLOCK)


def _arc_block(data: Bytes) -> int:
    message = int.from_bytes(data, "big")
    crc = 0
    for bit, mask in enumerate(_ARC_MASKS):
        crc |= ((message & mask).bit_count() & 1) << bit
    return crc


def crc16_arc(data: Bytes) -> int:
    """CRC-16/ARC; check value for b"123456789" is 0xBB3D."""
    size = len(data)
    if size <= _ARC_BLOCK:
        return _arc_block(data)
    first = size - _ARC_BLOCK * ((size - 1) // _ARC_BLOCK)
    crc = _arc_block(data[:first])
    for start in range(first, size, _ARC_BLOCK):
        block = bytes(data[start : start + _ARC_BLOCK])
        head = bytes((block[0] ^ (crc & 0xFF), block[1] ^ (crc >> 8)))
        crc = _arc_block(head + block[2:])
    return crc


# --------------------------------------------------------------------------------------
# CRC-16/X.25 is the reflected form of CRC-CCITT: binascii.crc_hqx computes the
# non-reflected one in C; on bit-reversed bytes, bit-reversed again, it gives X.25. The
# init value 0xFFFF is its own reversal.

_REVERSED_BITS: Final = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def crc16_x25(data: bytes | bytearray) -> int:
    """CRC-16/X.25; check value for b"123456789" is 0x906E."""
    crc = binascii.crc_hqx(data.translate(_REVERSED_BITS), 0xFFFF)
    return (_REVERSED_BITS[crc & 0xFF] << 8 | _REVERSED_BITS[crc >> 8]) ^ 0xFFFF


def crc16_xmodem(data: Bytes) -> int:
    """CRC-16/XMODEM; check value for b"123456789" is 0x31C3."""
    return binascii.crc_hqx(bytes(data), 0)
