"""Polled standards: the reader asks, the meter answers (Kamstrup KMP, NES MEP).

A push meter talks on its own and the session only listens (a :class:`~.spec.StreamDecoder`
on the bytes). A polled meter says nothing until asked: its standard brings a
:class:`Poller`, which runs one reading cycle at a time (one or more requests, their
answers, retries, a resynchronisation) over a :class:`Link`, and hands every reading and
rejected answer to the session like a decoder does. The session owns what is common to
both (the connection, reconnects, silence, counters, the schedule of the cycles).

:class:`Link` is the half-duplex wire: write a request, wait for the first complete answer
with a timeout. Before each request it forgets whatever is left over (a late answer to an
earlier request, noise), so a cycle always starts clean; it skips the echo of the request
that optical heads and some RS-485 adapters send back; and no wait is without a timeout,
so no answer, a garbled one or a vanished port can never wedge the dialogue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from .errors import NoAnswer, TransportError
from .model import DecodeResult
from .transport import ByteStream

_LOGGER = logging.getLogger(__name__)

# Where a complete answer lies in the bytes received so far: (start, end), bytes before
# ``start`` being noise; ``None`` while it is not complete yet.
type FindAnswer = Callable[[bytearray], tuple[int, int] | None]
type Emit = Callable[[DecodeResult], None]

# The longest answer buffered: beyond it, what arrived cannot be an answer.
MAX_ANSWER: Final = 4096


@dataclass(slots=True)
class DialogueStats:
    """What the dialogue with a polled meter did, for diagnostics.

    ``echoes``: requests whose echo (half-duplex adapter) was skipped; ``late``: bytes that
    arrived after their request had timed out, dropped before the next request.
    """

    cycles: int = 0
    requests: int = 0
    answers: int = 0
    timeouts: int = 0
    retries: int = 0
    resynchronisations: int = 0
    echoes: int = 0
    late: int = 0


class Link:
    """Requests and answers over one open stream (see the module docstring).

    The session feeds it the stream's chunks (:meth:`feed`) and tells it when the stream
    ended (:meth:`end`); a :class:`Poller` calls :meth:`exchange`.
    """

    def __init__(self, stream: ByteStream, stats: DialogueStats) -> None:
        self._stream = stream
        self.stats = stats
        self._buffer = bytearray()
        self._echo = b""  # what is left of the current request's echo
        self._arrived = asyncio.Event()
        self._ended: BaseException | None = None
        self._waiting = False

    def feed(self, chunk: bytes) -> None:
        """Bytes from the meter (the stream's receiver)."""
        if not self._waiting:
            self.stats.late += len(chunk)
            return
        if self._echo:
            chunk = self._skip_echo(chunk)
        self._buffer += chunk
        if len(self._buffer) > MAX_ANSWER:
            del self._buffer[:-MAX_ANSWER]
        self._arrived.set()

    def end(self, error: BaseException | None) -> None:
        """The stream ended (``None``) or broke."""
        self._ended = error or TransportError("connection closed by the remote side")
        self._arrived.set()

    def _skip_echo(self, chunk: bytes) -> bytes:
        echo = self._echo
        same = 0
        while same < min(len(chunk), len(echo)) and chunk[same] == echo[same]:
            same += 1
        if same == len(chunk) or same == len(echo):
            self._echo = echo[same:]
            if not self._echo:
                self.stats.echoes += 1
            return chunk[same:]
        # Not (or no longer) the echo: an adapter without echo, or an answer.
        self._echo = b""
        return chunk

    async def exchange(
        self, request: bytes, find: FindAnswer, timeout: float, *, echo: bool = True
    ) -> bytes:
        """Send ``request`` and return the first complete answer ``find`` recognises.

        Raises :class:`NoAnswer` when none is complete within ``timeout`` seconds, and
        :class:`TransportError` when the stream ends or breaks.
        """
        if self._ended is not None:
            raise (
                self._ended
                if isinstance(self._ended, TransportError)
                else TransportError("connection lost")
            )
        self._buffer.clear()
        self._echo = request if echo else b""
        self._arrived.clear()
        self._waiting = True
        try:
            await self._stream.write(request)
            self.stats.requests += 1
            async with asyncio.timeout(timeout):
                while True:
                    found = find(self._buffer)
                    if found is not None:
                        start, end = found
                        answer = bytes(self._buffer[start:end])
                        del self._buffer[:end]
                        self.stats.answers += 1
                        return answer
                    if self._ended is not None:
                        raise TransportError("connection lost while waiting for the answer")
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError as err:
            self.stats.timeouts += 1
            raise NoAnswer(f"no complete answer within {timeout:g} s") from err
        finally:
            self._waiting = False
            self._echo = b""


@contextlib.asynccontextmanager
async def open_link(
    stream: ByteStream,
    stats: DialogueStats,
    *,
    on_bytes: Callable[[int], None] | None = None,
    on_end: Callable[[], None] | None = None,
) -> AsyncIterator[Link]:
    """A :class:`Link` over ``stream``, fed by a task that receives the stream's chunks
    for as long as the block runs. ``on_bytes`` counts every chunk's size; ``on_end`` is
    called when the remote side closed the stream (not when it broke)."""
    link = Link(stream, stats)

    def on_chunk(chunk: bytes) -> None:
        if on_bytes is not None:
            on_bytes(len(chunk))
        link.feed(chunk)

    async def receive() -> None:
        try:
            await stream.receive(on_chunk)
        except TransportError as err:
            link.end(err)
        else:
            if on_end is not None:
                on_end()
            link.end(None)

    receiving = asyncio.create_task(receive())
    try:
        yield link
    finally:
        receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiving


class Poller(Protocol):
    """A polled standard's side of the dialogue: what to ask and what the answers mean."""

    def cycle_timeout(self) -> float:
        """The longest one :meth:`poll` may take, retries included (a safety net)."""

    async def poll(self, link: Link, emit: Emit) -> None:
        """One reading cycle: ask, check and decode the answers, retry as the standard
        says; ``emit`` every reading and every rejected answer, in order. Raises
        :class:`TransportError` only when the connection is gone."""

    def reset(self) -> None:
        """A new connection: forget what belonged to the old one."""

    def diagnostics(self) -> dict[str, Any]:
        """What the poller learned (meter id, sequence number...), never key material."""
