"""A simulated L&G E450 CII: HDLC with general-block-transfer, optionally AES-GCM ciphered;
``model="lg-e450-mbus"`` sends M-Bus long frames instead of HDLC."""

from __future__ import annotations

from ...model import Standard
from ..dlms_meters import DlmsSource, create_dlms_source, select_model
from ..source import SourceOptions


def create_source(options: SourceOptions) -> DlmsSource:
    """The registry's entry point (``options.model`` picks another model of the standard)."""
    return create_dlms_source(
        select_model(Standard.LG_MBUS, options.model),
        seed=options.seed,
        key=options.key,
        authentication_key=options.authentication_key,
    )
