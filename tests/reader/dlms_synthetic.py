"""Synthetic DLMS pushes for the decoder tests, built with the simulators' encoder.

The encoder (``reader/simulate/dlms_encoder.py``) shares no code with the decoders, so a
push built here and decoded by the library checks both sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.simulate import dlms_link as link
from custom_components.ch_smart_meter.reader.spec import SWISS_TIME

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLE_LGZ = b"LGZ" + bytes.fromhex("6773781FD0")
TITLE_KAM = b"KAM" + bytes.fromhex("45020C84FD")
MOMENT = datetime(2025, 6, 27, 14, 5, 10, tzinfo=SWISS_TIME)
E450_DESTINATION = link.hdlc_address(0x67, 0x7F)
E450_SOURCE = link.hdlc_address(1)


def header_time(moment: datetime = MOMENT, *, deviation: bool = False) -> enc.CosemDateTime:
    """The header date-time; by default without deviation, as the E450 sends it."""
    return enc.CosemDateTime.from_datetime(moment, with_deviation=deviation, with_hundredths=False)


def obis_value_body(pairs: Mapping[str, bytes], *, list_id: str | None = "Kamstrup_V0001") -> bytes:
    """Layout B: ``structure{list id, OBIS, value, OBIS, value, ...}``."""
    items = [enc.visible_string(list_id)] if list_id is not None else []
    for reference, value in pairs.items():
        items += [enc.obis_code(reference), value]
    return enc.structure(items)


def push_object_list_body(objects: Sequence[tuple[int, str, int, bytes]]) -> bytes:
    """Layout A: the push setup's object list, then the values, in order.

    ``objects``: (class id, OBIS reference, attribute, encoded value); the push setup
    itself (0-8:25.9.0, class 40, attribute 2) is put first automatically.
    """
    push_setup = (40, "0-8:25.9.0", 2)
    definitions = [push_setup] + [(c, o, a) for c, o, a, _ in objects]
    object_list = enc.array(
        enc.structure([enc.uint16(c), enc.obis_code(o), enc.int8(a), enc.uint16(0)])
        for c, o, a in definitions
    )
    return enc.structure([object_list, *(value for *_, value in objects)])


def e450_body(
    *,
    logical_name: str = "LGZ1030653520967",
    equipment_id: str = "1909113",
    energy_wh: int = 482939,
    power_w: int = 28,
    volts: Sequence[int] = (236, 236, 0),
    centiamps: Sequence[int] = (9, 8, 0),
) -> bytes:
    """An E450 2026-VSE-style push body (raw values as the meter sends them)."""
    objects: list[tuple[int, str, int, bytes]] = [
        (1, "0-0:42.0.0", 2, enc.octet_string(logical_name.encode())),
        (1, "0-0:96.1.1", 2, enc.octet_string(equipment_id.encode())),
        (3, "1-1:1.8.0", 2, enc.uint32(energy_wh)),
        (3, "1-0:1.7.0", 2, enc.uint32(power_w)),
    ]
    for code, value in zip(("32", "52", "72"), volts, strict=True):
        objects.append((3, f"1-0:{code}.7.0", 2, enc.uint16(value)))
    for code, value in zip(("31", "51", "71"), centiamps, strict=True):
        objects.append((3, f"1-0:{code}.7.0", 2, enc.uint16(value)))
    return push_object_list_body(objects)


def notification(
    body: bytes, *, time: enc.CosemDateTime | None = None, invoke_id: int = 1
) -> bytes:
    """A data-notification APDU around ``body`` (header time: :func:`header_time`)."""
    return enc.data_notification(body, invoke_id=invoke_id, date_time=time or header_time())


def cipher(
    apdu: bytes,
    *,
    counter: int,
    title: bytes = TITLE_LGZ,
    security_control: int = enc.SecurityControl.AUTHENTICATED_AND_ENCRYPTED,
    key: bytes = EK,
    auth_key: bytes | None = AK,
) -> bytes:
    """general-glo-ciphering around ``apdu``."""
    return enc.general_glo_ciphering(
        apdu,
        system_title=title,
        invocation_counter=counter,
        encryption_key=key,
        authentication_key=auth_key,
        security_control=security_control,
    )


def hdlc(apdu: bytes, *, segmentation: str = "single", segment_size: int = 128) -> bytes:
    """The HDLC frames of ``apdu`` (LLC header on the first), concatenated."""
    meter_link = link.HdlcLink(
        E450_DESTINATION, E450_SOURCE, link.Segmentation(segmentation), segment_size
    )
    return link.concatenate(meter_link.frames(apdu))


def hdlc_frames(apdu: bytes, *, segmentation: str = "gbt", segment_size: int = 64) -> list[bytes]:
    """The HDLC frames of ``apdu`` one by one."""
    meter_link = link.HdlcLink(
        E450_DESTINATION, E450_SOURCE, link.Segmentation(segmentation), segment_size
    )
    return meter_link.frames(apdu)


def mbus(apdu: bytes, *, max_segment: int = 240) -> list[bytes]:
    """The wired M-Bus long frames of ``apdu``."""
    return link.mbus_long_frames(apdu, max_segment=max_segment)
