"""The DSMR decoder's shortcuts cannot change a result.

The CRC is computed by parity masks for messages up to ``_CRC_MASK_BYTES`` and by a table
loop beyond: both must equal the bit-by-bit reference on every length around the switch.
"""

from __future__ import annotations

import random

from custom_components.ch_smart_meter.reader import crc
from custom_components.ch_smart_meter.reader.standards import dsmr


def test_crc_masks_and_table_loop_equal_the_reference_around_the_switch() -> None:
    rng = random.Random(11)
    edge = dsmr._CRC_MASK_BYTES
    for length in (0, 1, 2, 3, 799, 800, edge - 2, edge - 1, edge, edge + 1, edge + 2):
        for _ in range(3):
            data = rng.randbytes(length)
            assert dsmr.crc16_arc_fast(data) == crc.crc16_arc(data), length


def test_crc_of_leading_zeros_and_all_ones() -> None:
    # Leading zero bytes must not change the CRC (initial value 0), and a message of only
    # set bits exercises every mask bit at once.
    for length in (1, 100, dsmr._CRC_MASK_BYTES):
        ones = b"\xff" * length
        assert dsmr.crc16_arc_fast(ones) == crc.crc16_arc(ones)
        padded = b"\x00" * 7 + b"123456789"
        assert dsmr.crc16_arc_fast(padded) == 0xBB3D
