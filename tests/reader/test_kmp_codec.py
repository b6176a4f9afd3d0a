"""The KMP codec: every public test vector byte for byte (encode and decode), the byte
stuffing, the number format decoded exactly, the unit codes and the three read commands."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import pytest

from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    MalformedFrame,
    TruncatedFrame,
)
from custom_components.ch_smart_meter.reader.kmp import codec
from custom_components.ch_smart_meter.reader.kmp.codec import (
    Command,
    Frame,
    MeterType,
    RegisterValue,
)
from custom_components.ch_smart_meter.reader.numbers import Exact
from custom_components.ch_smart_meter.reader.obis import UNITS as CHSMR_UNITS
from tests.conftest import TESTDATA
from tests.conftest import testdata_dir as capture_folder

TO, FROM = codec.REQUEST_START, codec.RESPONSE_START


class Vector(NamedTuple):
    """A capture of ../shared/testdata/kmp and what it holds (MANIFEST.md)."""

    file: str
    frame: Frame


VECTORS = (
    Vector("pykmp__doc_6.2.1_gettype_request_to_meter.hex", Frame(TO, 0x3F, 0x01, b"")),
    Vector("pykmp__getserialno_request_to_meter.hex", Frame(TO, 0x3F, 0x02, b"")),
    Vector(
        "pykmp__doc_6.2.2_getserialno_response_from_meter.hex",
        Frame(FROM, 0x3F, 0x02, bytes.fromhex("01234567")),
    ),
    Vector(
        "pykmp__doc_6.2.4_getregister_request_to_meter_stuffed.hex",
        Frame(TO, 0x3F, 0x10, bytes.fromhex("010080")),
    ),
    Vector(
        "pykmp__doc_6.2.4_getregister_response_from_meter_stuffed.hex",
        Frame(FROM, 0x3F, 0x10, bytes.fromhex("0080 16 04 11 012AF024")),
    ),
    Vector("pykmp__gettype_request_addr3A.hex", Frame(TO, 0x3A, 0x01, b"")),
    Vector(
        "pykmp__getserial_response_addr3A.hex", Frame(FROM, 0x3A, 0x02, bytes.fromhex("0012D687"))
    ),
    Vector(
        "esphome_fr1402__flowiq2200_getregister_0044_request.hex",
        Frame(TO, 0x3F, 0x10, bytes.fromhex("010044")),
    ),
)
STUFFING_EXAMPLE = "pykmp__doc_3.1_stuffing_example_to_meter.hex"


def capture(name: str) -> bytes:
    return bytes.fromhex((capture_folder("kmp") / name).read_text(encoding="ascii"))


def test_every_capture_of_the_folder_is_covered() -> None:
    folder = Path(capture_folder("kmp"))
    files = {path.name for path in folder.glob("*.hex")}
    covered = {v.file for v in VECTORS} | {STUFFING_EXAMPLE}
    # Without ../shared only the redistributable vectors are there (tests/captures).
    assert files == covered if folder.parent == TESTDATA else files <= covered


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.file)
def test_vector_decodes_and_encodes_byte_for_byte(vector: Vector) -> None:
    wire = capture(vector.file)
    assert codec.decode_frame(wire) == vector.frame
    assert codec.encode_frame(vector.frame) == wire


def test_requests_to_the_meter_are_the_vectors() -> None:
    assert codec.request(Command.GET_TYPE) == capture(VECTORS[0].file)
    assert codec.request(Command.GET_SERIAL) == capture(VECTORS[1].file)
    assert codec.get_register_request([0x0080]) == capture(VECTORS[3].file)
    assert codec.get_register_request([0x0044]) == capture(VECTORS[7].file)
    # docs/protocols.md §9.2, derived there: GetRegister for register 0x0001.
    assert codec.get_register_request([0x0001]) == bytes.fromhex("803F100100 0155A10D")


def test_answers_of_the_vectors() -> None:
    assert codec.parse_serial(codec.decode_frame(capture(VECTORS[2].file)).data) == 19088743
    assert codec.parse_serial(codec.decode_frame(capture(VECTORS[6].file)).data) == 1234567
    (register,) = codec.parse_registers(codec.decode_frame(capture(VECTORS[4].file)).data)
    # Kamstrup doc 6.2.4: a heat meter's date stored as a number, 19591204 x 10^17.
    assert register == RegisterValue(0x0080, 0x16, Exact(19591204, 17))
    assert register.value.to_float() == 1.9591204e24


def test_the_stuffing_example() -> None:
    wire = capture(STUFFING_EXAMPLE)
    assert codec.stuff(bytes.fromhex("040D0006")) == wire[1:-1]
    assert codec.unstuff(wire[1:-1]) == bytes.fromhex("040D0006")
    # An illustration of stuffing only: its bytes have no CRC.
    with pytest.raises(CrcError):
        codec.decode_frame(wire)


def test_an_escaped_escape_before_a_code_byte() -> None:
    """1B E4 F9 is an escaped 1B followed by F9 (PyKMP 0.0.2 reads 06 there)."""
    for data in (bytes.fromhex("1BF9"), bytes.fromhex("1BF2"), bytes.fromhex("1BE4"), b"\x1b\x1b"):
        frame = Frame(FROM, 0x3F, 0x10, data)
        wire = codec.encode_frame(frame)
        assert bytes.fromhex("1BE4") in wire
        assert codec.decode_frame(wire) == frame


def test_random_frames_round_trip_and_never_contain_start_or_stop_bytes() -> None:
    rng = random.Random(7)
    special = sorted(codec.STUFFED)
    for _ in range(2000):
        data = bytes(rng.choice([*special, rng.randrange(256)]) for _ in range(rng.randrange(40)))
        frame = Frame(rng.choice((TO, FROM)), rng.randrange(256), rng.randrange(256), data)
        wire = codec.encode_frame(frame)
        inner = wire[1:-1]
        assert not any(byte in inner for byte in (TO, FROM, codec.STOP, codec.ACK))
        assert codec.decode_frame(wire) == frame


@pytest.mark.parametrize(
    ("encoded", "text"),
    [
        ("04 C2 00003039", "-123.45"),  # Kamstrup doc 4.2, example 1
        ("04 03 05397FB1", "87654321000"),  # example 2
        ("01 03 FF", "255000"),  # example 3
        ("04 43 000000FB", "0.251"),  # a real MULTICAL 403 value
        ("02 42 18C8", "63.44"),  # float arithmetic gives 63.440000000000005
    ],
)
def test_number_vectors(encoded: str, text: str) -> None:
    data = bytes.fromhex(encoded)
    value, end = codec.decode_number(data)
    assert end == len(data)
    assert Decimal(value.integer).scaleb(value.power) == Decimal(text)
    assert value.to_float() == float(text)


def test_numbers_are_decoded_exactly_then_rounded_once() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        length = rng.randrange(1, 9)
        mantissa = rng.randrange(256**length)
        sign_exponent = rng.randrange(256)
        data = bytes((length, sign_exponent)) + mantissa.to_bytes(length, "big")
        value, _ = codec.decode_number(data)
        exponent = sign_exponent & 0x3F
        exact = Decimal(mantissa).scaleb(-exponent if sign_exponent & 0x40 else exponent)
        exact = -exact if sign_exponent & 0x80 else exact
        assert value.to_float() == float(exact)


def test_broken_numbers() -> None:
    for data in ("00 00", "04 00 0102", "02"):
        with pytest.raises(MalformedFrame):
            codec.decode_number(bytes.fromhex(data))


def test_broken_frames_are_typed() -> None:
    good = codec.encode_frame(Frame(FROM, 0x3F, 0x02, bytes.fromhex("01234567")))
    cases = {
        good[:-1]: TruncatedFrame,  # no stop byte
        bytes.fromhex("403F1B0D"): TruncatedFrame,  # ends inside an escape
        bytes.fromhex("403F020D"): TruncatedFrame,  # too short for a CRC
        bytes.fromhex("403F1B00000D"): MalformedFrame,  # 1B 00 escapes nothing
        bytes.fromhex("403F06000D"): MalformedFrame,  # a code byte not escaped
        b"\x3f" + good[1:]: MalformedFrame,  # no start byte
        good[:3] + bytes((good[3] ^ 0x10,)) + good[4:]: CrcError,
    }
    for wire, error in cases.items():
        with pytest.raises(error):
            codec.decode_frame(wire)


def test_a_crc_error_does_not_repeat_the_frame() -> None:
    with pytest.raises(CrcError) as caught:
        codec.decode_frame(bytes.fromhex("403F0201234568E9560D"))
    assert "0123" not in caught.value.message


def test_find_response_skips_noise_and_the_echo() -> None:
    request = codec.request(Command.GET_SERIAL)
    answer = capture(VECTORS[2].file)
    buffer = bytearray(b"\x00\xff" + request + answer[:5])
    assert codec.find_response(buffer) is None
    buffer += answer[5:] + b"\x40"
    start = 2 + len(request)
    assert codec.find_response(buffer) == (start, start + len(answer))


def test_get_register_request_limits() -> None:
    for registers in ([], list(range(9))):
        with pytest.raises(ValueError):
            codec.get_register_request(registers)
    request = codec.decode_frame(codec.get_register_request(list(range(0x0400, 0x0408))))
    assert request.data[0] == 8 and len(request.data) == 17


def test_parse_registers() -> None:
    data = bytes.fromhex("000D 02 04 44 05F5E100041E 21 02 00 00E60434 22 04 42 000000FB")
    assert codec.parse_registers(data) == (
        RegisterValue(0x000D, 0x02, Exact(100_000_000, -4)),
        RegisterValue(0x041E, 0x21, Exact(230, 0)),
        RegisterValue(0x0434, 0x22, Exact(251, -2)),
    )
    assert codec.parse_registers(b"") == ()
    for broken in (data[:-1], data[:2], data + data[:9]):
        with pytest.raises(MalformedFrame):
            codec.parse_registers(broken)


def test_parse_type_and_serial() -> None:
    assert codec.parse_type(bytes.fromhex("017E0103")) == MeterType(0x017E, "A3")
    assert codec.parse_type(bytes.fromhex("017E0103")).label == "KMP type 017E, software A3"
    assert codec.parse_type(bytes.fromhex("00010000")) == MeterType(1, None)
    for broken in ("017E1B03", "017E01"):
        with pytest.raises(MalformedFrame):
            codec.parse_type(bytes.fromhex(broken))
    with pytest.raises(MalformedFrame):
        codec.parse_serial(bytes.fromhex("012345"))


def test_unit_codes() -> None:
    assert sorted(codec.UNITS) == list(range(0x41))
    convertible = {u.code for u in codec.UNITS.values() if u.chsmr_unit is not None}
    assert {u.chsmr_unit for u in codec.UNITS.values()} - {None} <= set(CHSMR_UNITS.values())
    assert {0x01, 0x02, 0x03, 0x16, 0x21, 0x22} <= convertible
    # Both public tables say kW (and kvar) twice: the first of each pair stays in doubt.
    assert {u.code for u in codec.UNITS.values() if not u.certain} == {0x15, 0x19}
    assert codec.UNITS[0x01].power == -3 and codec.UNITS[0x03].power == 3
    assert codec.unit_name(0x16) == "kW" and codec.unit_name(0x99) == "unit 99"
