"""Text captures one message per line (CH-SMR messages, MEP dialogues): lines as bytes arrive."""

from __future__ import annotations

from collections.abc import Iterator


class LineSplitter:
    """Complete lines out of chunks of bytes, numbered from 1 (:attr:`number` is the number
    of the line last given out, for "line N" in a rejection). A line that grows past
    ``limit`` bytes without a line break is dropped and given out as ``None``, so that a
    stream without line breaks costs bounded memory."""

    __slots__ = ("_buffer", "_limit", "number")

    def __init__(self, limit: int) -> None:
        self._buffer = bytearray()
        self._limit = limit
        self.number = 0

    def feed(self, data: bytes) -> Iterator[bytes | None]:
        """Each line ``data`` completes, without its line break; ``None`` for one too long."""
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self.number += 1
            yield line
        if len(self._buffer) > self._limit:
            self._buffer.clear()
            self.number += 1
            yield None

    def rest(self) -> bytes | None:
        """The last line, without a line break, if it holds more than white space; the
        splitter is empty afterwards."""
        line = bytes(self._buffer)
        self._buffer.clear()
        if not line.strip():
            return None
        self.number += 1
        return line

    def clear(self) -> None:
        """Forget a partial line."""
        self._buffer.clear()
