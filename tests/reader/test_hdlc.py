"""HDLC frame format type 3: framing by length, HCS/FCS, addresses, S bit, resynchronisation.

Frames are built here with a few lines over the reference CRC (``reader.crc``), so that
address lengths the encoder does not produce (3 bytes) are covered too.
"""

from __future__ import annotations

import random

import pytest

from custom_components.ch_smart_meter.reader.crc import crc16_x25
from custom_components.ch_smart_meter.reader.errors import CrcError, TruncatedFrame
from custom_components.ch_smart_meter.reader.framing import hdlc
from custom_components.ch_smart_meter.reader.framing.raw import MAX_APDU as MAX_RAW_APDU
from custom_components.ch_smart_meter.reader.framing.scan import ScanKind
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.session import SourceStats
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec
from tests.reader.crc_reference import crc16_x25_bitwise

from . import dlms_synthetic as syn


def _tally(results: list) -> SourceStats:
    """The results counted as the reading session counts them."""
    stats = SourceStats()
    for result in results:
        stats.count(result)
    return stats


def build(
    information: bytes,
    *,
    destination: bytes = b"\x03",
    source: bytes = b"\x21",
    control: int = 0x13,
    segmented: bool = False,
    opening: bool = True,
    closing: bool = True,
) -> bytes:
    """An HDLC frame (type 3) with the reference CRC, LSB first."""
    header_length = 2 + len(destination) + len(source) + 1
    length = header_length + (2 + len(information) if information else 0) + 2
    fmt = 0xA000 | (0x0800 if segmented else 0) | length
    header = fmt.to_bytes(2, "big") + destination + source + bytes((control,))
    body = header
    if information:
        body += crc16_x25(header).to_bytes(2, "little") + information
    body += crc16_x25(body).to_bytes(2, "little")
    return (b"\x7e" if opening else b"") + body + (b"\x7e" if closing else b"")


def scan_all(data: bytes) -> list:
    """Every frame or error a plain scan finds, skipping noise."""
    found, pos = [], 0
    while pos < len(data):
        if data[pos] != hdlc.FLAG:
            pos += 1
            continue
        result = hdlc.scan(data, pos)
        if result.kind is ScanKind.FRAME:
            found.append(result.frame)
            pos = result.end
        elif result.kind is ScanKind.ERROR:
            found.append(result.error)
            pos += 1
        elif result.kind is ScanKind.MORE:
            break
        else:
            pos += 1
    return found


def test_fcs_is_crc16_x25() -> None:
    assert crc16_x25(b"123456789") == 0x906E
    rng = random.Random(1)
    for size in range(300):
        data = rng.randbytes(size)
        assert crc16_x25(data) == crc16_x25(bytearray(data)) == crc16_x25_bitwise(data)


@pytest.mark.parametrize(
    "destination", [b"\x03", b"\xce\xff", b"\x02\x04\x07", b"\x02\x04\x06\x09"]
)
@pytest.mark.parametrize("source", [b"\x21", b"\x02\x23", b"\x00\x00\x01", b"\x02\x02\x02\x03"])
def test_addresses_of_one_to_four_bytes(destination: bytes, source: bytes) -> None:
    frame = build(b"\xe6\xe7\x00\x0f", destination=destination, source=source)
    result = hdlc.scan(frame, 0)
    assert result.kind is ScanKind.FRAME
    assert result.end == len(frame) - 1  # the closing flag stays (it may open the next frame)
    parsed = result.frame
    assert parsed.destination == int.from_bytes(destination, "big")
    assert parsed.source == int.from_bytes(source, "big")
    assert parsed.control == 0x13
    assert parsed.information == b"\xe6\xe7\x00\x0f"
    assert not parsed.segmented


def test_an_address_longer_than_four_bytes_is_not_a_frame() -> None:
    frame = build(b"\x0f", destination=b"\x02\x02\x02\x02\x03")
    assert hdlc.scan(frame, 0).kind is ScanKind.NOISE


def test_no_byte_stuffing_the_flag_may_appear_inside() -> None:
    information = b"\xe6\xe7\x00" + b"\x7e\x7e\x7d\x5e\x7e" * 20
    frames = scan_all(build(information))
    assert [f.information for f in frames] == [information]


def test_frames_sharing_one_flag() -> None:
    one, two = build(b"\x01\x02"), build(b"\x03\x04")
    shared = one + two[1:]  # "7E frame 7E frame 7E"
    assert [f.information for f in scan_all(shared)] == [b"\x01\x02", b"\x03\x04"]


def test_frame_without_information_has_no_hcs() -> None:
    frame = build(b"", control=0x73)
    result = hdlc.scan(frame, 0)
    assert result.kind is ScanKind.FRAME
    assert result.frame.information == b""
    assert result.frame.raw == frame  # flags included


def test_segmentation_bit() -> None:
    result = hdlc.scan(build(b"\x01", segmented=True), 0)
    assert result.frame.segmented


@pytest.mark.parametrize(
    "candidate",
    [
        b"\x7e\x50\x07",
        b"\x7e\xa0\x03\x03\x21\x13",
        b"\x7e\x7e\x7e",
        b"\x7e\xa0\x06\x03\x21\x13\x00\x00",
    ],
)
def test_not_a_frame_start(candidate: bytes) -> None:
    assert hdlc.scan(candidate + b"\x00" * 10, 0).kind is ScanKind.NOISE


def test_incomplete_frame_asks_for_more() -> None:
    frame = build(b"\x0f" * 40)
    for cut in range(1, len(frame) - 1):
        assert hdlc.scan(frame[:cut], 0).kind is ScanKind.MORE


def test_bad_fcs_is_a_crc_error_bad_hcs_is_no_frame() -> None:
    frame = bytearray(build(b"\xe6\xe7\x00\x0f\x01\x02\x03"))
    frame[-4] ^= 0x01  # information
    result = hdlc.scan(bytes(frame), 0)
    assert isinstance(result.error, CrcError)
    assert "frame check" in result.error.message
    assert result.end == len(frame) - 1  # the span not to report twice
    header_hit = bytearray(build(b"\xe6\xe7\x00\x0f\x01\x02\x03"))
    header_hit[5] ^= 0x40  # control byte: HCS and FCS fail: not a frame start at all
    assert hdlc.scan(bytes(header_hit), 0).kind is ScanKind.NOISE


def test_bad_hcs_is_found_before_the_frame_is_complete() -> None:
    """Noise that looks like a long frame is not waited for."""
    frame = bytearray(build(b"\x0f" * 500))
    frame[5] ^= 0x40
    assert hdlc.scan(bytes(frame[:12]), 0).kind is ScanKind.NOISE


def test_strip_llc() -> None:
    assert hdlc.strip_llc(b"\xe6\xe7\x00\x0f") == b"\x0f"
    assert hdlc.strip_llc(b"\xe6\xe6\x00\x0f") == b"\x0f"
    assert hdlc.strip_llc(b"\x0f\x00") == b"\x0f\x00"


# --- through the stream decoder -------------------------------------------------------------


def _decoder(standard: str = "lg-mbus", **options: object):
    return get_spec(standard).create_decoder(DecoderOptions(**options))  # type: ignore[arg-type]


def _push(energy: int = 482939) -> bytes:
    return syn.notification(syn.e450_body(energy_wh=energy))


def test_noise_between_frames_is_skipped() -> None:
    rng = random.Random(7)
    clean = b"".join(syn.hdlc(_push(1000 + n)) for n in range(5))
    noisy = b"".join(
        rng.randbytes(rng.randrange(0, 40)).replace(b"\x7e", b"\x00").replace(b"\x68", b"\x00")
        + syn.hdlc(_push(1000 + n))
        for n in range(5)
    )
    decoder = _decoder()
    results = decoder.feed(noisy) + decoder.flush()
    assert [r.values["1.8.0"] for r in results] == [1.0 + n / 1000 for n in range(5)]
    assert results == _decoder().feed(clean)


def test_a_bad_frame_is_reported_and_the_next_one_decodes() -> None:
    good = syn.hdlc(_push(1000))
    bad = bytearray(syn.hdlc(_push(2000)))
    bad[len(bad) // 2] ^= 0xFF
    decoder = _decoder()
    results = decoder.feed(good + bytes(bad) + syn.hdlc(_push(3000)))
    assert [type(r) for r in results] == [Reading, RejectedFrame, Reading]
    assert isinstance(results[1].error, CrcError)
    assert results[1].frame[0] == 0x7E and results[1].frame[1] & 0xF0 == 0xA0
    assert [r.values["1.8.0"] for r in results if isinstance(r, Reading)] == [1.0, 3.0]
    stats = _tally(results)
    assert (stats.frames_ok, stats.rejected_by_reason) == (2, {"crc_mismatch": 1})


def test_random_corruption_never_crashes_and_never_gives_a_wrong_value() -> None:
    rng = random.Random(11)
    frames = [syn.hdlc(_push(1000 + n)) for n in range(30)]
    stream = bytearray()
    for frame in frames:
        damaged = bytearray(frame)
        if rng.random() < 0.5:
            for _ in range(rng.randrange(1, 4)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        stream += damaged
    decoder = _decoder()
    results = decoder.feed(bytes(stream)) + decoder.flush()
    expected = {1.0 + n / 1000 for n in range(30)}
    for result in results:
        if isinstance(result, Reading):
            assert result.values["1.8.0"] in expected
        else:
            assert result.error.reason


def test_s_bit_segments_make_one_message() -> None:
    apdu = _push()
    frames = syn.hdlc_frames(apdu, segmentation="hdlc-s-bit", segment_size=50)
    assert len(frames) > 3
    assert all(f[1] & 0x08 for f in frames[:-1]) and not frames[-1][1] & 0x08
    (reading,) = _decoder("p1-dlms").feed(b"".join(frames))
    assert reading.values["1.8.0"] == 482.939


def test_a_truncated_last_frame_is_reported_on_flush() -> None:
    stream = syn.hdlc(_push())
    decoder = _decoder()
    assert decoder.feed(stream[:-20]) == []
    (rejected,) = decoder.flush()
    assert isinstance(rejected.error, TruncatedFrame)
    assert decoder.flush() == []


@pytest.mark.parametrize("seed", range(5))
def test_unbounded_noise_does_not_grow_the_buffer(seed: int) -> None:
    decoder = _decoder()
    noise = random.Random(seed).randbytes(200_000).replace(b"\x7e", b"\x00")
    for start in range(0, len(noise), 4096):
        decoder.feed(noise[start : start + 4096])
    # At most one pending candidate: a long HDLC frame, or an APDU header at the very start.
    assert len(decoder._buffer) < MAX_RAW_APDU + 4096
    (reading,) = decoder.feed(syn.hdlc(_push()))
    assert reading.values["1.8.0"] == 482.939
