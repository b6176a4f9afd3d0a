"""The MEP reader's side of the dialogue: a :class:`~..polling.Poller`.

On a new connection it reads the meter's identity and register layout once (BT00, BT01,
ET03, BT21, BT15, BT22, BT27; ET04 when ET03 is blank; BT20 and ET55 on a transformer
meter), then each cycle
reads the clock (BT52), the present values (BT28) and the energies (BT23) with partial
reads sized to the fields it maps, and emits one reading.

Sequence numbers: the reader need not know the meter's. It sends its next number; a
meter that wants another one answers 0x0C with its current number, and the reader goes
on from that number plus one (the guide's example 1). Every request takes a new number,
retries included, except the one resend of identical bytes that the guide prescribes
after a timeout (if the meter did answer the first time, the resend gets a 0x0C). A 0x0C
is counted as a resynchronisation and never shown as an error.

Every answer's digest is checked: one that does not match is dropped and reported as a
rejected answer (line noise, or not this meter's), and the read is asked once more. A
0x0B means the key is wrong; that is reported, and the meter is not asked again for
:data:`KEY_RETRY` seconds (a meter may log every failed authentication as a security
event). The same holds for a port that requires TLS.

Timing (the guide's "MEP Protocol Timing"): the meter answers within 500 ms of the last
request byte, long answers arriving in 117-byte pieces 25 ms apart, and it serves at most
one request per 100 ms. The reader waits 500 ms plus a margin (network bridges) plus the
answer's own transfer time on the line (9600 8N1 by default), and spaces requests 100 ms apart.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, Final

from ..errors import FrameError, KeyRejected, KeyRequired, NoAnswer, TlsRequired
from ..model import DecodeResult, RejectedFrame, SerialSettings
from ..polling import Emit, Link
from ..spec import DecoderOptions
from .message import (
    MAX_MESSAGE,
    SEQUENCE_MODULUS,
    Answer,
    ResponseCode,
    SentRequest,
    find_message,
    open_answer,
    read_body,
    seal,
)
from .meter import Gathered, MeterKnowledge, learn_quietly
from .tables import Read

_LOGGER = logging.getLogger(__name__)

# The MEP port's default (the guide); ET13 allows slower rates, rarely used.
MEP_SERIAL: Final = SerialSettings(9600, 8, "N", 1)
RESPONSE_TIMEOUT: Final = 0.5  # the guide's, from the last request byte
TIMEOUT_MARGIN: Final = 0.3  # scheduling and network serial bridges
SEGMENT: Final = 117  # bytes per piece of a long answer
SEGMENT_GAP: Final = 0.025
REQUEST_SPACING: Final = 0.1  # the meter serves at most one request per 100 ms
KEY_RETRY: Final = 60.0
# Seals the one read that asks whether a MEP meter is there when no key is known.
BLANK_KEY: Final = bytes(16)
# Resynchronisations and dropped answers one read may take before the cycle gives up.
MAX_RESYNCHRONISATIONS: Final = 2
MAX_DROPPED: Final = 1
# Identification reads of one connection, at most (the list is data-driven: a guard).
MAX_IDENTIFICATION_READS: Final = 16
_ANSWER_OVERHEAD: Final = 2 + 1 + 2 + 8  # length, code, count, digest


class _CycleOver(Exception):
    """Internal: this cycle cannot go on (no answer, wrong key, TLS); already reported."""


def answer_timeout(count: int, serial: SerialSettings = MEP_SERIAL) -> float:
    """How long to wait for the answer to a read of ``count`` bytes on ``serial``."""
    size = min(_ANSWER_OVERHEAD + count, MAX_MESSAGE + 2)
    transfer = serial.wire_seconds(size) + (size // SEGMENT) * SEGMENT_GAP
    return RESPONSE_TIMEOUT + TIMEOUT_MARGIN + transfer


class MepPoller:
    """Reads a NES meter over its MEP port (see the module docstring).

    ``encrypt``: RC4-encrypt the requests (the meter then encrypts its answers); off by
    default, the guide making it optional and discouraging it.
    """

    def __init__(
        self,
        options: DecoderOptions,
        serial: SerialSettings | None = None,
        *,
        encrypt: bool = False,
    ) -> None:
        self._options = options
        self._serial = serial or MEP_SERIAL
        self._key = options.encryption_key
        self._encrypt = encrypt
        self._knowledge = MeterKnowledge()
        self._next_sequence = 0
        self._last_request = -REQUEST_SPACING
        self._refused_until = 0.0  # loop time before which the meter is not asked
        self._refusal: FrameError | None = None
        self.dropped = 0  # answers whose digest did not match
        self.refused = 0  # reads the meter refused

    def __repr__(self) -> str:
        # Never the key.
        return f"MepPoller(encrypt={self._encrypt}, sequence={self._next_sequence})"

    # -- Poller protocol --------------------------------------------------------------

    def cycle_timeout(self) -> float:
        """A safety net: every read of the cycle failing slowly, identification included."""
        reads = len(self._knowledge.cycle_reads())
        if not self._knowledge.layout_known:
            reads += MAX_IDENTIFICATION_READS // 2
        per_read = (2 + MAX_RESYNCHRONISATIONS + MAX_DROPPED) * (
            answer_timeout(MAX_MESSAGE, self._serial) + REQUEST_SPACING
        )
        return reads * per_read

    async def poll(self, link: Link, emit: Emit) -> None:
        """One reading cycle (with the identification reads on a new connection)."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._refused_until:
            return
        if self._key is None:
            await self._ask_without_key(link, emit)
            return
        try:
            await self._identify(link, emit)
            gathered = Gathered()
            for read in self._knowledge.cycle_reads():
                answer = await self._read(link, emit, read)
                if answer is None:
                    continue
                gathered.frames.append(answer.wire)
                if (
                    error := learn_quietly(self._knowledge, read, answer.data, gathered)
                ) is not None:
                    emit(RejectedFrame(error, answer.wire))
        except _CycleOver:
            return
        if not gathered.empty:
            emit(self._knowledge.reading(gathered, self._options))

    def reset(self) -> None:
        """A new connection: identify the meter again (the sequence number is kept: the
        meter's own survives a reconnect, and a wrong guess costs one 0x0C)."""
        self._knowledge = MeterKnowledge()

    def diagnostics(self) -> dict[str, Any]:
        """What the poller learned; never key material."""
        return {
            **self._knowledge.diagnostics(),
            "next_sequence_number": self._next_sequence,
            "encrypted": self._encrypt,
            "answers_dropped": self.dropped,
            "reads_refused": self.refused,
            "stopped_by": None if self._refusal is None else self._refusal.reason.value,
        }

    # -- the dialogue -----------------------------------------------------------------

    async def _ask_without_key(self, link: Link, emit: Emit) -> None:
        """No key: one read sealed with a blank key. A MEP meter answers it with an
        authentication failure, which proves the meter is there and needs its key (what
        detection and the set-up check report); no answer proves nothing."""
        required = KeyRequired("the MEP key (MBK) is needed to read this meter")

        def as_required(result: DecodeResult) -> None:
            if isinstance(result, RejectedFrame) and isinstance(result.error, KeyRejected):
                emit(RejectedFrame(required, result.frame, position=result.position))
            else:
                emit(result)  # anything else (noise that framed, TLS) as it is

        self._key = BLANK_KEY
        try:
            await self._read(link, as_required, self._knowledge.identification_reads()[0])
        except _CycleOver:
            pass
        finally:
            self._key = None

    async def _identify(self, link: Link, emit: Emit) -> None:
        knowledge = self._knowledge
        for _ in range(MAX_IDENTIFICATION_READS):
            reads = knowledge.identification_reads()
            if not reads:
                return
            read = reads[0]
            answer = await self._read(link, emit, read)
            if answer is None:
                knowledge.give_up(read)
                continue
            gathered = Gathered()
            if (error := learn_quietly(knowledge, read, answer.data, gathered)) is not None:
                emit(RejectedFrame(error, answer.wire))
                knowledge.give_up(read)

    async def _read(self, link: Link, emit: Emit, read: Read) -> Answer | None:
        """The authenticated OK answer to one read; ``None`` when the meter refused it.

        Raises :class:`_CycleOver` when the cycle cannot go on.
        """
        assert self._key is not None
        key = self._key
        where = f"{read.table.label} read"
        sent = self._request(read)
        resent = False
        resynchronisations = dropped = 0
        while True:
            await self._pace()
            try:
                message = await link.exchange(
                    sent.wire,
                    partial(find_message, echo=sent.wire),
                    answer_timeout(read.length, self._serial),
                    echo=False,  # find_message skips an exact echo of the request
                )
            except NoAnswer:
                if resent:
                    raise _CycleOver from None
                resent = True  # the guide: resend the identical bytes once
                link.stats.retries += 1
                continue
            try:
                answer = open_answer(key, sent, message)
            except (KeyRejected, TlsRequired) as err:
                self._stop(err)
                emit(RejectedFrame(err, message, position=where))
                raise _CycleOver from err
            except FrameError as err:
                self.dropped += 1
                emit(RejectedFrame(err, message, position=where))
                dropped += 1
                if dropped > MAX_DROPPED:
                    raise _CycleOver from err
                sent, resent = self._request(read), False
                continue
            if answer.code == ResponseCode.INVALID_SEQUENCE:
                assert answer.sequence is not None
                link.stats.resynchronisations += 1
                resynchronisations += 1
                if resynchronisations > MAX_RESYNCHRONISATIONS:
                    raise _CycleOver
                self._next_sequence = (answer.sequence + 1) % SEQUENCE_MODULUS
                sent, resent = self._request(read), False
                continue
            error = answer.error()
            if error is None:
                self._refusal = None
                return answer
            if isinstance(error, KeyRejected | TlsRequired):
                self._stop(error)
                emit(RejectedFrame(error, message, position=where))
                raise _CycleOver
            self.refused += 1
            emit(RejectedFrame(error, message, position=where))
            return None

    def _request(self, read: Read) -> SentRequest:
        assert self._key is not None
        sequence = self._next_sequence
        self._next_sequence = (sequence + 1) % SEQUENCE_MODULUS
        body = read_body(read.table, read.offset, read.length, sequence)
        return seal(self._key, body, encrypt=self._encrypt)

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last_request + REQUEST_SPACING - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_request = loop.time()

    def _stop(self, error: FrameError) -> None:
        self._refusal = error
        self._refused_until = asyncio.get_running_loop().time() + KEY_RETRY
        _LOGGER.debug("MEP reads paused for %g s: %s", KEY_RETRY, error.message)
