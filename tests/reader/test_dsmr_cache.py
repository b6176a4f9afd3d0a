"""The DSMR decoder's memos cannot change a result, and the CRC is exact at any length.

* The CRC-16/ARC is computed by parity masks in blocks of ``_ARC_BLOCK`` bytes: it must
  equal the bit-by-bit reference on every length around the block edges.
* Lines, references, identification lines, meter ids and variants are remembered
  (``functools.lru_cache``): a telegram decoded after others must give what it gives with
  nothing remembered, whatever came before (the same line in another telegram, a corrupted
  telegram, a reset, another meter); on long random streams in which lines change value,
  width, code or meaning, appear, vanish and repeat, every result equals the fresh decode.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from custom_components.ch_smart_meter.reader import crc
from custom_components.ch_smart_meter.reader.dsmr import extras, lines, telegram, variants
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.errors import CrcError, MalformedFrame
from custom_components.ch_smart_meter.reader.model import DecodeResult, Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from tests.reader.crc_reference import crc16_arc_bitwise

MEMOS = (
    lines.parse_line,
    lines.classify,
    extras.read_extras,
    telegram.meter_id,
    variants.recognise_variant,
    variants.read_identification,
)


def test_crc_equals_the_reference_around_the_block_edges() -> None:
    rng = random.Random(11)
    edge = crc._ARC_BLOCK
    for length in (0, 1, 2, 3, 799, 800, edge - 2, edge - 1, edge, edge + 1, edge + 2, edge + 3):
        for _ in range(3):
            data = rng.randbytes(length)
            assert crc.crc16_arc(data) == crc16_arc_bitwise(data), length
    for length in (2 * edge - 1, 2 * edge, 2 * edge + 1, 3 * edge + 2, 16 * 1024):
        data = rng.randbytes(length)
        assert crc.crc16_arc(data) == crc16_arc_bitwise(data), length
        assert (
            crc.crc16_arc(bytearray(data))
            == crc.crc16_arc(memoryview(data))
            == crc16_arc_bitwise(data)
        )


def test_crc_of_leading_zeros_and_all_ones() -> None:
    # Leading zero bytes must not change the CRC (initial value 0), and a message of only
    # set bits exercises every mask bit at once.
    for length in (1, 100, crc._ARC_BLOCK, crc._ARC_BLOCK + 1):
        ones = b"\xff" * length
        assert crc.crc16_arc(ones) == crc16_arc_bitwise(ones)
        padded = b"\x00" * 7 + b"123456789"
        assert crc.crc16_arc(padded) == 0xBB3D


# --- Remembered lines ----------------------------------------------------------------


def _telegram(*lines: str, header: str = "/ISK5\\2M550T-1012", with_crc: bool = True) -> bytes:
    body = "\r\n".join((header, "", *lines, "!")).encode("latin-1")
    if not with_crc:
        return body + b"\r\n"
    return body + f"{crc.crc16_arc(body):04X}\r\n".encode()


def _forget() -> None:
    for memo in MEMOS:
        memo.cache_clear()


def _fresh(frame: bytes) -> DecodeResult:
    """The result with nothing remembered from earlier telegrams."""
    _forget()
    return DsmrDecoder().decode_frame(frame)


_HEAD = ("1-3:0.2.8(50)", "0-0:1.0.0(260115180001W)", "0-0:96.1.1(4530303235)")
_IMPORT_1 = "1-0:1.8.1(005694.643*kWh)"
_IMPORT_2 = "1-0:1.8.2(012045.600*kWh)"


def test_a_repeated_line_in_another_context_gives_the_fresh_result() -> None:
    # The same register lines once with, once without the meter's own total, then with a
    # second register that moved, in Wh, and the total before its registers.
    stream = [
        _telegram(*_HEAD, _IMPORT_1, _IMPORT_2, "1-0:1.7.0(01.029*kW)"),
        _telegram(*_HEAD, _IMPORT_1, _IMPORT_2, "1-0:1.8.0(017740.000*kWh)"),
        _telegram(*_HEAD, _IMPORT_1, "1-0:1.8.2(012045601*Wh)", "1-0:1.7.0(01.029*kW)"),
        _telegram(*_HEAD, "1-0:1.8.0(1*kWh)", _IMPORT_1, _IMPORT_2),
        _telegram("0-0:1.0.0(260115180002W)", _IMPORT_1, "1-0:1.7.0(01.029*kW)"),
    ]
    decoder = DsmrDecoder()
    warm = [decoder.decode_frame(frame) for frame in stream]
    for frame, result in zip(stream, warm, strict=True):
        assert result == _fresh(frame)
    assert isinstance(warm[0], Reading)
    assert warm[0].values["1.8.0"] == 17740.243  # the exact sum, not 17740.243000000002
    assert isinstance(warm[1], Reading)
    assert warm[1].values["1.8.0"] == 17740.0  # the meter's own total wins
    assert isinstance(warm[2], Reading)
    assert warm[2].values["1.8.0"] == 17740.244
    assert isinstance(warm[4], Reading)
    assert warm[4].meter_id == "ISK5\\2M550T-1012"  # no id line: not the earlier id


def test_meters_taking_turns_keep_their_own_id_and_variant() -> None:
    # What is decided once per meter (id, variant) must follow each telegram's own lines.
    lines = ("0-0:1.0.0(260115180001W)", _IMPORT_1)
    # The telegram without a CRC comes first: one decoder is one meter, and a meter that
    # has sent a valid CRC never gets a telegram accepted without one.
    stream = [
        _telegram(*lines, header="/XMX5LGBBFFB231215493", with_crc=False),
        _telegram(*_HEAD, _IMPORT_1),
        _telegram(*lines, "0-0:96.1.1(4D4554455232)", header="/KFM5KAIFA-METER"),
        _telegram(*lines, "0-0:42.0.0(4C55583132)", header="/Lux5\\253833635_A"),
        _telegram(*lines, "0-0:96.1.4(50217)", "0-0:96.1.1(4D4554455232)", header="/FLU5"),
        _telegram(*lines, "1-3:0.2.8(42)", "0-0:96.1.1(00000000)", header="/XMX5LG"),
        _telegram(*_HEAD, _IMPORT_1),
    ]
    decoder = DsmrDecoder()
    warm = []
    for frame in stream:
        warm.append((decoder.decode_frame(frame), decoder.variant))
    for frame, (result, variant) in zip(stream, warm, strict=True):
        fresh_decoder = DsmrDecoder()
        assert result == _fresh(frame)
        fresh_decoder.decode_frame(frame)
        assert variant == fresh_decoder.variant
    variants = [variant.id if variant else None for _, variant in warm]
    assert variants == ["dsmr22", "dsmr5", "nordic", "smarty", "emucs", "dsmr4", "dsmr5"]
    ids = [result.meter_id for result, _ in warm if isinstance(result, Reading)]
    assert ids == ["XMX5LGBBFFB231215493", "E0025", "METER2", "LUX12", "METER2", "XMX5LG", "E0025"]


def test_a_telegram_after_a_corrupted_one_is_decoded_as_if_first() -> None:
    good = _telegram(*_HEAD, _IMPORT_1, _IMPORT_2)
    bad_number = _telegram(*_HEAD, _IMPORT_1, "1-0:1.8.2(01x045.600*kWh)")
    bad_unit = _telegram(*_HEAD, _IMPORT_1, "1-0:1.8.2(012045.600*V)")
    corrupted = bytearray(good)
    corrupted[good.index(b"5694")] = ord("6")  # CRC no longer matches
    decoder = DsmrDecoder()
    for frame, error in (
        (bad_number, MalformedFrame),
        (bad_unit, MalformedFrame),
        (bytes(corrupted), CrcError),
    ):
        for _ in range(2):  # a line that raised is not remembered as readable
            result = decoder.decode_frame(frame)
            assert isinstance(result, RejectedFrame)
            assert isinstance(result.error, error)
        assert decoder.decode_frame(good) == _fresh(good)
    decoder.reset()
    assert decoder.decode_frame(good) == _fresh(good)


def test_a_simulated_stream_decodes_the_same_warm_and_fresh() -> None:
    source = create_source("dsmr", SourceOptions(seed=3))
    moment = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
    frames = [source.frame_at(moment + timedelta(seconds=second)) for second in range(40)]
    decoder = DsmrDecoder()
    warm = [decoder.decode_frame(frame) for frame in frames]
    assert all(isinstance(result, Reading) for result in warm)
    assert warm == [_fresh(frame) for frame in frames]


def test_the_remembered_lines_stay_bounded() -> None:
    decoder = DsmrDecoder()
    limit = lines.parse_line.cache_info().maxsize
    assert limit is not None
    for second in range(3 * limit):
        frame = _telegram(*_HEAD, f"1-0:1.8.1({second:010d}.000*kWh)")
        result = decoder.decode_frame(frame)
        assert isinstance(result, Reading)
        assert result.values["1.8.1"] == second
    for memo in MEMOS:
        info = memo.cache_info()
        assert info.maxsize is not None and info.currsize <= info.maxsize


# --- Random streams: a meter that changes its layout now and then ------------------------

# (reference, unit, digits before and after the point); the value is chosen per telegram.
_VALUE_LINES = (
    ("1-0:1.8.1", "kWh", 6, 3),
    ("1-0:1.8.2", "kWh", 6, 3),
    ("1-0:2.8.1", "kWh", 6, 3),
    ("1-0:2.8.2", "kWh", 6, 3),
    ("1-0:1.7.0", "kW", 2, 3),
    ("1-0:2.7.0", "kW", 2, 3),
    ("1-0:32.7.0", "V", 3, 1),
    ("1-0:31.7.0", "A", 3, 0),
    ("1-0:21.7.0", "kW", 2, 3),
    ("1-0:13.7.0", "", 1, 3),  # power factor: above 1 it is left out
    ("1-0:1.8.3", "kWh", 6, 3),  # a tariff register outside the catalogue: only summed
)
_OTHER_LINES = (
    "0-0:96.14.0(0002)",
    "0-2:24.1.0(003)",
    "0-2:24.2.1(260115180000W)(01234.567*m3)",  # gas on channel 2
    "0-1:24.2.1(700101010000W)(00000000)",  # an empty channel: no reading
    "0-0:96.13.0()",
    "0-0:96.13.0(48656C6C6F)",
    "1-0:99.97.0(1)(0-0:96.7.19)(101208152415W)(0000000240*s)",
)


def _random_line(rng: random.Random, reference: str, unit: str, whole: int, part: int) -> str:
    if rng.random() < 0.03:
        whole += rng.choice((-1, 1))  # another width (rare: meters zero-pad): lines move
    number = "".join(rng.choice("0123456789") for _ in range(max(whole, 1)))
    if part:
        number += "." + "".join(rng.choice("0123456789") for _ in range(part))
    return f"{reference}({number}{'*' + unit if unit else ''})"


def _random_stream(rng: random.Random, count: int) -> list[bytes]:
    """A meter that mostly repeats its layout with a few changed values, and sometimes
    changes it: lines appear, vanish, change code, repeat a code, the id or time changes."""
    layout = [(ref, unit, whole, part) for ref, unit, whole, part in _VALUE_LINES[:6]]
    values: dict[tuple[int, str], str] = {}  # (position, reference) -> line
    header = "/ISK5\\2M550T-1012"
    meter_id = "0-0:96.1.1(4530303235)"
    extra: list[str] = []
    frames = []
    for second in range(count):
        event = rng.random()
        if event < 0.05:
            missing = [spec for spec in _VALUE_LINES if spec not in layout]
            layout.append(rng.choice(missing or list(_VALUE_LINES)))  # a line appears
        elif event < 0.10 and len(layout) > 1:
            layout.pop(rng.randrange(len(layout)))  # a line vanishes
        elif event < 0.13:
            index = rng.randrange(len(layout))
            layout[index] = rng.choice(_VALUE_LINES)  # same place, another code
        elif event < 0.15:
            meter_id = rng.choice(("0-0:96.1.1(4530303235)", "0-0:96.1.1(4D4554455232)"))
        elif event < 0.17:
            extra = rng.sample(_OTHER_LINES, rng.randrange(len(_OTHER_LINES) + 1))
        elif event < 0.18:
            header = rng.choice(("/ISK5\\2M550T-1012", "/KFM5KAIFA-METER", "/KFM5KAIFA-METER2"))
        elif event < 0.19:
            layout.append(("1-0:1.8.0", "kWh", 6, 3))  # the meter's own total
        for position, spec in enumerate(layout):  # a few values move every telegram
            if (position, spec[0]) not in values or rng.random() < 0.3:
                values[position, spec[0]] = _random_line(rng, *spec)
        time_line = (
            f"0-0:1.0.0(2601151{second // 3600 % 10}{second // 60 % 60:02d}{second % 60:02d}W)"
        )
        lines = ["1-3:0.2.8(50)"]
        if rng.random() > 0.02:
            lines.append(time_line)
        lines.append(meter_id)
        lines += [values[position, spec[0]] for position, spec in enumerate(layout)]
        lines += extra
        if second % 20 >= 15:
            lines.append("0-0:1.0.0(260115170000W)")  # the time twice, the last one wins
        if second % 40 >= 36:
            lines.append(_random_line(rng, *layout[0]))  # a code twice, the last one wins
        frames.append(_telegram(*lines, header=header))
    return frames


# A fixed host clock for telegrams without a time line.
_OPTIONS = DecoderOptions(clock=lambda: datetime(2026, 1, 15, 17, 0, tzinfo=UTC))


def test_random_streams_decode_the_same_warm_and_fresh() -> None:
    for seed in range(40):
        rng = random.Random(seed)
        frames = _random_stream(rng, 80)
        decoder = DsmrDecoder(_OPTIONS)
        for frame in frames:
            warm = decoder.decode_frame(frame)
            variant = decoder.variant
            _forget()
            fresh_decoder = DsmrDecoder(_OPTIONS)
            assert warm == fresh_decoder.decode_frame(frame), (seed, frame)
            assert isinstance(warm, Reading) and warm.frame == frame
            assert variant == fresh_decoder.variant
    # Decoded without forgetting in between, most lines are remembered, not parsed again.
    decoder = DsmrDecoder(_OPTIONS)
    _forget()
    for frame in _random_stream(random.Random(99), 200):
        assert isinstance(decoder.decode_frame(frame), Reading)
    info = lines.parse_line.cache_info()
    assert info.hits > info.misses


def test_a_rejected_telegram_does_not_change_what_the_next_one_is_compared_with() -> None:
    rng = random.Random(5)
    frames = _random_stream(rng, 30)
    decoder = DsmrDecoder(_OPTIONS)
    for index, frame in enumerate(frames):
        if index % 3 == 1:
            broken = frame.replace(b"(", b"(x", 1)  # CRC fails
            assert isinstance(decoder.decode_frame(broken), RejectedFrame)
            malformed = frame.replace(b"*kWh", b"*V", 1)
            body = malformed[: malformed.rindex(b"!") + 1]
            malformed = body + f"{crc.crc16_arc(body):04X}\r\n".encode()
            assert isinstance(decoder.decode_frame(malformed), RejectedFrame)
        assert decoder.decode_frame(frame) == DsmrDecoder(_OPTIONS).decode_frame(frame)
