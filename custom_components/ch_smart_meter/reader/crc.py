"""The three CRCs the customer interfaces use, table driven.

* CRC-16/ARC (DSMR P1 telegrams): reflected polynomial 0x8005, init 0, no final XOR.
* CRC-16/X.25 (HDLC HCS/FCS): reflected polynomial 0x1021, init 0xFFFF, final XOR 0xFFFF.
* CRC-16/XMODEM (Kamstrup KMP): polynomial 0x1021, init 0, not reflected; this one is in the
  standard library as ``binascii.crc_hqx``.
"""

from __future__ import annotations

import binascii


def _reflected_table(polynomial: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_ARC_TABLE = _reflected_table(0xA001)
_X25_TABLE = _reflected_table(0x8408)


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/ARC; check value for b"123456789" is 0xBB3D."""
    crc = 0
    table = _ARC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X.25; check value for b"123456789" is 0x906E."""
    crc = 0xFFFF
    table = _X25_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def crc16_xmodem(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/XMODEM; check value for b"123456789" is 0x31C3."""
    return binascii.crc_hqx(bytes(data), 0)
