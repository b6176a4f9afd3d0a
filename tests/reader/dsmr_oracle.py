"""dsmr-parser as the reference for what a P1 telegram contains (a test oracle).

Each variant our decoder recognises maps to the dsmr-parser telegram specification that
describes it; the tests decode every capture with both and require the same numbers, and
``scripts/bench/dsmr.py`` measures both.
"""

from __future__ import annotations

from copy import deepcopy
from decimal import Decimal
from typing import Any, Final

from dsmr_parser import obis_references, parsers, telegram_specifications

from custom_components.ch_smart_meter.reader.dsmr.variants import DsmrVariant

# Variant id -> name of the dsmr-parser specification (dsmr_parser.telegram_specifications).
SPECIFICATIONS: Final = {
    "dsmr5": "V5",
    "dsmr4": "V4",
    "dsmr3": "V3",
    "dsmr22": "V2_2",
    "emucs": "BELGIUM_FLUVIUS",
    "smarty": "LUXEMBOURG_SMARTY",
    "smarty_encrypted": "MSN",
    "austria": "SAGEMCOM_T210_D_R",
    "encrypted": "SAGEMCOM_T210_D_R",
    "q3d": "Q3D",
    "iskra_ie": "ISKRA_IE",
    "eon_hu": "EON_HUNGARY",
    "nordic": "SWEDEN",
    "dsmr": "V5",
}

# What dsmr-parser's stock V5 leaves out but a Swiss 5.0.2 layout keeps (names of
# dsmr_parser.obis_references).
_V5_ADDITIONS: Final = (
    "ELECTRICITY_EXPORTED_TOTAL",
    "ELECTRICITY_REACTIVE_IMPORTED_TOTAL",
    "ELECTRICITY_REACTIVE_EXPORTED_TOTAL",
    "CURRENT_REACTIVE_IMPORTED",
    "CURRENT_REACTIVE_EXPORTED",
    "INSTANTANEOUS_REACTIVE_POWER_L1_POSITIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L2_POSITIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L3_POSITIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L1_NEGATIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L2_NEGATIVE",
    "INSTANTANEOUS_REACTIVE_POWER_L3_NEGATIVE",
)


def dsmr_parser_specification(variant: DsmrVariant, *, extended: bool = True) -> dict[str, Any]:
    """dsmr-parser's telegram specification for a variant, for plaintext telegrams.

    With ``extended`` the DSMR 5 specification also parses the lines its stock ``V5``
    drops. Encrypted variants are returned for their plaintext (``general_global_cipher``
    off): the envelope is opened by our decoder, not by dsmr-parser.
    """
    name = SPECIFICATIONS[variant.id]
    if not hasattr(telegram_specifications, name):  # MSN arrived in dsmr-parser 1.5
        name = "LUXEMBOURG_SMARTY"
    spec: dict[str, Any] = deepcopy(getattr(telegram_specifications, name))
    spec["general_global_cipher"] = False
    if extended and name == "V5":
        present = {obj["obis_reference"] for obj in spec["objects"]}
        for value_name in _V5_ADDITIONS:
            reference = getattr(obis_references, value_name, None)
            if reference is None or reference in present:
                continue
            spec["objects"].append(
                {
                    "obis_reference": reference,
                    "value_parser": parsers.CosemParser(parsers.ValueParser(Decimal)),
                    "value_name": value_name,
                }
            )
    return spec
