"""The MEP message envelope in "RC4 security" mode: framing, requests, answers, digests.

A request is ``length (2, big-endian, counts what follows) | C12.18 request | sequence
number (4, big-endian) | digest (8)``; the partial read this reader sends is ``0x3F |
table (2) | offset (3) | count (2)``. An answer is ``length | code | [count (2) | table
data] | digest (8)``, without a C12.18 checksum byte: the digest is the integrity check
(the guide's example 1 answer has none). Protocol fields are big-endian; table data is
little-endian (BT00's data order).

Answer codes are data (:data:`RESPONSES`): what each one means and which error the
reader reports for it. 0x0C (invalid sequence number) carries the meter's current
sequence number and is a resynchronisation, not an error. 0x0B (authentication failure)
means the key is wrong; the meter cannot authenticate it with a key it does not share, so
its digest is not checked. What a port that requires TLS answers to this mode is not in
the guide: a short answer without a digest (the TLS envelope's ``length | status``) or
0x0A (invalid service sequence state, what the guide says a TLS port answers out of
turn) is taken as that, see :func:`open_answer`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, NamedTuple

from ..errors import CrcError, FrameError, KeyRejected, MalformedFrame, RequestRefused, TlsRequired
from .digest import DIGEST_SIZE, mep_digest
from .rc4 import packet_cipher

LENGTH_SIZE: Final = 2
SEQUENCE_SIZE: Final = 4
# The longest request or answer, without its length field (the guide's limit).
MAX_MESSAGE: Final = 476
# The most table data one read can return: code, count and digest take the rest.
MAX_READ_COUNT: Final = MAX_MESSAGE - 1 - 2 - DIGEST_SIZE
SEQUENCE_MODULUS: Final = 1 << 32
KEY_WRONG: Final = "the MEP key is wrong"


class RequestCode(IntEnum):
    """C12.18 request codes (the guide's Table 2.6)."""

    FULL_READ = 0x30
    PARTIAL_READ = 0x3F
    FULL_WRITE = 0x40
    PARTIAL_WRITE = 0x4F


class ResponseCode(IntEnum):
    """Answer codes: the guide lists 0x00-0x05, 0x0A (TLS), 0x0B and 0x0C; 0x06-0x09 are the
    remaining ANSI C12.18 codes, not listed by the guide but possible from a C12.18 stack."""

    OK = 0x00
    UNRECOGNISED = 0x01
    UNSUPPORTED = 0x02
    NO_PERMISSION = 0x03
    NOT_POSSIBLE = 0x04
    TABLE_NOT_POSSIBLE = 0x05
    BUSY = 0x06
    DATA_NOT_READY = 0x07
    DATA_LOCKED = 0x08
    RENEGOTIATE = 0x09
    INVALID_STATE = 0x0A
    AUTHENTICATION_FAILED = 0x0B
    INVALID_SEQUENCE = 0x0C


class Meaning(NamedTuple):
    """What an error answer means (English, for logs and the command line) and how the
    reader reports it."""

    text: str
    error: type[FrameError]


RESPONSES: Final[dict[ResponseCode, Meaning]] = {
    ResponseCode.UNRECOGNISED: Meaning("request not recognised (0x01)", RequestRefused),
    ResponseCode.UNSUPPORTED: Meaning("request not supported (0x02)", RequestRefused),
    ResponseCode.NO_PERMISSION: Meaning(
        "no permission: insufficient security clearance (0x03)", RequestRefused
    ),
    ResponseCode.NOT_POSSIBLE: Meaning("operation not possible (0x04)", RequestRefused),
    ResponseCode.TABLE_NOT_POSSIBLE: Meaning("table operation not possible (0x05)", RequestRefused),
    ResponseCode.BUSY: Meaning("the meter is busy (0x06)", RequestRefused),
    ResponseCode.DATA_NOT_READY: Meaning("data not ready (0x07)", RequestRefused),
    ResponseCode.DATA_LOCKED: Meaning("data locked (0x08)", RequestRefused),
    ResponseCode.RENEGOTIATE: Meaning("renegotiate request (0x09)", RequestRefused),
    ResponseCode.INVALID_STATE: Meaning(
        "invalid service sequence state (0x0A): the port expects TLS", TlsRequired
    ),
    ResponseCode.AUTHENTICATION_FAILED: Meaning(KEY_WRONG, KeyRejected),
}
# Status codes of the TLS envelope (Table 2.3), seen without a digest: not this mode.
_TLS_STATUSES: Final = frozenset({0x01, 0x03, ResponseCode.INVALID_STATE})


def read_body(table: int, offset: int, count: int, sequence: int) -> bytes:
    """The plain body of a partial read: code through sequence number."""
    return (
        bytes((RequestCode.PARTIAL_READ,))
        + table.to_bytes(2, "big")
        + offset.to_bytes(3, "big")
        + count.to_bytes(2, "big")
        + (sequence % SEQUENCE_MODULUS).to_bytes(SEQUENCE_SIZE, "big")
    )


@dataclass(frozen=True, slots=True)
class SentRequest:
    """A request as sent: its wire bytes, plain body and digest (what its answer needs)."""

    wire: bytes
    body: bytes
    digest: bytes
    encrypted: bool = False

    @property
    def sequence(self) -> int:
        """The request's sequence number."""
        return int.from_bytes(self.body[-SEQUENCE_SIZE:], "big")


def seal(key: bytes, body: bytes, *, encrypt: bool = False) -> SentRequest:
    """Frame a request body: digest over the plain body, optionally RC4-encrypted."""
    digest = mep_digest(key, body)
    payload = packet_cipher(key, digest).apply(body) if encrypt else body
    wire = (len(payload) + DIGEST_SIZE).to_bytes(LENGTH_SIZE, "big") + payload + digest
    return SentRequest(wire, body, digest, encrypt)


def unseal_request(key: bytes, message: bytes) -> SentRequest:
    """A request read back from a capture: its digest verified, plain or RC4-encrypted.

    Raises :class:`CrcError` when neither form verifies (wrong key, or corrupted).
    """
    payload = message[LENGTH_SIZE:]
    if len(payload) < 1 + SEQUENCE_SIZE + DIGEST_SIZE:
        raise MalformedFrame("request too short")
    body, digest = payload[:-DIGEST_SIZE], payload[-DIGEST_SIZE:]
    if hmac.compare_digest(mep_digest(key, body), digest):
        return SentRequest(message, body, digest)
    plain = packet_cipher(key, digest).apply(body)
    if hmac.compare_digest(mep_digest(key, plain), digest):
        return SentRequest(message, plain, digest, encrypted=True)
    raise CrcError("the request's digest does not match")


class ReadRequest(NamedTuple):
    """What a read request asks for (``length`` 0: a full read, sized by the answer)."""

    table: int
    offset: int
    length: int


def read_request(body: bytes) -> ReadRequest | None:
    """The table, offset and count of a read request's plain body; ``None`` for others."""
    if body[:1] == bytes((RequestCode.PARTIAL_READ,)) and len(body) >= 8:
        return ReadRequest(
            int.from_bytes(body[1:3], "big"),
            int.from_bytes(body[3:6], "big"),
            int.from_bytes(body[6:8], "big"),
        )
    if body[:1] == bytes((RequestCode.FULL_READ,)) and len(body) >= 3:
        return ReadRequest(int.from_bytes(body[1:3], "big"), 0, 0)
    return None


@dataclass(frozen=True, slots=True)
class Answer:
    """An authenticated answer: its code, the table data of a read, or the meter's
    sequence number (0x0C)."""

    code: int
    data: bytes = b""
    sequence: int | None = None
    wire: bytes = field(default=b"", repr=False)

    def error(self) -> FrameError | None:
        """The error this answer stands for (``None`` for OK and 0x0C)."""
        if self.code in (ResponseCode.OK, ResponseCode.INVALID_SEQUENCE):
            return None
        try:
            meaning = RESPONSES[ResponseCode(self.code)]
        except ValueError:
            return MalformedFrame(f"unknown answer code 0x{self.code:02X}")
        return meaning.error(meaning.text)


def open_answer(key: bytes, request: SentRequest, message: bytes) -> Answer:
    """Check and decode the answer ``message`` (length field included) to ``request``.

    Raises :class:`TlsRequired` for an answer in the TLS envelope, :class:`KeyRejected`
    for 0x0B, :class:`CrcError` when the digest does not match (line noise, a forged
    answer, or an answer to another request) and :class:`MalformedFrame` for a body that
    does not fit its code.
    """
    payload = message[LENGTH_SIZE:]
    if len(payload) <= DIGEST_SIZE:
        status = payload[0] if payload else None
        if status in _TLS_STATUSES:
            raise TlsRequired(f"the meter answered status 0x{status:02X} without a digest")
        raise MalformedFrame("answer too short to carry a digest")
    body, digest = payload[:-DIGEST_SIZE], payload[-DIGEST_SIZE:]
    if body == bytes((ResponseCode.AUTHENTICATION_FAILED,)):
        # Sent plain even to an encrypted request, and with a digest the reader cannot
        # check when its key is the wrong one: trusted as it is.
        raise KeyRejected(KEY_WRONG)
    if body == bytes((ResponseCode.INVALID_STATE,)):
        raise TlsRequired(RESPONSES[ResponseCode.INVALID_STATE].text)
    if request.encrypted:
        cipher = packet_cipher(key, request.digest)
        cipher.apply(request.body)  # the answer continues the request's keystream
        body = cipher.apply(body)
    if not hmac.compare_digest(mep_digest(key, request.body + body), digest):
        raise CrcError("the answer's digest does not match")
    code = body[0]
    if code == ResponseCode.INVALID_SEQUENCE:
        if len(body) != 1 + SEQUENCE_SIZE:
            raise MalformedFrame("a sequence-number answer has 4 bytes of sequence number")
        return Answer(code, sequence=int.from_bytes(body[1:], "big"), wire=message)
    if code == ResponseCode.OK and request.body[0] in (
        RequestCode.FULL_READ,
        RequestCode.PARTIAL_READ,
    ):
        if len(body) < 3:
            raise MalformedFrame("a read answer without its count")
        count = int.from_bytes(body[1:3], "big")
        if len(body) != 3 + count:
            raise MalformedFrame(f"{len(body) - 3} bytes of table data, count says {count}")
        return Answer(code, body[3:], wire=message)
    return Answer(code, body[1:], wire=message)


def find_message(buffer: bytearray, echo: bytes = b"") -> tuple[int, int] | None:
    """Where the first complete message lies in ``buffer``: the length field decides.

    Skipped on the way: alert sequences (a zero length, sent once a second by a meter
    that wants attention from a registered client), the echo of ``echo`` (the request,
    from a half-duplex adapter) and bytes that cannot start a message (a length beyond
    the guide's limit: noise). Segmented answers (117-byte pieces 25 ms apart) need
    nothing special: the message is complete when its length is there.
    """
    position = 0
    while len(buffer) - position >= LENGTH_SIZE:
        length = int.from_bytes(buffer[position : position + LENGTH_SIZE], "big")
        if length == 0:
            position += LENGTH_SIZE
            continue
        if length > MAX_MESSAGE:
            position += 1
            continue
        end = position + LENGTH_SIZE + length
        if end > len(buffer):
            return None
        if echo and buffer[position:end] == echo:
            position = end
            continue
        return position, end
    return None
