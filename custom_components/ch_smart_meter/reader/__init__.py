"""Swiss smart meter customer-interface reader: a pure-Python library.

Transports, framers, decoders for each standard of the Swiss recommendation, the OBIS
catalogue, the CH-SMR format, simulators and a command-line tool. It never imports Home
Assistant: the integration depends on it, not the other way round.
"""

from .errors import (
    ChSmrError,
    CrcError,
    DecryptionFailed,
    FrameError,
    ImplausibleValue,
    InvalidKey,
    KeyRequired,
    MalformedFrame,
    ReaderError,
    ReplayedFrame,
    TransportError,
    TruncatedFrame,
    UnsupportedFrame,
)
from .model import DecodeResult, Reading, RejectedFrame, SerialSettings, Standard, TimeSource

__all__ = [
    "ChSmrError",
    "CrcError",
    "DecodeResult",
    "DecryptionFailed",
    "FrameError",
    "ImplausibleValue",
    "InvalidKey",
    "KeyRequired",
    "MalformedFrame",
    "ReaderError",
    "Reading",
    "RejectedFrame",
    "ReplayedFrame",
    "SerialSettings",
    "Standard",
    "TimeSource",
    "TransportError",
    "TruncatedFrame",
    "UnsupportedFrame",
]
