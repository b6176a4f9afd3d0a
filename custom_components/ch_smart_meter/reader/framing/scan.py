"""The answer a framer gives for one candidate frame start.

Each framer module offers a ``scan(buffer, start)`` function that looks at one candidate
frame start and answers with a :class:`Scan`: a checked frame, "need more bytes", "not a
frame here" (noise: skip one byte) or a typed error. The stream decoder drives them; the
framers keep no state, so feeding byte by byte and feeding one chunk give the same frames.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Any, NamedTuple

from ..errors import FrameError


class ScanKind(Enum):
    """What a framer found at a candidate start."""

    FRAME = auto()  # a complete, checked frame ending at ``end``
    MORE = auto()  # could be a frame: wait for more bytes
    NOISE = auto()  # not a frame start: skip this byte silently
    ERROR = auto()  # a frame that fails its check: report ``error``


class Scan(NamedTuple):
    """The answer of a framer for one candidate start.

    ``end`` is the index after the frame (FRAME), or after the span the bad frame claimed
    (ERROR: candidates inside that span that fail their own checks are not reported again).
    """

    kind: ScanKind
    end: int = 0
    frame: Any = None
    error: FrameError | None = None


MORE = Scan(ScanKind.MORE)
NOISE = Scan(ScanKind.NOISE)


class Reassembled(NamedTuple):
    """What adding one segment or block gives.

    ``dropped`` reports an earlier incomplete or inconsistent message that was abandoned
    (only that message is lost); ``message`` is a message completed by this part.
    """

    dropped: FrameError | None = None
    message: bytes | None = None


NOTHING = Reassembled()
