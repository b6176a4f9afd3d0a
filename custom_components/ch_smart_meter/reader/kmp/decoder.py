"""KMP captures: a recorded dialogue with a Kamstrup meter turned into readings.

A capture holds what a sniffer or a logging serial server saw: requests (80 ... 0D) and
answers (40 ... 0D), maybe with noise between them. Requests are skipped. Each GetRegister
answer gives one reading, stamped with the time of decoding (KMP answers carry no time); a
GetSerialNo answer names the meter of the readings after it (``unknown`` before one), a
GetType answer their model. Frames are cut at start and stop bytes, which the byte stuffing
keeps out of frame bodies, so the readings do not depend on how the bytes are chunked.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ..errors import FrameError, MalformedFrame, TruncatedFrame, UnsupportedFrame
from ..model import DecodeResult, RejectedFrame
from ..spec import DecoderOptions
from .codec import (
    REQUEST_START,
    STOP,
    Command,
    MeterType,
    decode_frame,
    parse_registers,
    parse_serial,
    parse_type,
)
from .registers import convert, reading_of

# A frame longer than this is no KMP frame (a GetRegister answer for eight registers, all
# bytes stuffed, stays under 200 bytes).
MAX_FRAME: Final = 1024
# Bytes of an oversized frame kept with its rejection, for the diagnostics.
KEPT_BYTES: Final = 256
_START: Final = re.compile(rb"[\x40\x80]")


class KmpCaptureDecoder:
    """The :class:`~..spec.StreamDecoder` of KMP captures (see the module docstring)."""

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self._options = options or DecoderOptions()
        self._buffer = bytearray()
        self._offset = 0  # position of the buffer's first byte in the input
        self._meter_id: str | None = None
        self._meter_type: MeterType | None = None
        self._problems: tuple[str, ...] = ()

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Decode every frame the bytes complete."""
        self._buffer += data
        results: list[DecodeResult] = []
        while True:
            start = _START.search(self._buffer)
            if start is None:
                self._drop(len(self._buffer))
                break
            self._drop(start.start())
            stop = self._buffer.find(STOP, 1)
            restart = _START.search(self._buffer, 1)
            if restart is not None and (stop < 0 or restart.start() < stop):
                # A start byte never occurs inside a frame: this one lost its end.
                end = restart.start()
                error: FrameError = TruncatedFrame("a new frame starts before the stop byte")
                self._reject(error, bytes(self._buffer[:end]), results)
                self._drop(end)
            elif stop >= 0:
                frame = bytes(self._buffer[: stop + 1])
                self._decode(frame, results)
                self._drop(stop + 1)
            elif len(self._buffer) > MAX_FRAME:
                error = MalformedFrame(f"no stop byte within {MAX_FRAME} bytes")
                self._reject(error, bytes(self._buffer[:KEPT_BYTES]), results)
                self._drop(len(self._buffer))
            else:
                break
        return results

    def flush(self) -> list[DecodeResult]:
        """A frame without its stop byte at the end of the input is truncated."""
        results: list[DecodeResult] = []
        if self._buffer:
            frame = bytes(self._buffer[:KEPT_BYTES])
            self._reject(TruncatedFrame("the input ends inside a frame"), frame, results)
            self._drop(len(self._buffer))
        return results

    def reset(self) -> None:
        """Forget a partial frame (the meter id stays: it is the same capture)."""
        self._drop(len(self._buffer))

    def diagnostics(self) -> dict[str, Any]:
        """The meter the capture names, and answers whose unit gave no value."""
        return {
            "meter_serial": self._meter_id,
            "meter_type": None if self._meter_type is None else self._meter_type.label,
            "unit_problems": list(self._problems),
        }

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self._offset += count

    def _reject(self, error: FrameError, frame: bytes, results: list[DecodeResult]) -> None:
        """Report a broken answer; broken requests are skipped like good ones."""
        if frame[0] != REQUEST_START:
            results.append(RejectedFrame(error, frame, position=f"byte {self._offset}"))

    def _decode(self, raw: bytes, results: list[DecodeResult]) -> None:
        if raw[0] == REQUEST_START:
            return
        try:
            frame = decode_frame(raw)
            if frame.command == Command.GET_SERIAL:
                self._meter_id = str(parse_serial(frame.data))
            elif frame.command == Command.GET_TYPE:
                self._meter_type = parse_type(frame.data)
            elif frame.command == Command.GET_REGISTER:
                registers = parse_registers(frame.data)
                converted = convert(registers)
                self._problems = converted.problems or self._problems
                if not converted.values:
                    listed = ", ".join(f"{r.register:04X}" for r in registers) or "none"
                    raise UnsupportedFrame(f"no register of an electricity meter ({listed})")
                results.append(
                    reading_of(
                        converted,
                        self._options,
                        meter_id=self._meter_id,
                        meter_type=self._meter_type,
                        frame=raw,
                    )
                )
        except FrameError as err:
            self._reject(err, raw, results)
