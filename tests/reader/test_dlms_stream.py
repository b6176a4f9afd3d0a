"""The DLMS stream decoder as a whole: framing detection, raw APDUs, end of input, reset."""

from __future__ import annotations

import random

import pytest

from custom_components.ch_smart_meter.reader.errors import (
    MalformedFrame,
    TruncatedFrame,
    UnsupportedFrame,
)
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame, TimeSource
from custom_components.ch_smart_meter.reader.session import SourceStats
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from . import dlms_synthetic as syn
from .dlms_corpus import BY_ID, decode


def _tally(results: list) -> SourceStats:
    """The results counted as the reading session counts them."""
    stats = SourceStats()
    for result in results:
        stats.count(result)
    return stats


def _decoder(standard: str = "lg-mbus", **options: object):
    return get_spec(standard).create_decoder(DecoderOptions(**options))  # type: ignore[arg-type]


def _apdu(energy: int = 482939) -> bytes:
    return syn.notification(syn.e450_body(energy_wh=energy))


@pytest.mark.parametrize(
    "framing",
    ["hdlc", "hdlc-gbt", "hdlc-s-bit", "mbus", "raw", "llc"],
)
@pytest.mark.parametrize("standard", ["p1-dlms", "lg-mbus", "kamstrup-dlms"])
def test_every_framing_on_every_standard(framing: str, standard: str) -> None:
    """The standard expects HDLC, but recognises any framing by its first byte."""
    pushes = [_apdu(1000 * n) for n in (1, 2, 3)]
    wrap = {
        "hdlc": syn.hdlc,
        "hdlc-gbt": lambda a: b"".join(syn.hdlc_frames(a, segmentation="gbt")),
        "hdlc-s-bit": lambda a: b"".join(syn.hdlc_frames(a, segmentation="hdlc-s-bit")),
        "mbus": lambda a: b"".join(syn.mbus(a, max_segment=100)),
        "raw": lambda a: a,
        "llc": lambda a: b"\xe6\xe7\x00" + a,
    }[framing]
    stream = b"".join(wrap(a) for a in pushes)
    for chunks in ([stream], [stream[i : i + 1] for i in range(len(stream))]):
        decoder = _decoder(standard, profile="lg-e450")
        results = [r for c in chunks for r in decoder.feed(c)] + decoder.flush()
        assert [r.values["1.8.0"] for r in results] == [1.0, 2.0, 3.0]


def test_raw_apdus_of_a_capture_fed_line_by_line_or_as_one_stream() -> None:
    capture = BY_ID["amsreader__landisgyr_gh934-1"]
    (one,) = decode(capture, capture.lines())
    (two,) = decode(capture, [b"".join(capture.lines())])
    assert one == two and one.values["1.8.0"] == 4912.257


def test_noise_before_a_raw_stream_turns_raw_detection_off() -> None:
    """APDUs without link layer are only taken from the start: noise can never pose as one."""
    decoder = _decoder()
    assert decoder.feed(b"\x00\x01" + _apdu()) == []
    (reading,) = decoder.feed(syn.hdlc(_apdu(2000)))
    assert reading.values["1.8.0"] == 2.0


def test_a_dsmr_telegram_on_a_dlms_port_is_named() -> None:
    telegram = b"/ISk5\\2MT382-1000\r\n\r\n1-0:1.8.1(123456.789*kWh)\r\n!1234\r\n"
    decoder = _decoder("p1-dlms")
    results = decoder.feed(telegram * 2)
    assert [type(r.error) for r in results] == [UnsupportedFrame, UnsupportedFrame]
    assert "P1 DSMR" in results[0].error.message


def test_an_apdu_that_is_not_a_push_is_unsupported() -> None:
    get_response = bytes.fromhex("c401c1000600000001")
    decoder = _decoder()
    (rejected,) = decoder.feed(syn.hdlc(get_response) + b"")
    assert isinstance(rejected.error, UnsupportedFrame)
    assert "get-response" in rejected.error.message
    (reading,) = decoder.feed(syn.hdlc(_apdu()))
    assert isinstance(reading, Reading)


def test_a_malformed_body_is_malformed() -> None:
    apdu = bytes.fromhex("0f00000001" + "00" + "0203" + "1101" + "07")
    (rejected,) = _decoder().feed(syn.hdlc(apdu))
    assert isinstance(rejected.error, MalformedFrame)
    assert "unknown A-XDR data type 0x07" in rejected.error.message


def test_reset_forgets_a_partial_push() -> None:
    frames = syn.hdlc_frames(_apdu(1000))
    decoder = _decoder()
    assert decoder.feed(b"".join(frames[:2])) == []
    decoder.reset()
    assert decoder.flush() == []
    (reading,) = decoder.feed(syn.hdlc(_apdu(2000)))
    assert reading.values["1.8.0"] == 2.0


def test_flush_reports_each_kind_of_unfinished_message() -> None:
    gbt_frames = syn.hdlc_frames(_apdu(), segmentation="gbt")
    s_frames = syn.hdlc_frames(_apdu(), segmentation="hdlc-s-bit")
    mbus_frames = syn.mbus(_apdu(), max_segment=100)
    for partial in (gbt_frames[:-1], s_frames[:-1], mbus_frames[:-1], [syn.hdlc(_apdu())[:-9]]):
        decoder = _decoder()
        assert decoder.feed(b"".join(partial)) == []
        (rejected,) = decoder.flush()
        assert isinstance(rejected.error, TruncatedFrame)
        assert rejected.frame


def test_a_push_without_time_is_stamped_by_the_host_clock() -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    apdu = enc.data_notification(syn.e450_body(), invoke_id=1, date_time=None)
    (reading,) = _decoder(clock=lambda: moment).feed(syn.hdlc(apdu))
    assert (reading.timestamp, reading.time_source) == (moment, TimeSource.HOST)


def test_counters() -> None:
    decoder = _decoder()
    bad = bytearray(syn.hdlc(_apdu(2)))
    bad[40] ^= 1
    stats = _tally(
        decoder.feed(syn.hdlc(_apdu(1)) + bytes(bad) + syn.hdlc(bytes.fromhex("c401c100060000")))
    )
    assert stats.frames_ok == 1
    assert stats.rejected_by_reason == {"crc_mismatch": 1, "unsupported": 1}
    assert decoder.last_notification is not None


def test_random_chunking_gives_the_same_results() -> None:
    rng = random.Random(5)
    stream = b"".join(
        syn.hdlc(_apdu(n)) + rng.randbytes(5).replace(b"\x7e", b"") for n in range(20)
    )
    expected = _decoder().feed(stream)
    for _ in range(20):
        decoder = _decoder()
        results: list[Reading | RejectedFrame] = []
        pos = 0
        while pos < len(stream):
            step = rng.randrange(1, 300)
            results += decoder.feed(stream[pos : pos + step])
            pos += step
        assert [_describe(r) for r in results] == [_describe(r) for r in expected]


def _describe(result: Reading | RejectedFrame) -> tuple[str, bytes]:
    if isinstance(result, Reading):
        return repr(result), result.frame
    return result.error.message, result.frame


def test_a_raw_standard_finds_apdus_after_noise() -> None:
    """PipelineConfig(framing=RAW): APDUs without link layer resync after noise."""
    from custom_components.ch_smart_meter.reader.dlms.decoder import (  # noqa: PLC0415
        DlmsStreamDecoder,
        Framing,
        PipelineConfig,
    )
    from custom_components.ch_smart_meter.reader.model import Standard  # noqa: PLC0415

    config = PipelineConfig(Standard.LG_MBUS, framing=Framing.RAW)
    decoder = DlmsStreamDecoder(DecoderOptions(), config)
    results = decoder.feed(b"\x00\x01\x02" + _apdu(1000) + b"\x55" + _apdu(2000))
    assert [r.values["1.8.0"] for r in results] == [1.0, 2.0]
