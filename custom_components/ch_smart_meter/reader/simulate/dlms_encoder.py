"""Build DLMS/COSEM push frames: the encoder side, for simulators and tests.

This module never shares code with the decoders (``framing/``, ``dlms/axdr.py``,
``dlms/notification.py`` ...): a mistake in one cannot hide behind the same mistake in the
other. It only depends on the ``cryptography`` package.

The layers, from the inside out, as a push meter produces them:

* A-XDR data (IEC 62056-6-2): :func:`structure`, :func:`array`, :func:`uint32`,
  :func:`octet_string`, :func:`obis_code` ... each returns the encoded bytes, tag included.
* COSEM date-time (12 bytes): :class:`CosemDateTime`, with the deviation "not specified"
  (0x8000) that L&G E450 and Kamstrup send, and the clock status byte.
* The data-notification APDU (0x0F): :func:`data_notification`.
* Security: general-glo-ciphering (0xDB) with AES-128-GCM, :func:`general_glo_ciphering`.
* Segmentation: general-block-transfer (0xE0) blocks, :func:`general_block_transfer`.

The link layers (HDLC, wired M-Bus) are in :mod:`.dlms_link`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# --------------------------------------------------------------------------------------------
# A-XDR data
# --------------------------------------------------------------------------------------------


class DataTag(IntEnum):
    """A-XDR type tags of the COSEM ``Data`` choice (IEC 62056-6-2)."""

    NULL_DATA = 0x00
    ARRAY = 0x01
    STRUCTURE = 0x02
    BOOLEAN = 0x03
    BIT_STRING = 0x04
    DOUBLE_LONG = 0x05  # int32
    DOUBLE_LONG_UNSIGNED = 0x06  # uint32
    OCTET_STRING = 0x09
    VISIBLE_STRING = 0x0A
    UTF8_STRING = 0x0C
    BCD = 0x0D
    INTEGER = 0x0F  # int8
    LONG = 0x10  # int16
    UNSIGNED = 0x11  # uint8
    LONG_UNSIGNED = 0x12  # uint16
    LONG64 = 0x14
    LONG64_UNSIGNED = 0x15
    ENUM = 0x16
    FLOAT32 = 0x17
    FLOAT64 = 0x18
    DATE_TIME = 0x19
    DATE = 0x1A
    TIME = 0x1B


# Fixed-size integer types: (size in bytes, signed).
INTEGER_FORMATS: dict[DataTag, tuple[int, bool]] = {
    DataTag.INTEGER: (1, True),
    DataTag.LONG: (2, True),
    DataTag.DOUBLE_LONG: (4, True),
    DataTag.LONG64: (8, True),
    DataTag.UNSIGNED: (1, False),
    DataTag.LONG_UNSIGNED: (2, False),
    DataTag.DOUBLE_LONG_UNSIGNED: (4, False),
    DataTag.LONG64_UNSIGNED: (8, False),
    DataTag.ENUM: (1, False),
    DataTag.BCD: (1, False),
}


def encode_length(length: int) -> bytes:
    """A-XDR length: one byte below 0x80, else 0x8N followed by N big-endian bytes."""
    if length < 0:
        raise ValueError("a length cannot be negative")
    if length < 0x80:
        return bytes((length,))
    size = (length.bit_length() + 7) // 8
    if size > 4:
        raise ValueError(f"length {length} does not fit in four bytes")
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def integer(tag: DataTag, value: int) -> bytes:
    """A fixed-size integer of type ``tag`` (see :data:`INTEGER_FORMATS`), big-endian."""
    size, signed = INTEGER_FORMATS[tag]
    try:
        payload = value.to_bytes(size, "big", signed=signed)
    except OverflowError as err:
        raise ValueError(f"{value} does not fit in {tag.name}") from err
    return bytes((tag,)) + payload


def int8(value: int) -> bytes:
    """``integer`` (0x0F)."""
    return integer(DataTag.INTEGER, value)


def int16(value: int) -> bytes:
    """``long`` (0x10)."""
    return integer(DataTag.LONG, value)


def int32(value: int) -> bytes:
    """``double-long`` (0x05)."""
    return integer(DataTag.DOUBLE_LONG, value)


def int64(value: int) -> bytes:
    """``long64`` (0x14)."""
    return integer(DataTag.LONG64, value)


def uint8(value: int) -> bytes:
    """``unsigned`` (0x11)."""
    return integer(DataTag.UNSIGNED, value)


def uint16(value: int) -> bytes:
    """``long-unsigned`` (0x12)."""
    return integer(DataTag.LONG_UNSIGNED, value)


def uint32(value: int) -> bytes:
    """``double-long-unsigned`` (0x06)."""
    return integer(DataTag.DOUBLE_LONG_UNSIGNED, value)


def uint64(value: int) -> bytes:
    """``long64-unsigned`` (0x15)."""
    return integer(DataTag.LONG64_UNSIGNED, value)


def enum(value: int) -> bytes:
    """``enum`` (0x16)."""
    return integer(DataTag.ENUM, value)


def boolean(value: bool) -> bytes:
    """``boolean`` (0x03): 0x00 or 0xFF (any non-zero byte is true; meters send 0xFF)."""
    return bytes((DataTag.BOOLEAN, 0xFF if value else 0x00))


def null_data() -> bytes:
    """``null-data`` (0x00): Kamstrup single-phase meters pad absent phases with it."""
    return bytes((DataTag.NULL_DATA,))


def float32(value: float) -> bytes:
    """``float32`` (0x17), IEEE 754 big-endian."""
    return bytes((DataTag.FLOAT32,)) + struct.pack(">f", value)


def float64(value: float) -> bytes:
    """``float64`` (0x18), IEEE 754 big-endian."""
    return bytes((DataTag.FLOAT64,)) + struct.pack(">d", value)


def octet_string(value: bytes) -> bytes:
    """``octet-string`` (0x09): length, then the bytes."""
    return bytes((DataTag.OCTET_STRING,)) + encode_length(len(value)) + value


def visible_string(value: str) -> bytes:
    """``visible-string`` (0x0A): printable ASCII only."""
    if not all(0x20 <= ord(char) <= 0x7E for char in value):
        raise ValueError("a visible-string holds printable ASCII only")
    raw = value.encode("ascii")
    return bytes((DataTag.VISIBLE_STRING,)) + encode_length(len(raw)) + raw


def utf8_string(value: str) -> bytes:
    """``utf8-string`` (0x0C)."""
    raw = value.encode("utf-8")
    return bytes((DataTag.UTF8_STRING,)) + encode_length(len(raw)) + raw


def bit_string(bits: str) -> bytes:
    """``bit-string`` (0x04) from a text of ``0``/``1``, first bit = most significant."""
    if any(bit not in "01" for bit in bits):
        raise ValueError("a bit string is written with 0 and 1 only")
    padded = bits + "0" * (-len(bits) % 8)
    raw = int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""
    return bytes((DataTag.BIT_STRING,)) + encode_length(len(bits)) + raw


def structure(elements: Iterable[bytes]) -> bytes:
    """``structure`` (0x02) of already encoded elements."""
    items = list(elements)
    return bytes((DataTag.STRUCTURE,)) + encode_length(len(items)) + b"".join(items)


def array(elements: Iterable[bytes]) -> bytes:
    """``array`` (0x01) of already encoded elements (of one type, which is not checked)."""
    items = list(elements)
    return bytes((DataTag.ARRAY,)) + encode_length(len(items)) + b"".join(items)


_OBIS_TEXT = re.compile(
    r"^(?P<a>\d{1,3})-(?P<b>\d{1,3}):(?P<c>\d{1,3})\.(?P<d>\d{1,3})\.(?P<e>\d{1,3})"
    r"(?:[.*](?P<f>\d{1,3}))?$"
)


def obis_bytes(reference: str) -> bytes:
    """The six bytes A B C D E F of ``"1-1:1.8.0"`` (F = 255 when omitted), ``"...*255"``
    or ``"....255"``."""
    match = _OBIS_TEXT.match(reference)
    if match is None:
        raise ValueError(f"not an OBIS reference A-B:C.D.E[.F]: {reference!r}")
    groups = [match["a"], match["b"], match["c"], match["d"], match["e"], match["f"] or "255"]
    values = [int(group) for group in groups]
    if any(value > 255 for value in values):
        raise ValueError(f"OBIS value groups are bytes: {reference!r}")
    return bytes(values)


def obis_code(reference: str) -> bytes:
    """An OBIS code as COSEM sends it: a 6-byte octet-string."""
    return octet_string(obis_bytes(reference))


# --------------------------------------------------------------------------------------------
# COSEM date-time
# --------------------------------------------------------------------------------------------

DEVIATION_NOT_SPECIFIED = 0x8000
NOT_SPECIFIED = 0xFF  # for the one-byte fields
YEAR_NOT_SPECIFIED = 0xFFFF


class ClockStatus(IntFlag):
    """The clock status byte of a COSEM date-time."""

    OK = 0x00
    INVALID_VALUE = 0x01
    DOUBTFUL_VALUE = 0x02
    DIFFERENT_CLOCK_BASE = 0x04
    INVALID_CLOCK_STATUS = 0x08
    DAYLIGHT_SAVING_ACTIVE = 0x80


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    """A COSEM date-time, field by field (0xFF / 0xFFFF / ``None`` = not specified).

    ``deviation`` is in minutes with the DLMS sign: UTC = local time + deviation, so Swiss
    summer time (UTC+2) is -120. ``None`` encodes 0x8000, "not specified": the receiver
    must localise the wall time itself.
    """

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    hundredths: int = NOT_SPECIFIED
    day_of_week: int = NOT_SPECIFIED
    deviation: int | None = None
    clock_status: int = ClockStatus.OK

    @classmethod
    def from_datetime(
        cls,
        moment: datetime,
        *,
        with_deviation: bool = True,
        with_hundredths: bool = True,
        clock_status: int | None = None,
        extra_status: int = 0,
    ) -> CosemDateTime:
        """The wall time of an aware ``moment`` as a meter sends it.

        ``with_deviation=False`` sends 0x8000 (E450, Kamstrup); ``with_hundredths=False``
        sends 0xFF. Without ``clock_status`` the status is "daylight saving active" when the
        moment's zone is in summer time, else OK; ``extra_status`` bits are added (the E450
        clock object carries 0x81 in summer).
        """
        offset = moment.utcoffset()
        if offset is None:
            raise ValueError("a meter time must be timezone-aware")
        if clock_status is None:
            summer = moment.dst() not in (None, timedelta(0))
            clock_status = ClockStatus.DAYLIGHT_SAVING_ACTIVE if summer else ClockStatus.OK
        minutes, remainder = divmod(offset, timedelta(minutes=1))
        if remainder:
            raise ValueError("the UTC offset must be whole minutes")
        return cls(
            year=moment.year,
            month=moment.month,
            day=moment.day,
            hour=moment.hour,
            minute=moment.minute,
            second=moment.second,
            hundredths=moment.microsecond // 10_000 if with_hundredths else NOT_SPECIFIED,
            day_of_week=moment.isoweekday(),
            deviation=-minutes if with_deviation else None,
            clock_status=int(clock_status) | extra_status,
        )

    def encode(self) -> bytes:
        """The 12 bytes, without a type tag."""
        fields = (self.month, self.day, self.day_of_week, self.hour, self.minute, self.second)
        if not 0 <= self.year <= 0xFFFF or any(not 0 <= f <= 0xFF for f in fields):
            raise ValueError("date-time field out of range")
        if self.hundredths != NOT_SPECIFIED and not 0 <= self.hundredths <= 99:
            raise ValueError("hundredths are 0..99 or 0xFF")
        if self.deviation is None:
            deviation = DEVIATION_NOT_SPECIFIED
        elif -720 <= self.deviation <= 720:
            deviation = self.deviation & 0xFFFF
        else:
            raise ValueError("the deviation is -720..720 minutes")
        return (
            self.year.to_bytes(2, "big")
            + bytes((*fields, self.hundredths))
            + deviation.to_bytes(2, "big")
            + bytes((self.clock_status & 0xFF,))
        )


def date_time_octet_string(value: CosemDateTime) -> bytes:
    """A date-time as clock objects send it in push lists: an octet-string of 12 bytes."""
    return octet_string(value.encode())


def tagged_date_time(value: CosemDateTime) -> bytes:
    """A date-time with its own tag (0x19) and no length."""
    return bytes((DataTag.DATE_TIME,)) + value.encode()


# --------------------------------------------------------------------------------------------
# APDUs: data-notification, general-block-transfer, general-glo-ciphering
# --------------------------------------------------------------------------------------------

TAG_DATA_NOTIFICATION = 0x0F
TAG_GENERAL_BLOCK_TRANSFER = 0xE0
TAG_GENERAL_GLO_CIPHERING = 0xDB

_INVOKE_ID_MASK = 0x00FF_FFFF
_SELF_DESCRIPTIVE = 1 << 28
_BREAK_ON_ERROR = 1 << 29
_CONFIRMED = 1 << 30
_HIGH_PRIORITY = 1 << 31


def data_notification(
    body: bytes,
    *,
    invoke_id: int,
    date_time: CosemDateTime | None,
    high_priority: bool = False,
    confirmed: bool = False,
    break_on_error: bool = False,
    self_descriptive: bool = False,
) -> bytes:
    """``0F | long-invoke-id-and-priority (4) | date-time | body``.

    The header date-time is an octet-string without its tag: ``0C`` + 12 bytes, or ``00``
    when absent. ``body`` is one encoded A-XDR value (a structure in practice).
    """
    if not 0 <= invoke_id <= _INVOKE_ID_MASK:
        raise ValueError("the invoke id has 24 bits")
    flags = (
        (_HIGH_PRIORITY if high_priority else 0)
        | (_CONFIRMED if confirmed else 0)
        | (_BREAK_ON_ERROR if break_on_error else 0)
        | (_SELF_DESCRIPTIVE if self_descriptive else 0)
    )
    header_time = b"\x00" if date_time is None else b"\x0c" + date_time.encode()
    return (
        bytes((TAG_DATA_NOTIFICATION,))
        + (flags | invoke_id).to_bytes(4, "big")
        + header_time
        + body
    )


_LAST_BLOCK = 0x80
_STREAMING = 0x40


_GBT_FIXED_HEADER = 6  # tag, block control, block number (2), acknowledged block (2)


def general_block_transfer(
    apdu: bytes,
    block_size: int,
    *,
    first_block_size: int | None = None,
    first_block_number: int = 1,
    streaming: bool = True,
    window: int = 0,
) -> list[bytes]:
    """Split an APDU into general-block-transfer APDUs.

    Each is ``E0 | block-control | block-number (2) | block-number-ack (2) | block-data``
    where block-data is an octet-string (length + bytes). Block control: bit 7 last block,
    bit 6 streaming, bits 0-5 window; the E450 sends 0x40 then 0xC0 for the last block,
    numbers from 1 and acknowledgement 0. ``first_block_size`` (default ``block_size``)
    lets the first block leave room for the LLC header of its frame.
    """
    first = block_size if first_block_size is None else first_block_size
    if block_size < 1 or first < 1:
        raise ValueError("the block size must be positive")
    if not 0 <= window <= 0x3F:
        raise ValueError("the window is six bits")
    chunks = [apdu[:first]]
    chunks += [apdu[start : start + block_size] for start in range(first, len(apdu), block_size)]
    if first_block_number < 0 or first_block_number + len(chunks) - 1 > 0xFFFF:
        raise ValueError("block numbers are 16 bits")
    blocks = []
    for index, chunk in enumerate(chunks):
        control = window | (_STREAMING if streaming else 0)
        if index == len(chunks) - 1:
            control |= _LAST_BLOCK
        blocks.append(
            bytes((TAG_GENERAL_BLOCK_TRANSFER, control))
            + (first_block_number + index).to_bytes(2, "big")
            + b"\x00\x00"
            + encode_length(len(chunk))
            + chunk
        )
    return blocks


def gbt_block_size(room: int) -> int:
    """The largest block whose GBT APDU fits in ``room`` bytes (header and length included)."""
    size = room - _GBT_FIXED_HEADER - 1
    while size > 0 and _GBT_FIXED_HEADER + len(encode_length(size)) + size > room:
        size -= 1
    if size < 1:
        raise ValueError(f"no block fits in {room} bytes")
    return size


class SecurityControl(IntEnum):
    """The security control bytes push meters use (suite 0, AES-128-GCM)."""

    AUTHENTICATED_AND_ENCRYPTED = 0x30  # E450, Smarty, Kamstrup DK
    ENCRYPTED = 0x20  # E570, Austrian M-Bus meters
    AUTHENTICATED = 0x10


_SC_AUTHENTICATION = 0x10
_SC_ENCRYPTION = 0x20
_SUITE_MASK = 0x0F
GCM_TAG_LENGTH = 12


def general_glo_ciphering(
    apdu: bytes,
    *,
    system_title: bytes,
    invocation_counter: int,
    encryption_key: bytes,
    authentication_key: bytes | None = None,
    security_control: int = SecurityControl.AUTHENTICATED_AND_ENCRYPTED,
) -> bytes:
    """``DB | 08 | system title | length | SC | invocation counter (4) | ciphertext | tag``.

    AES-128-GCM with IV = system title || invocation counter.

    * SC 0x30: encrypted; AAD = SC || AK; 12-byte tag appended.
    * SC 0x20: encrypted only: the GCM keystream (AES-CTR from counter block IV || 2), no tag.
    * SC 0x10: authenticated only: plaintext; AAD = SC || AK || plaintext; 12-byte tag.

    The suite nibble (bits 0-3) may be 0 or 1 (suite 1 ciphers with AES-128-GCM too).
    """
    if len(system_title) != 8:
        raise ValueError("the system title is 8 bytes")
    if len(encryption_key) != 16:
        raise ValueError("the encryption key is 16 bytes")
    if not 0 <= invocation_counter <= 0xFFFF_FFFF:
        raise ValueError("the invocation counter is an unsigned 32-bit number")
    authenticated = bool(security_control & _SC_AUTHENTICATION)
    encrypted = bool(security_control & _SC_ENCRYPTION)
    if security_control & ~(_SC_AUTHENTICATION | _SC_ENCRYPTION | _SUITE_MASK) or (
        security_control & _SUITE_MASK
    ) not in (0, 1):
        raise ValueError(f"unsupported security control 0x{security_control:02X}")
    if not (authenticated or encrypted):
        raise ValueError("security control without authentication or encryption")
    if authenticated and (authentication_key is None or len(authentication_key) != 16):
        raise ValueError("authentication needs a 16-byte authentication key")

    counter = invocation_counter.to_bytes(4, "big")
    iv = system_title + counter
    sc = bytes((security_control,))
    if encrypted and authenticated:
        assert authentication_key is not None
        sealed = AESGCM(encryption_key).encrypt(iv, apdu, sc + authentication_key)
        # A truncated GCM tag is the leading part of the full 16-byte tag.
        protected = sealed[: len(apdu) + GCM_TAG_LENGTH]
    elif encrypted:
        encryptor = Cipher(
            algorithms.AES(encryption_key), modes.CTR(iv + (2).to_bytes(4, "big"))
        ).encryptor()
        protected = encryptor.update(apdu) + encryptor.finalize()
    else:
        assert authentication_key is not None
        tag = AESGCM(encryption_key).encrypt(iv, b"", sc + authentication_key + apdu)
        protected = apdu + tag[:GCM_TAG_LENGTH]
    content = sc + counter + protected
    return (
        bytes((TAG_GENERAL_GLO_CIPHERING, len(system_title)))
        + system_title
        + encode_length(len(content))
        + content
    )
