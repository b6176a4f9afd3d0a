"""Why a frame was rejected or a connection failed, as types.

Every error carries a :class:`Reason`: the one code by which the session counts it, the
diagnostics list it, and the Home Assistant integration translates it (each reason code
is the key of exactly one message, in the config flow's errors). The English ``message``
is what logs and the command-line tool say. Messages never contain key material.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Reason(StrEnum):
    """The reason codes of :class:`ReaderError` and its subclasses, one per class."""

    READER_ERROR = "reader_error"
    FRAME_ERROR = "frame_error"
    CRC_MISMATCH = "crc_mismatch"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    KEY_REQUIRED = "key_required"
    DECRYPTION_FAILED = "decryption_failed"
    REPLAYED = "replayed"
    IMPLAUSIBLE = "implausible"
    INCONSISTENT = "inconsistent"
    INVALID_KEY_FORMAT = "invalid_key_format"
    INVALID_MEP_KEY = "invalid_mep_key"
    CHSMR_INVALID = "chsmr_invalid"
    CANNOT_OPEN_PORT = "cannot_open_port"
    NO_DATA = "no_data"
    NO_VALID_FRAME = "no_valid_frame"
    NO_ANSWER = "no_answer"
    KEY_REJECTED = "key_rejected"
    REQUEST_REFUSED = "request_refused"
    TLS_REQUIRED = "tls_required"
    NOTHING_DETECTED = "nothing_detected"


class ReaderError(Exception):
    """Base class of everything the reader library raises on purpose."""

    reason: ClassVar[Reason] = Reason.READER_ERROR
    default_message: ClassVar[str] = "reader error"
    # The error is about the keys: a form that shows it shows it where the keys are typed.
    about_keys: ClassVar[bool] = False

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """Human readable English text: the kind of error, then the detail."""
        if self.detail:
            return f"{self.default_message}: {self.detail}"
        return self.default_message


class FrameError(ReaderError):
    """A frame (telegram, APDU, message) was received but cannot be turned into a reading."""

    reason = Reason.FRAME_ERROR
    default_message = "invalid frame"


class CrcError(FrameError):
    """The checksum of the frame does not match its content (line noise, wrong serial settings)."""

    reason = Reason.CRC_MISMATCH
    default_message = "checksum mismatch"


class TruncatedFrame(FrameError):
    """The frame ended before its declared length or end marker."""

    reason = Reason.TRUNCATED
    default_message = "truncated frame"


class MalformedFrame(FrameError):
    """The frame's structure or content cannot be parsed."""

    reason = Reason.MALFORMED
    default_message = "malformed frame"


class UnsupportedFrame(FrameError):
    """A valid frame of another framing or layout than the decoder handles."""

    reason = Reason.UNSUPPORTED
    default_message = "unsupported frame"


class KeyRequired(FrameError):
    """The frame is encrypted and no key was configured."""

    reason = Reason.KEY_REQUIRED
    about_keys = True
    default_message = "the frame is encrypted: an encryption key is needed"


class KeyRole(StrEnum):
    """Which of a meter's two keys a check found wrong."""

    ENCRYPTION = "encryption"  # the GUEK (EK)
    AUTHENTICATION = "authentication"  # the GAK (AK)


class DecryptionFailed(FrameError):
    """Authentication tag mismatch, or plaintext that makes no sense: the key is wrong.

    ``wrong_key`` says which key, when the decoder could tell (the frame decrypts to a
    valid plaintext without its tag: the encryption key is right, the authentication key
    is not), so that a form can point at that key's field.
    """

    reason = Reason.DECRYPTION_FAILED
    about_keys = True
    default_message = (
        "decryption failed: check the encryption key (GUEK) and the authentication key (GAK)"
    )

    def __init__(self, detail: str | None = None, *, wrong_key: KeyRole | None = None) -> None:
        self.wrong_key = wrong_key
        super().__init__(detail)


class ReplayedFrame(FrameError):
    """The invocation counter did not increase: a duplicate or a replay."""

    reason = Reason.REPLAYED
    default_message = "replayed or duplicated frame (invocation counter did not increase)"


class ImplausibleValue(FrameError):
    """The frame decoded, but a value cannot be right (for example a factor-10 voltage)."""

    reason = Reason.IMPLAUSIBLE
    default_message = "implausible value"


class InconsistentFrame(FrameError):
    """The parts of a frame contradict each other (a push whose header time and clock
    object disagree): parts of different frames were put together."""

    reason = Reason.INCONSISTENT
    default_message = "inconsistent frame"


class InvalidKey(ReaderError):
    """A key given by the user is not 16 bytes of hexadecimal."""

    reason = Reason.INVALID_KEY_FORMAT
    about_keys = True
    default_message = "a key must be 32 hexadecimal characters (16 bytes)"


class KeyRejected(FrameError):
    """A polled meter answered that the key does not authenticate the request."""

    reason = Reason.KEY_REJECTED
    about_keys = True
    default_message = "the meter rejects the key"


class RequestRefused(FrameError):
    """A polled meter understood the request but refused it (unknown table, no permission...)."""

    reason = Reason.REQUEST_REFUSED
    default_message = "the meter refused the request"


class TlsRequired(FrameError):
    """The meter's port accepts only TLS-secured requests, which this reader cannot send."""

    reason = Reason.TLS_REQUIRED
    default_message = (
        "this meter's MEP port requires TLS, which this integration does not support yet"
    )


class NoAnswer(ReaderError):
    """A polled meter did not answer a request in time (or not completely)."""

    reason = Reason.NO_ANSWER
    default_message = "no answer from the meter"


class ChSmrError(FrameError):
    """A CH-SMR message that does not follow chapter 6 (not JSON, no ts, non-numeric values)."""

    reason = Reason.CHSMR_INVALID
    default_message = "invalid CH-SMR message"


class TransportError(ReaderError):
    """The port cannot be opened or was lost."""

    reason = Reason.CANNOT_OPEN_PORT
    default_message = "cannot open the port"


class NoData(TransportError):
    """The port opened but not a single byte arrived: the interface is probably not enabled."""

    reason = Reason.NO_DATA
    default_message = "no data received: is the customer interface enabled by the grid operator?"


class NoValidFrame(TransportError):
    """Bytes arrived but no valid frame: wrong standard, wrong serial settings or inverted line."""

    reason = Reason.NO_VALID_FRAME
    default_message = "data received but no valid frame: check the standard and the serial settings"
