"""Simulated DLMS/COSEM push meters: L&G E450, L&G E360, Iskra AM550, Kamstrup Omnipower.

Each meter model is data (:class:`DlmsMeterModel`): its push layout, the capture objects
in the order the real meter sends them (with A-XDR type and raw unit), its header time
habits and its link layer. Two layouts exist:

* push-object-list first (layout A, L&G E450/E360, Iskra AM550 in the 2026 VSE
  configuration): ``structure{ definitions array, push setup name, values... }``;
* OBIS/value pairs (layout B, Kamstrup ``Kamstrup_V0001``): ``structure{ list id,
  OBIS, value, OBIS, value, ... }``; a 10-second list and an hourly list with energies.

A :class:`SimulatedDlmsMeter` turns the household model's :class:`MeterState` (or raw
register values given by a test) into a :class:`SimulatedPush`: the frames on the wire, the
plaintext data-notification, and the reading a correct decoder must produce (values in
CH-SMR units, exactly, as ``Decimal``). Encoding only uses :mod:`.dlms_encoder`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from ..model import SerialSettings, Standard
from .dlms_encoder import (
    ClockStatus,
    CosemDateTime,
    DataTag,
    HdlcLink,
    SecurityControl,
    Segmentation,
    array,
    data_notification,
    date_time_octet_string,
    general_glo_ciphering,
    hdlc_address,
    int8,
    integer,
    mbus_long_frames,
    null_data,
    obis_bytes,
    obis_code,
    octet_string,
    structure,
    uint16,
    visible_string,
)
from .household import HouseholdModel, MeterState

SWISS_TIME: Final = ZoneInfo("Europe/Zurich")

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
_L2_L3_GROUPS: Final = frozenset({41, 42, 43, 44, 51, 52, 61, 62, 63, 64, 71, 72})


# --------------------------------------------------------------------------------------------
# Push bodies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    """The names a meter sends about itself."""

    logical_device_name: str  # 0-0:42.0.0, "LGZ1030653520967"
    equipment_id: str  # 0-0:96.1.1 (E450) or Kamstrup meter number 1-1:0.0.5
    meter_type: str = ""  # Kamstrup 1-1:96.1.1, e.g. "6841131BN243101040"

    def text(self, kind: ObjectKind) -> str:
        """The text of an identity object."""
        match kind:
            case ObjectKind.LOGICAL_DEVICE_NAME:
                return self.logical_device_name
            case ObjectKind.EQUIPMENT_ID | ObjectKind.METER_NUMBER:
                return self.equipment_id
            case ObjectKind.METER_TYPE:
                return self.meter_type
        raise ValueError(f"{kind} is not an identity")


def _definition(item: CaptureObject) -> bytes:
    # structure{ class_id uint16, logical_name octet-string(6), attribute_index int8,
    # data_index uint16 }
    return structure((uint16(item.class_id), obis_code(item.obis), int8(item.attribute), uint16(0)))


def _is_absent_phase(model: DlmsMeterModel, item: CaptureObject) -> bool:
    return (
        model.single_phase
        and item.kind is ObjectKind.REGISTER
        and int(item.code.split(".")[0]) in _L2_L3_GROUPS
    )


def raw_counts(objects: Sequence[CaptureObject], values: Mapping[str, Decimal]) -> dict[str, int]:
    """The integer counts a meter sends for CH-SMR ``values`` (by C.D.E code)."""
    counts = {}
    for item in objects:
        if item.kind is ObjectKind.REGISTER:
            quotient = (values[item.code] / item.unit).quantize(Decimal(1), rounding=item.rounding)
            counts[item.code] = int(quotient)
    return counts


def encode_body(
    model: DlmsMeterModel,
    objects: Sequence[CaptureObject],
    counts: Mapping[str, int],
    identity: Identity,
    clock: datetime,
) -> bytes:
    """The notification body of ``model`` for raw register ``counts``."""
    if model.layout is Layout.PUSH_OBJECT_LIST:
        elements = [
            _value(model, item, counts=counts, identity=identity, clock=clock, objects=objects)
            for item in objects
        ]
        return structure(elements)
    assert model.list_id is not None
    elements = [visible_string(model.list_id)]
    for item in objects:
        if _is_absent_phase(model, item):
            elements += [null_data(), null_data()]
        else:
            elements += [
                obis_code(item.obis),
                _value(model, item, counts=counts, identity=identity, clock=clock, objects=objects),
            ]
    return structure(elements)


def _value(
    model: DlmsMeterModel,
    item: CaptureObject,
    *,
    counts: Mapping[str, int],
    identity: Identity,
    clock: datetime,
    objects: Sequence[CaptureObject],
) -> bytes:
    match item.kind:
        case ObjectKind.PUSH_OBJECT_LIST:
            return array(_definition(entry) for entry in objects)
        case ObjectKind.PUSH_SETUP_NAME:
            return obis_code(item.obis)
        case ObjectKind.CLOCK:
            return date_time_octet_string(model.clock_time.encode(clock))
        case ObjectKind.REGISTER:
            return integer(item.tag, counts[item.code])
        case ObjectKind.METER_NUMBER | ObjectKind.METER_TYPE:
            return visible_string(identity.text(item.kind))  # Kamstrup: visible-strings
        case _:
            return octet_string(identity.text(item.kind).encode("ascii"))


# --------------------------------------------------------------------------------------------
# A simulated meter
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ciphering:
    """How a simulated meter protects its pushes (general-glo-ciphering, AES-128-GCM).

    Without an authentication key the meter encrypts only (SC 0x20, like the E570); with
    one it authenticates and encrypts (SC 0x30, like the E450 and Danish Kamstrup meters).
    """

    encryption_key: bytes
    authentication_key: bytes | None = None
    security_control: int | None = None

    @property
    def control(self) -> int:
        """The security control byte the meter uses."""
        if self.security_control is not None:
            return self.security_control
        if self.authentication_key is None:
            return SecurityControl.ENCRYPTED
        return SecurityControl.AUTHENTICATED_AND_ENCRYPTED

    def __repr__(self) -> str:  # keys never appear in logs or test output
        return f"Ciphering(security_control=0x{self.control:02X})"


@dataclass(frozen=True, slots=True)
class SimulatedPush:
    """One push: the frames on the wire and what a correct decoder reads from them."""

    frames: tuple[bytes, ...]
    notification: bytes  # the plaintext data-notification APDU (0x0F ...)
    apdu: bytes  # what the link layer carries: the notification or its ciphered form
    timestamp: datetime  # aware, as a decoder must report it
    meter_id: str
    id_obis: str  # the CH-SMR id field: "96.1.1" or "42.0.0"
    values: Mapping[str, Decimal]  # exact CH-SMR values by C.D.E code
    counts: Mapping[str, int]  # the raw integers in the frame
    hourly: bool = False
    invocation_counter: int | None = None

    @property
    def wire(self) -> bytes:
        """The bytes of all frames, back to back."""
        return b"".join(self.frames)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def identity_for(model: DlmsMeterModel, seed: int) -> Identity:
    """Stable, seed-dependent names in the formats the real meters use."""
    rng = random.Random(f"{seed}/{model.id}/identity")
    flag = model.system_title_prefix[:3].decode("ascii")
    if model.layout is Layout.OBIS_VALUE_PAIRS:
        number = "5706567" + _digits(rng, 9)  # GS1 meter number
        meter_type = "6861111BN242101040" if model.single_phase else "6841131BN243101040"
        return Identity(logical_device_name="", equipment_id=number, meter_type=meter_type)
    return Identity(
        logical_device_name=f"{flag}10306" + _digits(rng, 8),
        equipment_id=str(rng.randrange(1_000_000, 9_999_999)),
    )


# The CH-SMR field that carries the meter id: the Kamstrup meter number (1-1:0.0.5) is the
# meter's identity, so it goes where CH-SMR expects one (96.1.1).
_ID_OBIS: Final = {
    ObjectKind.EQUIPMENT_ID: "96.1.1",
    ObjectKind.LOGICAL_DEVICE_NAME: "42.0.0",
    ObjectKind.METER_NUMBER: "96.1.1",
}


@dataclass(slots=True)
class SimulatedDlmsMeter:
    """A meter of ``model`` behind the household of ``seed``, optionally ciphering.

    :meth:`push_at` steps the household model and returns the push of that instant;
    :meth:`push_counts` builds a push from raw register counts (tests, golden frames).
    """

    model: DlmsMeterModel
    seed: int = 1
    ciphering: Ciphering | None = None
    identity: Identity = field(init=False)
    system_title: bytes = field(init=False)
    invoke_id: int = field(init=False)
    invocation_counter: int = field(init=False)
    household: HouseholdModel = field(init=False)
    _last_hour: datetime | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        rng = random.Random(f"{self.seed}/{self.model.id}/counters")
        self.identity = identity_for(self.model, self.seed)
        self.system_title = self.model.system_title_prefix + rng.randbytes(
            8 - len(self.model.system_title_prefix)
        )
        self.invoke_id = rng.randrange(1, 0x00FF_0000) if self.model.invoke_id_step else 0
        self.invocation_counter = rng.randrange(1, 2**24)
        self.household = HouseholdModel(self.seed)

    def _is_hourly(self, moment: datetime) -> bool:
        """Kamstrup sends the hourly list with the first push of every hour."""
        if not self.model.hourly_objects:
            return False
        hour = moment.replace(minute=0, second=0, microsecond=0)
        hourly = self._last_hour is not None and hour > self._last_hour
        if self._last_hour is None or hour > self._last_hour:
            self._last_hour = hour
        return hourly

    def push_at(self, moment: datetime, *, hourly: bool | None = None) -> SimulatedPush:
        """The push at ``moment`` (aware): steps the household model.

        ``hourly`` forces (or suppresses) the Kamstrup hourly list; by default it is sent
        with the first push of each new hour.
        """
        state = self.household.step(moment)
        is_hourly = self._is_hourly(state.timestamp) if hourly is None else hourly
        return self.push_state(state, hourly=is_hourly)

    def push_state(self, state: MeterState, *, hourly: bool = False) -> SimulatedPush:
        """The push of a household state."""
        objects = self._objects(hourly)
        counts = raw_counts(objects, state.values())
        return self.push_counts(counts, state.timestamp, hourly=hourly)

    def _objects(self, hourly: bool) -> tuple[CaptureObject, ...]:
        if hourly and not self.model.hourly_objects:
            raise ValueError(f"{self.model.id} has no hourly list")
        return self.model.hourly_objects if hourly else self.model.objects

    def push_counts(
        self,
        counts: Mapping[str, int],
        moment: datetime,
        *,
        hourly: bool = False,
        clock: datetime | None = None,
    ) -> SimulatedPush:
        """The push carrying raw register ``counts`` (by C.D.E code), sent at ``moment``.

        ``clock`` is the time of the clock object when it differs from the header time (a
        real E450 sometimes reads its clock a second later). Advances the invoke id and the
        invocation counter.
        """
        if moment.tzinfo is None:
            raise ValueError("the push time must be timezone-aware")
        local = moment.astimezone(SWISS_TIME)
        objects = self._objects(hourly)
        body = encode_body(
            self.model, objects, counts, self.identity, (clock or moment).astimezone(SWISS_TIME)
        )
        header = self.model.header_time.encode(local)
        notification = data_notification(body, invoke_id=self.invoke_id, date_time=header)
        self.invoke_id = (self.invoke_id + self.model.invoke_id_step) & 0x00FF_FFFF

        apdu = notification
        counter: int | None = None
        link = self.model.link
        if self.ciphering is not None:
            counter = self.invocation_counter
            apdu = general_glo_ciphering(
                notification,
                system_title=self.system_title,
                invocation_counter=counter,
                encryption_key=self.ciphering.encryption_key,
                authentication_key=self.ciphering.authentication_key,
                security_control=self.ciphering.control,
            )
            self.invocation_counter = (counter + 1) & 0xFFFF_FFFF
            link = self.model.ciphered_link or link

        present = {
            item.code
            for item in objects
            if item.kind is ObjectKind.REGISTER and not _is_absent_phase(self.model, item)
        }
        units = {item.code: item.unit for item in objects if item.kind is ObjectKind.REGISTER}
        values = {code: counts[code] * units[code] for code in units if code in present}
        sent = {code: counts[code] for code in present}
        return SimulatedPush(
            frames=tuple(link.frames(apdu)),
            notification=notification,
            apdu=apdu,
            timestamp=_reported_time(local, self.model.header_time),
            meter_id=self.identity.text(self.model.id_kind),
            id_obis=_ID_OBIS[self.model.id_kind],
            values=values,
            counts=sent,
            hourly=hourly,
            invocation_counter=counter,
        )


def _reported_time(local: datetime, style: TimeStyle) -> datetime:
    """The instant a decoder reads back: the Swiss wall time to the second (or hundredth).

    With the deviation "not specified" the decoder localises the wall time in Swiss time,
    which gives the same instant and offset (except in the repeated hour of October).
    """
    hundredths = local.microsecond // 10_000 * 10_000 if style.hundredths else 0
    return local.replace(microsecond=hundredths)


# --------------------------------------------------------------------------------------------
# The simulator pipeline's frame source
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class DlmsSource:
    """A :class:`SimulatedDlmsMeter` as a frame source of the simulator pipeline."""

    meter: SimulatedDlmsMeter
    last_push: SimulatedPush | None = None

    @property
    def standard(self) -> Standard:
        """The standard the meter model speaks."""
        return self.meter.model.standard

    def frame_at(self, moment: datetime) -> bytes:
        """Every frame of the push at ``moment``, back to back."""
        self.last_push = self.meter.push_at(moment)
        return self.last_push.wire

    def respond(self, request: bytes, moment: datetime) -> bytes:
        """A push meter only talks: requests are ignored."""
        return b""


def models_for(standard: Standard) -> list[DlmsMeterModel]:
    """The simulated models of a standard, its usual one first."""
    return [model for model in MODELS.values() if model.standard is standard]


def select_model(standard: Standard, model_id: str | None) -> DlmsMeterModel:
    """The model ``model_id`` of ``standard`` (``None``: the usual one); ``ValueError``
    names the choices when there is no such model."""
    models = models_for(standard)
    if model_id is None:
        return models[0]
    for model in models:
        if model.id == model_id:
            return model
    choices = ", ".join(model.id for model in models)
    raise ValueError(f"no simulated {standard.value} meter {model_id!r} (choose from {choices})")


def create_dlms_source(
    model: DlmsMeterModel,
    *,
    seed: int = 1,
    key: bytes | None = None,
    authentication_key: bytes | None = None,
) -> DlmsSource:
    """A frame source for ``model``; with ``key`` the pushes are ciphered (SC 0x30 with an
    authentication key, 0x20 without)."""
    ciphering = Ciphering(key, authentication_key) if key is not None else None
    return DlmsSource(SimulatedDlmsMeter(model, seed=seed, ciphering=ciphering))
