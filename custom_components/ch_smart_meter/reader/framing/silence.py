"""Silence on the line between two chunks: the end of whatever was unfinished.

A push meter sends the frames of one push back to back (a UART does not pause inside a
frame, nor an L&G E450 between the blocks of one push), and its pushes seconds apart: an
E450 at 2400 baud needs about 2.6 s for its four frames and pushes every 5 s or more,
which leaves a silence of 2.4 s or more between pushes. A silence longer than
:data:`MESSAGE_PAUSE` while a frame or a multi-frame message is unfinished therefore
means that the rest was lost: what comes next belongs to the next push and must never be
appended to it. The pause is well below the silence between pushes and well above what
serial adapters (16 ms latency timers) and network serial servers add; a bridge that
holds bytes back for longer costs a push, never a wrong reading.

Without an arrival clock (captures, the command line's ``decode``) there is no time, and
silence never ends anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

MESSAGE_PAUSE: Final = 1.5  # seconds


class SilenceWatch:
    """Notes when chunks arrive; tells whether the line fell silent before the last one."""

    __slots__ = ("_clock", "_last", "_pause")

    def __init__(self, clock: Callable[[], float] | None, pause: float = MESSAGE_PAUSE) -> None:
        self._clock = clock
        self._pause = pause
        self._last: float | None = None

    def broken(self) -> bool:
        """Note a chunk's arrival: True when more than the pause went by since the last."""
        if self._clock is None:
            return False
        now = self._clock()
        last, self._last = self._last, now
        return last is not None and now - last > self._pause

    def reset(self) -> None:
        """Forget the last arrival (a new connection starts without a past)."""
        self._last = None
