"""A simulated Kamstrup OMNIPOWER HAN port: the 10-second list, the hourly list with
energies on the first push of each hour, optionally AES-GCM ciphered."""

from __future__ import annotations

from ..dlms_meters import KAMSTRUP_OMNIPOWER, DlmsSource, create_dlms_source
from ..source import SourceOptions


def create_source(options: SourceOptions) -> DlmsSource:
    """The registry's entry point."""
    return create_dlms_source(
        KAMSTRUP_OMNIPOWER,
        seed=options.seed,
        key=options.key,
        authentication_key=options.authentication_key,
    )
