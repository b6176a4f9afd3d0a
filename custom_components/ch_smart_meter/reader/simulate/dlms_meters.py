"""Simulated DLMS/COSEM push meters: L&G E450, L&G E360, Iskra AM550, Kamstrup Omnipower.

Each meter model is data (:mod:`.dlms_models`): its push layout, the capture objects
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
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from ..model import Standard
from .dlms_encoder import (
    SecurityControl,
    array,
    data_notification,
    date_time_octet_string,
    general_glo_ciphering,
    int8,
    integer,
    null_data,
    obis_code,
    octet_string,
    structure,
    uint16,
    visible_string,
)
from .dlms_models import (
    L2_L3_GROUPS,
    MODELS,
    CaptureObject,
    DlmsMeterModel,
    Layout,
    ObjectKind,
    TimeStyle,
)
from .household import HouseholdModel, MeterState
from .source import SourceOptions

SWISS_TIME: Final = ZoneInfo("Europe/Zurich")

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
        and int(item.code.split(".")[0]) in L2_L3_GROUPS
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


def create_standard_source(standard: Standard, options: SourceOptions) -> DlmsSource:
    """The simulated meter of a DLMS standard; ``options.model`` picks another model of it."""
    return create_dlms_source(
        select_model(standard, options.model),
        seed=options.seed,
        key=options.key,
        authentication_key=options.authentication_key,
    )


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
