"""A simulated P1 DLMS meter: L&G E360 (one long HDLC frame, 0.1 V voltages; the default) or
Iskraemeco AM550 (``model="iskra-am550"``: HDLC segmentation), optionally AES-GCM ciphered."""

from __future__ import annotations

from ...model import Standard
from ..dlms_meters import DlmsSource, create_dlms_source, select_model
from ..source import SourceOptions


def create_source(options: SourceOptions) -> DlmsSource:
    """The registry's entry point (``options.model`` picks another model of the standard)."""
    return create_dlms_source(
        select_model(Standard.P1_DLMS, options.model),
        seed=options.seed,
        key=options.key,
        authentication_key=options.authentication_key,
    )
