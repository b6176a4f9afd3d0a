"""The simulated NES meter is strict where the guide is: keys, sequence numbers, errors.

Requests are made with the reader's envelope code; the simulator's answers are checked
with it too (the simulator's own envelope code is independent of it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    KeyRejected,
    RequestRefused,
    TlsRequired,
)
from custom_components.ch_smart_meter.reader.mep.message import (
    Answer,
    ResponseCode,
    SentRequest,
    open_answer,
    read_body,
    seal,
)
from custom_components.ch_smart_meter.reader.mep.tables import Table
from custom_components.ch_smart_meter.reader.model import Standard
from custom_components.ch_smart_meter.reader.simulate.mep_meter import DEMO_MBK, MepSource
from custom_components.ch_smart_meter.reader.simulate.meters import create_source
from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions
from custom_components.ch_smart_meter.reader.simulate.stream import parse_simulator_url

MOMENT = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)


def meter(model: str | None = None, key: bytes | None = None) -> MepSource:
    source = create_source(Standard.MEP, SourceOptions(seed=5, key=key, model=model))
    assert isinstance(source, MepSource)
    return source


def ask(
    source: MepSource,
    table: int,
    offset: int,
    count: int,
    sequence: int,
    *,
    key: bytes = DEMO_MBK,
    encrypt: bool = False,
) -> tuple[SentRequest, bytes]:
    sent = seal(key, read_body(table, offset, count, sequence), encrypt=encrypt)
    return sent, source.respond(sent.wire, MOMENT)


def answer_to(source: MepSource, table: int, offset: int, count: int, **kwargs: bool) -> Answer:
    """The answer to a read with the meter's next sequence number."""
    sent, raw = ask(source, table, offset, count, source.sequence + 1, **kwargs)
    return open_answer(DEMO_MBK, sent, raw)


def test_sequence_numbers_as_the_guide_says() -> None:
    source = meter()
    current = source.sequence
    sent, raw = ask(source, Table.BT52, 0, 6, current + 100)
    resync = open_answer(DEMO_MBK, sent, raw)
    assert (resync.code, resync.sequence) == (ResponseCode.INVALID_SEQUENCE, current)
    for step in (1, 8):  # up to 8 ahead is accepted
        sent, raw = ask(source, Table.BT52, 0, 6, source.sequence + step)
        assert open_answer(DEMO_MBK, sent, raw).code == ResponseCode.OK
    again = source.sequence
    sent, raw = ask(source, Table.BT52, 0, 6, again)  # the previous number again
    assert open_answer(DEMO_MBK, sent, raw).sequence == again
    sent, raw = ask(source, Table.BT52, 0, 6, again + 9)  # too far ahead
    assert open_answer(DEMO_MBK, sent, raw).code == ResponseCode.INVALID_SEQUENCE
    wrapped = meter()
    wrapped.sequence = 0xFFFFFFFF
    sent, raw = ask(wrapped, Table.BT52, 0, 6, 0)  # the number wraps around
    assert open_answer(DEMO_MBK, sent, raw).code == ResponseCode.OK


def test_a_wrong_key_gets_0x0b_in_plain() -> None:
    source = meter()
    before = source.sequence
    sent, raw = ask(source, Table.BT00, 0, 7, before + 1, key=b"WRONG-KEY-0123456789")
    assert raw[:3] == b"\x00\x09\x0b"
    with pytest.raises(KeyRejected):
        open_answer(DEMO_MBK, sent, raw)
    _, raw = ask(source, Table.BT00, 0, 7, before + 1, key=b"WRONG", encrypt=True)
    assert raw[:3] == b"\x00\x09\x0b"  # plain even to an encrypted request
    assert source.sequence == before


@pytest.mark.parametrize(
    ("table", "offset", "count", "code"),
    [
        (0x0999, 0, 4, 0x05),  # no such table: inappropriate action requested
        (Table.BT21, 8, 10, 0x04),  # beyond the table
        (Table.BT28, 0, 470, 0x04),  # beyond one message
    ],
)
def test_error_answers(table: int, offset: int, count: int, code: int) -> None:
    answer = answer_to(meter(), table, offset, count)
    assert answer.code == code and isinstance(answer.error(), RequestRefused)


def test_writes_malformed_and_full_reads() -> None:
    source = meter()
    write = bytes((0x4F, 0x08, 0x32, 0, 0, 0x1E, 0, 1, 1))
    sent = seal(DEMO_MBK, write + (source.sequence + 1).to_bytes(4, "big"))
    assert open_answer(DEMO_MBK, sent, source.respond(sent.wire, MOMENT)).code == 0x03
    odd = seal(DEMO_MBK, bytes((0x3F, 0, 1)) + (source.sequence + 1).to_bytes(4, "big"))
    assert open_answer(DEMO_MBK, odd, source.respond(odd.wire, MOMENT)).code == 0x01
    full = seal(DEMO_MBK, bytes((0x30, 0, 1)) + (source.sequence + 1).to_bytes(4, "big"))
    answer = open_answer(DEMO_MBK, full, source.respond(full.wire, MOMENT))
    assert answer.code == 0 and answer.data[:4] == b"NES " and len(answer.data) == 17
    assert source.respond(b"\x00\x03\x3f\x00\x01", MOMENT)[2] == 0x01  # too short


def test_requests_in_pieces_and_alerts_ignored() -> None:
    source = meter()
    sent = seal(DEMO_MBK, read_body(Table.BT01, 0, 16, source.sequence + 1))
    answers = [source.respond(b"\x00\x00" + sent.wire[:1], MOMENT)]
    answers += [source.respond(bytes((byte,)), MOMENT) for byte in sent.wire[1:]]
    assert all(a == b"" for a in answers[:-1])
    assert open_answer(DEMO_MBK, sent, answers[-1]).data[:4] == b"NES "


def test_rc4_requests_get_rc4_answers() -> None:
    source = meter()
    answer = answer_to(source, Table.BT01, 0, 16, encrypt=True)
    assert answer.data[:4] == b"NES "
    sent, raw = ask(source, Table.BT01, 0, 16, source.sequence + 50, encrypt=True)
    assert b"\x0c" + source.sequence.to_bytes(4, "big") not in raw  # the 0x0C is encrypted
    assert open_answer(DEMO_MBK, sent, raw).sequence == source.sequence


def test_tls_model_answers_in_the_tls_envelope() -> None:
    source = meter("nes-tls")
    sent, raw = ask(source, Table.BT00, 0, 7, 1)
    assert raw == b"\x00\x01\x0a"
    with pytest.raises(TlsRequired):
        open_answer(DEMO_MBK, sent, raw)


def test_hooks_drop_and_corrupt() -> None:
    source = meter()
    source.drop_answers()
    before = source.sequence
    _, raw = ask(source, Table.BT52, 0, 6, before + 1)
    assert raw == b"" and source.sequence == before + 1  # processed, not answered
    source.corrupt_answers()
    sent, raw = ask(source, Table.BT52, 0, 6, source.sequence + 1)
    with pytest.raises(CrcError):
        open_answer(DEMO_MBK, sent, raw)
    assert answer_to(source, Table.BT52, 0, 6).code == 0


def test_clock_and_measurement() -> None:
    source = meter()
    clock = answer_to(source, Table.BT52, 0, 7).data
    assert clock[:6] == bytes((26, 6, 17, 10, 0, 0)) and clock[6] & 0x07 == 3  # Wednesday
    assert source.measurement is not None
    assert source.measurement.expected["1.8.0"] > 0


def test_models_and_unknown_model() -> None:
    assert meter().model.id == "nes-83335"
    assert meter("nes-ct").model.ct_ratio == 40
    with pytest.raises(KeyError, match="no simulated MEP meter"):
        meter("nes-unknown")
    assert meter().frame_at(MOMENT) == b""


def test_simulator_urls_take_the_mbk_in_both_forms() -> None:
    ascii_form = parse_simulator_url("simulator://mep?key=ABCDEFGHIJ0123456789")
    assert ascii_form.key == b"ABCDEFGHIJ0123456789"
    hex_form = parse_simulator_url(f"simulator://mep?key={b'ABCDEFGHIJ0123456789'.hex()}")
    assert hex_form.key == ascii_form.key
    assert parse_simulator_url("simulator://mep").key is None  # the demo MBK then
    assert meter().key == DEMO_MBK and meter(key=b"K" * 20).key == b"K" * 20
