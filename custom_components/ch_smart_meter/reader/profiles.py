"""Meter profiles for DLMS push meters, as data.

Swiss push lists carry no scaler-unit: the same raw 236 is 236 V on an L&G E450 and
23.6 V on an E360. A profile says, per meter model, how raw values scale, which object is the
meter's identity, and which OBIS codes a values-only list (layout C) carries.

A profile is picked automatically from what the push reveals, in this order: the list id
(``Kamstrup_V0001``), the logical device name prefix (0-0:42.0.0, e.g. ``LGZ``, ``ISK``),
the system title's manufacturer (first 3 bytes of a ciphered APDU); the standard decides
between models of one manufacturer (``LGZ`` on P1 DLMS is an E360, on the M-Bus CII an E450).
The user may force one (``DecoderOptions.profile``); scaler-units inside the push always win
over any profile.

An automatically detected profile may list alternative voltage/current exponents: the
plausibility check then picks the one that makes the values physically consistent
(:mod:`.dlms.scaling`). A profile the user chose is trusted: implausible values are rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from .model import CUBIC_METRE, Standard
from .spec import Profile


class Kind(StrEnum):
    """The physical quantity of an electricity OBIS code, which decides its scaling."""

    ACTIVE_ENERGY = "active_energy"
    REACTIVE_ENERGY = "reactive_energy"
    APPARENT_ENERGY = "apparent_energy"
    ACTIVE_POWER = "active_power"
    REACTIVE_POWER = "reactive_power"
    APPARENT_POWER = "apparent_power"
    VOLTAGE = "voltage"
    CURRENT = "current"
    POWER_FACTOR = "power_factor"
    FREQUENCY = "frequency"


# 10-exponents of raw push values in base units (Wh, varh, VAh, W, var, VA, V, A, 1, Hz) for a
# meter that sends no scaler-unit. Voltage and current come from the profile's candidates.
_BASE_EXPONENTS: dict[Kind, int] = {
    Kind.ACTIVE_ENERGY: 0,
    Kind.REACTIVE_ENERGY: 0,
    Kind.APPARENT_ENERGY: 0,
    Kind.ACTIVE_POWER: 0,
    Kind.REACTIVE_POWER: 0,
    Kind.APPARENT_POWER: 0,
    Kind.POWER_FACTOR: -3,
    Kind.FREQUENCY: -2,
}


class SubMeterScale(NamedTuple):
    """How a meter's M-Bus sub-meter values (0-n:24.2.1) scale when the push carries no
    scaler-unit: value = raw x 10^exponent, in ``unit``."""

    exponent: int
    unit: str


def _exponents(**overrides: int) -> Mapping[Kind, int]:
    table = dict(_BASE_EXPONENTS)
    table.update({Kind(name): value for name, value in overrides.items()})
    return MappingProxyType(table)


# Compared and hashed by identity (eq=False): profiles are singletons of this module, and
# their value maps are mappings (unhashable), yet they key the scaling plans' memo.
@dataclass(frozen=True, slots=True, eq=False)
class MeterProfile:
    """How one meter model's push is read."""

    id: str
    title: str
    manufacturer: str
    model: str | None = None
    # Automatic detection.
    list_ids: tuple[str, ...] = ()
    logical_name_prefixes: tuple[str, ...] = ()
    system_title_prefixes: tuple[str, ...] = ()
    # Standards on which a logical-name/system-title match picks this profile; empty = all.
    standards: tuple[Standard, ...] = ()
    # Scaling of values sent without scaler-unit.
    exponents: Mapping[Kind, int] = field(default_factory=_exponents)
    # The first is the model's own; the others are tried when the profile was detected
    # automatically and the first makes the values implausible.
    voltage_exponents: tuple[int, ...] = (0,)
    current_exponents: tuple[int, ...] = (-2,)
    # Exceptions by partial OBIS code.
    code_exponents: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # Identity: partial codes whose value is the meter id, by preference.
    id_codes: tuple[str, ...] = ("96.1.1", "42.0.0", "96.1.0")
    # The partial code whose value names the meter type (Kamstrup 1-1:96.1.1), if any.
    model_code: str | None = None
    # A meter type prefix that selects another profile (Kamstrup CT meters: "685").
    refinements: tuple[tuple[str, str], ...] = ()
    # Models that look the same but scale differently: when the plausibility checks chose
    # a sibling's exponents, the meter is that sibling (an "E450" with currents in A is an
    # E570).
    siblings: tuple[str, ...] = ()
    # Values-only lists: number of values -> OBIS reference per position (None = unused).
    value_maps: Mapping[int, tuple[str | None, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # Sub-meter values pushed without scaler-unit; None: raw numbers without a unit.
    submeter_scale: SubMeterScale | None = None


# Netz Burgenland configures its E450 to push bare values (layout C): voltages (V),
# currents (0.01 A), powers (W), energies (Wh), then three values whose meaning is not
# public, then the meter number (tosog/nbsm, amsreader #501, Tasmota #23027).
# fmt: off
_BURGENLAND_11 = (
    "1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0", "1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0",
    "1-0:1.7.0", "1-0:2.7.0", "1-0:1.8.0", "1-0:2.8.0", "0-0:96.1.0",
)
_BURGENLAND_14 = (*_BURGENLAND_11[:10], None, None, None, "0-0:96.1.0")

# Norwegian Kaifa lists (NVE HAN): list id, meter id, meter type, then values.
_KAIFA_LIST_2_3PH = (
    "1-1:0.2.129", "0-0:96.1.0", "0-0:96.1.7", "1-0:1.7.0", "1-0:2.7.0", "1-0:3.7.0",
    "1-0:4.7.0", "1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0", "1-0:32.7.0", "1-0:52.7.0",
    "1-0:72.7.0",
)
_KAIFA_LIST_3_TAIL = ("0-0:1.0.0", "1-0:1.8.0", "1-0:2.8.0", "1-0:3.8.0", "1-0:4.8.0")
_KAIFA_LIST_2_1PH = (*_KAIFA_LIST_2_3PH[:8], "1-0:32.7.0")

# Elektro Ljubljana Iskra AM550 5-second list.
_ISKRA_SI_18 = (
    "0-0:42.0.0", None, "1-0:1.7.0", "1-0:2.7.0", "1-0:3.7.0", "1-0:4.7.0",
    "1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0", "1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0",
    "1-0:21.7.0", "1-0:41.7.0", "1-0:61.7.0", "1-0:22.7.0", "1-0:42.7.0", "1-0:62.7.0",
)
# fmt: on

LG_E450 = MeterProfile(
    id="lg-e450",
    title="Landis+Gyr E450",
    manufacturer="Landis+Gyr",
    model="E450",
    logical_name_prefixes=("LGZ",),
    system_title_prefixes=("LGZ",),
    standards=(Standard.LG_MBUS,),
    voltage_exponents=(0, -1),
    # An E570 (transformer meter, currents in A) looks the same: only the power check tells.
    current_exponents=(-2, 0),
    siblings=("lg-e570", "lg-e360"),
    value_maps=MappingProxyType({11: _BURGENLAND_11, 14: _BURGENLAND_14}),
    # The E450 copies an M-Bus meter's value into 0-n:24.2.1 with the scaler and unit of
    # the meter's own record; the one public push (SCS, a Swiss water meter, raw 30545)
    # carries neither. Wired M-Bus water and gas meters count litres (VIF 0x13: 10^-3 m³),
    # so 30545 is read as 30.545 m³. Likely, not confirmed: a push with attribute 3 wins.
    submeter_scale=SubMeterScale(-3, CUBIC_METRE),
)
LG_E570 = MeterProfile(
    id="lg-e570",
    title="Landis+Gyr E570",
    manufacturer="Landis+Gyr",
    model="E570",
    voltage_exponents=(0, -1),
    current_exponents=(0,),
)
LG_E360 = MeterProfile(
    id="lg-e360",
    title="Landis+Gyr E360",
    manufacturer="Landis+Gyr",
    model="E360",
    logical_name_prefixes=("LGZ",),
    system_title_prefixes=("LGZ",),
    standards=(Standard.P1_DLMS,),
    voltage_exponents=(-1, 0),
    siblings=("lg-e450",),
)
ISKRA_AM550 = MeterProfile(
    id="iskra-am550",
    title="Iskraemeco AM550",
    manufacturer="Iskraemeco",
    model="AM550",
    logical_name_prefixes=("ISK",),
    system_title_prefixes=("ISK",),
    voltage_exponents=(-1, 0),
    value_maps=MappingProxyType({18: _ISKRA_SI_18}),
)
KAMSTRUP_OMNIPOWER = MeterProfile(
    id="kamstrup-omnipower",
    title="Kamstrup OMNIPOWER",
    manufacturer="Kamstrup",
    model="OMNIPOWER",
    list_ids=("Kamstrup_V0001",),
    system_title_prefixes=("KAM",),
    # Energies in 10 Wh / 10 varh, power factors in 0.01.
    exponents=_exponents(active_energy=1, reactive_energy=1, apparent_energy=1, power_factor=-2),
    # Type "685..." are CT meters (0.001 A); lists without the type need the power check.
    current_exponents=(-2, -3),
    # 1-1:0.0.5 is the meter number (GS1); 1-1:96.1.1 is the meter TYPE, not the id.
    id_codes=("0.0.5", "0.0.1"),
    model_code="96.1.1",
    refinements=(("685", "kamstrup-omnipower-ct"),),
    siblings=("kamstrup-omnipower-ct",),
)
KAMSTRUP_OMNIPOWER_CT = replace(
    KAMSTRUP_OMNIPOWER,
    id="kamstrup-omnipower-ct",
    title="Kamstrup OMNIPOWER CT (transformer) meter",
    model="OMNIPOWER CT",
    list_ids=(),
    system_title_prefixes=(),
    current_exponents=(-3,),
    refinements=(),
    siblings=(),
)
KAIFA = MeterProfile(
    id="kaifa",
    title="Kaifa (Norwegian HAN lists)",
    manufacturer="Kaifa",
    list_ids=("KFM_001",),
    logical_name_prefixes=("KFM",),
    system_title_prefixes=("KFM",),
    voltage_exponents=(-1,),
    current_exponents=(-3,),
    value_maps=MappingProxyType(
        {
            9: _KAIFA_LIST_2_1PH,
            13: _KAIFA_LIST_2_3PH,
            14: (*_KAIFA_LIST_2_1PH, *_KAIFA_LIST_3_TAIL),
            18: (*_KAIFA_LIST_2_3PH, *_KAIFA_LIST_3_TAIL),
        }
    ),
)
GENERIC = MeterProfile(
    id="generic",
    title="Other DLMS meter (scalers from the push)",
    manufacturer="unknown",
    voltage_exponents=(0, -1),
)

PROFILES: tuple[MeterProfile, ...] = (
    LG_E450,
    LG_E570,
    LG_E360,
    ISKRA_AM550,
    KAMSTRUP_OMNIPOWER,
    KAMSTRUP_OMNIPOWER_CT,
    KAIFA,
    GENERIC,
)
BY_ID: Mapping[str, MeterProfile] = MappingProxyType({p.id: p for p in PROFILES})

# FLAG manufacturer ids seen in system titles / logical device names, for the Reading.
MANUFACTURERS: Mapping[str, str] = MappingProxyType(
    {
        "LGZ": "Landis+Gyr",
        "ISK": "Iskraemeco",
        "KAM": "Kamstrup",
        "KFM": "Kaifa",
        "SAG": "Sagemcom",
        "ELS": "Elster/Honeywell",
        "ADN": "Aidon",
    }
)


def spec_profiles(standard: Standard) -> tuple[Profile, ...]:
    """The profiles a standard offers as an override, for ``StandardSpec.profiles``."""
    return tuple(Profile(p.id, p.title) for p in PROFILES if _offered_on(p, standard))


def _offered_on(profile: MeterProfile, standard: Standard) -> bool:
    return profile.id in _OFFERED[standard] if standard in _OFFERED else True


_OFFERED: dict[Standard, frozenset[str]] = {
    Standard.P1_DLMS: frozenset({"lg-e360", "iskra-am550", "lg-e450", "generic"}),
    Standard.LG_MBUS: frozenset(
        {"lg-e450", "lg-e570", "lg-e360", "iskra-am550", "kaifa", "generic"}
    ),
    Standard.KAMSTRUP_DLMS: frozenset({"kamstrup-omnipower", "kamstrup-omnipower-ct", "generic"}),
}


class Detection(StrEnum):
    """How a profile was chosen (diagnostics; decides whether alternatives may be tried)."""

    USER = "user"
    LIST_ID = "list id"
    LOGICAL_NAME = "logical device name"
    SYSTEM_TITLE = "system title"
    DEFAULT = "default"


def detect(
    standard: Standard,
    *,
    override: str | None = None,
    list_id: str | None = None,
    logical_name: str | None = None,
    system_title: bytes | None = None,
) -> tuple[MeterProfile, Detection]:
    """Pick the profile for one push; an unknown override id falls back to detection."""
    if override and override in BY_ID:
        return BY_ID[override], Detection.USER
    if list_id:
        for profile in PROFILES:
            if list_id in profile.list_ids:
                return profile, Detection.LIST_ID
    if logical_name:
        found = _by_prefix(standard, logical_name, "logical_name_prefixes")
        if found is not None:
            return found, Detection.LOGICAL_NAME
    if system_title:
        found = _by_prefix(standard, system_title[:3].decode("latin-1"), "system_title_prefixes")
        if found is not None:
            return found, Detection.SYSTEM_TITLE
    return _DEFAULTS.get(standard, GENERIC), Detection.DEFAULT


def refine(profile: MeterProfile, meter_type: str | None) -> MeterProfile:
    """The profile a meter type selects (Kamstrup CT meters), else ``profile``."""
    if meter_type:
        for prefix, profile_id in profile.refinements:
            if meter_type.startswith(prefix):
                return BY_ID[profile_id]
    return profile


def sibling(
    profile: MeterProfile, voltage_exponent: int | None, current_exponent: int | None
) -> MeterProfile:
    """The sibling whose own scaling is the one the plausibility checks chose, else ``profile``."""
    wanted = (
        profile.voltage_exponents[0] if voltage_exponent is None else voltage_exponent,
        profile.current_exponents[0] if current_exponent is None else current_exponent,
    )
    if wanted == (profile.voltage_exponents[0], profile.current_exponents[0]):
        return profile
    for sibling_id in profile.siblings:
        candidate = BY_ID[sibling_id]
        if (candidate.voltage_exponents[0], candidate.current_exponents[0]) == wanted:
            return candidate
    return profile


def _by_prefix(standard: Standard, text: str, attribute: str) -> MeterProfile | None:
    fallback = None
    for profile in PROFILES:
        prefixes: tuple[str, ...] = getattr(profile, attribute)
        if not any(text.startswith(prefix) for prefix in prefixes):
            continue
        if not profile.standards or standard in profile.standards:
            return profile
        fallback = fallback or profile
    # The manufacturer is known, but none of its models is tied to this standard.
    return fallback


_DEFAULTS: dict[Standard, MeterProfile] = {
    Standard.P1_DLMS: GENERIC,
    Standard.LG_MBUS: LG_E450,
    Standard.KAMSTRUP_DLMS: KAMSTRUP_OMNIPOWER,
}
