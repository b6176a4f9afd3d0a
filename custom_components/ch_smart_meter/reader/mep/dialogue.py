"""Captured MEP dialogues: the :class:`~..spec.StreamDecoder` of the MEP standard.

A MEP meter says nothing unasked, so a capture is a dialogue, written as text, one
message per line: ``> <hex>`` from the reader to the meter, ``< <hex>`` from the meter
(spaces between the hex digits allowed; blank lines and ``#`` comments ignored). Each
answer belongs to the request before it; both digests are checked with the key
(:attr:`~..spec.DecoderOptions.encryption_key`), RC4-encrypted messages are recognised
and decrypted, and the table data feeds the same :class:`~.meter.MeterKnowledge` as the
poller does.

Readings: one per reading cycle, as the poller makes them. A cycle starts with its clock
read (a BT52 request) and ends at a BT23 answer (the energies, the poller's last read); a
BT28 answer that comes when the cycle already has one starts a new cycle too (a dialogue
without clock reads). A capture that lacks BT21/BT22/BT27 is read with the guide's default
layout, and its readings say so.

Like the poller, a cycle gives a reading only when every read of it got its authenticated
answer (data, or a refusal: the poller goes on without a refused table). A cycle that lost
a message gives no reading but a rejection (its answers were verified, but the reading
would lack values, mix two cycles' answers, or carry the host's time instead of the
meter's): a request or answer that is damaged (its hex, length or digest), an answer
without its request, a request left unanswered (a new one comes instead; an identical
resend is no loss), a request whose sequence number skips numbers (requests are missing:
each new request takes the next number, a 0x0C answer names the one it follows, a resend
repeats it) or, at the end of the capture, a request still unanswered. A read whose answer
was lost and that is asked again and answered within the cycle (the poller's retry) is no
loss. A message lost between two cycles counts against the next one unless that one starts
with its clock read. In a dialogue whose cycles read the clock, a cycle without one lost
it, and one that ends without an answer to its energies read (a new cycle starts, or the
capture ends) lost that. Lines that are not dialogue lines at all (no ``>`` or ``<``) are
noise, not a loss.

Keys: while no message of the capture has verified, a digest that does not match means a
wrong key ("the MEP key is wrong"); once one has, a mismatch is a corrupted message.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ..errors import (
    CrcError,
    FrameError,
    KeyRejected,
    KeyRequired,
    MalformedFrame,
    RequestRefused,
    TruncatedFrame,
)
from ..framing.lines import LineSplitter
from ..model import DecodeResult, RejectedFrame
from ..spec import DecoderOptions
from .message import (
    KEY_WRONG,
    LENGTH_SIZE,
    SEQUENCE_MODULUS,
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
        # The open cycle lost a message of an unknown read (see the module docstring) ...
        self._lost = False
        # ... or the answers of these tables' reads (until asked again and answered).
        self._missing: set[int] = set()
        self._answered: set[int] = set()  # tables whose read the open cycle got answered
        # The sequence number of the last verified request, and the one a new request
        # takes next (None: not known yet).
        self._last_sequence: int | None = None
        self._next_sequence: int | None = None
        self._open = False  # a cycle started (a verified request since the last one ended)
        self._reads_clock = False  # the dialogue's cycles start with a BT52 read

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
        if self._pending is not None:
            self._miss(self._pending)  # the capture ends before its answer
            self._pending = None
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
            self._lost = self._lost or direction in "<>"  # noise has no direction
            return
        length = int.from_bytes(message[:LENGTH_SIZE], "big")
        if len(message) < LENGTH_SIZE or length != len(message) - LENGTH_SIZE:
            self._reject(MalformedFrame("the length field does not match"), message, results)
            self._lost = True
            return
        if length == 0:
            return  # an alert sequence
        if direction == ">":
            self._take_request(message, results)
        else:
            self._take_answer(message, results)

    def _take_request(self, message: bytes, results: list[DecodeResult]) -> None:
        if self._pending is not None and self._pending.wire != message:
            self._miss(self._pending)  # its answer never came: another request instead
        self._pending, self._pending_failed = None, False
        if self._key is None:
            return  # reported at its answer
        try:
            sent = unseal_request(self._key, message)
        except CrcError:
            self._pending_failed = self._lost = True
            self._reject(self._digest_error("request"), message, results)
            return
        except FrameError as err:
            self._pending_failed = self._lost = True
            self._reject(err, message, results)
            return
        self._verified += 1
        sequence = sent.sequence
        if self._next_sequence is not None and sequence not in (
            self._next_sequence,
            self._last_sequence,
        ):
            self._lost = True  # requests are missing before this one
        self._last_sequence = sequence
        self._next_sequence = (sequence + 1) % SEQUENCE_MODULUS
        self._pending = sent
        asked = read_request(sent.body)
        if asked is not None and asked.table == Table.BT52:
            self._end_cycle(results)  # a reading cycle starts with its clock read
            self._reads_clock = True
        elif not self._open:
            self._start_cycle()
        self._open = True

    def _start_cycle(self) -> None:
        """A cycle starts at a request other than the clock read: in a dialogue whose
        cycles read the clock, it lost its clock read; a message lost since the last
        cycle ended may have been one of its reads (a clock read starts a cycle afresh)."""
        self._lost = self._lost or self._reads_clock

    def _miss(self, request: SentRequest) -> None:
        """The answer to ``request`` is lost to the open cycle."""
        asked = read_request(request.body)
        if asked is None:
            self._lost = True
        else:
            self._missing.add(asked.table)

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
                self._lost = True
            self._pending_failed = False
            return
        try:
            answer = open_answer(self._key, request, message)
        except CrcError:
            self._reject(self._digest_error("answer"), message, results)
            self._miss(request)
            return
        except FrameError as err:
            self._reject(err, message, results)
            self._miss(request)
            return
        self._verified += 1
        asked = read_request(request.body)
        if answer.code == ResponseCode.INVALID_SEQUENCE:
            # A resynchronisation, not an error: the read is asked again, with the number
            # after the meter's.
            assert answer.sequence is not None
            self._next_sequence = (answer.sequence + 1) % SEQUENCE_MODULUS
            if asked is not None:
                self._missing.add(asked.table)
            return
        if asked is not None:
            self._missing.discard(asked.table)  # answered, or asked again and answered
            self._answered.add(asked.table)
        if (error := answer.error()) is not None:
            self._reject(error, message, results)
            if not isinstance(error, RequestRefused):
                self._lost = True  # the poller ends the cycle (a wrong key, TLS)
            return
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
            self._start_cycle()
            self._open = True
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
        lost = self._lost or bool(self._missing)
        if self._reads_clock and Table.BT23 not in self._answered:
            lost = True  # the cycle's last read, the energies, was lost with its lines
        self._cycle_tables, self._lost, self._missing = set(), False, set()
        self._answered = set()
        self._open = False
        if gathered.empty:
            return
        if lost:
            error = TruncatedFrame("a message of the reading cycle was lost: no reading")
            self._reject(error, b"".join(gathered.frames), results)
        else:
            results.append(self._knowledge.reading(gathered, self._options))
