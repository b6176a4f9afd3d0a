"""The simulated DLMS/COSEM push meter models, as data: L&G E450, E360, Iskra AM550,
Kamstrup Omnipower.

Each :class:`DlmsMeterModel` gives its push layout, the capture objects in the order the
real meter sends them (with A-XDR type and raw unit), its header time habits and its link
layer; :mod:`.dlms_meters` turns a model and the household's state into pushes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final, Protocol

from ..model import SerialSettings, Standard
from .dlms_encoder import ClockStatus, CosemDateTime, DataTag, obis_bytes
from .dlms_link import HdlcLink, Segmentation, hdlc_address, mbus_long_frames

# Raw units, in CH-SMR units per raw count.
WH: Final = Decimal("0.001")  # Wh -> kWh, W -> kW, varh -> kvarh, var -> kvar
TEN_WH: Final = Decimal("0.01")  # Kamstrup energy registers count 10 Wh
VOLT: Final = Decimal(1)
DECIVOLT: Final = Decimal("0.1")
CENTIAMP: Final = Decimal("0.01")


# --------------------------------------------------------------------------------------------
# What a model sends
# --------------------------------------------------------------------------------------------


class ObjectKind(StrEnum):
    """What a capture object of a push carries."""

    PUSH_OBJECT_LIST = "push_object_list"  # the push setup's attribute 2: the definitions
    PUSH_SETUP_NAME = "push_setup_name"  # the push setup's attribute 1: its logical name
    LOGICAL_DEVICE_NAME = "logical_device_name"  # 0-0:42.0.0, e.g. "LGZ1030653520967"
    EQUIPMENT_ID = "equipment_id"  # 0-0:96.1.1 (E450), e.g. "1909113"
    METER_NUMBER = "meter_number"  # Kamstrup 1-1:0.0.5 (GS1 number)
    METER_TYPE = "meter_type"  # Kamstrup 1-1:96.1.1 (the type, not a serial)
    CLOCK = "clock"  # an octet-string date-time
    REGISTER = "register"  # a number, see CaptureObject.tag / unit


@dataclass(frozen=True, slots=True)
class CaptureObject:
    """One element of a push: which COSEM object, and how its value is encoded.

    For registers, ``unit`` is the CH-SMR value of one raw count (Wh register: 0.001 kWh)
    and ``rounding`` how the meter turns the exact quantity into counts (energy registers
    are truncated like a display, instantaneous values rounded).
    """

    kind: ObjectKind
    obis: str  # "1-1:1.8.0" as the meter names it (F = 255)
    class_id: int = 3
    attribute: int = 2
    tag: DataTag = DataTag.DOUBLE_LONG_UNSIGNED
    unit: Decimal = WH
    rounding: str = ROUND_HALF_UP

    @property
    def code(self) -> str:
        """The partial OBIS code C.D.E, the key of CH-SMR values."""
        raw = obis_bytes(self.obis)
        return f"{raw[2]}.{raw[3]}.{raw[4]}"


def _register(
    obis: str, tag: DataTag, unit: Decimal, *, rounding: str = ROUND_HALF_UP
) -> CaptureObject:
    return CaptureObject(ObjectKind.REGISTER, obis, tag=tag, unit=unit, rounding=rounding)


def _energy(obis: str, unit: Decimal = WH) -> CaptureObject:
    return _register(obis, DataTag.DOUBLE_LONG_UNSIGNED, unit, rounding=ROUND_FLOOR)


def _power(obis: str) -> CaptureObject:
    return _register(obis, DataTag.DOUBLE_LONG_UNSIGNED, WH)


def _voltage(obis: str, unit: Decimal) -> CaptureObject:
    return _register(obis, DataTag.LONG_UNSIGNED, unit)


def _current(obis: str, tag: DataTag = DataTag.LONG_UNSIGNED) -> CaptureObject:
    return _register(obis, tag, CENTIAMP)


def _push_setup(obis: str, *, with_name: bool) -> tuple[CaptureObject, ...]:
    # The E450 also pushes the push setup's logical name; the E360 and AM550 do not.
    objects: tuple[CaptureObject, ...] = (
        CaptureObject(ObjectKind.PUSH_OBJECT_LIST, obis, class_id=40, attribute=2),
    )
    if with_name:
        objects += (CaptureObject(ObjectKind.PUSH_SETUP_NAME, obis, class_id=40, attribute=1),)
    return objects


def _data(kind: ObjectKind, obis: str) -> CaptureObject:
    return CaptureObject(kind, obis, class_id=1)


def _clock(obis: str) -> CaptureObject:
    return CaptureObject(ObjectKind.CLOCK, obis, class_id=8)


@dataclass(frozen=True, slots=True)
class TimeStyle:
    """How a meter writes a date-time.

    ``status=None`` derives "daylight saving active" from the zone; ``extra_status`` adds
    bits (the E450 clock object says 0x81 in summer).
    """

    deviation: bool
    hundredths: bool
    status: int | None = None
    extra_status: int = 0

    def encode(self, moment: datetime) -> CosemDateTime:
        """The date-time of ``moment`` (aware) in this style."""
        return CosemDateTime.from_datetime(
            moment,
            with_deviation=self.deviation,
            with_hundredths=self.hundredths,
            clock_status=self.status,
            extra_status=self.extra_status,
        )


class Layout(StrEnum):
    """The two push body layouts."""

    PUSH_OBJECT_LIST = "push-object-list"  # layout A
    OBIS_VALUE_PAIRS = "obis-value-pairs"  # layout B (Kamstrup)


class Link(Protocol):
    """A link layer: an APDU in, the frames that carry it out."""

    def frames(self, apdu: bytes) -> list[bytes]:
        """The frames of one APDU, in the order they are sent."""


@dataclass(frozen=True, slots=True)
class MbusLink:
    """Wired M-Bus long frames (the Austrian Kaifa/Sagemcom pattern), for decoder tests."""

    max_segment: int = 250

    def frames(self, apdu: bytes) -> list[bytes]:
        """The long frames of one APDU."""
        return mbus_long_frames(apdu, max_segment=self.max_segment)


@dataclass(frozen=True, slots=True)
class DlmsMeterModel:
    """A push meter as data.

    ``objects`` is the push list of the 10-second (or only) push, ``hourly_objects`` the
    Kamstrup hourly list. ``system_title_prefix`` holds the FLAG id and one more byte of
    the 8-byte system title. ``id_kind`` says which object names the meter in a reading.
    ``invoke_id_step`` is 0 for meters that always send invoke id 0 (Kamstrup).
    ``ciphered_link`` replaces ``link`` when frames are encrypted (Danish Kamstrup meters
    use other HDLC addresses).
    """

    id: str
    title: str
    standard: Standard
    manufacturer: str
    model: str
    layout: Layout
    objects: tuple[CaptureObject, ...]
    link: Link
    serial: SerialSettings
    interval: float
    header_time: TimeStyle
    clock_time: TimeStyle
    system_title_prefix: bytes
    id_kind: ObjectKind
    list_id: str | None = None
    hourly_objects: tuple[CaptureObject, ...] = ()
    invoke_id_step: int = 1
    ciphered_link: Link | None = None
    # Kamstrup single-phase meters keep the three-phase shape and send null-data for the
    # OBIS code and value of every absent phase.
    single_phase: bool = False

    @property
    def register_codes(self) -> tuple[str, ...]:
        """The CH-SMR codes of every register of the model (all lists)."""
        codes: dict[str, None] = {}
        for item in (*self.objects, *self.hourly_objects):
            if item.kind is ObjectKind.REGISTER:
                codes[item.code] = None
        return tuple(codes)


_E450_CURRENTS = (_current("1-0:31.7.0"), _current("1-0:51.7.0"), _current("1-0:71.7.0"))
_A_ENERGIES = tuple(_energy(f"1-1:{c}.8.0") for c in (1, 2, 3, 4))

LG_E450: Final = DlmsMeterModel(
    id="lg-e450",
    title="Landis+Gyr E450 CII (M-Bus physical layer, HDLC, general-block-transfer)",
    standard=Standard.LG_MBUS,
    manufacturer="Landis+Gyr",
    model="E450",
    layout=Layout.PUSH_OBJECT_LIST,
    objects=(
        *_push_setup("0-8:25.9.0", with_name=True),
        _data(ObjectKind.LOGICAL_DEVICE_NAME, "0-0:42.0.0"),
        _data(ObjectKind.EQUIPMENT_ID, "0-0:96.1.1"),
        _clock("0-0:1.0.0"),
        *_A_ENERGIES,
        _power("1-0:1.7.0"),
        _power("1-0:2.7.0"),
        _voltage("1-0:32.7.0", VOLT),
        _voltage("1-0:52.7.0", VOLT),
        _voltage("1-0:72.7.0", VOLT),
        *_E450_CURRENTS,
    ),
    link=HdlcLink(
        destination=hdlc_address(0x67, 0x7F),  # CE FF
        source=hdlc_address(0x01),  # 03
        segmentation=Segmentation.GENERAL_BLOCK_TRANSFER,
        segment_size=129,
    ),
    serial=SerialSettings(2400, 8, "E", 1),
    interval=5.0,
    header_time=TimeStyle(deviation=False, hundredths=False, status=ClockStatus.OK),
    clock_time=TimeStyle(deviation=False, hundredths=False, extra_status=ClockStatus.INVALID_VALUE),
    system_title_prefix=b"LGZg",
    id_kind=ObjectKind.EQUIPMENT_ID,
)

# The same meter configured for M-Bus long frames (not seen in Switzerland, see the
# protocol notes): the decoder must recognise 0x68 as well as 0x7E.
LG_E450_MBUS: Final = replace(
    LG_E450, id="lg-e450-mbus", title="Landis+Gyr E450 with M-Bus long frames", link=MbusLink()
)

_P1_TIME = TimeStyle(deviation=True, hundredths=True)

LG_E360: Final = DlmsMeterModel(
    id="lg-e360",
    title="Landis+Gyr E360 P1 DLMS (one long HDLC frame)",
    standard=Standard.P1_DLMS,
    manufacturer="Landis+Gyr",
    model="E360",
    layout=Layout.PUSH_OBJECT_LIST,
    objects=(
        *_push_setup("0-6:25.9.0", with_name=False),
        _data(ObjectKind.LOGICAL_DEVICE_NAME, "0-0:42.0.0"),
        *_A_ENERGIES,
        _power("1-0:1.7.0"),
        _power("1-0:2.7.0"),
        # The E360 lists L3 before L2.
        _voltage("1-0:32.7.0", DECIVOLT),
        _voltage("1-0:72.7.0", DECIVOLT),
        _voltage("1-0:52.7.0", DECIVOLT),
        *_E450_CURRENTS,
    ),
    link=HdlcLink(destination=hdlc_address(0x67), source=hdlc_address(0x01)),  # CF / 03
    serial=SerialSettings(9600, 8, "N", 1),
    interval=10.0,
    header_time=_P1_TIME,
    clock_time=_P1_TIME,
    system_title_prefix=b"LGZg",
    id_kind=ObjectKind.LOGICAL_DEVICE_NAME,
)

ISKRA_AM550: Final = DlmsMeterModel(
    id="iskra-am550",
    title="Iskraemeco AM550 P1 DLMS (HDLC segmentation)",
    standard=Standard.P1_DLMS,
    manufacturer="Iskraemeco",
    model="AM550",
    layout=Layout.PUSH_OBJECT_LIST,
    objects=(
        *_push_setup("0-6:25.9.0", with_name=False),
        _data(ObjectKind.LOGICAL_DEVICE_NAME, "0-0:42.0.0"),
        *_A_ENERGIES,
        _power("1-1:1.7.0"),
        _power("1-1:2.7.0"),
        _voltage("1-0:32.7.0", DECIVOLT),
        _voltage("1-0:52.7.0", DECIVOLT),
        _voltage("1-0:72.7.0", DECIVOLT),
        *_E450_CURRENTS,
    ),
    link=HdlcLink(
        destination=hdlc_address(0x67),  # CF
        source=hdlc_address(0x01, 0x11),  # 02 23
        segmentation=Segmentation.HDLC_S_BIT,
        segment_size=154,
    ),
    serial=SerialSettings(115200, 8, "N", 1),
    interval=5.0,
    header_time=_P1_TIME,
    clock_time=_P1_TIME,
    system_title_prefix=b"ISKi",
    id_kind=ObjectKind.LOGICAL_DEVICE_NAME,
)

_KAMSTRUP_INSTANT = (
    _power("1-1:1.7.0"),
    _power("1-1:2.7.0"),
    _power("1-1:3.7.0"),
    _power("1-1:4.7.0"),
    _current("1-1:31.7.0", DataTag.DOUBLE_LONG_UNSIGNED),
    _current("1-1:51.7.0", DataTag.DOUBLE_LONG_UNSIGNED),
    _current("1-1:71.7.0", DataTag.DOUBLE_LONG_UNSIGNED),
    _voltage("1-1:32.7.0", VOLT),
    _voltage("1-1:52.7.0", VOLT),
    _voltage("1-1:72.7.0", VOLT),
)
_KAMSTRUP_IDS = (
    _data(ObjectKind.METER_NUMBER, "1-1:0.0.5"),
    _data(ObjectKind.METER_TYPE, "1-1:96.1.1"),
)
_KAMSTRUP_TIME = TimeStyle(deviation=False, hundredths=False, status=ClockStatus.OK)

KAMSTRUP_OMNIPOWER: Final = DlmsMeterModel(
    id="kamstrup-omnipower",
    title="Kamstrup OMNIPOWER HAN (Kamstrup_V0001 list)",
    standard=Standard.KAMSTRUP_DLMS,
    manufacturer="Kamstrup",
    model="OMNIPOWER",
    layout=Layout.OBIS_VALUE_PAIRS,
    list_id="Kamstrup_V0001",
    objects=(*_KAMSTRUP_IDS, *_KAMSTRUP_INSTANT),
    hourly_objects=(
        *_KAMSTRUP_IDS,
        *_KAMSTRUP_INSTANT,
        _clock("0-1:1.0.0"),
        *(_energy(f"1-1:{c}.8.0", TEN_WH) for c in (1, 2, 3, 4)),
    ),
    link=HdlcLink(destination=hdlc_address(0x15), source=hdlc_address(0x10)),  # 2B / 21
    ciphered_link=HdlcLink(destination=hdlc_address(0x20), source=hdlc_address(0x01)),  # 41 / 03
    serial=SerialSettings(2400, 8, "N", 1),
    interval=10.0,
    header_time=_KAMSTRUP_TIME,
    clock_time=_KAMSTRUP_TIME,
    system_title_prefix=b"KAME",
    id_kind=ObjectKind.METER_NUMBER,
    invoke_id_step=0,
)

KAMSTRUP_OMNIPOWER_1PH: Final = replace(
    KAMSTRUP_OMNIPOWER,
    id="kamstrup-omnipower-1ph",
    title="Kamstrup OMNIPOWER single-phase HAN",
    single_phase=True,
)

MODELS: Final[dict[str, DlmsMeterModel]] = {
    model.id: model
    for model in (
        LG_E450,
        LG_E450_MBUS,
        LG_E360,
        ISKRA_AM550,
        KAMSTRUP_OMNIPOWER,
        KAMSTRUP_OMNIPOWER_1PH,
    )
}

# Phase-dependent registers a single-phase meter leaves out (C of L2 and L3).
L2_L3_GROUPS: Final = frozenset({41, 42, 43, 44, 51, 52, 61, 62, 63, 64, 71, 72})
