"""Meter profiles, scaling and plausibility; the three standards' specs."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from custom_components.ch_smart_meter.reader import profiles
from custom_components.ch_smart_meter.reader.dlms import layouts, scaling
from custom_components.ch_smart_meter.reader.errors import ImplausibleValue, UnsupportedFrame
from custom_components.ch_smart_meter.reader.model import (
    Reading,
    RejectedFrame,
    SerialSettings,
    Standard,
)
from custom_components.ch_smart_meter.reader.numbers import to_float
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from . import dlms_synthetic as syn
from .dlms_corpus import BY_ID, decode


def _reading(stream: bytes, standard: str = "lg-mbus", **options: object) -> Reading:
    decoder = get_spec(standard).create_decoder(DecoderOptions(**options))  # type: ignore[arg-type]
    (reading,) = decoder.feed(stream)
    assert isinstance(reading, Reading), reading
    return reading


def _e450(**fields: object) -> bytes:
    return syn.hdlc(syn.notification(syn.e450_body(**fields)))  # type: ignore[arg-type]


# --- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("standard", "hints", "profile", "detection"),
    [
        (Standard.LG_MBUS, {"logical_name": "LGZ1030653520967"}, "lg-e450", "logical device name"),
        (Standard.P1_DLMS, {"logical_name": "LGZ1030163598905"}, "lg-e360", "logical device name"),
        (Standard.P1_DLMS, {"logical_name": "ISK1030783821282"}, "iskra-am550", "logical device name"),
        (Standard.LG_MBUS, {"system_title": b"LGZgsx\x1f\xd0"}, "lg-e450", "system title"),
        (Standard.KAMSTRUP_DLMS, {"list_id": "Kamstrup_V0001"}, "kamstrup-omnipower", "list id"),
        (Standard.LG_MBUS, {"list_id": "Kamstrup_V0001"}, "kamstrup-omnipower", "list id"),
        (Standard.KAMSTRUP_DLMS, {"system_title": b"KAME\x01\x34\x90\x83"}, "kamstrup-omnipower", "system title"),
        (Standard.LG_MBUS, {"list_id": "KFM_001"}, "kaifa", "list id"),
        (Standard.KAMSTRUP_DLMS, {"logical_name": "LGZ1"}, "lg-e450", "logical device name"),
        (Standard.P1_DLMS, {}, "generic", "default"),
        (Standard.LG_MBUS, {}, "lg-e450", "default"),
        (Standard.KAMSTRUP_DLMS, {}, "kamstrup-omnipower", "default"),
        (Standard.LG_MBUS, {"override": "lg-e570", "logical_name": "LGZ1"}, "lg-e570", "user"),
        (Standard.LG_MBUS, {"override": "no-such-profile"}, "lg-e450", "default"),
    ],
)  # fmt: skip
def test_detection(standard: Standard, hints: dict, profile: str, detection: str) -> None:
    found, how = profiles.detect(standard, **hints)
    assert (found.id, how.value) == (profile, detection)


def test_kamstrup_ct_meters_are_refined_by_type() -> None:
    omnipower = profiles.KAMSTRUP_OMNIPOWER
    assert profiles.refine(omnipower, "6851234BN243101040").id == "kamstrup-omnipower-ct"
    assert profiles.refine(omnipower, "6841131BN243101040") is omnipower
    assert profiles.refine(omnipower, None) is omnipower


def test_profiles_are_data() -> None:
    assert len({p.id for p in profiles.PROFILES}) == len(profiles.PROFILES)
    for profile in profiles.PROFILES:
        for sibling in profile.siblings:
            assert sibling in profiles.BY_ID
        for _, target in profile.refinements:
            assert target in profiles.BY_ID
        for count, value_map in profile.value_maps.items():
            assert len(value_map) == count
            for reference in value_map:
                assert reference is None or len(layouts.obis_bytes(reference)) == 6
        assert set(profile.exponents) == set(profiles.Kind) - {
            profiles.Kind.VOLTAGE,
            profiles.Kind.CURRENT,
        }


# --- scaling is exact ----------------------------------------------------------------------


def test_scaling_is_exact() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        raw = rng.randrange(-(2**40), 2**40)
        exponent = rng.randrange(-9, 4)
        expected = float(Decimal(raw).scaleb(exponent))
        assert to_float(raw, exponent) == expected


def test_no_float_noise_in_readings() -> None:
    reading = _reading(_e450(energy_wh=300, power_w=1, volts=(2301, 0, 0), centiamps=(7, 0, 0)),
                       "p1-dlms")  # fmt: skip
    assert reading.values["1.8.0"] == 0.3  # not 0.30000000000000004
    assert reading.values["1.7.0"] == 0.001
    assert reading.values["32.7.0"] == 230.1
    assert reading.values["31.7.0"] == 0.07


def test_float32_values_keep_their_decimal_form() -> None:
    assert scaling.exact_float(scaling.Float32(230.1), 0) == 230.1
    assert scaling.exact_float(scaling.Float32(230.1), -3) == 0.2301


@pytest.mark.parametrize(
    ("scaler", "unit", "raw", "code", "value"),
    [
        (0, 30, 4752026, "1.8.0", 4752.026),  # Wh -> kWh
        (1, 30, 2272138, "1.8.0", 22721.38),
        (-1, 35, 2334, "32.7.0", 233.4),  # V
        (-2, 33, 48, "31.7.0", 0.48),  # A
        (0, 27, 9, "2.7.0", 0.009),  # W -> kW
        (0, 29, 1506, "3.7.0", 1.506),  # var -> kvar
        (0, 32, 58243, "3.8.0", 58.243),  # varh -> kvarh
        (-3, 255, 94, "13.7.0", 0.094),  # power factor, no unit
    ],
)
def test_scaler_units_in_the_push_win(
    scaler: int, unit: int, raw: int, code: str, value: float
) -> None:
    obis = enc.obis_bytes(f"1-0:{code}")
    scaled = scaling.scale([(obis, raw, scaler, scaling.UNIT_NONE if unit == 255 else unit)],
                           profiles.KAMSTRUP_OMNIPOWER, trusted=True)  # fmt: skip
    assert scaled.values == {code: value}


def test_quantities_of_codes() -> None:
    kinds = profiles.Kind
    expected = {
        "1.8.0": kinds.ACTIVE_ENERGY, "2.8.1": kinds.ACTIVE_ENERGY, "62.8.0": kinds.ACTIVE_ENERGY,
        "3.8.0": kinds.REACTIVE_ENERGY, "8.8.0": kinds.REACTIVE_ENERGY,
        "1.7.0": kinds.ACTIVE_POWER, "41.7.0": kinds.ACTIVE_POWER, "24.7.0": kinds.REACTIVE_POWER,
        "9.7.0": kinds.APPARENT_POWER, "31.7.0": kinds.CURRENT, "91.7.0": kinds.CURRENT,
        "72.7.0": kinds.VOLTAGE, "33.7.0": kinds.POWER_FACTOR, "14.7.0": kinds.FREQUENCY,
    }  # fmt: skip
    for code, kind in expected.items():
        obis = enc.obis_bytes(f"1-0:{code}")
        assert scaling.KINDS.get(obis[2] << 8 | obis[3]) is kind
    assert scaling.KINDS.get(96 << 8 | 1) is None  # an identifier
    assert scaling.KINDS.get(1 << 8 | 6) is None  # maximum demand: not a Table 1/2 kind


# --- model scaling and plausibility ----------------------------------------------------------


def test_e450_volts_and_e360_decivolts() -> None:
    assert _reading(_e450(volts=(236, 0, 0)), "lg-mbus").values["32.7.0"] == 236.0
    e360 = _e450(logical_name="LGZ1030163598905", volts=(2357, 0, 0))
    reading = _reading(e360, "p1-dlms")
    assert reading.values["32.7.0"] == 235.7
    assert reading.model == "E360"


def test_a_detected_profile_rescales_a_voltage_ten_times_off() -> None:
    """An E360 on the M-Bus standard: 2357 would be 2357 V with E450 scaling."""
    reading = _reading(_e450(volts=(2357, 2361, 0)), "lg-mbus")
    assert reading.values["32.7.0"] == 235.7
    assert reading.model == "E360"


def test_a_chosen_profile_rejects_a_voltage_ten_times_off() -> None:
    """AMSR #782: E450 voltages shown as 23.6 V with the wrong (E360) scaling."""
    decoder = get_spec("lg-mbus").create_decoder(DecoderOptions(profile="lg-e360"))
    (rejected,) = decoder.feed(_e450(volts=(236, 237, 235)))
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, ImplausibleValue)
    assert "23.6 V" in rejected.error.message and "Landis+Gyr E360" in rejected.error.message
    assert rejected.error.reason == "implausible"


def test_a_failing_phase_is_not_implausible() -> None:
    reading = _reading(_e450(volts=(236, 41, 0)), "lg-mbus", profile="lg-e450")
    assert (reading.values["32.7.0"], reading.values["52.7.0"]) == (236.0, 41.0)


def test_e570_currents_in_amperes_by_choice_and_by_power() -> None:
    # Without load nothing tells an E570 from an E450: the user's choice does.
    capture = BY_ID["scs__lg_e570_plain_vse2026_noload"]
    (chosen,) = decode(capture, capture.lines(), profile="lg-e570")
    assert chosen.model == "E570"
    (detected,) = decode(capture, capture.lines())
    assert detected.model == "E450"
    # Under load the apparent power tells: 5 kW at 230 V is about 7 A, not 0.07 A.
    loaded = _e450(power_w=5000, volts=(230, 230, 230), centiamps=(7, 7, 8))
    assert _reading(loaded, "lg-mbus", profile="lg-e570").values["31.7.0"] == 7.0
    detected_loaded = _reading(loaded)
    assert detected_loaded.values["31.7.0"] == 7.0 and detected_loaded.model == "E570"
    plain_e450 = _reading(_e450(power_w=5000, volts=(230, 230, 230), centiamps=(700, 720, 760)))
    assert plain_e450.values["31.7.0"] == 7.0 and plain_e450.model == "E450"


def test_a_learned_current_scaling_sticks_for_the_stream() -> None:
    """Once three loaded pushes in a row agreed (one push whose damage got through a weak
    checksum must not decide how the next ones are read)."""
    decoder = get_spec("lg-mbus").create_decoder(DecoderOptions())
    loaded = _e450(power_w=5000, volts=(230, 230, 230), centiamps=(7, 7, 8))
    idle = _e450(power_w=10, volts=(230, 230, 230), centiamps=(0, 1, 0))
    first, second = decoder.feed(loaded + idle)
    assert first.values["31.7.0"] == 7.0
    assert second.values["51.7.0"] == 0.01  # not learned yet: the profile's own scaling
    *loaded_ones, last = decoder.feed(loaded + loaded + idle)
    assert [r.values["31.7.0"] for r in loaded_ones] == [7.0, 7.0]
    assert last.values["51.7.0"] == 1.0  # stays in A at low load


def test_kamstrup_ct_meter_by_type() -> None:
    def push(meter_type: str) -> bytes:
        body = syn.obis_value_body({
            "1-1:0.0.5": enc.visible_string("5706567329747082"),
            "1-1:96.1.1": enc.visible_string(meter_type),
            "1-1:1.7.0": enc.uint32(0),
            "1-1:31.7.0": enc.uint32(12345),
            "1-1:32.7.0": enc.uint16(231),
        })  # fmt: skip
        return syn.hdlc(syn.notification(body))

    ct = _reading(push("6851131BN243101040"), "kamstrup-dlms")
    assert ct.values["31.7.0"] == 12.345 and ct.model == "6851131BN243101040"
    normal = _reading(push("6841131BN243101040"), "kamstrup-dlms")
    assert normal.values["31.7.0"] == 123.45
    assert (normal.meter_id, normal.id_obis) == ("5706567329747082", "96.1.1")


def test_kamstrup_energies_count_10_wh() -> None:
    body = syn.obis_value_body({"1-1:1.8.0": enc.uint32(8582328), "1-1:3.8.0": enc.uint32(15327)})
    reading = _reading(syn.hdlc(syn.notification(body)), "kamstrup-dlms")
    assert reading.values == {"1.8.0": 85823.28, "3.8.0": 153.27}


# --- identity ------------------------------------------------------------------------------


def test_equipment_identifier_preferred_over_logical_device_name() -> None:
    reading = _reading(_e450())
    assert (reading.meter_id, reading.id_obis) == ("1909113", "96.1.1")
    assert reading.manufacturer == "Landis+Gyr"


def test_logical_device_name_when_no_equipment_identifier() -> None:
    capture = BY_ID["scs__lg_e570_plain_vse2026_load"]
    (reading,) = decode(capture, capture.lines())
    assert (reading.meter_id, reading.id_obis) == ("LGZ1030769231250", "42.0.0")


# --- values-only lists -------------------------------------------------------------------------


def test_values_only_list_with_a_profile_map() -> None:
    capture = BY_ID["amsreader__landisgyr_gh501-1"]
    (reading,) = decode(capture, capture.lines())
    assert reading.model == "E450"
    assert (reading.meter_id, reading.values["1.8.0"]) == ("30137181", 31358.606)


def test_values_only_list_without_a_profile_is_unsupported() -> None:
    body = enc.structure([enc.uint16(1), enc.uint16(2), enc.uint32(3)])
    decoder = get_spec("p1-dlms").create_decoder(DecoderOptions())
    (rejected,) = decoder.feed(syn.hdlc(syn.notification(body)))
    assert isinstance(rejected.error, UnsupportedFrame)
    assert "3 values without OBIS codes" in rejected.error.message


# --- the standards ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("standard", "title", "default", "profile_ids"),
    [
        ("p1-dlms", "P1 DLMS", SerialSettings(115200, 8, "N", 1), {"iskra-am550", "lg-e360"}),
        ("lg-mbus", "Landis+Gyr M-Bus/DLMS", SerialSettings(2400, 8, "E", 1), {"lg-e450", "lg-e570"}),
        ("kamstrup-dlms", "Kamstrup DLMS", SerialSettings(2400, 8, "N", 1), {"kamstrup-omnipower"}),
    ],
)  # fmt: skip
def test_specs(standard: str, title: str, default: SerialSettings, profile_ids: set) -> None:
    spec = get_spec(standard)
    assert spec.standard == Standard(standard)
    assert spec.title == title
    assert spec.serial == default
    assert spec.supports_encryption and spec.supports_authentication_key
    assert 5 <= spec.interval <= 10
    assert profile_ids <= {p.id for p in spec.profiles}
    assert all(p.id in profiles.BY_ID and p.title for p in spec.profiles)
    assert len({p.name for p in spec.serial_presets}) == len(spec.serial_presets)
    assert len({p.id for p in spec.serial_presets}) == len(spec.serial_presets)


def test_the_e360_preset_runs_at_9600() -> None:
    presets = {p.name: p.settings for p in get_spec("p1-dlms").serial_presets}
    assert presets["Landis+Gyr E360 P1"] == SerialSettings(9600, 8, "N", 1)
