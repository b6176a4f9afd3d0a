"""Why a frame was rejected, as types.

Every rejection carries a ``translation_key`` so that the config flow, the log lines, the
diagnostics and the command-line tool all say the same thing in the same words.
Messages never contain key material.
"""

from __future__ import annotations

from typing import ClassVar


class ReaderError(Exception):
    """Base class of everything the reader library raises on purpose."""

    translation_key: ClassVar[str] = "reader_error"
    default_message: ClassVar[str] = "reader error"

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

    translation_key = "frame_error"
    default_message = "invalid frame"


class CrcError(FrameError):
    """The checksum of the frame does not match its content (line noise, wrong serial settings)."""

    translation_key = "crc_mismatch"
    default_message = "checksum mismatch"


class TruncatedFrame(FrameError):
    """The frame ended before its declared length or end marker."""

    translation_key = "truncated"
    default_message = "truncated frame"


class MalformedFrame(FrameError):
    """The frame's structure or content cannot be parsed."""

    translation_key = "malformed"
    default_message = "malformed frame"


class UnsupportedFrame(FrameError):
    """A valid frame of another framing or layout than the decoder handles."""

    translation_key = "unsupported"
    default_message = "unsupported frame"


class KeyRequired(FrameError):
    """The frame is encrypted and no key was configured."""

    translation_key = "key_required"
    default_message = "the frame is encrypted: an encryption key is needed"


class DecryptionFailed(FrameError):
    """Authentication tag mismatch, or plaintext that makes no sense: the key is wrong."""

    translation_key = "decryption_failed"
    default_message = (
        "decryption failed: check the encryption key (GUEK) and the authentication key (GAK)"
    )


class ReplayedFrame(FrameError):
    """The invocation counter did not increase: a duplicate or a replay."""

    translation_key = "replayed"
    default_message = "replayed or duplicated frame (invocation counter did not increase)"


class ImplausibleValue(FrameError):
    """The frame decoded, but a value cannot be right (for example a factor-10 voltage)."""

    translation_key = "implausible"
    default_message = "implausible value"


class InvalidKey(ReaderError):
    """A key given by the user is not 16 bytes of hexadecimal."""

    translation_key = "invalid_key_format"
    default_message = "a key must be 32 hexadecimal characters (16 bytes)"


class ChSmrError(FrameError):
    """A CH-SMR message that does not follow chapter 6 (not JSON, no ts, non-numeric values)."""

    translation_key = "chsmr_invalid"
    default_message = "invalid CH-SMR message"


class TransportError(ReaderError):
    """The port cannot be opened or was lost."""

    translation_key = "cannot_open_port"
    default_message = "cannot open the port"


class NoData(TransportError):
    """The port opened but not a single byte arrived: the interface is probably not enabled."""

    translation_key = "no_data"
    default_message = "no data received: is the customer interface enabled by the grid operator?"


class NoValidFrame(TransportError):
    """Bytes arrived but no valid frame: wrong standard, wrong serial settings or inverted line."""

    translation_key = "no_valid_frame"
    default_message = "data received but no valid frame: check the standard and the serial settings"
