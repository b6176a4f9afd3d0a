"""Replay a capture (raw bytes from the wire, or hex text) as a simulated meter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..model import Standard
from ..spec import DecoderOptions, StandardSpec

_WHITESPACE = re.compile(rb"\s+")


def parse_hex_text(text: bytes | str) -> bytes:
    """Bytes from hex text with any whitespace (spaces, newlines) between the digits."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    cleaned = _WHITESPACE.sub(b"", raw)
    try:
        return bytes.fromhex(cleaned.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError("not hexadecimal text (digits 0-9, a-f and whitespace only)") from err


def load_capture(path: Path | str, *, hex_text: bool = False) -> bytes:
    """The bytes of a capture file; with ``hex_text`` the file holds hex digits."""
    data = Path(path).read_bytes()
    return parse_hex_text(data) if hex_text else data


def _past_line_end(data: bytes, position: int) -> int:
    while data[position : position + 1] in (b"\r", b"\n"):
        position += 1
    return position


def split_frames(
    data: bytes, spec: StandardSpec, options: DecoderOptions | None = None
) -> list[bytes]:
    """Cut a capture into the frames the standard's decoder finds (good or rejected).

    Bytes before the first frame (noise) stay with it, bytes after the last one join it.
    Without a single frame the whole capture is one piece.
    """
    decoder = spec.create_decoder(options or DecoderOptions())
    cuts: list[int] = []
    view = memoryview(data)
    for position in range(len(data)):
        if decoder.feed(bytes(view[position : position + 1])):
            cuts.append(position + 1)
    # The line end after a telegram's CRC belongs to that telegram, not to the next one.
    cuts = [_past_line_end(data, cut) for cut in cuts]
    if not cuts:
        return [data] if data else []
    pieces = [data[start:end] for start, end in zip([0, *cuts[:-1]], cuts, strict=True)]
    pieces[-1] += data[cuts[-1] :]
    return pieces


@dataclass(slots=True)
class ReplaySource:
    """Sends the frames of a capture one per tick, round and round."""

    replay_standard: Standard
    frames: Sequence[bytes]
    position: int = 0

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("the capture is empty")

    @property
    def standard(self) -> Standard:
        """The standard of the capture."""
        return self.replay_standard

    def frame_at(self, moment: datetime) -> bytes:
        """The next frame of the capture (the time is that of the capture)."""
        frame = self.frames[self.position % len(self.frames)]
        self.position += 1
        return frame

    def respond(self, request: bytes, moment: datetime) -> bytes:
        """A capture cannot answer."""
        return b""


def replay_source(data: bytes, spec: StandardSpec) -> ReplaySource:
    """A source replaying ``data``, cut into frames by ``spec``'s decoder."""
    return ReplaySource(spec.standard, split_frames(data, spec))
