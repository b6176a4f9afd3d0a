"""What a push says about its meter: the list id, the logical device name, the meter id,
manufacturer and model, and the OBIS codes of a values-only list (from the profile)."""

from __future__ import annotations

from ..errors import UnsupportedFrame
from ..profiles import BY_ID, GENERIC, MANUFACTURERS, Detection, MeterProfile
from . import layouts, scaling

# The meter type of Nordic/Austrian lists (Kaifa "MA304H3E", Aidon "6525").
MODEL_CODE = "96.1.7"


def list_id(content: layouts.PushContent) -> str | None:
    """The list id: the object x-x:0.2.129 (Aidon, Kaifa), or a flat list's leading text."""
    if content.list_object is not None:
        return scaling.text_of(content.list_object)
    return content.list_id


def logical_name(content: layouts.PushContent) -> str | None:
    if content.logical_name is not None:
        return scaling.text_of(content.logical_name)
    if content.layout is layouts.Layout.VALUES_ONLY:
        # Values-only lists often lead with the logical device name or a list id.
        return content.list_id
    return None


def map_values(
    content: layouts.PushContent, profile: MeterProfile
) -> tuple[list[layouts.Entry], MeterProfile]:
    """OBIS codes for a values-only list from the profile (or a sibling) that knows it."""
    values = content.values
    for candidate in (profile, *(BY_ID[sibling_id] for sibling_id in profile.siblings)):
        codes = _value_map(candidate, len(values))
        if codes is not None:
            entries: list[layouts.Entry] = [
                (obis, value, None, None)
                for obis, value in zip(codes, values, strict=True)
                if obis is not None
            ]
            return entries, candidate
    raise UnsupportedFrame(
        f"a push of {len(values)} values without OBIS codes that no meter profile describes "
        f"(meter taken for: {profile.title})"
    )


_VALUE_MAPS: dict[tuple[str, int], tuple[bytes | None, ...] | None] = {}


def _value_map(profile: MeterProfile, count: int) -> tuple[bytes | None, ...] | None:
    """A profile's values-only map as 6-byte logical names (parsed once)."""
    key = (profile.id, count)
    if key not in _VALUE_MAPS:
        references = profile.value_maps.get(count)
        _VALUE_MAPS[key] = (
            None
            if references is None
            else tuple(None if r is None else layouts.obis_bytes(r) for r in references)
        )
    return _VALUE_MAPS[key]


def meter_id(
    identities: dict[str, str], profile: MeterProfile, system_title: bytes | None
) -> tuple[str, str]:
    """The meter id and the CH-SMR field it stands for.

    The profile lists the candidate objects by preference. For L&G/Iskra that is 0-0:96.1.1
    (equipment identifier, e.g. "1909113") when pushed, else 0-0:42.0.0 (logical device
    name, "LGZ1030653520967"), else 0-0:96.1.0 (device id of Austrian/Nordic lists). For
    Kamstrup it is the meter number 1-1:0.0.5 (their 96.1.1 is the meter type). Anything
    but the logical device name is published as the equipment identifier 96.1.1. Without
    any, the system title of a ciphered push stands in.
    """
    for code in profile.id_codes:
        text = identities.get(code)
        if text:
            return text, "42.0.0" if code == "42.0.0" else "96.1.1"
    if system_title is not None:
        return system_title[:3].decode("latin-1") + system_title[3:].hex().upper(), "96.1.1"
    return "", "96.1.1"


def manufacturer(
    profile: MeterProfile,
    detection: Detection,
    logical_name: str | None,
    system_title: bytes | None,
) -> str | None:
    """From the meter's own names first; a profile only when the meter identified it."""
    for source in (logical_name, system_title[:3].decode("latin-1") if system_title else None):
        if source:
            name = MANUFACTURERS.get(source[:3])
            if name:
                return name
    if detection is Detection.DEFAULT or profile is GENERIC:
        return None
    return profile.manufacturer


def model(profile: MeterProfile, detection: Detection, identities: dict[str, str]) -> str | None:
    """The meter type the push names (Kamstrup 1-1:96.1.1, Kaifa 96.1.7), else the profile's."""
    meter_type = identities.get(profile.model_code or MODEL_CODE)
    if meter_type:
        return meter_type
    if detection is Detection.DEFAULT:
        return None
    return profile.model
