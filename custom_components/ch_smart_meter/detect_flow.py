"""What the config flow shows around a detection, a port check and a USB adapter.

The flow's steps live in ``config_flow.py``; this module turns the reader library's
structured results into what a form shows: progress placeholders from
:class:`~.reader.detect_report.Progress`, the summary of what was heard, the translation
key of the likeliest explanation (:func:`~.reader.detect_report.diagnose`), the translation
key of a port that cannot be opened, and the matching of USB adapters against the
manifest. Everything shown is numbers, serial formats, reason codes and paths: the words
around them are the translations' (the library's English text never reaches a form).
"""

from __future__ import annotations

import asyncio
import errno
import fnmatch
import socket
import termios
from collections.abc import Awaitable, Mapping, Sequence
from typing import Final

from homeassistant.helpers.service_info.usb import UsbServiceInfo

from .reader.detect import Timing
from .reader.detect_report import Heard, NothingDetected, Phase, Progress
from .reader.errors import Reason, TransportError
from .reader.model import SerialSettings
from .reader.standards import get_spec

# Detection is bounded (the library's default budget: one push interval at each plausible
# format, then the polled standards asked); tests shrink the timing, never the logic.
DETECT_BUDGET: Final = 60.0
DETECT_TIMING: Timing = Timing()
# A progress step whose task ends before the frontend has subscribed to the flow's events
# is never left on screen (the dialog waits forever): no progress task ends sooner than
# this after it started. Only tasks that would end at once wait (the simulated meter
# answers in a few milliseconds, a ser2net busy with another client hangs up at once).
MIN_PROGRESS_SECONDS: float = 1.0
# Opening a port to check it: network adapters get a few seconds (the transport's own
# limits per scheme are shorter where they apply).
PORT_CHECK_TIMEOUT: Final = 10.0

PROGRESS_LISTEN: Final = "detect_listen"
PROGRESS_ASK: Final = "detect_ask"
NOTHING: Final = "-"

# Why a port did not open, by the operating system's error number: one translated
# sentence each. Anything else is "cannot_open_port" with the raw detail.
_PORT_ERRORS: Final[Mapping[int, str]] = {
    errno.ENOENT: "port_not_found",
    errno.ENODEV: "port_not_found",
    errno.ENXIO: "port_not_found",
    errno.EACCES: "port_permission",
    errno.EPERM: "port_permission",
    errno.EBUSY: "port_busy",
    errno.ENOTTY: "port_not_serial",
    errno.ECONNREFUSED: "port_refused",
    errno.ECONNRESET: "port_refused",
    errno.EHOSTUNREACH: "port_unreachable",
    errno.ENETUNREACH: "port_unreachable",
    errno.EHOSTDOWN: "port_unreachable",
    errno.ETIMEDOUT: "port_unreachable",
}
PORT_ERROR_KEYS: Final = frozenset(
    {*_PORT_ERRORS.values(), "port_unknown_host", Reason.CANNOT_OPEN_PORT.value}
)


def port_error(err: TransportError) -> str:
    """The translation key for a port that cannot be opened (``cannot_open_port``, shown
    with the raw detail, when the cause is none of the usual ones)."""
    cause = err.__cause__
    if isinstance(cause, socket.gaierror):
        return "port_unknown_host"
    if isinstance(cause, TimeoutError):
        return "port_unreachable"
    if isinstance(cause, termios.error):
        return "port_not_serial"
    if isinstance(cause, OSError) and cause.errno is not None:
        return _PORT_ERRORS.get(cause.errno, Reason.CANNOT_OPEN_PORT.value)
    return Reason.CANNOT_OPEN_PORT.value


async def at_least[T](seconds: float, awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result (or error) no sooner than ``seconds`` after the start;
    cancelling ends it at once."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    try:
        result = await awaitable
    except Exception:
        await asyncio.sleep(max(0.0, end - loop.time()))
        raise
    await asyncio.sleep(max(0.0, end - loop.time()))
    return result


# ------------------------------------------------------------------ progress and summary


def _formats(formats: Sequence[SerialSettings]) -> str:
    return " / ".join(serial.describe() for serial in formats) or NOTHING


def progress_view(
    progress: Progress | None, port: str, budget: float
) -> tuple[str, dict[str, str]]:
    """The progress action (listening or asking) and its placeholders."""
    placeholders = {
        "port": port,
        "seconds": f"{budget:.0f}",
        "formats": NOTHING,
        "step": "1",
        "steps": NOTHING,
        "standard": NOTHING,
    }
    if progress is None:
        return PROGRESS_LISTEN, placeholders
    placeholders |= {
        "formats": _formats(progress.formats),
        "step": str(progress.step),
        "steps": str(progress.steps),
    }
    if progress.phase is Phase.ASK and progress.standard is not None:
        placeholders["standard"] = get_spec(progress.standard).title
        return PROGRESS_ASK, placeholders
    return PROGRESS_LISTEN, placeholders


def heard_summary(heard: Sequence[Heard], untried: Sequence[SerialSettings] = ()) -> str:
    """One Markdown list line per step: where (formats; the standard asked), the bytes
    received, and the frames rejected by reason code, e.g. ``- 2400 8E1: 1546
    (crc_mismatch 3)``; formats left untried when the time ran out end with ``-``."""
    lines = []
    for item in heard:
        where = _formats(item.formats)
        if item.phase is Phase.ASK and item.standard is not None:
            where = f"{get_spec(item.standard).title} {where}"
        rejected = ", ".join(f"{r.reason.value} {r.frames}" for r in item.rejections)
        lines.append(f"- {where}: {item.received}" + (f" ({rejected})" if rejected else ""))
    lines.extend(f"- {serial.describe()}: {NOTHING}" for serial in untried)
    return "\n".join(lines) or NOTHING


def nothing_detected_view(nothing: NothingDetected) -> tuple[str, dict[str, str]]:
    """The error key of the likeliest explanation and the placeholders of the form."""
    diagnosis = nothing.diagnosis
    return f"detect_{diagnosis.finding.value}", {
        "formats": _formats(diagnosis.formats),
        "heard": heard_summary(nothing.heard, nothing.untried),
        "seconds": f"{nothing.seconds:.0f}",
    }


# ------------------------------------------------------------------ USB adapters


def usb_matches(info: UsbServiceInfo, matchers: Sequence[Mapping[str, str]]) -> bool:
    """Whether the adapter fits one of the manifest's ``usb`` matchers, as Home Assistant's
    USB discovery matches them (ids exactly, texts as lower-case shell patterns)."""
    texts = {
        "serial_number": info.serial_number,
        "manufacturer": info.manufacturer,
        "description": info.description,
    }
    for matcher in matchers:
        if "vid" in matcher and matcher["vid"].upper() != info.vid.upper():
            continue
        if "pid" in matcher and matcher["pid"].upper() != info.pid.upper():
            continue
        if all(
            (value := texts.get(key)) is not None and fnmatch.fnmatch(value.lower(), pattern)
            for key, pattern in matcher.items()
            if key in texts
        ):
            return True
    return False


def usb_unique_id(info: UsbServiceInfo) -> str:
    """The adapter's identity: what an ignored discovery is remembered by."""
    return f"{info.vid}:{info.pid}_{info.serial_number}_{info.manufacturer}_{info.description}"


def usb_name(info: UsbServiceInfo) -> str:
    """How the adapter is shown: its description and serial number."""
    name = info.description or info.device
    return f"{name} ({info.serial_number})" if info.serial_number else name
