"""The MEP envelope, digest, RC4 and keys, against the MEP Client Developer's Guide.

The guide's example messages are read in place from ../shared/testdata/mep (no licence
grant: never copied here); the MANIFEST's key for the RC4 examples is sixteen 0x01 bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    InvalidKey,
    KeyRejected,
    MalformedFrame,
    RequestRefused,
    TlsRequired,
)
from custom_components.ch_smart_meter.reader.mep.digest import mep_digest
from custom_components.ch_smart_meter.reader.mep.keys import InvalidMepKey, parse_mep_key
from custom_components.ch_smart_meter.reader.mep.message import (
    MAX_READ_COUNT,
    RESPONSES,
    Answer,
    ResponseCode,
    find_message,
    open_answer,
    read_body,
    read_request,
    seal,
    unseal_request,
)
from custom_components.ch_smart_meter.reader.mep.rc4 import Rc4, base_key, packet_cipher
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from tests.conftest import testdata_dir as capture_folder

GUIDE_KEY = bytes([0x01] * 16)
EXAMPLES = capture_folder("mep")


def example(name: str) -> bytes:
    """One of the guide's example messages (hex text), e.g. ``rc4_ex1_a``."""
    (path,) = EXAMPLES.glob(f"osgp_mepdg__{name}_*.hex")
    return bytes.fromhex(path.read_text())


def body(message: bytes) -> bytes:
    """Code through sequence number (request) or code through data (answer)."""
    return message[2:-8]


def digest(message: bytes) -> bytes:
    return message[-8:]


# -- the digest: every example of the guide, byte for byte ---------------------------------

REQUESTS = ["rc4_ex1_a", "rc4_ex1_c", "rc4_ex2_a", "rc4_ex3"]
# Each answer with the request it answers: the digest runs over request then answer.
ANSWERS = [("rc4_ex1_b", "rc4_ex1_a"), ("rc4_ex1_d", "rc4_ex1_c"), ("rc4_ex2_b", "rc4_ex2_a")]


@pytest.mark.parametrize("name", REQUESTS)
def test_request_digests_of_the_guide(name: str) -> None:
    message = example(name)
    assert mep_digest(GUIDE_KEY, body(message)) == digest(message)


@pytest.mark.parametrize(("name", "asked_name"), ANSWERS)
def test_answer_digests_of_the_guide(name: str, asked_name: str) -> None:
    answer, asked = example(name), example(asked_name)
    assert mep_digest(GUIDE_KEY, body(asked) + body(answer)) == digest(answer)


def test_the_guide_values() -> None:
    """The four digests the guide prints for example 1, spelled out."""
    assert mep_digest(GUIDE_KEY, body(example("rc4_ex1_a"))).hex() == "74861f6d7658dd56"
    assert mep_digest(GUIDE_KEY, body(example("rc4_ex1_c"))).hex() == "13db85a135a0575e"
    pair = body(example("rc4_ex1_a")) + body(example("rc4_ex1_b"))
    assert mep_digest(GUIDE_KEY, pair).hex() == "35863c1df5b91482"
    pair = body(example("rc4_ex1_c")) + body(example("rc4_ex1_d"))
    assert mep_digest(GUIDE_KEY, pair).hex() == "addcb82c3d417f91"


def test_only_the_first_16_key_bytes_count_and_every_key_bit_matters() -> None:
    data = body(example("rc4_ex1_a"))
    assert mep_digest(GUIDE_KEY + b"ABCD", data) == mep_digest(GUIDE_KEY, data)
    for index in range(16):
        for bit in range(8):
            key = bytearray(GUIDE_KEY)
            key[index] ^= 1 << bit
            assert mep_digest(bytes(key), data) != mep_digest(GUIDE_KEY, data)


def test_long_data_runs_several_rounds() -> None:
    """Beyond one key schedule (24 x 8 bytes) every byte still counts."""
    data = bytes(range(256)) * 2
    changed = bytearray(data)
    changed[-1] ^= 0x01
    assert mep_digest(GUIDE_KEY, data) != mep_digest(GUIDE_KEY, bytes(changed))
    with pytest.raises(ValueError):
        mep_digest(b"", data)


def test_table_a1_key_is_not_the_examples_key() -> None:
    """Appendix A's example (BT52) was made with a key the guide does not give."""
    message = example("tableA1_partial_read_bt52_unknown")
    assert mep_digest(GUIDE_KEY, body(message)) != digest(message)


# -- requests and answers ----------------------------------------------------------------------


def test_example_1_requests_are_what_the_reader_sends() -> None:
    first = seal(GUIDE_KEY, read_body(0x17, 0, 0x2C, 0x01020304))
    assert first.wire == example("rc4_ex1_a")
    retry = seal(GUIDE_KEY, read_body(0x17, 0, 0x2C, 0x77635B91))
    assert retry.wire == example("rc4_ex1_c")
    assert retry.sequence == 0x77635B91
    assert read_request(retry.body) == (0x17, 0, 0x2C)


def test_example_1_resynchronisation_through_the_codec() -> None:
    """The guide's example 1 as the poller lives it: a wrong guess, 0x0C with the meter's
    number, the next number, the data."""
    first = seal(GUIDE_KEY, read_body(0x17, 0, 0x2C, 0x01020304))
    resync = open_answer(GUIDE_KEY, first, example("rc4_ex1_b"))
    assert (resync.code, resync.sequence) == (ResponseCode.INVALID_SEQUENCE, 0x77635B90)
    assert resync.error() is None
    retry = seal(GUIDE_KEY, read_body(0x17, 0, 0x2C, resync.sequence + 1))
    assert retry.wire == example("rc4_ex1_c")
    answer = open_answer(GUIDE_KEY, retry, example("rc4_ex1_d"))
    assert answer.code == ResponseCode.OK and len(answer.data) == 0x2C
    assert answer.data[16] == 8 and answer.data[20] == 3 and answer.data[40] == 6
    assert answer.error() is None


def test_an_answer_to_another_request_or_corrupted_is_rejected() -> None:
    first = seal(GUIDE_KEY, read_body(0x17, 0, 0x2C, 0x01020304))
    with pytest.raises(CrcError):
        open_answer(GUIDE_KEY, first, example("rc4_ex1_d"))
    retry = seal(GUIDE_KEY, read_body(0x17, 0, 0x2C, 0x77635B91))
    corrupted = bytearray(example("rc4_ex1_d"))
    corrupted[20] ^= 0x10
    with pytest.raises(CrcError):
        open_answer(GUIDE_KEY, retry, bytes(corrupted))
    with pytest.raises(CrcError):
        open_answer(bytes(16), retry, example("rc4_ex1_d"))


def test_write_answer_and_unknown_codes() -> None:
    write = unseal_request(GUIDE_KEY, example("rc4_ex2_a"))
    assert read_request(write.body) is None
    answer = open_answer(GUIDE_KEY, write, example("rc4_ex2_b"))
    assert (answer.code, answer.data) == (0, b"")
    # A successful write's digest is its request's: the zero padding makes them equal.
    assert digest(example("rc4_ex2_b")) == digest(example("rc4_ex2_a"))
    unknown = Answer(0x42).error()
    assert isinstance(unknown, MalformedFrame)


def test_requests_read_back_from_a_capture() -> None:
    request = unseal_request(GUIDE_KEY, example("rc4_ex3"))
    assert request.sequence == 0x5B4E42E6 and not request.encrypted
    with pytest.raises(CrcError):
        unseal_request(bytes(16), example("rc4_ex3"))
    with pytest.raises(MalformedFrame):
        unseal_request(GUIDE_KEY, b"\x00\x05\x3f\x00\x17\x00\x00")


@pytest.mark.parametrize("code", [c for c in ResponseCode if c not in (0x00, 0x0C)])
def test_every_error_code_has_a_meaning(code: ResponseCode) -> None:
    meaning = RESPONSES[code]
    error = Answer(code).error()
    assert type(error) is meaning.error and error is not None
    assert f"0x{code:02X}" in error.message or code == 0x0B
    expected = {0x0A: TlsRequired, 0x0B: KeyRejected}.get(code, RequestRefused)
    assert meaning.error is expected


def authenticated(request: bytes, answer_body: bytes) -> bytes:
    payload = answer_body + mep_digest(GUIDE_KEY, request[2:-8] + answer_body)
    return len(payload).to_bytes(2, "big") + payload


def test_key_and_tls_answers() -> None:
    sent = seal(GUIDE_KEY, read_body(0x17, 0, 4, 7))
    with pytest.raises(KeyRejected, match="the MEP key is wrong"):
        open_answer(GUIDE_KEY, sent, b"\x00\x09\x0b" + bytes(8))  # digest not checked
    for status in (0x01, 0x03, 0x0A):  # the TLS envelope: length, status, no digest
        with pytest.raises(TlsRequired):
            open_answer(GUIDE_KEY, sent, bytes((0, 1, status)))
    with pytest.raises(TlsRequired):
        open_answer(GUIDE_KEY, sent, b"\x00\x09\x0a" + bytes(8))
    with pytest.raises(MalformedFrame):
        open_answer(GUIDE_KEY, sent, b"\x00\x01\x00")
    refused = open_answer(GUIDE_KEY, sent, authenticated(sent.wire, b"\x05"))
    assert isinstance(refused.error(), RequestRefused)
    with pytest.raises(MalformedFrame):  # count and data disagree
        open_answer(GUIDE_KEY, sent, authenticated(sent.wire, b"\x00\x00\x04\x01\x02"))
    with pytest.raises(MalformedFrame):
        open_answer(GUIDE_KEY, sent, authenticated(sent.wire, b"\x0c\x01\x02"))


# -- framing -----------------------------------------------------------------------------------


def test_find_message_byte_by_byte_with_alerts_echo_and_noise() -> None:
    request = example("rc4_ex1_c")
    answer = example("rc4_ex1_d")
    stream = b"\x00\x00" + request + b"\xff\xff" + b"\x00\x00" + answer + b"\x00\x00"
    buffer = bytearray()
    found = None
    for byte in stream:
        buffer.append(byte)
        found = find_message(buffer, request)
        if found is not None:
            break
    assert found is not None
    start, end = found
    assert bytes(buffer[start:end]) == answer


@pytest.mark.parametrize(
    "name",
    [f"tls_ex1_{part}" for part in "abcdef"] + ["tls_ex2_a", "tls_ex2_b"],
)
def test_tls_examples_frame_by_their_length(name: str) -> None:
    """The guide's TLS messages use the same length field: each file is one message."""
    message = example(name)
    assert find_message(bytearray(message)) == (0, len(message))
    assert find_message(bytearray(message[:-1])) is None


def test_read_counts_fit_the_message_limit() -> None:
    assert MAX_READ_COUNT == 476 - 11
    assert read_body(2048 + 3, 0x010203, 30, -1)[-4:] == b"\xff\xff\xff\xff"


# -- RC4 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "plain", "cipher"),
    [  # the published RC4 test vectors
        (b"Key", b"Plaintext", "bbf316e8d940af0ad3"),
        (b"Wiki", b"pedia", "1021bf0420"),
        (b"Secret", b"Attack at dawn", "45a01f645fc35b383552544b9bf5"),
    ],
)
def test_rc4_test_vectors(key: bytes, plain: bytes, cipher: str) -> None:
    assert Rc4(key).apply(plain).hex() == cipher
    assert Rc4(key).apply(bytes.fromhex(cipher)) == plain


def test_rc4_construction_follows_appendix_b() -> None:
    """Base key: the MEP key's keystream over the constant; packet key: the base key with
    its first 8 bytes XORed with the request digest; the answer continues the keystream."""
    constant = bytes.fromhex("388B8FBC36A8558587AFC90FB23A3B99")
    base = base_key(GUIDE_KEY)
    assert base == Rc4(GUIDE_KEY).apply(constant)
    plain = seal(GUIDE_KEY, read_body(0x17, 0, 0x2C, 0x77635B91))
    encrypted = seal(GUIDE_KEY, read_body(0x17, 0, 0x2C, 0x77635B91), encrypt=True)
    # Digest and length over / of the plain body; only code..sequence number encrypted.
    assert encrypted.digest == plain.digest == digest(example("rc4_ex1_c"))
    assert encrypted.wire[:2] == plain.wire[:2] and encrypted.wire[-8:] == plain.wire[-8:]
    assert encrypted.wire[2:-8] != plain.wire[2:-8]
    packet_key = bytes(b ^ d for b, d in zip(base[:8], plain.digest, strict=True)) + base[8:]
    reference = Rc4(packet_key)
    assert reference.apply(encrypted.wire[2:-8]) == plain.body
    answer_body = body(example("rc4_ex1_d"))
    on_the_wire = reference.apply(answer_body)  # the meter continues the same state
    message = (len(on_the_wire) + 8).to_bytes(2, "big") + on_the_wire + digest(example("rc4_ex1_d"))
    assert open_answer(GUIDE_KEY, encrypted, message).data == answer_body[3:]
    assert unseal_request(GUIDE_KEY, encrypted.wire).encrypted
    with pytest.raises(ValueError):
        packet_cipher(GUIDE_KEY, b"short")


# -- keys --------------------------------------------------------------------------------------


def test_mep_key_forms() -> None:
    ascii_key = "ABCDEFGHIJ0123456789"
    expected = ascii_key.encode()
    assert parse_mep_key(ascii_key) == expected
    assert parse_mep_key(f"  {ascii_key} ") == expected
    assert parse_mep_key(expected.hex()) == expected
    assert parse_mep_key(expected.hex().upper()) == expected
    spaced = " ".join(expected.hex()[i : i + 2] for i in range(0, 40, 2))
    assert parse_mep_key(spaced) == expected
    assert parse_mep_key("01" * 16) == GUIDE_KEY
    assert parse_mep_key("0x" + "01" * 16) == GUIDE_KEY
    assert parse_mep_key("my key with spaces!!") == b"my key with spaces!!"
    assert parse_mep_key(None) is None and parse_mep_key("  ") is None


@pytest.mark.parametrize(
    "text", ["SECRET-19-CHARACTER", "0" * 31, "g" * 40, "ÄBCDEFGHIJ0123456789"]
)
def test_malformed_mep_keys_are_explained_never_echoed(text: str) -> None:
    with pytest.raises(InvalidMepKey) as caught:
        parse_mep_key(text)
    message = caught.value.message
    assert "20-character MBK" in message and "40 (or 32) hexadecimal digits" in message
    assert text not in message
    assert isinstance(caught.value, InvalidKey)
    assert caught.value.reason == "invalid_mep_key" and caught.value.about_keys


def test_keys_never_in_reprs() -> None:
    from custom_components.ch_smart_meter.reader.mep.poller import MepPoller  # noqa: PLC0415

    key = b"VERY-SECRET-MEP-KEY!"
    options = DecoderOptions(encryption_key=key)
    for text in (repr(options), repr(MepPoller(options)), repr(seal(key, read_body(1, 0, 1, 1)))):
        assert "VERY-SECRET" not in text and key.hex() not in text


def test_examples_folder_is_read_in_place() -> None:
    assert isinstance(EXAMPLES, Path) and (EXAMPLES / "MANIFEST.md").is_file()
