"""What a sensor publishes for one OBIS code, computed cheaply from a stream of readings.

A channel receives every value of its code (``add``) and, when the coordinator flushes at
the end of an update interval, decides the value to publish (``take``). Only channels whose
published value changed call their listener, so an unchanged sensor costs no state write.

* :class:`MeasurementChannel` averages instantaneous values (power, voltage, current, power
  factor, frequency) over the interval: nothing the meter sends is thrown away.
* :class:`CounterChannel` publishes the latest energy register value through a
  :class:`CounterGuard`, so a register never goes backwards on the energy dashboard.

Plain Python with ``__slots__``: this runs for every value of every telegram.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .const import AVERAGE_EXTRA_DECIMALS, COUNTER_DROP_READINGS, COUNTER_DROP_SECONDS

type Listener = Callable[[], None]
type ChannelValue = float | int | datetime | None


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


class CounterGuard:
    """Keeps an energy register from going backwards because of a bad frame or a restart.

    * A value at least as high as the last published one is published.
    * Zero or a negative value is never published once the register had a value.
    * A lower value is held back; it is published only when lower values keep coming,
      never decreasing among themselves, for ``COUNTER_DROP_READINGS`` readings spanning at
      least ``COUNTER_DROP_SECONDS`` (a replaced meter, whose new register starts lower).
    * ``seed`` takes the value published before a restart.
    """

    __slots__ = ("_drop_count", "_drop_since", "_drop_value", "published")

    def __init__(self) -> None:
        self.published: float | None = None
        self._drop_count = 0
        self._drop_since = 0.0
        self._drop_value = 0.0

    def seed(self, value: float) -> None:
        """The value published before a restart: nothing lower is published from now on."""
        if self.published is None or value > self.published:
            self.published = value

    @property
    def holding(self) -> bool:
        """True while a lower value is being held back."""
        return self._drop_count > 0

    def offer(self, value: float, now: float) -> bool:
        """A reading's value; True when it becomes the published value."""
        last = self.published
        if value < 0:
            return False
        if last is None or value >= last:
            self._drop_count = 0
            self.published = value
            return True
        if value == 0:
            return False
        if self._drop_count == 0 or value < self._drop_value:
            # A new run of lower values starts here.
            self._drop_count = 1
            self._drop_since = now
            self._drop_value = value
            return False
        self._drop_count += 1
        self._drop_value = value
        if (
            self._drop_count >= COUNTER_DROP_READINGS
            and now - self._drop_since >= COUNTER_DROP_SECONDS
        ):
            self._drop_count = 0
            self.published = value
            return True
        return False


class CounterChannel(Channel):
    """The latest register value that the guard lets through."""

    __slots__ = ("guard",)

    def __init__(self) -> None:
        super().__init__()
        self.guard = CounterGuard()

    def add(self, value: float, now: float) -> None:
        self.guard.offer(value, now)

    def take(self) -> bool:
        published = self.guard.published
        if published == self.value:
            return False
        self.value = published
        return True
