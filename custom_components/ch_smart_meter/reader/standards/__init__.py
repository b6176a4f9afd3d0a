"""The registry of standards: one module per standard, each exporting ``SPEC``.

A static table, in the order of Table 3 of the recommendation (the order of the config
flow). Adding a standard means adding its module and one line here; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..model import Standard
from ..spec import Carrier, StandardSpec
from . import chsmr, dsmr, kamstrup_dlms, kmp, lg_mbus, mep, p1_dlms

STANDARDS: Final[Mapping[Standard, StandardSpec]] = {
    spec.standard: spec
    for spec in (
        dsmr.SPEC,
        p1_dlms.SPEC,
        lg_mbus.SPEC,
        kamstrup_dlms.SPEC,
        kmp.SPEC,
        mep.SPEC,
        chsmr.SPEC,
    )
}


def get_spec(standard: Standard | str) -> StandardSpec:
    """The spec of a standard; raises ``ValueError`` for an unknown id."""
    return STANDARDS[Standard(standard)]


def meter_specs() -> list[StandardSpec]:
    """The standards read from a port (serial line or network serial server), in order."""
    return [spec for spec in STANDARDS.values() if spec.carrier is Carrier.BYTE_STREAM]
