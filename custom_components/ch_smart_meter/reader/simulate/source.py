"""The simulator pipeline: meter model -> frame encoder (a :class:`FrameSource`) -> schedule.

A *frame source* turns a simulated instant into the bytes a meter of one standard sends
then (and answers requests, for polled standards). A :class:`Simulator` calls it on a
schedule: one frame every ``interval`` wall-clock seconds, at simulated instants
``start + k * interval * acceleration``, so frames are reproducible whatever the timing
jitter. The outputs (pseudo-terminal, TCP server, in-process stream) only move bytes.

Each standard's source lives in ``simulate/meters/<module>.py`` and is listed in the
static table of :mod:`.meters` (``create_source``, ``available_standards``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from ..model import Standard

# The key of simulated encrypted meters when none is given (demo only: it is public).
DEMO_KEY: Final = bytes.fromhex("000102030405060708090A0B0C0D0E0F")


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """What every simulated meter may be told.

    ``key``: encrypt frames (Smarty envelope for DSMR, general-glo-ciphering for DLMS);
    ``authentication_key``: for standards whose AK is secret (the Smarty AK is public);
    ``model``: which meter model, for standards with several (P1 DLMS: ``lg-e360`` or
    ``iskra-am550``); ``None`` is the standard's usual one. DSMR only: ``submeters``, the
    kinds of the M-Bus sub-meters on channels 1, 2, ... (``"gas"``, ``"water"``,
    ``"heat"``); ``tariff_hours``, the high tariff every day from hour to hour (Swiss time)
    instead of the household's weekday schedule.
    """

    seed: int = 1
    # Secrets: never in a repr (logs, test failure output).
    key: bytes | None = field(default=None, repr=False)
    authentication_key: bytes | None = field(default=None, repr=False)
    model: str | None = None
    submeters: tuple[str, ...] = ()
    tariff_hours: tuple[int, int] | None = None


class FrameSource(Protocol):
    """A simulated meter of one standard."""

    @property
    def standard(self) -> Standard:
        """Which standard the bytes follow."""

    def frame_at(self, moment: datetime) -> bytes:
        """The bytes the meter pushes at ``moment`` (aware); ``b""`` for polled meters."""

    def respond(self, request: bytes, moment: datetime) -> bytes:
        """The answer to bytes the reader wrote (polled standards); ``b""`` when none."""


def _now_whole_second() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Simulator:
    """Runs a :class:`FrameSource` on a schedule.

    ``interval`` is in wall-clock seconds; ``acceleration`` simulated seconds per wall
    second (60: an hour of meter time per wall minute); ``start`` the simulated instant of
    the first frame (default: now). ``clock`` is a monotonic clock (tests may replace it).
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        interval: float = 1.0,
        acceleration: float = 1.0,
        start: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError("the interval must be positive")
        if acceleration <= 0:
            raise ValueError("the acceleration must be positive")
        self.source = source
        self.interval = interval
        self.acceleration = acceleration
        self.start = start or _now_whole_second()
        if self.start.tzinfo is None:
            raise ValueError("the start time must be timezone-aware")
        self._clock = clock
        self._origin = clock()  # wall time of tick 0
        # The next tick: frames sent so far, plus those skipped while the process slept.
        self.tick = 0

    @property
    def standard(self) -> Standard:
        """The simulated standard."""
        return self.source.standard

    def simulated_time(self, tick: int | None = None) -> datetime:
        """The simulated instant of a tick (default: of the wall clock now)."""
        if tick is None:
            elapsed = (self._clock() - self._origin) * self.acceleration
        else:
            elapsed = tick * self.interval * self.acceleration
        return self.start + timedelta(seconds=elapsed)

    def due_in(self) -> float:
        """Seconds until the next frame is due (0 when it is due or late)."""
        due = self._origin + self.tick * self.interval
        late = self._clock() - due
        if late >= self.interval:
            # Far behind (the process was suspended): skip the missed ticks instead of
            # sending a burst of stale frames. Simulated time keeps pace with the clock and
            # the next frame's registers include the energy of the whole pause.
            self.tick += int(late // self.interval)
            return 0.0
        return max(-late, 0.0)

    def next_frame(self) -> bytes:
        """The frame of the next tick (whatever the time); advances the schedule."""
        moment = self.simulated_time(self.tick)
        self.tick += 1
        return self.source.frame_at(moment)

    def respond(self, request: bytes) -> bytes:
        """What the simulated meter answers to ``request`` now."""
        return self.source.respond(request, self.simulated_time())

    async def frames(self, count: int | None = None) -> AsyncIterator[bytes]:
        """Frames at their due times: the first at once, then one per interval.

        ``count`` limits the ticks (a polled meter's empty frames count, are not yielded).
        """
        sent = 0
        while count is None or sent < count:
            delay = self.due_in()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = self.next_frame()
            sent += 1
            if frame:
                yield frame
