"""A simulated NES meter on its MEP port: a strict server of the legacy ("RC4 security") mode.

It checks every request's digest with its key (wrong: 0x0B, sent plain), decrypts RC4
requests (recognised as the real meter does: the plain digest does not verify, the
decrypted one does) and then encrypts its answer, enforces sequence numbers (accepts a
number up to 8 ahead of the last one, answers 0x0C with its current number otherwise,
the previous number included), and answers C12.18 errors for what it cannot do: 0x01
for an unknown request code or a malformed request, 0x03 for writes (the MBK may not
write these tables), 0x05 for a table it does not have (the guide's "inappropriate
action requested"), 0x04 for an offset or count beyond the table. A model that requires
TLS answers every request of this mode with the TLS envelope's ``length | 0x0A``
(invalid service sequence state), without a digest: the guide does not say what such a
meter answers; this is one plausible form that the reader must recognise.

The measurement is refreshed from the household model when the clock (BT52) is read, the
first read of a reader's cycle, or when two seconds have passed: a cycle's tables then
describe one instant. :attr:`MepSource.measurement` holds what a correct reader must
report (:attr:`Measurement.expected`).

Test hooks: :meth:`MepSource.drop_answers` (the meter stays silent), and
:meth:`MepSource.corrupt_answers` (one byte of the answer flipped). Segmentation (117-byte
pieces 25 ms apart) is timing, which ``respond`` cannot express; the tests send an answer
in such pieces themselves.

The envelope code here is the simulator's own; the digest and RC4 primitives are shared
with the reader (checked against the guide's example digests and RC4 test vectors).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from ..mep.digest import mep_digest
from ..mep.rc4 import Rc4, packet_cipher
from ..model import Standard
from . import mep_tables as tables
from .household import HouseholdModel
from .mep_tables import MEP_MODELS, Measurement, MepModel
from .source import SourceOptions

# The public demo MBK of simulated meters (20 ASCII characters, like a real MBK).
DEMO_MBK: Final = b"SIMULATED-MEP-KEY-01"
MAX_MESSAGE: Final = 476
_WINDOW: Final = 8  # sequence numbers accepted ahead of the last one
_MEASUREMENT_PERIOD: Final = timedelta(seconds=2)
_INTER_CHARACTER: Final = timedelta(milliseconds=500)

OK, UNRECOGNISED, NO_PERMISSION, NOT_POSSIBLE, INAPPROPRIATE = 0x00, 0x01, 0x03, 0x04, 0x05
AUTHENTICATION_FAILURE, BAD_SEQUENCE, INVALID_STATE = 0x0B, 0x0C, 0x0A


@dataclass(slots=True)
class _Exchange:
    """One authenticated request: its plain body and the cipher of an encrypted one."""

    body: bytes
    cipher: Rc4 | None


@dataclass(slots=True)
class MepSource:
    """A simulated NES meter speaking MEP (see the module docstring)."""

    options: SourceOptions
    model: MepModel = field(init=False)
    key: bytes = field(init=False, repr=False)
    sequence: int = field(init=False)
    measurement: Measurement | None = field(default=None, init=False)
    requests: int = field(default=0, init=False)
    _household: HouseholdModel = field(init=False, repr=False)
    _measured_at: datetime | None = field(default=None, init=False)
    _pending: bytearray = field(default_factory=bytearray, init=False, repr=False)
    _last_input: datetime | None = field(default=None, init=False, repr=False)
    _drop: int = field(default=0, init=False)
    _corrupt: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.model = MEP_MODELS[self.options.model or tables.DEFAULT_MODEL]
        self.key = self.options.key or DEMO_MBK
        self.sequence = random.Random(f"{self.options.seed}/mep-sequence").getrandbits(32)
        self._household = HouseholdModel(self.options.seed)

    @property
    def standard(self) -> Standard:
        """NES/OSGP MEP."""
        return Standard.MEP

    @property
    def utility_serial(self) -> str:
        """ET03's utility serial number (the reading's meter id)."""
        return f"CH{random.Random(f'{self.options.seed}/mep-id').randrange(10**10):010d}"

    def frame_at(self, moment: datetime) -> bytes:
        """A MEP meter never talks unasked (alerts only follow a registration)."""
        return b""

    # -- test hooks -------------------------------------------------------------------

    def drop_answers(self, count: int = 1) -> None:
        """Stay silent to the next ``count`` requests (they are still processed)."""
        self._drop += count

    def corrupt_answers(self, count: int = 1) -> None:
        """Flip a byte in the next ``count`` answers."""
        self._corrupt += count

    # -- the server -------------------------------------------------------------------

    def respond(self, request: bytes, moment: datetime) -> bytes:
        """The answers to every request completed by ``request`` (bytes may come in pieces)."""
        # C12.18's inter-character timeout: a pause ends a message that never completed
        # (another reader's bytes, a request cut short).
        if self._last_input is not None and moment - self._last_input > _INTER_CHARACTER:
            self._pending.clear()
        self._last_input = moment
        self._pending += request
        answers = bytearray()
        while len(self._pending) >= 2:
            length = int.from_bytes(self._pending[:2], "big")
            if length == 0 or length > MAX_MESSAGE:
                del self._pending[:1]  # not the start of a message
                continue
            if len(self._pending) < 2 + length:
                break
            message = bytes(self._pending[: 2 + length])
            del self._pending[: 2 + length]
            self.requests += 1
            answer = self._answer(message[2:], moment)
            if self._drop:
                self._drop -= 1
                continue
            if self._corrupt and answer:
                self._corrupt -= 1
                answer = answer[:-3] + bytes((answer[-3] ^ 0x5A,)) + answer[-2:]
            answers += answer
        return bytes(answers)

    def _answer(self, payload: bytes, moment: datetime) -> bytes:
        if self.model.requires_tls:
            return _frame(bytes((INVALID_STATE,)))
        if len(payload) < 1 + 4 + 8:
            return _frame(bytes((UNRECOGNISED,)) + bytes(8))
        exchange = self._authenticate(payload)
        if exchange is None:
            # Plain, with a digest of the unverified request and the code.
            return _frame(
                bytes((AUTHENTICATION_FAILURE,)) + mep_digest(self.key, payload[:-8] + b"\x0b")
            )
        number = int.from_bytes(exchange.body[-4:], "big")
        if not 0 < (number - self.sequence) % (1 << 32) <= _WINDOW:
            body = bytes((BAD_SEQUENCE,)) + self.sequence.to_bytes(4, "big")
        else:
            self.sequence = number
            body = self._serve(exchange.body[:-4], moment)
        digest = mep_digest(self.key, exchange.body + body)
        if exchange.cipher is not None:
            body = exchange.cipher.apply(body)
        return _frame(body + digest)

    def _authenticate(self, payload: bytes) -> _Exchange | None:
        body, digest = payload[:-8], payload[-8:]
        if mep_digest(self.key, body) == digest:
            return _Exchange(body, None)
        cipher = packet_cipher(self.key, digest)
        plain = cipher.apply(body)
        if mep_digest(self.key, plain) == digest:
            return _Exchange(plain, cipher)
        return None

    def _serve(self, request: bytes, moment: datetime) -> bytes:
        code = request[0]
        if code in (0x40, 0x4F):
            return bytes((NO_PERMISSION,))
        if code == 0x3F and len(request) == 8:
            table = int.from_bytes(request[1:3], "big")
            offset = int.from_bytes(request[3:6], "big")
            count = int.from_bytes(request[6:8], "big")
        elif code == 0x30 and len(request) in (3, 5):
            table, offset, count = int.from_bytes(request[1:3], "big"), 0, -1
        else:
            return bytes((UNRECOGNISED,))
        content = self._table(table, moment)
        if content is None:
            return bytes((INAPPROPRIATE,))
        if count < 0:
            count = len(content) - offset
        if offset + count > len(content) or count > MAX_MESSAGE - 11:
            return bytes((NOT_POSSIBLE,))
        data = content[offset : offset + count]
        return bytes((OK,)) + count.to_bytes(2, "big") + data

    def _measure(self, moment: datetime, *, clock: bool) -> Measurement:
        last = self._measured_at
        if (
            self.measurement is None
            or last is None
            or clock
            or moment - last >= _MEASUREMENT_PERIOD
        ):
            state = self._household.step(moment)
            self.measurement = tables.measure(self.model, state, self.options.seed)
            self._measured_at = moment
        return self.measurement

    def _table(self, table: int, moment: datetime) -> bytes | None:
        builders: dict[int, Callable[[], bytes]] = {
            0: tables.bt00,
            1: lambda: tables.bt01(self.model),
            15: lambda: tables.bt15(self.model),
            20: lambda: tables.bt20(self.model),
            21: lambda: tables.bt21(self.model),
            22: tables.bt22,
            23: lambda: tables.bt23(self.model, self._measure(moment, clock=False)),
            27: lambda: tables.bt27(self.model),
            28: lambda: tables.bt28(self.model, self._measure(moment, clock=False)),
            52: lambda: tables.bt52(self._measure(moment, clock=True).state.timestamp),
            tables.EXTENDED + 3: lambda: tables.et03(self.utility_serial),
            tables.EXTENDED + 4: lambda: tables.et04(self.options.seed),
            tables.EXTENDED + 55: lambda: tables.et55(self.model),
        }
        builder = builders.get(table)
        return None if builder is None else builder()


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


def create_source(options: SourceOptions) -> MepSource:
    """The registry's entry point (``options.model``: one of :data:`MEP_MODELS`)."""
    if options.model is not None and options.model not in MEP_MODELS:
        raise KeyError(f"no simulated MEP meter {options.model!r}; models: {', '.join(MEP_MODELS)}")
    return MepSource(options)
