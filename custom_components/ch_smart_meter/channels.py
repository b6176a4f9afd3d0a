"""What a sensor publishes for one OBIS code, computed cheaply from a stream of readings.

A channel receives every value of its code (``add``) and, when the coordinator flushes at
the end of an update interval, decides the value to publish (``take``). Only channels whose
published value changed call their listener, so an unchanged sensor costs no state write.

* :class:`MeasurementChannel` averages instantaneous values (power, voltage, current, power
  factor, frequency) over the interval: nothing the meter sends is thrown away.
* :class:`CounterChannel` publishes the latest energy register value through a
  :class:`CounterGuard`, so a register never goes backwards or leaps on the energy
  dashboard.

Plain Python with ``__slots__``: this runs for every value of every telegram.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Final

from .const import AVERAGE_EXTRA_DECIMALS, COUNTER_DROP_READINGS, COUNTER_DROP_SECONDS

# Seconds of the meter's maximum power allowed on top of the elapsed time, for the clocks
# of meter and reader and for the meter's rounding.
SLACK_SECONDS: Final = 10.0

type Listener = Callable[[], None]
type ChannelValue = float | int | str | datetime | None


def _no_listener() -> None:
    """Listener of a channel no entity watches (yet)."""


class Channel:
    """A published value and the one entity that shows it."""

    __slots__ = ("listener", "value")

    def __init__(self) -> None:
        self.value: ChannelValue = None
        self.listener: Listener = _no_listener

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` when the published value changes; returns the unsubscribe."""
        self.listener = listener

        def unsubscribe() -> None:
            if self.listener is listener:
                self.listener = _no_listener

        return unsubscribe

    def publish(self, value: ChannelValue) -> None:
        """Set a value computed elsewhere (status channels); notify if it changed."""
        if value != self.value:
            self.value = value
            self.listener()

    def add(self, value: float, now: float) -> None:
        """A value of this code arrived at monotonic time ``now``."""

    def take(self) -> bool:
        """End of an update interval: compute the value to publish; True if it changed."""
        return False

    def discard(self) -> None:
        """Forget values collected in the current interval (the meter went silent)."""


class IgnoredChannel(Channel):
    """A code the catalogue has no sensor for: its values cost one dict lookup, no more."""

    __slots__ = ()


class MeasurementChannel(Channel):
    """The mean of the values of one interval, or the value itself when only one arrived."""

    __slots__ = ("_count", "_digits", "_last", "_sum")

    def __init__(self, decimals: int) -> None:
        super().__init__()
        self._digits = decimals + AVERAGE_EXTRA_DECIMALS
        self._sum = 0.0
        self._count = 0
        self._last = 0.0

    def add(self, value: float, now: float) -> None:
        self._sum += value
        self._count += 1
        self._last = value

    def take(self) -> bool:
        count = self._count
        if count == 0:
            return False
        # One value is published as the decoder gave it (exact); a mean is rounded so that
        # float noise (0.30000000000000004) never reaches a state.
        value = self._last if count == 1 else round(self._sum / count, self._digits)
        self._sum = 0.0
        self._count = 0
        if value == self.value:
            return False
        self.value = value
        return True

    def discard(self) -> None:
        self._sum = 0.0
        self._count = 0


class LatestChannel(Channel):
    """The latest value of the interval: a tariff, a count, a text (never averaged)."""

    __slots__ = ("_latest",)

    def __init__(self) -> None:
        super().__init__()
        self._latest: ChannelValue = None

    def add(self, value: ChannelValue, now: float) -> None:
        self._latest = value

    def take(self) -> bool:
        latest = self._latest
        if latest is None or latest == self.value:
            return False
        self.value = latest
        return True

    def discard(self) -> None:
        self._latest = None


class CounterGuard:
    """Keeps an energy register honest on the energy dashboard, whose statistics add up its
    changes: it never goes backwards and never leaps further than the meter could count.

    * A value no lower than the last published one, and no higher than the meter could
      have counted since at its maximum power (``max_rate`` register units per second,
      plus ``SLACK_SECONDS`` of it for clocks and rounding), is published.
    * Zero or a negative value is never published once the register had a value (a meter
      or an adapter that restarts may send 0).
    * Anything else, lower or a leap, is held back. If the readings come back in line, it
      was a bad frame and is forgotten. If it persists, readings consistent among
      themselves for ``COUNTER_DROP_READINGS`` readings over ``COUNTER_DROP_SECONDS``, the
      register has a new baseline (a replaced meter, a reset register, a changed scaling):
      ``discontinuity`` turns true (the coordinator raises a repair issue) and the value
      stays held until :meth:`accept_baseline`. From then on the register continues from
      its last published value by an ``offset``, so that the statistics get neither a
      negative nor an absurd hourly sum.
    * ``seed`` takes the value, and when it was published, from before a restart.
    """

    __slots__ = (
        "_run_count",
        "_run_first",
        "_run_last",
        "_run_last_at",
        "_run_since",
        "discontinuity",
        "max_rate",
        "offset",
        "published",
        "published_at",
    )

    def __init__(self, max_rate: float = math.inf, offset: float = 0.0) -> None:
        self.max_rate = max_rate
        self.offset = offset
        self.published: float | None = None
        self.published_at = 0.0
        self.discontinuity = False
        self._run_count = 0
        self._run_first = 0.0
        self._run_last = 0.0
        self._run_since = 0.0
        self._run_last_at = 0.0

    def seed(self, value: float, at: float) -> None:
        """The value published before a restart, at monotonic time ``at``."""
        if self.published is None or value > self.published:
            self.published = value
            self.published_at = at

    @property
    def holding(self) -> bool:
        """True while a value out of line is being held back."""
        return self._run_count > 0

    @property
    def held(self) -> float:
        """The latest value held back (with the offset), for the repair issue's text."""
        return self._run_last

    def _reachable(self, start: float, since: float, value: float, now: float) -> bool:
        """Whether the register can go from ``start`` (at ``since``) to ``value`` by ``now``."""
        return start <= value <= start + self.max_rate * (max(now - since, 0.0) + SLACK_SECONDS)

    def offer(self, raw: float, now: float) -> bool:
        """A reading's register value at monotonic time ``now``; True when it is published."""
        # Rounded after an offset: float noise (100.29999999999927) must not reach a state.
        value = round(raw + self.offset, 6) if self.offset else raw
        last = self.published
        if raw < 0:
            return False
        if last is None or self._reachable(last, self.published_at, value, now):
            self.published, self.published_at = value, now
            self._run_count = 0
            self.discontinuity = False
            return True
        if raw == 0:
            return False
        if self._run_count and self._reachable(self._run_last, self._run_last_at, value, now):
            self._run_count += 1
        else:  # a new run of values out of line starts here
            self._run_count, self._run_first, self._run_since = 1, value, now
        self._run_last, self._run_last_at = value, now
        if (
            self._run_count >= COUNTER_DROP_READINGS
            and now - self._run_since >= COUNTER_DROP_SECONDS
        ):
            self.discontinuity = True
        return False

    def accept_baseline(self) -> float:
        """Continue from the last published value with the new baseline; returns the offset."""
        if self.discontinuity and self.published is not None:
            self.offset = round(self.offset + self.published - self._run_first, 6)
            self.published_at = self._run_since
            self._run_count = 0
            self.discontinuity = False
        return self.offset


class CounterChannel(Channel):
    """The latest register value that the guard lets through.

    ``on_discontinuity`` is called when the guard's ``discontinuity`` turns on or off.
    """

    __slots__ = ("guard", "on_discontinuity")

    def __init__(self, guard: CounterGuard, on_discontinuity: Listener = _no_listener) -> None:
        super().__init__()
        self.guard = guard
        self.on_discontinuity = on_discontinuity

    def add(self, value: float, now: float) -> None:
        guard = self.guard
        before = guard.discontinuity
        guard.offer(value, now)
        if guard.discontinuity is not before:
            self.on_discontinuity()

    def take(self) -> bool:
        published = self.guard.published
        if published == self.value:
            return False
        self.value = published
        return True


class SubMeterChannel(CounterChannel):
    """A sub-meter's register (gas, water, heat) on the meter's M-Bus: guarded like an
    energy register, offered only when its own capture time moves on (the telegram repeats
    the last value every second; the sub-meter measured it once, maybe an hour ago)."""

    __slots__ = ("captured", "kind", "meter_id", "unit")

    def __init__(
        self,
        kind: str,
        unit: str | None,
        guard: CounterGuard,
        on_discontinuity: Listener = _no_listener,
    ) -> None:
        super().__init__(guard, on_discontinuity)
        self.kind = kind
        self.unit = unit
        self.meter_id: str | None = None
        self.captured: datetime | None = None

    def add_capture(self, value: float, captured: datetime, now: float) -> None:
        """The sub-meter's value and its capture time, from one reading."""
        if captured == self.captured:
            return
        self.captured = captured
        self.add(value, now)
