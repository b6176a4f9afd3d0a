"""Captured MEP dialogues: the :class:`~..spec.StreamDecoder` of the MEP standard.

A MEP meter says nothing unasked, so a capture is a dialogue, written as text, one
message per line: ``> <hex>`` from the reader to the meter, ``< <hex>`` from the meter
(spaces between the hex digits allowed; blank lines and ``#`` comments ignored). Each
answer belongs to the request before it; both digests are checked with the key
(:attr:`~..spec.DecoderOptions.encryption_key`), RC4-encrypted messages are recognised
and decrypted, and the table data feeds the same :class:`~.meter.MeterKnowledge` as the
poller does.

Readings: one per reading cycle, as the poller makes them. A cycle ends at a BT23 answer
(the energies, the poller's last read); a BT52 or BT28 answer that comes when the cycle
already has one starts a new cycle, the old one being a reading of its own (a cycle whose
BT23 read failed). A capture that lacks BT21/BT22/BT27 is read with the guide's default
layout, and its readings say so.

Keys: while no message of the capture has verified, a digest that does not match means a
wrong key ("the MEP key is wrong"); once one has, a mismatch is a corrupted message.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ..errors import CrcError, FrameError, KeyRejected, KeyRequired, MalformedFrame
from ..framing.lines import LineSplitter
from ..model import DecodeResult, RejectedFrame
from ..spec import DecoderOptions
from .message import (
    KEY_WRONG,
    LENGTH_SIZE,
    ResponseCode,
    SentRequest,
    open_answer,
    read_request,
    unseal_request,
)
from .meter import Gathered, MeterKnowledge, learn_quietly
from .tables import Read, Table

MAX_LINE: Final = 4096
_HEX_SPACE = re.compile(r"[\s:\-]")
_NO_KEY: Final = "the MEP key is needed to check the dialogue's digests"
_WRONG_KEY_DETAIL: Final = f"{KEY_WRONG}: no digest of the dialogue matches"
# Tables whose answer, arriving twice in one cycle, starts the next cycle.
_CYCLE_STARTS: Final = frozenset({Table.BT52, Table.BT28})


class MepDialogueDecoder:
    """Reads ``> request`` / ``< answer`` lines (see the module docstring)."""

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self._options = options or DecoderOptions()
        self._key = self._options.encryption_key
        self._lines = LineSplitter(MAX_LINE)
        self._knowledge = MeterKnowledge()
        self._gathered = Gathered()
        self._cycle_tables: set[Table] = set()
        self._pending: SentRequest | None = None
        self._pending_failed = False  # the pending request did not verify (reported)
        self._verified = 0  # messages whose digest matched

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Decode every complete line."""
        results: list[DecodeResult] = []
        for line in self._lines.feed(data):
            if line is None:
                self._reject(MalformedFrame("line too long"), b"", results)
            else:
                self._decode_line(line, results)
        return results

    def flush(self) -> list[DecodeResult]:
        """A last line without a line break, then the cycle in progress."""
        results: list[DecodeResult] = []
        if (line := self._lines.rest()) is not None:
            self._decode_line(line, results)
        self._end_cycle(results)
        return results

    def reset(self) -> None:
        """Forget a partial line and the unanswered request."""
        self._lines.clear()
        self._pending = None
        self._pending_failed = False

    def diagnostics(self) -> dict[str, Any]:
        """What the dialogue told about the meter."""
        return {**self._knowledge.diagnostics(), "verified_messages": self._verified}

    # -- lines ------------------------------------------------------------------------

    def _where(self) -> str:
        return f"line {self._lines.number}"

    def _reject(self, error: FrameError, message: bytes, results: list[DecodeResult]) -> None:
        results.append(RejectedFrame(error, message, position=self._where()))

    def _decode_line(self, raw: bytes, results: list[DecodeResult]) -> None:
        text = raw.decode("ascii", "replace").strip()
        if not text or text.startswith("#"):
            return
        direction, digits = text[0], _HEX_SPACE.sub("", text[1:])
        try:
            message = bytes.fromhex(digits)
        except ValueError:
            message = b""
        if direction not in "<>" or not message:
            self._reject(MalformedFrame("not a '> hex' or '< hex' line"), raw[:256], results)
            return
        length = int.from_bytes(message[:LENGTH_SIZE], "big")
        if len(message) < LENGTH_SIZE or length != len(message) - LENGTH_SIZE:
            self._reject(MalformedFrame("the length field does not match"), message, results)
            return
        if length == 0:
            return  # an alert sequence
        if direction == ">":
            self._take_request(message, results)
        else:
            self._take_answer(message, results)

    def _take_request(self, message: bytes, results: list[DecodeResult]) -> None:
        self._pending, self._pending_failed = None, False
        if self._key is None:
            return  # reported at its answer
        try:
            self._pending = unseal_request(self._key, message)
        except CrcError:
            self._pending_failed = True
            self._reject(self._digest_error("request"), message, results)
        except FrameError as err:
            self._pending_failed = True
            self._reject(err, message, results)
        else:
            self._verified += 1

    def _digest_error(self, what: str) -> FrameError:
        if self._verified:
            return CrcError(f"the {what}'s digest does not match (corrupted)")
        return KeyRejected(_WRONG_KEY_DETAIL)

    def _take_answer(self, message: bytes, results: list[DecodeResult]) -> None:
        if self._key is None:
            self._reject(KeyRequired(_NO_KEY), message, results)
            return
        request, self._pending = self._pending, None
        if request is None:
            if not self._pending_failed:
                self._reject(MalformedFrame("an answer without a request"), message, results)
            self._pending_failed = False
            return
        try:
            answer = open_answer(self._key, request, message)
        except CrcError:
            self._reject(self._digest_error("answer"), message, results)
            return
        except FrameError as err:
            self._reject(err, message, results)
            return
        self._verified += 1
        if answer.code == ResponseCode.INVALID_SEQUENCE:
            return  # a resynchronisation, not an error
        if (error := answer.error()) is not None:
            self._reject(error, message, results)
            return
        asked = read_request(request.body)
        if asked is None:
            return  # a write: nothing to read
        try:
            table = Table(asked.table)
        except ValueError:
            return  # a table this reader does not use
        self._take_data(Read(table, asked.offset, asked.length), answer.data, message, results)

    def _take_data(
        self, read: Read, data: bytes, message: bytes, results: list[DecodeResult]
    ) -> None:
        if read.table in _CYCLE_STARTS and read.table in self._cycle_tables:
            self._end_cycle(results)
        gathered = self._gathered
        if (error := learn_quietly(self._knowledge, read, data, gathered)) is not None:
            self._reject(error, message, results)
            return
        if read.table in (Table.BT52, Table.BT28, Table.BT23):
            self._cycle_tables.add(read.table)
            gathered.frames.append(message)
        if read.table is Table.BT23:
            self._end_cycle(results)

    def _end_cycle(self, results: list[DecodeResult]) -> None:
        gathered, self._gathered = self._gathered, Gathered()
        self._cycle_tables = set()
        if not gathered.empty:
            results.append(self._knowledge.reading(gathered, self._options))
