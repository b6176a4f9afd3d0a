"""KMP captures: dialogues recorded between a reader and the simulated meter, decoded the
same however they are chunked; answers built by the simulator's own encoder decode exactly,
also through the command-line tool; a damaged answer is rejected, its neighbours are not."""

from __future__ import annotations

import io
import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from custom_components.ch_smart_meter.reader import cli
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    TruncatedFrame,
    UnsupportedFrame,
)
from custom_components.ch_smart_meter.reader.kmp import codec
from custom_components.ch_smart_meter.reader.kmp.codec import Command
from custom_components.ch_smart_meter.reader.kmp.decoder import KmpCaptureDecoder
from custom_components.ch_smart_meter.reader.model import (
    DecodeResult,
    Reading,
    RejectedFrame,
    TimeSource,
)
from custom_components.ch_smart_meter.reader.simulate import kmp_meter
from custom_components.ch_smart_meter.reader.simulate.kmp_meter import KmpMeter
from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions
from custom_components.ch_smart_meter.reader.spec import SWISS_TIME, DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec
from tests.conftest import testdata_dir as capture_folder

MOMENT = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
OPTIONS = DecoderOptions(clock=lambda: MOMENT)
TABLE_1 = [0x000D, 0x000E, 0x03FF, 0x0400, 0x041E, 0x041F, 0x0420, 0x0434]
TABLE_1_REST = [0x0435, 0x0436, 0x0438, 0x0439, 0x043A, 0x0540, 0x0541, 0x0542]


def dialogue(meter: KmpMeter, requests: list[bytes], second: int = 0) -> tuple[bytes, list[dict]]:
    """Requests and the meter's answers as a sniffer sees them, and the values of each
    GetRegister answer (by register, as the meter sent them)."""
    capture = bytearray()
    answered = []
    moment = MOMENT.replace(second=second)
    for request in requests:
        capture += request + meter.respond(request, moment)
        if codec.decode_frame(request).command == Command.GET_REGISTER:
            answered.append(dict(meter.answered))
    return bytes(capture), answered


def cycle_requests() -> list[bytes]:
    return [
        codec.request(Command.GET_SERIAL),
        codec.request(Command.GET_TYPE),
        codec.get_register_request(TABLE_1),
        codec.get_register_request(TABLE_1_REST),
    ]


def expected_values(answered: dict[int, Decimal]) -> dict[str, float]:
    """The CH-SMR values of a simulated answer: its formats are kWh, kW, V, A already."""
    return {kmp_meter.FORMATS[register].code: float(v) for register, v in answered.items()}


def decode(data: bytes, *, chunk: int | None = None) -> list[DecodeResult]:
    decoder = KmpCaptureDecoder(OPTIONS)
    size = chunk or max(len(data), 1)
    results = []
    for start in range(0, len(data), size):
        results += decoder.feed(data[start : start + size])
    return results + decoder.flush()


def test_a_dialogue_gives_one_reading_per_register_answer() -> None:
    meter = KmpMeter()
    capture, answered = dialogue(meter, cycle_requests())
    results = decode(capture)
    assert all(isinstance(r, Reading) for r in results)
    assert len(results) == 2
    first, second = results
    assert isinstance(first, Reading) and isinstance(second, Reading)
    assert first.values == expected_values(answered[0])
    assert second.values == expected_values(answered[1])
    assert first.meter_id == second.meter_id == str(meter.serial)
    assert first.manufacturer == "Kamstrup" and first.model == "KMP type 017E, software A3"
    assert first.time_source is TimeSource.HOST
    assert first.timestamp == MOMENT.astimezone(SWISS_TIME)


def test_chunking_does_not_matter() -> None:
    meter = KmpMeter(SourceOptions(seed=4))
    capture = b""
    for second in range(3):
        part, _ = dialogue(meter, cycle_requests(), second)
        capture += b"\x00\x06" + part  # noise and a stray acknowledgement between cycles
    whole = decode(capture)
    assert len(whole) == 6
    assert decode(capture, chunk=1) == whole
    assert decode(capture, chunk=7) == whole


def test_readings_before_the_serial_number_are_unknown() -> None:
    meter = KmpMeter()
    requests = cycle_requests()
    capture, _ = dialogue(meter, [requests[2], requests[0], requests[2]])
    results = decode(capture)
    assert [r.meter_id for r in results if isinstance(r, Reading)] == ["unknown", str(meter.serial)]


def test_a_corrupted_answer_is_rejected_its_neighbours_are_not() -> None:
    meter = KmpMeter()
    requests = [codec.get_register_request(TABLE_1)] * 3
    capture = bytearray()
    for index, request in enumerate(requests):
        meter.corrupt_answers = 1 if index == 1 else 0
        capture += request + meter.respond(request, MOMENT.replace(second=index))
    results = decode(bytes(capture))
    assert [type(r) for r in results] == [Reading, RejectedFrame, Reading]
    rejected = results[1]
    assert isinstance(rejected, RejectedFrame) and isinstance(rejected.error, CrcError)
    assert rejected.position is not None and rejected.position.startswith("byte ")


def test_a_truncated_answer_before_the_next_frame_and_at_the_end() -> None:
    meter = KmpMeter()
    request = codec.get_register_request(TABLE_1)
    answer = meter.respond(request, MOMENT)
    capture = request + answer[:20] + request + answer + answer[:-1]
    results = decode(capture)
    assert [type(r) for r in results] == [RejectedFrame, Reading, RejectedFrame]
    assert all(isinstance(r.error, TruncatedFrame) for r in results if isinstance(r, RejectedFrame))
    # A truncated request is skipped like any request.
    assert decode(request[:-1]) == []


def test_the_vectors_of_a_heat_meter() -> None:
    folder = capture_folder("kmp")

    def read(name: str) -> bytes:
        return bytes.fromhex((folder / name).read_text(encoding="ascii"))

    serial = read("pykmp__doc_6.2.2_getserialno_response_from_meter.hex")
    register = read("pykmp__doc_6.2.4_getregister_response_from_meter_stuffed.hex")
    results = decode(read("pykmp__getserialno_request_to_meter.hex") + serial + register)
    (rejected,) = results
    # Register 0x0080 of a MULTICAL: no electricity value.
    assert isinstance(rejected, RejectedFrame) and isinstance(rejected.error, UnsupportedFrame)
    decoder = KmpCaptureDecoder(OPTIONS)
    decoder.feed(serial)
    assert decoder.diagnostics()["meter_serial"] == "19088743"


# -- through the command-line tool ---------------------------------------------------------

# Unit codes a meter may use for each CH-SMR unit, with their power of ten to it.
UNIT_CHOICES = {
    "kWh": [(0x01, -3), (0x02, 0), (0x03, 3)],
    "kW": [(0x16, 0), (0x17, 3)],
    "V": [(0x21, 0), (0x23, 3)],
    "A": [(0x22, 0)],
}
CODES = {register: fmt.code for register, fmt in kmp_meter.FORMATS.items()}
UNITS = {
    **dict.fromkeys(("1.8.0", "2.8.0"), "kWh"),
    **dict.fromkeys(("1.7.0", "2.7.0"), "kW"),
    **{f"{c}.7.0": "V" for c in (32, 52, 72)},
    **{f"{c}.7.0": "A" for c in (31, 51, 71)},
    **{f"{c}.7.0": "kW" for c in (21, 41, 61, 22, 42, 62)},
}


def random_answer(rng: random.Random) -> tuple[bytes, dict[str, float]]:
    """A GetRegister answer of up to eight registers (one of each code) with random units,
    decimals and values, built by the simulator's encoder; and the exact CH-SMR values."""
    registers = rng.sample(sorted(r for r in CODES if r not in kmp_meter.LOW_RESOLUTION), 8)
    registers = registers[: rng.randrange(1, 9)]
    data = bytearray()
    expected = {}
    for register in registers:
        unit, power = rng.choice(UNIT_CHOICES[UNITS[CODES[register]]])
        decimals = rng.randrange(0, 7)
        value = Decimal(rng.randrange(10**9)).scaleb(-decimals)
        data += register.to_bytes(2, "big") + bytes((unit,))
        data += kmp_meter.number(value, decimals, rng.choice((2, 4)))
        expected[CODES[register]] = float(value.scaleb(power))
    return kmp_meter.answer_frame(0x10, bytes(data)), expected


def test_random_answers_decode_exactly_through_the_cli(tmp_path: Path) -> None:
    rng = random.Random(11)
    answers = [random_answer(rng) for _ in range(200)]
    capture = tmp_path / "kmp.bin"
    capture.write_bytes(b"".join(frame for frame, _ in answers))
    hex_capture = tmp_path / "kmp.hex"
    hex_capture.write_text(capture.read_bytes().hex(" "), encoding="ascii")
    for arguments in ([str(capture)], ["--hex", str(hex_capture)]):
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["decode", "--standard", "kmp", *arguments], stdout=out, stderr=err)
        assert code == 0 and err.getvalue() == ""
        documents = [json.loads(line)["meter"] for line in out.getvalue().splitlines()]
        assert len(documents) == len(answers)
        for document, (_, expected) in zip(documents, answers, strict=True):
            values = {k: v for k, v in document.items() if k not in ("ts", "96.1.1")}
            assert values == expected
            assert document["96.1.1"] == "unknown"


def test_cli_reports_a_damaged_answer_on_stderr(tmp_path: Path) -> None:
    meter = KmpMeter()
    request = codec.get_register_request(TABLE_1)
    good = meter.respond(request, MOMENT)
    capture = tmp_path / "kmp.bin"
    capture.write_bytes(good + kmp_meter.flip_one_bit(good) + good)
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["decode", "--standard", "kmp", str(capture)], stdout=out, stderr=err) == 0
    assert len(out.getvalue().splitlines()) == 2
    assert err.getvalue().startswith(f"rejected frame (byte {len(good)}): checksum mismatch")


def test_the_spec_makes_this_decoder() -> None:
    spec = get_spec("kmp")
    decoder = spec.create_decoder(replace(OPTIONS))
    assert isinstance(decoder, KmpCaptureDecoder)
    assert spec.polled and spec.serial is not None and spec.serial.baudrate == 9600
