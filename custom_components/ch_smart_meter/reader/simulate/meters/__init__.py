"""Simulated meters by standard: a static table in the order of the recommendation.

Adding a simulated standard means adding its source and one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Final

from ...model import Standard
from .. import kmp_meter, mep_meter
from ..dlms_meters import create_standard_source
from ..source import FrameSource, SourceOptions
from . import dsmr

# The DLMS standards' meters are models of one simulator (see ..dlms_models): L&G E360 or
# Iskra AM550 on P1 DLMS, the L&G E450 CII (HDLC or M-Bus long frames), Kamstrup OMNIPOWER.
SIMULATORS: Final[Mapping[Standard, Callable[[SourceOptions], FrameSource]]] = {
    Standard.DSMR: dsmr.create_source,
    Standard.P1_DLMS: partial(create_standard_source, Standard.P1_DLMS),
    Standard.LG_MBUS: partial(create_standard_source, Standard.LG_MBUS),
    Standard.KAMSTRUP_DLMS: partial(create_standard_source, Standard.KAMSTRUP_DLMS),
    Standard.KMP: kmp_meter.create_source,
    Standard.MEP: mep_meter.create_source,
}


def demo_key(standard: Standard) -> bytes | None:
    """The key a simulated meter needs even when its data is not encrypted (MEP's MBK)."""
    return mep_meter.DEMO_MBK if standard is Standard.MEP else None


def available_standards() -> list[Standard]:
    """Standards that have a simulator, in the order of the recommendation."""
    return list(SIMULATORS)


def create_source(standard: Standard | str, options: SourceOptions | None = None) -> FrameSource:
    """A simulated meter of ``standard``; raises ``KeyError`` when there is none."""
    try:
        factory = SIMULATORS[Standard(standard)]
    except (KeyError, ValueError):
        raise KeyError(f"no simulator for {str(standard)!r}") from None
    return factory(options or SourceOptions())
