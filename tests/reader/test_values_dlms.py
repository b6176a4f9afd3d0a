"""M-Bus sub-meters, the tariff and the counters in DLMS pushes.

The real capture is the L&G E450 push of wired M-Bus sub-meter registers
(../shared/testdata/dlms_lg, MANIFEST: 0-1:96.1.0 = 24521662, 0-1:24.2.1 = 30545 raw,
channels 0-2..4 empty; read in place). The other pushes are built with the simulators'
encoder, which shares no code with the decoder.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from custom_components.ch_smart_meter.reader.model import (
    Reading,
    Standard,
    SubMeterKind,
    SubMeterReading,
)
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec
from tests.conftest import testdata_dir as capture_folder
from tests.reader.dlms_synthetic import (
    MOMENT,
    e450_body,
    hdlc,
    notification,
    obis_value_body,
    push_object_list_body,
)

SUMMER = timezone(timedelta(hours=2))
EXTENDED = "scs__lg_e450_plain_2024_mbus_extended_registers.hex"
VSE_2026 = "scs__lg_e450_plain_vse2026.hex"


def _capture(name: str) -> bytes:
    text = (capture_folder("dlms_lg") / name).read_text()
    return b"".join(bytes.fromhex(line) for line in text.split())


def _decode(*chunks: bytes, standard: Standard = Standard.LG_MBUS, **options: object) -> list:
    decoder = get_spec(standard).create_decoder(DecoderOptions(**options))  # type: ignore[arg-type]
    results = [result for chunk in chunks for result in decoder.feed(chunk)]
    return results + decoder.flush()


WATER_METER = SubMeterReading(
    channel=1,
    kind=SubMeterKind.UNKNOWN,  # the push names no device type
    value=30.545,  # raw 30545 in litres: the E450 profile's assumption (see profiles.py)
    unit="m³",
    timestamp=datetime(2024, 6, 11, 16, 0, tzinfo=SUMMER),  # no capture time: the push's
    meter_id="24521662",
    device_type=None,
    code="24.2.1",
)


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["one-chunk", "byte-by-byte"])
def test_the_e450_sub_meter_push(byte_by_byte: bool) -> None:
    """One reading without electricity values: channel 1's value, channels 2-4 (empty ids,
    value 0) are no readings."""
    data = _capture(EXTENDED)
    chunks = [data[i : i + 1] for i in range(len(data))] if byte_by_byte else [data]
    (reading,) = _decode(*chunks)
    assert isinstance(reading, Reading)
    assert reading.values == {}
    assert reading.submeters == (WATER_METER,)
    assert reading.submeters[0].timestamp.isoformat() == "2024-06-11T16:00:00+02:00"
    assert reading.meter_id == ""  # the push names no meter, and none came before


def test_a_sub_meter_push_belongs_to_the_meter_of_the_stream() -> None:
    """After a push that named the meter, a sub-meter push that names none is its reading."""
    first, second = _decode(_capture(VSE_2026), _capture(EXTENDED))
    assert (first.meter_id, first.id_obis) == ("1909113", "96.1.1")
    assert first.submeters == ()
    assert (second.meter_id, second.id_obis) == ("1909113", "96.1.1")
    assert second.submeters == (WATER_METER,)


def test_without_a_profile_scale_the_raw_number_has_no_unit() -> None:
    """The generic profile (P1 DLMS) knows no sub-meter scaling: raw number, no unit."""
    (reading,) = _decode(_capture(EXTENDED), standard=Standard.P1_DLMS)
    (submeter,) = reading.submeters
    assert (submeter.value, submeter.unit) == (30545.0, None)


def _mbus_objects(
    channel: int,
    *,
    device_type: int | None,
    meter_id: bytes,
    raw: int,
    scaler_unit: tuple[int, int] | None = None,
    captured: datetime | None = None,
) -> list[tuple[int, str, int, bytes]]:
    """The push-list objects of one M-Bus channel: client (device type), id, value."""
    objects = []
    if device_type is not None:
        objects.append((72, f"0-{channel}:24.1.0", 9, enc.uint8(device_type)))
    objects.append((1, f"0-{channel}:96.1.0", 2, enc.octet_string(meter_id)))
    objects.append((4, f"0-{channel}:24.2.1", 2, enc.uint32(raw)))
    if scaler_unit is not None:
        scaler, unit = scaler_unit
        objects.append(
            (4, f"0-{channel}:24.2.1", 3, enc.structure([enc.int8(scaler), enc.enum(unit)]))
        )
    if captured is not None:
        stamp = enc.CosemDateTime.from_datetime(captured, with_deviation=True)
        objects.append((4, f"0-{channel}:24.2.1", 5, enc.date_time_octet_string(stamp)))
    return objects


def test_scaler_unit_capture_time_and_device_type_from_the_push() -> None:
    """A push that carries the register's scaler-unit, its capture time and the M-Bus
    client's device type: those win over the profile and the push time."""
    gas_time = datetime(2025, 6, 27, 14, 0, tzinfo=SUMMER)
    objects = [
        (1, "0-0:96.1.1", 2, enc.octet_string(b"1909113")),
        (3, "1-0:1.7.0", 2, enc.uint32(28)),
        (1, "0-0:96.14.0", 2, enc.octet_string(b"0002")),
        (1, "0-0:96.7.21", 2, enc.uint16(12)),
        (3, "1-0:32.32.0", 2, enc.uint16(3)),
        *_mbus_objects(
            1,
            device_type=3,
            meter_id=b"G1234",
            raw=1234567,
            scaler_unit=(-2, 13),
            captured=gas_time,
        ),
        *_mbus_objects(2, device_type=7, meter_id=b"W42", raw=98765, scaler_unit=(0, 19)),
        *_mbus_objects(3, device_type=4, meter_id=b"H7", raw=5, scaler_unit=(9, 25)),
        *_mbus_objects(4, device_type=None, meter_id=b"", raw=0),
    ]
    push = hdlc(notification(push_object_list_body(objects)))
    (reading,) = _decode(push)
    assert reading.values == {"1.7.0": 0.028, "96.14.0": 2.0, "96.7.21": 12.0, "32.32.0": 3.0}
    pushed_at = MOMENT
    assert reading.submeters == (
        SubMeterReading(1, SubMeterKind.GAS, 12345.67, "m³", gas_time, "G1234", 3),
        SubMeterReading(2, SubMeterKind.WATER, 98.765, "m³", pushed_at, "W42", 7),
        SubMeterReading(3, SubMeterKind.HEAT, 5.0, "GJ", pushed_at, "H7", 4),
    )
    assert reading.submeters[0].timestamp.isoformat() == "2025-06-27T14:00:00+02:00"


def test_obis_value_lists_carry_sub_meters_too() -> None:
    """Layout B (OBIS, value pairs), e.g. an Austrian list with a gas meter on channel 1:
    a plain 0-1:24.1.0 value is the device type."""
    body = obis_value_body(
        {
            "0-0:96.1.0": enc.octet_string(b"30137181"),
            "1-0:1.7.0": enc.uint32(400),
            "0-1:24.1.0": enc.uint8(3),
            "0-1:96.1.0": enc.octet_string(b"G7"),
            "0-1:24.2.1": enc.uint32(1500),
        },
        list_id=None,
    )
    (reading,) = _decode(hdlc(notification(body)))
    assert reading.values["1.7.0"] == 0.4
    (gas,) = reading.submeters
    # The E450 profile (default on this standard) reads litres as m³.
    assert (gas.kind, gas.value, gas.unit, gas.meter_id) == (SubMeterKind.GAS, 1.5, "m³", "G7")


def test_electricity_pushes_have_no_sub_meters() -> None:
    (reading,) = _decode(hdlc(notification(e450_body())))
    assert reading.submeters == () and reading.text == {} and reading.events == ()
