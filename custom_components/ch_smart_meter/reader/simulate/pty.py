"""The meter's end of a pseudo-terminal: writes that never block the event loop.

A meter does not wait for its listener. What the terminal does not take at once waits in a
backlog, written when the terminal has room again; a backlog is bounded (``limit``), and
what does not fit is dropped and counted, never queued without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from typing import Final

_LOGGER = logging.getLogger(__name__)

# Bytes a slow listener may have pending before the rest is dropped.
BACKLOG_LIMIT: Final = 64 * 1024


def open_pty() -> tuple[int, int, str]:
    """A new pseudo-terminal in raw mode: (master fd, non-blocking; slave fd; its path).

    Raw at once: no echo and no CR -> LF translation of what is written before a reader
    has configured the port.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


class PtyWriter:
    """Non-blocking writes to a pseudo-terminal's master, with a bounded backlog."""

    def __init__(self, loop: asyncio.AbstractEventLoop, master: int) -> None:
        self._loop = loop
        self._master = master
        self._backlog = bytearray()
        self.delivered = 0  # bytes the terminal took
        self.dropped = 0  # bytes lost because nobody read the terminal

    @property
    def pending(self) -> bool:
        """Whether earlier bytes still wait for room in the terminal."""
        return bool(self._backlog)

    def write(self, data: bytes) -> None:
        """Write ``data`` after what is pending; what does not fit the backlog is dropped."""
        if self._backlog:
            room = max(BACKLOG_LIMIT - len(self._backlog), 0)
            self.dropped += max(0, len(data) - room)
            self._backlog += data[:room]
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError as err:
            _LOGGER.debug("Writing to the pseudo-terminal failed: %s", err)
            return
        self.delivered += written
        if written < len(data):
            self._backlog += data[written : written + BACKLOG_LIMIT]
            self.dropped += max(0, len(data) - written - BACKLOG_LIMIT)
            self._loop.add_writer(self._master, self._flush)

    def clear(self) -> None:
        """Forget what is pending (the reader reconfigured its port)."""
        self._backlog.clear()

    def close(self) -> None:
        """Stop writing (the caller closes the descriptors)."""
        self._backlog.clear()
        with contextlib.suppress(OSError, ValueError):
            self._loop.remove_writer(self._master)

    def _flush(self) -> None:
        try:
            written = os.write(self._master, self._backlog)
        except BlockingIOError:
            return
        except OSError:
            written = len(self._backlog)
        self.delivered += written
        del self._backlog[:written]
        if not self._backlog:
            self._loop.remove_writer(self._master)
