"""DSMR variants (telegram layouts), recognised from the telegram itself, never chosen.

A meter's layout follows from its identification line (the FLAG manufacturer id and the
model), its P1 version line, the Belgian version line, whether it arrived encrypted and
whether it carries a CRC. The variant is shown in the diagnostics; the tests decode every
capture with ``dsmr-parser``'s specification of the same variant and require the same
numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple


@dataclass(frozen=True, slots=True)
class DsmrVariant:
    """A telegram layout."""

    id: str
    title: str


class TelegramFacts(NamedTuple):
    """What recognises a variant; one meter sends the same facts in every telegram."""

    flag: str
    model: str
    version: str  # the 1-3:0.2.8 value; "" without a version line
    belgian: bool  # 0-0:96.1.4 present
    encrypted: bool
    crc: bool


@dataclass(frozen=True, slots=True)
class VariantRule:
    """A variant applies when every given condition holds (``None`` or empty = any)."""

    variant: DsmrVariant
    flags: tuple[str, ...] = ()  # FLAG ids of the identification line
    model_prefixes: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()  # first digit of 1-3:0.2.8; "" = no version line
    belgian: bool | None = None
    encrypted: bool | None = None
    crc: bool | None = None

    def matches(self, facts: TelegramFacts) -> bool:
        """Whether a telegram with these facts has this rule's variant."""
        return (
            (not self.flags or facts.flag in self.flags)
            and (not self.model_prefixes or facts.model.startswith(self.model_prefixes))
            and (not self.versions or facts.version[:1] in self.versions)
            and self.belgian in (None, facts.belgian)
            and self.encrypted in (None, facts.encrypted)
            and self.crc in (None, facts.crc)
        )


VARIANTS: Final = {
    variant.id: variant
    for variant in (
        DsmrVariant("dsmr5", "DSMR 5.0.x"),
        DsmrVariant("dsmr4", "DSMR 4.x"),
        DsmrVariant("dsmr3", "DSMR 3.0"),
        DsmrVariant("dsmr22", "DSMR 2.2 (no CRC)"),
        DsmrVariant("emucs", "e-MUCS (Belgium, Fluvius)"),
        DsmrVariant("smarty", "Luxembourg Smarty"),
        DsmrVariant("smarty_encrypted", "Luxembourg Smarty (encrypted)"),
        DsmrVariant("austria", "Sagemcom T210-D-R (Austria)"),
        DsmrVariant("encrypted", "Encrypted P1 (general-glo-ciphering)"),
        DsmrVariant("q3d", "EasyMeter Q3D"),
        DsmrVariant("iskra_ie", "Iskra (ESB Networks, Ireland)"),
        DsmrVariant("eon_hu", "Sagemcom (E.ON Hungary)"),
        DsmrVariant("nordic", "P1 without version line (Nordic style)"),
        DsmrVariant("dsmr", "DSMR (unrecognised layout)"),
    )
}

# First match wins: the specific layouts before the generic ones.
VARIANT_RULES: Final = (
    VariantRule(VARIANTS["emucs"], belgian=True),
    VariantRule(VARIANTS["smarty_encrypted"], flags=("Lux",), encrypted=True),
    VariantRule(VARIANTS["smarty"], flags=("Lux",)),
    VariantRule(VARIANTS["austria"], flags=("EST",)),
    VariantRule(VARIANTS["encrypted"], encrypted=True),
    VariantRule(VARIANTS["q3d"], flags=("ESY",)),
    VariantRule(VARIANTS["iskra_ie"], model_prefixes=("MIE",)),
    VariantRule(VARIANTS["eon_hu"], flags=("SAG",), versions=("",)),
    VariantRule(VARIANTS["dsmr5"], versions=("5",)),
    VariantRule(VARIANTS["dsmr4"], versions=("4",)),
    VariantRule(VARIANTS["dsmr3"], versions=("3",)),
    VariantRule(VARIANTS["nordic"], versions=("",), crc=True),
    VariantRule(VARIANTS["dsmr22"], crc=False),
)


@lru_cache(maxsize=64)
def recognise_variant(facts: TelegramFacts) -> DsmrVariant:
    """The variant of a telegram (remembered: a meter repeats its facts every telegram)."""
    for rule in VARIANT_RULES:
        if rule.matches(facts):
            return rule.variant
    return VARIANTS["dsmr"]


# Manufacturer by the FLAG id of the identification line (data, enumerated by the tests).
MANUFACTURERS: Final[Mapping[str, str]] = {
    "ISK": "Iskraemeco",
    "ISk": "Iskraemeco",
    "KFM": "Kaifa",
    "XMX": "Landis+Gyr",
    "LGF": "Landis+Gyr",
    "LGZ": "Landis+Gyr",
    "KAM": "Kamstrup",
    "SAG": "Sagemcom",
    "EST": "Sagemcom",
    "Lux": "Sagemcom",
    "FLU": "Fluvius",
    "ELL": "Elster/Honeywell",
    "ESY": "EasyMeter",
    "EGM": "Elgama",
    "NES": "NES/Echelon",
    "EMH": "EMH metering",
}


class Identification(NamedTuple):
    """What the header line ``/XXXZ<identification>`` says."""

    flag: str  # the FLAG manufacturer id
    model: str
    text: str  # the whole identification, printable


def _printable(text: str) -> str:
    return "".join(char for char in text if char.isascii() and char.isprintable()).strip()


@lru_cache(maxsize=64)
def read_identification(header: str) -> Identification:
    """The identification line, remembered (a meter repeats its header).

    The model leaves out the ``\\W`` enhanced baud-rate mark (backslash and a digit),
    separators and unprintable bytes.
    """
    text = header[5:]
    if text[:1] == "\\":
        text = text[2:] if text[1:2].isdigit() else text[1:]
    return Identification(header[1:4], _printable(text).lstrip(":").strip(), _printable(header[1:]))
