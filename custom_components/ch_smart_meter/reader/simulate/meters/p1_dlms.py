"""A simulated P1 DLMS meter: L&G E360 (one long HDLC frame, 0.1 V voltages)."""

from __future__ import annotations

from ..dlms_meters import LG_E360, DlmsSource, create_dlms_source
from ..source import SourceOptions


def create_source(options: SourceOptions) -> DlmsSource:
    """The registry's entry point."""
    return create_dlms_source(
        LG_E360,
        seed=options.seed,
        key=options.key,
        authentication_key=options.authentication_key,
    )
