"""CH-SMR with the values beyond Tables 1 and 2: status numbers in the meter's message,
one message per sub-meter on its own topic, and decoding back what we publish."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

from custom_components.ch_smart_meter.reader.chsmr import (
    decode_payload,
    encode_payload,
    payload_dict,
    submeter_ids,
    submeter_payloads,
)
from custom_components.ch_smart_meter.reader.cli import main
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.model import (
    PowerFailure,
    Reading,
    SubMeterKind,
    SubMeterReading,
)
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from tests.conftest import testdata_dir as capture_folder

SUMMER = timezone(timedelta(hours=2))
WINTER = timezone(timedelta(hours=1))
NOW = datetime(2026, 1, 15, 8, 0, 1, tzinfo=WINTER)
GAS = SubMeterReading(
    1, SubMeterKind.GAS, 1234.567, "m³", datetime(2026, 1, 15, 8, 0, tzinfo=WINTER), "G0012", 3
)
WATER = SubMeterReading(
    2, SubMeterKind.WATER, 98.765, "m³", datetime(2026, 1, 15, 7, 55, tzinfo=WINTER), "W77", 7
)


def _reading(**fields: object) -> Reading:
    base: dict[str, object] = {
        "timestamp": NOW,
        "meter_id": "E0025",
        "values": {"1.8.0": 12.5, "96.14.0": 2.0, "96.7.21": 4.0, "32.32.0": 1.0},
    }
    return Reading(**(base | fields))  # type: ignore[arg-type]


def test_status_numbers_are_in_the_meter_message_text_and_log_are_not() -> None:
    reading = _reading(
        text={"96.13.0": "Hello"},
        events=(PowerFailure(datetime(2025, 12, 1, 3, 0, tzinfo=WINTER), 240),),
        submeters=(GAS,),
    )
    assert payload_dict(reading) == {
        "meter": {
            "ts": "2026-01-15T08:00:01+01:00",
            "96.1.1": "E0025",
            "1.8.0": 12.5,
            "96.14.0": 2.0,
            "96.7.21": 4.0,
            "32.32.0": 1.0,
        }
    }
    back = decode_payload(encode_payload(reading))
    assert back.values == reading.values and back.submeters == ()


def test_one_message_per_sub_meter_on_its_own_topic() -> None:
    reading = _reading(submeters=(GAS, WATER))
    messages = submeter_payloads(reading, "home/flat 2")
    assert [topic for topic, _ in messages] == ["dt/home/flat 2/G0012/ds", "dt/home/flat 2/W77/ds"]
    assert json.loads(messages[0][1]) == {
        "meter": {"ts": "2026-01-15T08:00:00+01:00", "96.1.1": "G0012", "24.2.1": 1234.567},
        "submeter": {
            "channel": 1,
            "kind": "gas",
            "unit": "m³",
            "device_type": 3,
            "parent": "E0025",
        },
    }
    # The value's own time, not the telegram's; compact JSON, unit spelled as in HA.
    assert messages[1][1] == (
        '{"meter":{"ts":"2026-01-15T07:55:00+01:00","96.1.1":"W77","24.2.1":98.765},'
        '"submeter":{"channel":2,"kind":"water","unit":"m³","device_type":7,"parent":"E0025"}}'
    )
    assert submeter_payloads(_reading(), "home") == []


def test_what_we_publish_decodes_back_to_what_it_was() -> None:
    """A sub-meter message is a reading of its parent meter, without values, holding the
    sub-meter exactly."""
    reading = _reading(submeters=(GAS, WATER))
    for (topic, payload), submeter in zip(
        submeter_payloads(reading, "home"), reading.submeters, strict=True
    ):
        back = decode_payload(payload, topic=topic)
        assert back.meter_id == "E0025"
        assert back.values == {}
        assert back.submeters == (submeter,)
        assert submeter_payloads(back, "home") == [(topic, payload)]


def test_sub_meter_ids_never_share_a_topic() -> None:
    anonymous = SubMeterReading(3, SubMeterKind.HEAT, 1.0, "GJ", NOW)
    twin = SubMeterReading(4, SubMeterKind.GAS, 0.0, "m³", NOW, "G0012", 3)
    reading = _reading(submeters=(GAS, anonymous, twin))
    assert submeter_ids(reading) == ["G0012-1", "E0025-3", "G0012-4"]
    payload = json.loads(submeter_payloads(reading, "home")[1][1])
    assert "device_type" not in payload["submeter"]


def test_metadata_that_does_not_fit_is_ignored() -> None:
    """Other readers' metadata named "submeter" does not break the message."""
    for metadata in ("gas", {"kind": "gas"}, {"channel": "1"}, {"channel": 1, "unit": 3}):
        message = {
            "meter": {"ts": "2026-01-15T08:00:00+01:00", "96.1.1": "G1", "24.2.1": 5.0},
            "submeter": metadata,
        }
        reading = decode_payload(json.dumps(message))
        assert reading.submeters == () and reading.values == {"24.2.1": 5.0}
    odd = {
        "meter": {"ts": "2026-01-15T08:00:00+01:00", "96.1.1": "G1", "24.2.3": 5.0},
        "submeter": {"channel": 1, "kind": "steam", "device_type": "x"},
    }
    (submeter,) = decode_payload(json.dumps(odd)).submeters
    assert (submeter.kind, submeter.unit, submeter.device_type, submeter.code) == (
        SubMeterKind.UNKNOWN,
        None,
        None,
        "24.2.3",
    )
    assert submeter.meter_id == "G1"


def test_the_cli_prints_the_sub_meter_messages() -> None:
    """``decode`` prints the meter's message, then one per sub-meter; they decode back."""
    capture = capture_folder("dsmr") / "dsmr_parser__telegram_fluvius_v171.txt"
    out, err = io.StringIO(), io.StringIO()
    assert main(["decode", "--standard", "dsmr", str(capture)], stdout=out, stderr=err) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    decoder = DsmrDecoder(DecoderOptions())
    (reading,) = decoder.feed(capture.read_bytes())
    assert lines[0] == encode_payload(reading)
    assert [decode_payload(line).submeters[0] for line in lines[1:]] == list(reading.submeters)
    assert json.loads(lines[1])["meter"]["ts"] == "2020-05-12T13:45:58+02:00"
