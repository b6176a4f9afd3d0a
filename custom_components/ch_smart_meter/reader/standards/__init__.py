"""The registry of standards: one module per standard, each exporting ``SPEC``.

A standard says which serial preset, which decoder and which keys it uses. Adding a
standard means adding its module and one line in ``MODULE_NAMES``; nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo

from ..model import DecodeResult, SerialSettings, Standard

SWISS_TIME = ZoneInfo("Europe/Zurich")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DecoderOptions:
    """What a decoder needs besides the bytes.

    ``timezone`` localises meter times sent without an offset (DLMS deviation "not
    specified"); ``clock`` stamps readings whose frame carries no time at all;
    ``profile`` overrides the meter profile detection (DLMS).
    """

    # Secrets: never in a repr (logs, diagnostics, test failure output).
    encryption_key: bytes | None = field(default=None, repr=False)
    authentication_key: bytes | None = field(default=None, repr=False)
    timezone: tzinfo = SWISS_TIME
    profile: str | None = None
    clock: Callable[[], datetime] = field(default=_utc_now)


class StreamDecoder(Protocol):
    """Bytes in, readings and rejected frames out; independent of how the bytes arrive."""

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Consume a chunk of the byte stream; return what it completed, in order."""

    def flush(self) -> list[DecodeResult]:
        """End of input: report a pending incomplete frame (as truncated) and clear it."""

    def reset(self) -> None:
        """Forget partial frames (after a reconnect)."""


@dataclass(frozen=True, slots=True)
class SerialPreset:
    """A named character format, e.g. "L&G E450 CII over an M-Bus slave adapter", 2400 8E1."""

    name: str
    settings: SerialSettings


@dataclass(frozen=True, slots=True)
class Profile:
    """A meter model whose scaling or layout the decoder knows (used as an override option)."""

    id: str
    title: str


@dataclass(frozen=True, slots=True)
class StandardSpec:
    """Everything the rest of the system needs to know about one standard."""

    standard: Standard
    title: str  # as the Swiss recommendation names it, e.g. "P1 DSMR 5.0.2"
    # Character formats offered for this standard, the default first; empty where the
    # standard has no serial line (CH-SMR).
    serial_presets: tuple[SerialPreset, ...]
    interval: float  # normal seconds between two readings; silence > 3x => unavailable
    create_decoder: Callable[[DecoderOptions], StreamDecoder]
    supports_encryption: bool = False
    supports_authentication_key: bool = False
    # Used when the user leaves the authentication key empty (Smarty: a public constant).
    default_authentication_key: bytes | None = None
    description: str = ""
    # Meter models the user may force instead of automatic detection (DLMS); empty if none.
    profiles: tuple[Profile, ...] = ()

    @property
    def serial(self) -> SerialSettings | None:
        """The default character format."""
        return self.serial_presets[0].settings if self.serial_presets else None


# Order = order in the config flow (that of Table 3 of the recommendation).
# Module names by standard; the simulators use the same names in their own package.
MODULE_NAMES: dict[Standard, str] = {
    Standard.DSMR: "dsmr",
    Standard.P1_DLMS: "p1_dlms",
    Standard.LG_MBUS: "lg_mbus",
    Standard.KAMSTRUP_DLMS: "kamstrup_dlms",
    Standard.KMP: "kmp",
    Standard.MEP: "mep",
}


@cache
def is_implemented(standard: Standard) -> bool:
    """True when the standard's module exists in this version (looked up once)."""
    module = MODULE_NAMES.get(standard)
    return module is not None and importlib.util.find_spec(f"{__name__}.{module}") is not None


def get_spec(standard: Standard | str) -> StandardSpec:
    """The spec of a standard; raises KeyError for unknown or unimplemented standards."""
    standard = Standard(standard)
    if not is_implemented(standard):
        raise KeyError(f"standard {standard.value!r} is not implemented")
    module = importlib.import_module(f"{__name__}.{MODULE_NAMES[standard]}")
    spec: StandardSpec = module.SPEC
    return spec


def load_all() -> list[StandardSpec]:
    """Import every implemented standard now.

    An application with an event loop (Home Assistant) calls this while it imports its own
    modules, so that no standard module is imported later inside the loop.
    """
    return implemented_specs()


def implemented_specs() -> list[StandardSpec]:
    """Every implemented meter-side standard, in the order of the recommendation."""
    return [get_spec(standard) for standard in MODULE_NAMES if is_implemented(standard)]
