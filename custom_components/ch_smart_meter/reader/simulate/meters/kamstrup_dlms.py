"""A simulated Kamstrup OMNIPOWER HAN port: the 10-second list, the hourly list with
energies on the first push of each hour, optionally AES-GCM ciphered;
``model="kamstrup-omnipower-1ph"`` is a single-phase meter."""

from __future__ import annotations

from ...model import Standard
from ..dlms_meters import DlmsSource, create_dlms_source, select_model
from ..source import SourceOptions


def create_source(options: SourceOptions) -> DlmsSource:
    """The registry's entry point (``options.model`` picks another model of the standard)."""
    return create_dlms_source(
        select_model(Standard.KAMSTRUP_DLMS, options.model),
        seed=options.seed,
        key=options.key,
        authentication_key=options.authentication_key,
    )
