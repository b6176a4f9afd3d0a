"""The CRCs straight from their definitions, bit by bit: the tests' independent reference
for ``reader.crc`` (which computes them in other ways, for speed)."""

from __future__ import annotations


def _reflected(data: bytes, polynomial: int, initial: int, final: int) -> int:
    crc = initial
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
    return crc ^ final


def crc16_arc_bitwise(data: bytes) -> int:
    """CRC-16/ARC: reflected 0x8005 (= 0xA001), init 0, no final XOR."""
    return _reflected(data, 0xA001, 0, 0)


def crc16_x25_bitwise(data: bytes) -> int:
    """CRC-16/X.25: reflected 0x1021 (= 0x8408), init 0xFFFF, final XOR 0xFFFF."""
    return _reflected(data, 0x8408, 0xFFFF, 0xFFFF)
