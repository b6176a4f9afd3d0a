"""Exact decimals: meters send numbers as digits and a power of ten (DSMR text, KMP, scaled
DLMS registers); they become the float nearest to the exact value, never a float product
with its rounding noise (0.1 * 3 = 0.30000000000000004 must not reach a state)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, NamedTuple

_POW10: Final = tuple(10**n for n in range(24))


class Exact(NamedTuple):
    """An exact decimal: ``integer * 10 ** power``."""

    integer: int
    power: int

    def to_float(self) -> float:
        """The float nearest to the exact value."""
        return to_float(self.integer, self.power)


def to_float(integer: int, power: int) -> float:
    """The float nearest to ``integer * 10 ** power`` (integer division rounds correctly)."""
    size = abs(power)
    scale: int = _POW10[size] if size < len(_POW10) else 10**size
    try:
        return float(integer * scale) if power >= 0 else integer / scale
    except OverflowError:  # beyond the float range, as float() of the digits gives
        return math.inf if integer > 0 else -math.inf


def exact_sum(registers: Iterable[Exact]) -> float:
    """The float nearest to the exact sum of decimal registers."""
    items = list(registers)
    power = min(item.power for item in items)
    total = 0
    for integer, own_power in items:
        scale: int = 10 ** (own_power - power)
        total += integer * scale
    return to_float(total, power)
