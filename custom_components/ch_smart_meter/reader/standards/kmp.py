"""Kamstrup KMP: older Kamstrup electricity meters (382 family) read by polling.

The reader asks, the meter answers: GetSerialNo once per connection, then GetRegister for
the energies, powers, voltages and currents every poll interval (:mod:`..kmp.poller`).
Over the Kamstrup USB interface at 9600 8N1 or an optical head on the meter's IEC 62056-21
eye at 1200 8N2. No encryption. Captures of a dialogue decode with :mod:`..kmp.decoder`.
"""

from __future__ import annotations

from typing import Final

from ..kmp.decoder import KmpCaptureDecoder
from ..kmp.poller import OPTICAL_SERIAL, USB_SERIAL, KmpPoller, min_poll_interval
from ..model import Standard
from ..spec import SerialPreset, StandardSpec

SPEC: Final = StandardSpec(
    standard=Standard.KMP,
    title="Kamstrup KMP",
    serial_presets=(
        SerialPreset("usb", "Kamstrup USB interface", USB_SERIAL),
        SerialPreset("optical", "Optical head", OPTICAL_SERIAL),
    ),
    # The default poll interval; silence for 3x this marks the meter unavailable.
    interval=5.0,
    create_decoder=KmpCaptureDecoder,
    create_poller=KmpPoller,
    # What a cycle of every register needs on the wire through the optical head.
    min_poll_interval=min_poll_interval(OPTICAL_SERIAL),
    description=(
        "Kamstrup Meter Protocol of older Kamstrup electricity meters (382 family), polled "
        "over the Kamstrup USB interface or an optical head; register map from community "
        "sources (no public specification)."
    ),
)
