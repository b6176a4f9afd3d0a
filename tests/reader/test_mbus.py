"""Wired M-Bus long frames carrying DLMS: checksum, CI sequence, 1, 2, 3 and more segments."""

from __future__ import annotations

import pytest

from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    DecryptionFailed,
    MalformedFrame,
    TruncatedFrame,
    UnsupportedFrame,
)
from custom_components.ch_smart_meter.reader.framing import mbus
from custom_components.ch_smart_meter.reader.framing.scan import ScanKind
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from . import dlms_synthetic as syn


def long_frame(segment: bytes, ci: int, *, control: int = 0x53) -> bytes:
    """``68 L L 68 C A CI 01 67 segment CS 16`` built by hand."""
    body = bytes((control, 0xFF, ci, 0x01, 0x67)) + segment
    return bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))


def test_scan_reads_the_fields() -> None:
    frame = long_frame(b"\xdb\x08abc", 0x11)
    result = mbus.scan(frame, 0)
    assert result.kind is ScanKind.FRAME and result.end == len(frame)
    parsed = result.frame
    assert (parsed.control, parsed.address, parsed.ci) == (0x53, 0xFF, 0x11)
    assert (parsed.source_tsap, parsed.destination_tsap) == (0x01, 0x67)
    assert parsed.segment == b"\xdb\x08abc"
    assert (parsed.sequence, parsed.last) == (1, True)


def test_checksum_stop_byte_and_ci() -> None:
    frame = bytearray(long_frame(b"\x0f\x00", 0x10))
    frame[-2] ^= 1
    assert isinstance(mbus.scan(bytes(frame), 0).error, CrcError)
    frame = bytearray(long_frame(b"\x0f\x00", 0x10))
    frame[-1] = 0x00
    assert isinstance(mbus.scan(bytes(frame), 0).error, MalformedFrame)
    not_dlms = long_frame(b"\x0f\x00", 0x72)  # CI 0x72: an M-Bus application, not DLMS
    assert isinstance(mbus.scan(not_dlms, 0).error, UnsupportedFrame)


@pytest.mark.parametrize("head", [b"\x68\x10\x11\x68", b"\x68\x10\x10\x67", b"\x68\x01\x01\x68"])
def test_not_a_long_frame(head: bytes) -> None:
    assert mbus.scan(head + b"\x00" * 30, 0).kind is ScanKind.NOISE


def test_incomplete_asks_for_more() -> None:
    frame = long_frame(b"\x0f" * 100, 0x10)
    for cut in range(1, len(frame)):
        assert mbus.scan(frame[:cut], 0).kind is ScanKind.MORE


def _frames(parts: list[bytes], cis: list[int]) -> list[mbus.MbusFrame]:
    return [mbus.scan(long_frame(p, ci), 0).frame for p, ci in zip(parts, cis, strict=True)]


@pytest.mark.parametrize(
    "cis",
    [[0x10], [0x00, 0x11], [0x00, 0x01, 0x12], [*range(16), 0x00, 0x11]],
    ids=["one", "two", "three (gurux never completes it)", "eighteen (wraps)"],
)
def test_reassembly(cis: list[int]) -> None:
    parts = [bytes((n,)) * 3 for n in range(len(cis))]
    reassembler = mbus.MbusReassembler()
    results = [reassembler.add(f) for f in _frames(parts, cis)]
    assert [r.dropped for r in results] == [None] * len(cis)
    assert [r.message for r in results[:-1]] == [None] * (len(cis) - 1)
    assert results[-1].message == b"".join(parts)
    assert not reassembler.pending


def test_a_missing_segment_drops_that_message_only() -> None:
    reassembler = mbus.MbusReassembler()
    frames = _frames([b"a", b"c", b"d", b"x", b"y"], [0x00, 0x02, 0x13, 0x00, 0x11])
    results = [reassembler.add(f) for f in frames]
    assert isinstance(results[1].dropped, TruncatedFrame)
    assert "segment 1 missing" in results[1].dropped.message
    assert results[2] == mbus.Reassembled()  # the rest of the broken message is ignored
    assert results[4].message == b"xy"


def test_a_new_first_segment_abandons_the_pending_message() -> None:
    reassembler = mbus.MbusReassembler()
    results = [reassembler.add(f) for f in _frames([b"a", b"x", b"y"], [0x00, 0x00, 0x11])]
    assert isinstance(results[1].dropped, TruncatedFrame)
    assert results[2].message == b"xy"


# --- through the stream decoder -------------------------------------------------------------


def _encrypted_push(counter: int, energy: int) -> bytes:
    apdu = syn.notification(syn.e450_body(energy_wh=energy))
    return syn.cipher(
        apdu, counter=counter, security_control=enc.SecurityControl.ENCRYPTED, auth_key=None
    )


@pytest.mark.parametrize("max_segment", [240, 120, 60])
def test_encrypted_push_over_m_bus_segments(max_segment: int) -> None:
    frames = syn.mbus(_encrypted_push(7, 482939), max_segment=max_segment)
    stream = b"".join(frames)
    for chunks in ([stream], [stream[i : i + 1] for i in range(len(stream))]):
        decoder = get_spec("lg-mbus").create_decoder(DecoderOptions(encryption_key=syn.EK))
        results = [r for c in chunks for r in decoder.feed(c)] + decoder.flush()
        (reading,) = results
        assert isinstance(reading, Reading)
        assert reading.values["1.8.0"] == 482.939
        assert reading.frame == stream


def test_wrong_key_over_m_bus_is_a_decryption_failure() -> None:
    """SC 0x20 has no tag: the plaintext's structure is what tells a wrong key."""
    frames = syn.mbus(_encrypted_push(7, 482939), max_segment=100)
    decoder = get_spec("lg-mbus").create_decoder(DecoderOptions(encryption_key=bytes(16)))
    (rejected,) = decoder.feed(b"".join(frames))
    assert isinstance(rejected, RejectedFrame)
    assert isinstance(rejected.error, DecryptionFailed)


def test_a_lost_segment_drops_one_push_and_the_next_decodes() -> None:
    first = syn.mbus(_encrypted_push(1, 1000), max_segment=60)
    second = syn.mbus(_encrypted_push(2, 2000), max_segment=60)
    third = syn.mbus(_encrypted_push(3, 3000), max_segment=60)
    assert len(second) >= 3
    stream = b"".join(first + second[:1] + second[2:] + third)
    decoder = get_spec("lg-mbus").create_decoder(DecoderOptions(encryption_key=syn.EK))
    results = decoder.feed(stream)
    assert [type(r) for r in results] == [Reading, RejectedFrame, Reading]
    assert isinstance(results[1].error, TruncatedFrame)
    assert [r.values["1.8.0"] for r in results if isinstance(r, Reading)] == [1.0, 3.0]


def test_hdlc_and_m_bus_frames_in_one_stream() -> None:
    hdlc_push = syn.hdlc(syn.notification(syn.e450_body(energy_wh=1000)))
    mbus_push = b"".join(syn.mbus(_encrypted_push(9, 2000), max_segment=80))
    decoder = get_spec("lg-mbus").create_decoder(DecoderOptions(encryption_key=syn.EK))
    results = decoder.feed(hdlc_push + mbus_push + hdlc_push)
    assert [r.values["1.8.0"] for r in results] == [1.0, 2.0, 1.0]
