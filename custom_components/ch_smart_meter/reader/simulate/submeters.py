"""Simulated M-Bus sub-meters behind the DSMR meter: gas, water and heat.

A DSMR 5 meter reads its M-Bus devices every 5 minutes and sends the last value with the
time it was read: between two reads every telegram repeats the same value and time, and
the value's own time (not the telegram's) says when it changed. Here each sub-meter's
register steps at every 5-minute mark of Swiss time by the consumption of the slot that
just ended, a deterministic function of the seed and the slot:

* gas (m³): heating, more in winter and in the morning and evening;
* water (m³): short draws (showers, kitchen, washing) around the day's activity peaks;
* heat (GJ): a district-heating meter following the same heating demand as gas.

Registers only grow. A jump over many slots (simulated time accelerated, a paused
process) adds every slot up to :data:`MAX_SLOTS_ONE_BY_ONE`, then the mean of those for
the rest, so that a frame never costs more than that.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from .dsmr_telegram import GAS, HEAT, WATER, MbusChannel
from .household import SWISS_TIME

SLOT: Final = timedelta(minutes=5)
MAX_SLOTS_ONE_BY_ONE: Final = 4032  # two weeks of 5-minute slots
_SLOT_SECONDS: Final = 300


def _hour(slot_start: datetime) -> float:
    local = slot_start.astimezone(SWISS_TIME)
    return local.hour + local.minute / 60


def _winter(slot_start: datetime) -> float:
    """1 in mid-January, 0 in mid-July."""
    day = slot_start.timetuple().tm_yday
    return 0.5 + 0.5 * math.cos(2 * math.pi * (day - 15) / 365)


def _heating(slot_start: datetime) -> float:
    """Relative heating demand of a slot (0..~1.3)."""
    hour = _hour(slot_start)
    daytime = (
        0.6 + 0.5 * math.exp(-(((hour - 7) / 1.5) ** 2)) + 0.4 * math.exp(-(((hour - 19) / 2) ** 2))
    )
    return (0.05 + _winter(slot_start)) * daytime


def gas_m3(seed: int, slot_start: datetime) -> float:
    """Gas burnt in one slot: up to ~0.14 m³ on a cold morning, a little for hot water."""
    noise = random.Random(f"{seed}/gas/{slot_start.timestamp():.0f}").random()
    return 0.004 + 0.1 * _heating(slot_start) * (0.7 + 0.6 * noise)


def water_m3(seed: int, slot_start: datetime) -> float:
    """Water drawn in one slot: mostly nothing, now and then 5-60 litres."""
    rng = random.Random(f"{seed}/water/{slot_start.timestamp():.0f}")
    hour = _hour(slot_start)
    activity = (
        0.02
        + 0.35 * math.exp(-(((hour - 7) / 1.2) ** 2))
        + 0.25 * math.exp(-(((hour - 19.5) / 2) ** 2))
    )
    return rng.uniform(0.005, 0.06) if rng.random() < activity else 0.0


def heat_gj(seed: int, slot_start: datetime) -> float:
    """Heat delivered in one slot (GJ): 1 m³ of gas is about 0.036 GJ."""
    noise = random.Random(f"{seed}/heat/{slot_start.timestamp():.0f}").random()
    return 0.0002 + 0.005 * _heating(slot_start) * (0.8 + 0.4 * noise)


@dataclass(frozen=True, slots=True)
class SubMeterKindModel:
    """How one kind of sub-meter is simulated and written."""

    device_type: int
    unit: str
    id_prefix: str
    start_range: tuple[int, int]  # the register at the first telegram, whole units
    usage: Callable[[int, datetime], float]  # per slot, in ``unit``


KINDS: Final[dict[str, SubMeterKindModel]] = {
    "gas": SubMeterKindModel(GAS, "m3", "G", (800, 9000), gas_m3),
    "water": SubMeterKindModel(WATER, "m3", "W", (50, 2000), water_m3),
    "heat": SubMeterKindModel(HEAT, "GJ", "H", (20, 400), heat_gj),
}


def slot_start(moment: datetime) -> datetime:
    """The last 5-minute mark at or before ``moment``, in Swiss time."""
    local = moment.astimezone(SWISS_TIME)
    return local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)


@dataclass(slots=True)
class SubMeterModel:
    """One simulated sub-meter on M-Bus channel ``channel``; call :meth:`channel_at` with
    increasing instants."""

    kind: str
    channel: int
    seed: int = 1
    model: SubMeterKindModel = field(init=False)
    meter_id: str = field(init=False)
    _register: float = field(init=False)
    _captured: datetime | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.model = KINDS[self.kind]
        rng = random.Random(f"{self.seed}/{self.kind}/{self.channel}")
        self.meter_id = f"{self.model.id_prefix}{rng.randrange(10**15):015d}"
        low, high = self.model.start_range
        self._register = rng.uniform(low, high)

    def channel_at(self, moment: datetime) -> MbusChannel:
        """The channel's value and capture time as the meter sends them at ``moment``."""
        captured = slot_start(moment)
        if self._captured is None:
            self._captured = captured
        elif captured.timestamp() > self._captured.timestamp():  # instants, also around DST
            self._advance(captured)
        return MbusChannel(
            channel=self.channel,
            device_type=self.model.device_type,
            meter_id=self.meter_id,
            value=Decimal(f"{self._register:.3f}"),
            captured=self._captured,
            unit=self.model.unit,
        )

    def _advance(self, captured: datetime) -> None:
        assert self._captured is not None
        first = self._captured.astimezone(UTC)
        slots = round(captured.timestamp() - first.timestamp()) // _SLOT_SECONDS
        usage = self.model.usage
        one_by_one = min(slots, MAX_SLOTS_ONE_BY_ONE)
        added = sum(usage(self.seed, first + k * SLOT) for k in range(one_by_one))
        if slots > one_by_one:
            added += added / one_by_one * (slots - one_by_one)
        self._register += added
        self._captured = captured
