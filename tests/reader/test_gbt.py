"""General-block-transfer: reassembly, length forms, and a broken message dropped alone."""

from __future__ import annotations

import pytest

from custom_components.ch_smart_meter.reader.errors import MalformedFrame, TruncatedFrame
from custom_components.ch_smart_meter.reader.framing import gbt
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from . import dlms_synthetic as syn


def block(number: int, data: bytes, *, last: bool = False, length: bytes | None = None) -> bytes:
    """``E0 | control | number | ack | length | data`` built by hand."""
    control = 0xC0 if last else 0x40
    size = length if length is not None else enc.encode_length(len(data))
    return bytes((0xE0, control)) + number.to_bytes(2, "big") + b"\x00\x00" + size + data


@pytest.mark.parametrize(
    ("length", "size"), [(b"\x05", 5), (b"\x81\x05", 5), (b"\x82\x00\x05", 5), (b"\x81\xc8", 200)]
)
def test_block_length_forms(length: bytes, size: int) -> None:
    parsed = gbt.parse_block(block(3, b"x" * size, last=True, length=length))
    assert (parsed.number, parsed.last, parsed.streaming, parsed.data) == (
        3,
        True,
        True,
        b"x" * size,
    )


def test_block_faults() -> None:
    with pytest.raises(TruncatedFrame):
        gbt.parse_block(block(1, b"abc")[:-1])
    with pytest.raises(MalformedFrame):
        gbt.parse_block(block(1, b"abc") + b"zz")
    with pytest.raises(MalformedFrame):
        gbt.parse_block(block(1, b"abc", length=b"\x80"))
    with pytest.raises(TruncatedFrame):
        gbt.parse_block(b"\xe0\x40\x00")


def _feed(blocks: list[bytes]) -> list[gbt.Reassembled]:
    reassembler = gbt.GbtReassembler()
    return [reassembler.add(b) for b in blocks]


def test_in_order() -> None:
    results = _feed([block(1, b"ab"), block(2, b"cd"), block(3, b"ef", last=True)])
    assert [r.message for r in results] == [None, None, b"abcdef"]
    assert all(r.dropped is None for r in results)


@pytest.mark.parametrize(
    ("numbers", "error", "words"),
    [
        ([1, 2, 2, 3], MalformedFrame, "block 2 duplicated"),
        ([1, 3, 4], TruncatedFrame, "block 2 missing"),
        ([1, 2, 5], TruncatedFrame, "blocks 3-4 missing"),
        ([1, 2, 3, 2], MalformedFrame, "out of order"),
        ([2, 3], TruncatedFrame, "without its first block"),
    ],
)
def test_a_broken_message_is_dropped_and_the_next_one_decodes(
    numbers: list[int], error: type, words: str
) -> None:
    broken = [block(n, bytes((n,))) for n in numbers]
    following = [block(1, b"x"), block(2, b"y", last=True)]
    results = _feed([*broken, block(9, b"?", last=True), *following])
    dropped = [r.dropped for r in results if r.dropped is not None]
    assert len(dropped) == 1
    assert isinstance(dropped[0], error) and words in dropped[0].message
    assert [r.message for r in results if r.message is not None] == [b"xy"]


def test_block_one_again_abandons_the_incomplete_message() -> None:
    results = _feed([block(1, b"a"), block(2, b"b"), block(1, b"x"), block(2, b"y", last=True)])
    assert isinstance(results[2].dropped, TruncatedFrame)
    assert results[3].message == b"xy"


def test_single_block_message() -> None:
    (result,) = _feed([block(1, b"abc", last=True)])
    assert result.message == b"abc"


# --- through the stream decoder -------------------------------------------------------------


def _frames(energy: int) -> list[bytes]:
    return syn.hdlc_frames(syn.notification(syn.e450_body(energy_wh=energy)), segment_size=60)


@pytest.mark.parametrize("fault", ["duplicate", "missing", "out-of-order"])
def test_decoder_drops_only_the_broken_push(fault: str) -> None:
    first, broken, last = _frames(1000), _frames(2000), _frames(3000)
    assert len(broken) >= 4
    if fault == "duplicate":
        broken = [broken[0], broken[1], broken[1], *broken[2:]]
    elif fault == "missing":
        broken = [broken[0], *broken[2:]]
    else:
        broken = [broken[0], broken[2], broken[1], *broken[3:]]
    decoder = get_spec("lg-mbus").create_decoder(DecoderOptions())
    results = decoder.feed(b"".join(first + broken + last)) + decoder.flush()
    assert [type(r) for r in results] == [Reading, RejectedFrame, Reading]
    assert [r.values["1.8.0"] for r in results if isinstance(r, Reading)] == [1.0, 3.0]
    assert isinstance(results[1].error, MalformedFrame | TruncatedFrame)


def test_an_unfinished_push_is_reported_at_the_end_of_input() -> None:
    frames = _frames(1000)
    decoder = get_spec("lg-mbus").create_decoder(DecoderOptions())
    assert decoder.feed(b"".join(frames[:-1])) == []
    (rejected,) = decoder.flush()
    assert isinstance(rejected.error, TruncatedFrame)
    assert rejected.frame == b"".join(frames[:-1])


def test_ciphered_push_inside_blocks() -> None:
    apdu = syn.cipher(syn.notification(syn.e450_body()), counter=5)
    frames = syn.hdlc_frames(apdu, segment_size=50)
    decoder = get_spec("lg-mbus").create_decoder(
        DecoderOptions(encryption_key=syn.EK, authentication_key=syn.AK)
    )
    (reading,) = decoder.feed(b"".join(frames))
    assert reading.values["1.8.0"] == 482.939
