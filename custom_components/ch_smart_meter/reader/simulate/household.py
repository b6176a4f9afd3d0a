"""A physically consistent household behind a three-phase meter, for every simulated standard.

A load profile over the day (base load, fridge, morning, noon and evening peaks, random
kettle/oven events) and a solar roof (season-dependent day length, passing clouds) give
import at night and export around noon. Each instant the model produces a
:class:`MeterState`:

* net power = load - solar, split over the three phases so that the per-phase import
  (export) powers add up exactly to the total import (export) power, in whole watts;
* voltages around 230 V that sag under import and rise under export, with a little noise;
* currents = |P| / U per phase;
* energy registers (import/export, tariff 1/2, plus reactive) that integrate the power of
  each step exactly: they are kept as integers in watt-microseconds, so the register
  difference between two states is exactly the sum of power x time, truncated to the
  register's watt-hour resolution like a real meter's display.

Everything is a deterministic function of the seed and the instants asked for: the same
seed and the same instants give the same states, byte for byte.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

SWISS_TIME: Final = ZoneInfo("Europe/Zurich")
NOMINAL_VOLTAGE: Final = 230.0

_WUS_PER_WH: Final = 3_600_000_000  # watt-microseconds in one watt-hour
_WH: Final = Decimal("0.001")  # one watt-hour in kWh
_WATT: Final = Decimal("0.001")  # one watt in kW


def _unit_noise(seed: int, channel: str, index: int) -> float:
    """A reproducible number in [-1, 1) for (seed, channel, index)."""
    return random.Random(f"{seed}/{channel}/{index}").random() * 2.0 - 1.0


def _smooth_noise(seed: int, channel: str, seconds: float, period: float) -> float:
    """Noise that changes smoothly over ``period`` seconds (interpolated knots)."""
    position = seconds / period
    index = math.floor(position)
    fraction = position - index
    weight = fraction * fraction * (3.0 - 2.0 * fraction)  # smoothstep
    first = _unit_noise(seed, channel, index)
    second = _unit_noise(seed, channel, index + 1)
    return first + (second - first) * weight


def _bump(hour: float, centre: float, width: float) -> float:
    """A bell-shaped activity peak around ``centre`` (hours)."""
    return math.exp(-(((hour - centre) / width) ** 2))


# The tariff in force at an instant as 0-0:96.14.0 says it, numbered as Swiss grid operators
# do: 1 the high tariff (HT), 2 the low one (NT). (Dutch DSMR meters number the other way.)
type Tariff = Callable[[datetime], int]
HIGH_TARIFF, LOW_TARIFF = 1, 2


def tariff_at(moment: datetime) -> int:
    """The high tariff Monday to Friday 07:00-20:00, the low one otherwise."""
    local = moment.astimezone(SWISS_TIME)
    if local.weekday() < 5 and 7 <= local.hour < 20:
        return HIGH_TARIFF
    return LOW_TARIFF


def daily_tariff(high_from: int, high_until: int, moment: datetime) -> int:
    """The high tariff every day from ``high_from`` to ``high_until`` o'clock Swiss time,
    else the low one (bind the hours with ``functools.partial``)."""
    if high_from <= moment.astimezone(SWISS_TIME).hour < high_until:
        return HIGH_TARIFF
    return LOW_TARIFF


@dataclass(frozen=True, slots=True)
class PhaseState:
    """One phase at one instant. Powers in watts; one of import/export is zero."""

    voltage: Decimal  # V, one decimal
    current: Decimal  # A, two decimals (DSMR 5.0.2 sends it rounded to whole amps)
    import_w: int
    export_w: int


@dataclass(frozen=True, slots=True)
class MeterState:
    """What the meter knows at one instant, in whole watts and watt-hour registers."""

    timestamp: datetime  # aware, Swiss time
    tariff: int  # 1 or 2
    import_w: int  # total active power drawn from the grid
    export_w: int  # total active power fed into the grid
    reactive_import_var: int
    reactive_export_var: int
    phases: tuple[PhaseState, ...]
    # Registers in Wh (integers): import/export per tariff, reactive import/export.
    import_wh: tuple[int, int]  # (tariff 1, tariff 2)
    export_wh: tuple[int, int]
    reactive_import_varh: int
    reactive_export_varh: int
    load_w: int  # what the household consumes (for tests and curious users)
    solar_w: int  # what the roof produces

    def values(self) -> dict[str, Decimal]:
        """The state as CH-SMR values (kWh, kW, V, A, kvarh, kvar) by partial OBIS code."""
        values: dict[str, Decimal] = {
            "1.8.1": self.import_wh[0] * _WH,
            "1.8.2": self.import_wh[1] * _WH,
            "2.8.1": self.export_wh[0] * _WH,
            "2.8.2": self.export_wh[1] * _WH,
            "1.8.0": (self.import_wh[0] + self.import_wh[1]) * _WH,
            "2.8.0": (self.export_wh[0] + self.export_wh[1]) * _WH,
            "3.8.0": self.reactive_import_varh * _WH,
            "4.8.0": self.reactive_export_varh * _WH,
            "1.7.0": self.import_w * _WATT,
            "2.7.0": self.export_w * _WATT,
            "3.7.0": self.reactive_import_var * _WATT,
            "4.7.0": self.reactive_export_var * _WATT,
        }
        for number, phase in enumerate(self.phases):
            offset = 20 * number
            values[f"{32 + offset}.7.0"] = phase.voltage
            values[f"{31 + offset}.7.0"] = phase.current
            values[f"{21 + offset}.7.0"] = phase.import_w * _WATT
            values[f"{22 + offset}.7.0"] = phase.export_w * _WATT
        return values


def split_watts(total: int, weights: tuple[float, ...]) -> tuple[int, ...]:
    """Split a whole number of watts by weights so that the parts add up exactly."""
    raw = [total * weight / sum(weights) for weight in weights]
    parts = [math.floor(value) for value in raw]
    remainders = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)
    for index in remainders[: total - sum(parts)]:
        parts[index] += 1
    return tuple(parts)


class HouseholdModel:
    """A three-phase household with a solar roof; call :meth:`step` with increasing instants.

    ``peak_solar_w`` is the roof's peak power; ``base_load_w`` the always-on consumption;
    ``tariff`` decides which register (tariff 1 or 2) counts the energy of an instant.
    """

    def __init__(
        self,
        seed: int = 1,
        *,
        peak_solar_w: float = 8000.0,
        base_load_w: float = 180.0,
        tariff: Tariff = tariff_at,
    ) -> None:
        self.seed = seed
        self.tariff = tariff
        self.peak_solar_w = peak_solar_w
        self.base_load_w = base_load_w
        rng = random.Random(f"{seed}/registers")
        # Registers of a meter that has been running for a few years, in watt-microseconds.
        self._import_wus = [rng.randrange(5_000_000, 15_000_000) * _WUS_PER_WH for _ in range(2)]
        self._export_wus = [rng.randrange(1_000_000, 8_000_000) * _WUS_PER_WH for _ in range(2)]
        self._reactive_import_wus = rng.randrange(500_000, 3_000_000) * _WUS_PER_WH
        self._reactive_export_wus = rng.randrange(100_000, 1_000_000) * _WUS_PER_WH
        self._last: datetime | None = None

    # -- what the house does (pure functions of time) -------------------------------------

    def load_w(self, moment: datetime) -> float:
        """Household consumption in W at ``moment``."""
        local = moment.astimezone(SWISS_TIME)
        hour = local.hour + local.minute / 60 + local.second / 3600
        seconds = moment.timestamp()
        seed = self.seed
        load = self.base_load_w * (1.0 + 0.15 * _smooth_noise(seed, "base", seconds, 900))
        # A fridge compressor: on for 12 of every 40 minutes.
        if (seconds // 60) % 40 < 12:
            load += 110.0
        load += 900.0 * _bump(hour, 7.2, 0.6)  # breakfast
        load += 1300.0 * _bump(hour, 12.1, 0.5)  # lunch
        load += 1700.0 * _bump(hour, 19.0, 1.2)  # dinner, washing, television
        load *= 1.0 + 0.25 * _smooth_noise(seed, "activity", seconds, 600)
        # Kettle, oven, dishwasher: in about a quarter of the ten-minute slots of the day.
        slot = int(seconds // 600)
        if 6 <= hour < 23 and _unit_noise(seed, "event", slot) > 0.5:
            start = (_unit_noise(seed, "event-start", slot) + 1.0) * 200  # 0..400 s into the slot
            length = 120 + (_unit_noise(seed, "event-length", slot) + 1.0) * 120
            if start <= seconds - slot * 600 < start + length:
                load += 1500.0 + (_unit_noise(seed, "event-power", slot) + 1.0) * 750
        return max(load, 60.0)

    def solar_w(self, moment: datetime) -> float:
        """Roof production in W at ``moment``: day length and height by season, clouds."""
        local = moment.astimezone(SWISS_TIME)
        day_of_year = local.timetuple().tm_yday
        season = math.sin(2 * math.pi * (day_of_year - 80) / 365.0)  # +1 June, -1 December
        day_length = 12.0 + 3.8 * season
        # Solar noon is about 12:28 in Swiss standard time (UTC+1), 13:28 in summer time.
        offset = local.utcoffset() or timedelta(hours=1)
        solar_noon = 12.47 + (offset.total_seconds() / 3600 - 1.0)
        hour = local.hour + local.minute / 60 + local.second / 3600
        position = (hour - (solar_noon - day_length / 2)) / day_length
        if not 0.0 < position < 1.0:
            return 0.0
        height = float(math.sin(math.pi * position) ** 1.5)
        amplitude = 0.7 + 0.3 * season  # lower winter sun
        seconds = moment.timestamp()
        clouds = 0.65 + 0.35 * _smooth_noise(self.seed, "clouds", seconds, 900)
        flicker = 1.0 + 0.05 * _smooth_noise(self.seed, "flicker", seconds, 30)
        return max(self.peak_solar_w * height * amplitude * clouds * flicker, 0.0)

    def _phase_weights(self, seconds: float) -> tuple[float, ...]:
        # Phase 1 carries most of the kitchen, phase 3 the least; they drift a little.
        base = (0.42, 0.33, 0.25)
        return tuple(
            weight * (1.0 + 0.3 * _smooth_noise(self.seed, f"phase{index}", seconds, 300))
            for index, weight in enumerate(base)
        )

    # -- the meter -----------------------------------------------------------------------

    def step(self, moment: datetime) -> MeterState:
        """The meter state at ``moment`` (aware); the registers integrate since the last step.

        The power at ``moment`` is taken as the power of the whole interval since the last
        step (the first step integrates nothing). Instants that go back in time add nothing.
        """
        if moment.tzinfo is None:
            raise ValueError("the simulated instant must be timezone-aware")
        moment = moment.astimezone(SWISS_TIME)
        seconds = moment.timestamp()
        load = round(self.load_w(moment))
        solar = round(self.solar_w(moment))
        net = load - solar
        import_w, export_w = max(net, 0), max(-net, 0)

        weights = self._phase_weights(seconds)
        magnitudes = split_watts(abs(net), weights)
        phases = []
        for index, watts in enumerate(magnitudes):
            signed = watts if net >= 0 else -watts
            noise = _smooth_noise(self.seed, f"voltage{index}", seconds, 120)
            volts = NOMINAL_VOLTAGE + 1.2 - 0.0007 * signed + 1.5 * noise
            voltage = Decimal(f"{volts:.1f}")
            current = (Decimal(watts) / voltage).quantize(Decimal("0.01"))
            phases.append(
                PhaseState(
                    voltage=voltage,
                    current=current,
                    import_w=watts if net >= 0 else 0,
                    export_w=watts if net < 0 else 0,
                )
            )

        reactive_import = round(0.18 * load)  # motors and power supplies: inductive
        reactive_export = round(0.03 * solar)  # the inverter's reactive power set point

        tariff = self.tariff(moment)
        if self._last is not None and moment > self._last:
            elapsed = moment - self._last
            micros = (elapsed.days * 86_400 + elapsed.seconds) * 1_000_000 + elapsed.microseconds
            self._import_wus[tariff - 1] += import_w * micros
            self._export_wus[tariff - 1] += export_w * micros
            self._reactive_import_wus += reactive_import * micros
            self._reactive_export_wus += reactive_export * micros
        if self._last is None or moment > self._last:
            self._last = moment

        return MeterState(
            timestamp=moment,
            tariff=tariff,
            import_w=import_w,
            export_w=export_w,
            reactive_import_var=reactive_import,
            reactive_export_var=reactive_export,
            phases=tuple(phases),
            import_wh=(
                self._import_wus[0] // _WUS_PER_WH,
                self._import_wus[1] // _WUS_PER_WH,
            ),
            export_wh=(
                self._export_wus[0] // _WUS_PER_WH,
                self._export_wus[1] // _WUS_PER_WH,
            ),
            reactive_import_varh=self._reactive_import_wus // _WUS_PER_WH,
            reactive_export_varh=self._reactive_export_wus // _WUS_PER_WH,
            load_w=load,
            solar_w=solar,
        )

    @property
    def energy_wus(self) -> dict[str, int]:
        """The exact register contents in watt-microseconds (for tests of the integration)."""
        return {
            "1.8.1": self._import_wus[0],
            "1.8.2": self._import_wus[1],
            "2.8.1": self._export_wus[0],
            "2.8.2": self._export_wus[1],
        }
