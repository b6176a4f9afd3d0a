"""A simulated L&G E450 CII: HDLC with general-block-transfer, optionally AES-GCM ciphered."""

from __future__ import annotations

from ..dlms_meters import LG_E450, DlmsSource, create_dlms_source
from ..source import SourceOptions


def create_source(options: SourceOptions) -> DlmsSource:
    """The registry's entry point."""
    return create_dlms_source(
        LG_E450,
        seed=options.seed,
        key=options.key,
        authentication_key=options.authentication_key,
    )
