"""The DLMS/COSEM encoders and simulated meters.

Three kinds of proof that the encoders are right, none of which uses the project's decoders:

* golden bytes: values worked out by hand from the specifications (A-XDR, COSEM date-time,
  HDLC frame format type 3 with a CRC-16/X.25 computed bit by bit here, M-Bus long frames);
* real captures (read in place from ../shared/testdata): the simulated meter models,
  given the values a real meter sent, reproduce its frames byte for byte, and the
  ciphering reproduces real encrypted pushes from their plaintext and published keys;
* gurux-dlms (an independent, GPL, test-only implementation) decodes every simulated push,
  plain and ciphered, to the values the simulator put in.

The library's general-glo-ciphering reader (``reader.dlms.cipher``) must decrypt our frames
and verify their tags.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import InterfaceType, Security
from gurux_dlms.secure import GXDLMSSecureClient

from custom_components.ch_smart_meter.reader.dlms import cipher
from custom_components.ch_smart_meter.reader.errors import DecryptionFailed, KeyRequired
from custom_components.ch_smart_meter.reader.model import Standard
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.simulate import dlms_link as link
from custom_components.ch_smart_meter.reader.simulate import dlms_meters as meters
from custom_components.ch_smart_meter.reader.simulate import dlms_models as models
from custom_components.ch_smart_meter.reader.simulate import meters as simulators
from custom_components.ch_smart_meter.reader.simulate import source as sim_source
from tests.conftest import testdata_dir as captures
from tests.reader.crc_reference import crc16_x25_bitwise

SWISS = ZoneInfo("Europe/Zurich")
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")


# -- independent helpers (test side only) ----------------------------------------------


def _address_length(frame: bytes, start: int) -> int:
    length = 1
    while not frame[start + length - 1] & 1:
        length += 1
    return length


def hdlc_parts(frame: bytes) -> dict[str, object]:
    """Split an HDLC frame (test side) and check its flags, length, HCS and FCS."""
    assert frame[0] == 0x7E and frame[-1] == 0x7E
    frame_format = int.from_bytes(frame[1:3], "big")
    assert frame_format >> 12 == 0xA
    assert frame_format & 0x7FF == len(frame) - 2
    destination_length = _address_length(frame, 3)
    source_start = 3 + destination_length
    source_length = _address_length(frame, source_start)
    control_at = source_start + source_length
    body_end = len(frame) - 3
    assert int.from_bytes(frame[body_end : body_end + 2], "little") == crc16_x25_bitwise(
        frame[1:body_end]
    )
    information = b""
    if body_end > control_at + 1:
        hcs = int.from_bytes(frame[control_at + 1 : control_at + 3], "little")
        assert hcs == crc16_x25_bitwise(frame[1 : control_at + 1])
        information = frame[control_at + 3 : body_end]
    return {
        "segmented": bool(frame_format & 0x0800),
        "destination": frame[3:source_start],
        "source": frame[source_start:control_at],
        "control": frame[control_at],
        "information": information,
    }


def gbt_apdu(frames: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Reassemble GBT blocks carried one per HDLC frame (test side)."""
    apdu = b""
    for index, frame in enumerate(frames):
        information = hdlc_parts(frame)["information"]
        assert isinstance(information, bytes)
        if index == 0:
            assert information[:3] == link.LLC_HEADER
            information = information[3:]
        assert information[0] == 0xE0
        assert int.from_bytes(information[2:4], "big") == index + 1
        length = information[6]
        start = 7
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(information[7 : 7 + size], "big")
            start = 7 + size
        assert len(information) == start + length
        apdu += information[start:]
    return apdu


def hex_frames(path: Path) -> list[bytes]:
    return [bytes.fromhex(line) for line in path.read_text().split()]


# -- CRC and A-XDR ---------------------------------------------------------------------


def test_test_side_crc_matches_the_published_check_value() -> None:
    assert crc16_x25_bitwise(b"123456789") == 0x906E


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, "00"),
        (0x7F, "7f"),
        (0x80, "8180"),
        (0xFF, "81ff"),
        (0x100, "820100"),
        (0x01D0, "8201d0"),
        (0x10000, "83010000"),
    ],
)
def test_axdr_length(length: int, expected: str) -> None:
    assert enc.encode_length(length).hex() == expected


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (enc.uint8(255), "11ff"),
        (enc.uint16(236), "1200ec"),
        (enc.uint32(482939), "0600075e7b"),
        (enc.uint64(1), "150000000000000001"),
        (enc.int8(-1), "0fff"),
        (enc.int16(-120), "10ff88"),
        (enc.int32(-2), "05fffffffe"),
        (enc.int64(-1), "14ffffffffffffffff"),
        (enc.enum(27), "161b"),
        (enc.boolean(True), "03ff"),
        (enc.boolean(False), "0300"),
        (enc.null_data(), "00"),
        (enc.float32(1.5), "173fc00000"),
        (enc.float64(-2.0), "18c000000000000000"),
        (enc.bit_string("1011"), "0404b0"),
        (enc.octet_string(b"LGZ"), "09034c475a"),
        (enc.visible_string("Kamstrup_V0001"), "0a0e4b616d73747275705f5630303031"),
        (enc.utf8_string("ä"), "0c02c3a4"),
        (enc.obis_code("1-1:1.8.0"), "0906010101080 0ff".replace(" ", "")),
        (enc.obis_code("0-8:25.9.0.255"), "09060008190900ff"),
        (enc.obis_code("1-0:31.7.0*255"), "090601001f0700ff"),
        (enc.structure([enc.uint16(3), enc.int8(2)]), "0202120003" + "0f02"),
        (enc.array([]), "0100"),
        (enc.integer(enc.DataTag.BCD, 0x42), "0d42"),
    ],
)
def test_axdr_values(encoded: bytes, expected: str) -> None:
    assert encoded.hex() == expected


def test_axdr_long_octet_string_uses_the_long_length_form() -> None:
    assert enc.octet_string(bytes(300))[:4] == bytes.fromhex("09820 12c".replace(" ", ""))


@pytest.mark.parametrize(
    "bad",
    [
        lambda: enc.uint16(65536),
        lambda: enc.uint32(-1),
        lambda: enc.int8(128),
        lambda: enc.visible_string("Zähler"),
        lambda: enc.obis_code("1.8.0"),
        lambda: enc.obis_code("1-1:1.8.256"),
        lambda: enc.bit_string("102"),
        lambda: enc.encode_length(-1),
    ],
)
def test_axdr_rejects_what_cannot_be_encoded(bad) -> None:
    with pytest.raises(ValueError):
        bad()


# -- COSEM date-time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "kwargs", "expected"),
    [
        # L&G E360 header: summer, deviation -120, hundredths, DST flag.
        (datetime(2023, 6, 6, 17, 31, 20, 180000, SWISS), {}, "07e7060602111f1412ff8880"),
        # L&G E450 header: deviation not specified, no hundredths, status 0.
        (
            datetime(2026, 5, 4, 11, 39, 20, tzinfo=SWISS),
            {"with_deviation": False, "with_hundredths": False, "clock_status": 0},
            "07ea0504010b2714ff800000",
        ),
        # L&G E450 clock object: status 0x81 in summer.
        (
            datetime(2026, 5, 4, 11, 39, 21, tzinfo=SWISS),
            {"with_deviation": False, "with_hundredths": False, "extra_status": 0x01},
            "07ea0504010b2715ff800081",
        ),
        # Kamstrup in winter (a Sunday): deviation not specified, status 0.
        (
            datetime(2022, 2, 13, 16, 28, 10, tzinfo=SWISS),
            {"with_deviation": False, "with_hundredths": False},
            "07e6020d07101c0aff800000",
        ),
        # Winter with deviation: -60 minutes, no DST flag.
        (datetime(2024, 1, 15, 8, 0, 0, tzinfo=SWISS), {}, "07e8010f0108000000ffc400"),
        # UTC: deviation 0.
        (datetime(2024, 1, 15, 8, 0, 0, tzinfo=UTC), {}, "07e8010f01080000000000" + "00"),
    ],
)
def test_cosem_date_time(moment: datetime, kwargs: dict[str, object], expected: str) -> None:
    assert enc.CosemDateTime.from_datetime(moment, **kwargs).encode().hex() == expected  # type: ignore[arg-type]


def test_cosem_date_time_with_every_field_unspecified() -> None:
    value = enc.CosemDateTime(0xFFFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
    assert value.encode().hex() == "ffffffffffffffffff800000"
    assert enc.date_time_octet_string(value)[:2] == b"\x09\x0c"
    assert enc.tagged_date_time(value)[:1] == b"\x19" and len(enc.tagged_date_time(value)) == 13


def test_cosem_date_time_rejects_naive_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        enc.CosemDateTime.from_datetime(datetime(2024, 1, 1))
    with pytest.raises(ValueError):
        enc.CosemDateTime(2024, 1, 1, 0, 0, 0, deviation=721).encode()
    with pytest.raises(ValueError):
        enc.CosemDateTime(2024, 1, 1, 0, 0, 0, hundredths=100).encode()


# -- APDUs -----------------------------------------------------------------------------


def test_data_notification_header() -> None:
    moment = enc.CosemDateTime.from_datetime(
        datetime(2026, 5, 4, 11, 39, 20, tzinfo=SWISS),
        with_deviation=False,
        with_hundredths=False,
        clock_status=0,
    )
    body = enc.structure([enc.uint8(1)])
    apdu = enc.data_notification(body, invoke_id=0xD7DD82, date_time=moment)
    assert apdu.hex() == "0f00d7dd82" + "0c07ea0504010b2714ff800000" + "02011101"
    bare = enc.data_notification(body, invoke_id=0, date_time=None, high_priority=True)
    assert bare.hex() == "0f80000000" + "00" + "02011101"
    with pytest.raises(ValueError):
        enc.data_notification(body, invoke_id=1 << 24, date_time=None)


def test_general_block_transfer_split() -> None:
    apdu = bytes(range(256)) + bytes(44)
    blocks = enc.general_block_transfer(apdu, 122)
    assert [block[:7].hex() for block in blocks] == [
        "e040000100007a",
        "e040000200007a",
        "e0c00003000038",
    ]
    assert b"".join(block[7:] for block in blocks) == apdu
    long_blocks = enc.general_block_transfer(apdu, 200, first_block_size=100)
    assert [block[:8].hex() for block in long_blocks] == ["e040000100006400", "e0c00002000081c8"]
    assert long_blocks[0][7:] == apdu[:100]
    assert long_blocks[1][8:] == apdu[100:]
    assert enc.gbt_block_size(129) == 122
    assert enc.gbt_block_size(126) == 119
    assert enc.gbt_block_size(200) == 192


def test_hand_built_hdlc_frame() -> None:
    """Protocols §4.1: 7E | A0 LL | CE FF | 03 | 13 | HCS | E6 E7 00 ... | FCS | 7E."""
    information = bytes.fromhex("e6e700") + bytes.fromhex("0f00000001000201110a")
    length = 2 + 2 + 1 + 1 + 2 + len(information) + 2
    header = bytes((0xA0, length, 0xCE, 0xFF, 0x03, 0x13))
    hcs = crc16_x25_bitwise(header).to_bytes(2, "little")
    fcs = crc16_x25_bitwise(header + hcs + information).to_bytes(2, "little")
    expected = b"\x7e" + header + hcs + information + fcs + b"\x7e"
    built = link.hdlc_frame(
        information, destination=link.hdlc_address(0x67, 0x7F), source=link.hdlc_address(1)
    )
    assert built == expected
    assert built.hex().startswith("7ea017ceff0313")


def test_hdlc_frame_without_information_has_no_hcs() -> None:
    frame = link.hdlc_frame(b"", destination=b"\x03", source=b"\x21", control=0x93)
    body = bytes((0xA0, 0x07, 0x03, 0x21, 0x93))
    assert frame == b"\x7e" + body + crc16_x25_bitwise(body).to_bytes(2, "little") + b"\x7e"


def test_hdlc_addresses() -> None:
    assert link.hdlc_address(0x67, 0x7F) == b"\xce\xff"
    assert link.hdlc_address(0x01) == b"\x03"
    assert link.hdlc_address(0x01, 0x11) == b"\x02\x23"
    assert link.hdlc_address(0x10, 0x00, 0x01, 0x7F) == b"\x20\x00\x02\xff"
    for parts in ((1, 2, 3), (0x80,), ()):
        with pytest.raises(ValueError):
            link.hdlc_address(*parts)
    with pytest.raises(ValueError):  # extension bit on a non-final byte
        link.hdlc_frame(b"x", destination=b"\x03\x03", source=b"\x03")
    with pytest.raises(ValueError):
        link.hdlc_frame(bytes(2100), destination=b"\x03", source=b"\x03")


def test_hdlc_s_bit_segmentation() -> None:
    information = link.LLC_HEADER + bytes(range(256)) * 2
    frames = link.hdlc_segments(
        information, max_information=154, destination=b"\xcf", source=b"\x02\x23"
    )
    parts = [hdlc_parts(frame) for frame in frames]
    assert [p["segmented"] for p in parts] == [True, True, True, False]
    assert [p["control"] for p in parts] == [0x03, 0x03, 0x03, 0x13]
    assert [frame[:3].hex() for frame in frames] == ["7ea8a4", "7ea8a4", "7ea8a4", "7ea03f"]
    assert b"".join(p["information"] for p in parts) == information  # type: ignore[misc]


def test_mbus_long_frames() -> None:
    apdu = bytes(range(256)) * 2 + bytes(88)
    frames = link.mbus_long_frames(apdu)
    assert [frame[6] for frame in frames] == [0x00, 0x01, 0x12]
    rebuilt = b""
    for frame in frames:
        length = frame[1]
        assert frame[0] == 0x68 and frame[3] == 0x68 and frame[2] == length
        assert len(frame) == length + 6 and frame[-1] == 0x16
        assert frame[-2] == sum(frame[4:-2]) % 256
        assert frame[4:6] == b"\x53\xff" and frame[7:9] == b"\x01\x67"
        rebuilt += frame[9:-2]
    assert rebuilt == apdu
    assert [len(f) for f in frames] == [261, 261, 600 - 500 + 11]
    two = link.mbus_long_frames(bytes(300))
    assert [frame[6] for frame in two] == [0x00, 0x11]
    with pytest.raises(ValueError):
        link.mbus_long_frames(bytes(17 * 250))


# -- general-glo-ciphering, checked by the library's reader ----------------------------

TITLE = b"LGZg\x01\x02\x03\x04"
PLAIN = enc.data_notification(
    enc.structure([enc.uint32(123456), enc.visible_string("x" * 300)]), invoke_id=7, date_time=None
)


def _parse(apdu: bytes) -> cipher.CipheredApdu:
    ciphered, end = cipher.parse_general_glo_ciphering(apdu)
    assert end == len(apdu)
    return ciphered


def test_ciphering_sc30_decrypts_and_the_tag_verifies() -> None:
    apdu = enc.general_glo_ciphering(
        PLAIN,
        system_title=TITLE,
        invocation_counter=0x00177BCA,
        encryption_key=EK,
        authentication_key=AK,
    )
    assert apdu[:10] == b"\xdb\x08" + TITLE
    length = len(PLAIN) + 5 + 12
    assert apdu[10:13] == b"\x82" + length.to_bytes(2, "big")
    assert apdu[13:18] == bytes.fromhex("3000177bca")
    ciphered = _parse(apdu)
    assert ciphered.security_control == 0x30 and ciphered.invocation_counter == 0x00177BCA
    result = cipher.decrypt(ciphered, EK, AK)
    assert result.plaintext == PLAIN and result.authenticated
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(ciphered, EK, bytes(16))
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(ciphered, bytes(16), AK)
    with pytest.raises(KeyRequired):
        cipher.decrypt(ciphered, None, None)
    # Swapped keys (Danish Kamstrup) are found with try_swapped.
    swapped = _parse(
        enc.general_glo_ciphering(
            PLAIN,
            system_title=TITLE,
            invocation_counter=1,
            encryption_key=AK,
            authentication_key=EK,
        )
    )
    assert cipher.decrypt(swapped, EK, AK, try_swapped=True).keys_swapped


def test_ciphering_sc20_is_encryption_without_tag() -> None:
    apdu = enc.general_glo_ciphering(
        PLAIN, system_title=TITLE, invocation_counter=9, encryption_key=EK, security_control=0x20
    )
    ciphered = _parse(apdu)
    assert len(ciphered.payload) == len(PLAIN) and not ciphered.authenticated
    assert ciphered.payload != PLAIN
    result = cipher.decrypt(ciphered, EK, None)
    assert result.plaintext == PLAIN and not result.authenticated


def test_ciphering_sc10_is_authentication_only() -> None:
    apdu = enc.general_glo_ciphering(
        PLAIN,
        system_title=TITLE,
        invocation_counter=9,
        encryption_key=EK,
        authentication_key=AK,
        security_control=0x10,
    )
    ciphered = _parse(apdu)
    assert ciphered.payload[:-12] == PLAIN
    assert cipher.decrypt(ciphered, EK, AK).authenticated
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(ciphered, EK, bytes(16))


def test_ciphering_suite_one_and_bad_arguments() -> None:
    apdu = enc.general_glo_ciphering(
        PLAIN,
        system_title=TITLE,
        invocation_counter=1,
        encryption_key=EK,
        authentication_key=AK,
        security_control=0x31,
    )
    assert cipher.decrypt(_parse(apdu), EK, AK).plaintext == PLAIN
    bad_calls = [
        {"security_control": 0x30},  # no AK
        {"security_control": 0x00},
        {"security_control": 0xB0, "authentication_key": AK},  # compression bit
        {"security_control": 0x22},  # suite 2
        {"system_title": b"short"},
        {"invocation_counter": 1 << 32},
        {"encryption_key": bytes(15)},
    ]
    for bad in bad_calls:
        arguments: dict[str, object] = {
            "system_title": TITLE,
            "invocation_counter": 1,
            "encryption_key": EK,
            "security_control": 0x20,
        } | bad
        with pytest.raises(ValueError):
            enc.general_glo_ciphering(PLAIN, **arguments)  # type: ignore[arg-type]


# -- real captures, reproduced byte for byte -------------------------------------------


def _meter(
    model: models.DlmsMeterModel, identity: meters.Identity, invoke_id: int
) -> meters.SimulatedDlmsMeter:
    meter = meters.SimulatedDlmsMeter(model)
    meter.identity = identity
    meter.invoke_id = invoke_id
    return meter


def test_e450_push_matches_a_real_vse2026_push() -> None:
    frames = hex_frames(captures("dlms_lg") / "scs__lg_e450_plain_vse2026.hex")
    meter = _meter(models.LG_E450, meters.Identity("LGZ1030653520967", "1909113"), 0xD7DD82)
    counts = {
        "1.8.0": 482939, "2.8.0": 0, "3.8.0": 37, "4.8.0": 344697, "1.7.0": 28, "2.7.0": 0,
        "32.7.0": 236, "52.7.0": 236, "72.7.0": 0, "31.7.0": 9, "51.7.0": 8, "71.7.0": 0,
    }  # fmt: skip
    push = meter.push_counts(
        counts,
        datetime(2026, 5, 4, 11, 39, 20, tzinfo=SWISS),
        clock=datetime(2026, 5, 4, 11, 39, 21, tzinfo=SWISS),
    )
    # The real meter cut its blocks differently; the reassembled APDU is identical.
    assert push.notification == gbt_apdu(frames)
    assert gbt_apdu(push.frames) == push.notification
    assert push.values["31.7.0"] == Decimal("0.09") and push.values["1.8.0"] == Decimal("482.939")
    assert push.meter_id == "1909113" and push.id_obis == "96.1.1"


def test_e360_push_matches_a_real_frame() -> None:
    frames = hex_frames(captures("dlms_lg") / "scs__lg_e360_plain_vse2026.hex")
    meter = _meter(models.LG_E360, meters.Identity("LGZ1030163598905", ""), 0x9EE)
    counts = {
        "1.8.0": 21956, "2.8.0": 4547, "3.8.0": 27256, "4.8.0": 4432, "1.7.0": 11, "2.7.0": 0,
        "32.7.0": 2357, "52.7.0": 0, "72.7.0": 0, "31.7.0": 6, "51.7.0": 0, "71.7.0": 0,
    }  # fmt: skip
    push = meter.push_counts(counts, datetime(2023, 6, 6, 17, 31, 20, 180000, SWISS))
    assert list(push.frames) == frames
    assert push.values["32.7.0"] == Decimal("235.7")
    assert push.timestamp == datetime(2023, 6, 6, 15, 31, 20, 180000, UTC)
    assert push.timestamp.utcoffset() == timedelta(hours=2)


def test_am550_push_matches_real_segmented_frames() -> None:
    frames = hex_frames(captures("dlms_other") / "scs__iskra_am550_ch_plain_vse2026.hex")
    meter = _meter(models.ISKRA_AM550, meters.Identity("ISK1030783821282", ""), 0x2665D)
    counts = {
        "1.8.0": 15207, "2.8.0": 8987, "3.8.0": 12784, "4.8.0": 5654, "1.7.0": 27, "2.7.0": 0,
        "32.7.0": 2347, "52.7.0": 0, "72.7.0": 0, "31.7.0": 12, "51.7.0": 0, "71.7.0": 0,
    }  # fmt: skip
    push = meter.push_counts(counts, datetime(2026, 5, 4, 19, 19, 30, tzinfo=SWISS))
    assert list(push.frames) == frames
    assert push.meter_id == "ISK1030783821282" and push.id_obis == "42.0.0"


KAMSTRUP_10S = {
    "1.7.0": 4629, "2.7.0": 0, "3.7.0": 0, "4.7.0": 83, "31.7.0": 903, "51.7.0": 988,
    "71.7.0": 143, "32.7.0": 234, "52.7.0": 233, "72.7.0": 235,
}  # fmt: skip


def test_kamstrup_10s_list_matches_a_real_swiss_frame() -> None:
    frames = hex_frames(captures("dlms_kamstrup") / "amsreader__kamstrup_gh196-1.hex")
    meter = _meter(
        models.KAMSTRUP_OMNIPOWER, meters.Identity("", "5706567329747082", "6841131BN240101063"), 0
    )
    push = meter.push_counts(KAMSTRUP_10S, datetime(2022, 2, 13, 16, 28, 10, tzinfo=SWISS))
    assert list(push.frames) == frames
    assert push.values["31.7.0"] == Decimal("9.03") and push.values["1.7.0"] == Decimal("4.629")
    assert push.meter_id == "5706567329747082"


def test_kamstrup_hourly_list_matches_a_real_frame() -> None:
    frames = hex_frames(captures("dlms_kamstrup") / "amsreader__kamstrup_em001-1.hex")
    meter = _meter(
        models.KAMSTRUP_OMNIPOWER, meters.Identity("", "5706567202753025", "6841131BN243101040"), 0
    )
    counts = {
        "1.7.0": 1247, "2.7.0": 0, "3.7.0": 0, "4.7.0": 417, "31.7.0": 189, "51.7.0": 327,
        "71.7.0": 128, "32.7.0": 236, "52.7.0": 236, "72.7.0": 236, "1.8.0": 8582328,
        "2.8.0": 454083, "3.8.0": 15327, "4.8.0": 1477438,
    }  # fmt: skip
    push = meter.push_counts(counts, datetime(2021, 11, 25, 23, 0, 55, tzinfo=SWISS), hourly=True)
    assert list(push.frames) == frames
    assert push.values["1.8.0"] == Decimal("85823.28")


def test_kamstrup_single_phase_list_matches_a_real_sample() -> None:
    path = (
        captures("dlms_kamstrup") / "amshan__kamstrup_no_list_1_single_phase_real_sample.llcpdu.hex"
    )
    meter = _meter(
        models.KAMSTRUP_OMNIPOWER_1PH,
        meters.Identity("", "5705705705705702", "6861111BN242101040"),
        0,
    )
    counts = {"1.7.0": 1896, "2.7.0": 0, "3.7.0": 0, "4.7.0": 493, "31.7.0": 896, "32.7.0": 225}
    push = meter.push_counts(counts, datetime(2022, 1, 17, 12, 44, 40, tzinfo=SWISS))
    assert link.LLC_HEADER + push.notification == hex_frames(path)[0]
    assert set(push.values) == set(counts)


def _real_apdu_and_plaintext(
    frames: list[bytes], ek: bytes, ak: bytes | None
) -> tuple[bytes, bytes]:
    apdu = gbt_apdu(frames)
    return apdu, cipher.decrypt(_parse(apdu), ek, ak).plaintext


def test_sc30_ciphering_and_gbt_frames_match_a_real_encrypted_e450() -> None:
    frames = hex_frames(captures("dlms_lg") / "esphome_dlmsparser__lg_e450_gbt_encrypted_1.hex")
    ek = bytes.fromhex("5C316162209EBB790B52EB0E7FC5B11C")
    ak = bytes.fromhex("92705C5C97286064EABAE38D190F87A4")
    apdu, plaintext = _real_apdu_and_plaintext(frames, ek, ak)
    rebuilt = enc.general_glo_ciphering(
        plaintext,
        system_title=apdu[2:10],
        invocation_counter=int.from_bytes(apdu[14:18], "big"),
        encryption_key=ek,
        authentication_key=ak,
    )
    assert rebuilt == apdu
    assert models.LG_E450.link.frames(rebuilt) == frames


def test_sc20_ciphering_and_gbt_frames_match_a_real_encrypted_e570() -> None:
    frames = hex_frames(captures("dlms_lg") / "scs__lg_e570_encrypted_2024.hex")
    ek = bytes.fromhex("101112131415161718191A1B1C1D1E1F")
    apdu, plaintext = _real_apdu_and_plaintext(frames, ek, None)
    rebuilt = enc.general_glo_ciphering(
        plaintext,
        system_title=apdu[2:10],
        invocation_counter=int.from_bytes(apdu[14:18], "big"),
        encryption_key=ek,
        security_control=0x20,
    )
    assert rebuilt == apdu
    # The E570 sends fixed blocks of 116 bytes to HDLC address CE 9B.
    blocks = enc.general_block_transfer(rebuilt, 116)
    rebuilt_frames = [
        link.hdlc_frame(
            (link.LLC_HEADER if index == 0 else b"") + block,
            destination=link.hdlc_address(0x67, 0x4D),
            source=link.hdlc_address(1),
        )
        for index, block in enumerate(blocks)
    ]
    assert rebuilt_frames == frames


# -- gurux-dlms as an independent oracle -----------------------------------------------


def _gurux_notification(
    frames: tuple[bytes, ...] | list[bytes], *, pdu: bool, ek: bytes | None, ak: bytes | None
):
    client = GXDLMSSecureClient(
        True, interfaceType=InterfaceType.PDU if pdu else InterfaceType.HDLC
    )
    if ek is not None:
        client.ciphering.security = (
            Security.AUTHENTICATION_ENCRYPTION if ak else Security.ENCRYPTION
        )
        client.ciphering.blockCipherKey = ek
        if ak is not None:
            client.ciphering.authenticationKey = ak
    data, notify = GXReplyData(), GXReplyData()
    with contextlib.redirect_stdout(io.StringIO()):  # gurux prints on every ciphered APDU
        for frame in frames:
            client.getData(GXByteBuffer(frame), data, notify)
    assert notify.isComplete() and not notify.isMoreData()
    return notify


def _mbus_apdu(frames: tuple[bytes, ...]) -> bytes:
    # gurux's wired M-Bus reader is known to be broken (protocols.md §11.1): reassemble here.
    return b"".join(frame[9:-2] for frame in frames)


def _obis_text(raw: bytes) -> str:
    return f"{raw[0]}-{raw[1]}:{raw[2]}.{raw[3]}.{raw[4]}"


def _gurux_values(
    model: models.DlmsMeterModel, body: list[object]
) -> tuple[dict[str, object], list[str]]:
    """Values by OBIS reference, and the identity strings, from gurux's decoded body."""
    values: dict[str, object] = {}
    if model.layout is models.Layout.PUSH_OBJECT_LIST:
        definitions = body[0]
        assert isinstance(definitions, list)
        for definition, value in zip(definitions[1:], body[1:], strict=True):
            values[_obis_text(bytes(definition[1]))] = value
    else:
        assert body[0] == model.list_id
        pairs = body[1:]
        for obis, value in zip(pairs[::2], pairs[1::2], strict=True):
            if obis is not None:
                values[_obis_text(bytes(obis))] = value
    texts = [
        bytes(value).decode("latin-1") if isinstance(value, bytes | bytearray) else value
        for value in values.values()
        if isinstance(value, bytes | bytearray | str)
    ]
    return values, [t for t in texts if isinstance(t, str)]


CIPHERINGS = {
    "plain": None,
    "sc20": meters.Ciphering(EK),
    "sc30": meters.Ciphering(EK, AK),
}


@pytest.mark.parametrize("ciphering", CIPHERINGS, ids=str)
@pytest.mark.parametrize("model_id", models.MODELS)
def test_gurux_decodes_every_simulated_push(model_id: str, ciphering: str) -> None:
    model = models.MODELS[model_id]
    settings = CIPHERINGS[ciphering]
    meter = meters.SimulatedDlmsMeter(model, seed=11, ciphering=settings)
    moment = datetime(2025, 7, 1, 12, 0, 0, tzinfo=SWISS)
    push = meter.push_at(moment, hourly=bool(model.hourly_objects))
    mbus = isinstance(model.link, models.MbusLink)
    frames = (_mbus_apdu(push.frames),) if mbus else push.frames
    notify = _gurux_notification(
        frames,
        pdu=mbus,
        ek=settings.encryption_key if settings else None,
        ak=settings.authentication_key if settings else None,
    )
    values, texts = _gurux_values(model, list(notify.value))
    objects = model.hourly_objects or model.objects
    for item in objects:
        if item.kind is models.ObjectKind.REGISTER and item.code in push.counts:
            assert values[item.obis] == push.counts[item.code], item.obis
    assert push.meter_id in texts
    # Header time: naive wall time when the deviation is not specified, else aware.
    header = notify.time.value
    if model.header_time.deviation:
        assert header == push.timestamp
    else:
        assert header.tzinfo is None
        assert header == push.timestamp.replace(tzinfo=None)


# -- the simulated meters --------------------------------------------------------------


def _pushes(model: models.DlmsMeterModel, seed: int, start: datetime, step: timedelta, count: int):
    meter = meters.SimulatedDlmsMeter(model, seed=seed)
    return [meter.push_at(start + step * index) for index in range(count)]


def test_simulated_meters_are_deterministic() -> None:
    start = datetime(2025, 3, 1, 8, 0, tzinfo=SWISS)
    first = _pushes(models.LG_E450, 7, start, timedelta(seconds=5), 5)
    second = _pushes(models.LG_E450, 7, start, timedelta(seconds=5), 5)
    other = _pushes(models.LG_E450, 8, start, timedelta(seconds=5), 5)
    assert [p.wire for p in first] == [p.wire for p in second]
    assert [p.wire for p in first] != [p.wire for p in other]


def test_a_day_of_e450_pushes_is_physically_consistent() -> None:
    start = datetime(2025, 6, 21, 0, 0, tzinfo=SWISS)
    step = timedelta(minutes=5)
    pushes = _pushes(models.LG_E450, 3, start, step, 288)
    exported = imported = False
    for before, after in itertools.pairwise(pushes):
        for code in ("1.8.0", "2.8.0", "3.8.0", "4.8.0"):
            assert after.counts[code] >= before.counts[code]
        # The household model integrates the power of each step: P(after) x 300 s, in Wh.
        delta = after.counts["1.8.0"] - before.counts["1.8.0"]
        assert abs(delta - after.counts["1.7.0"] * 300 / 3600) <= 1
        delta = after.counts["2.8.0"] - before.counts["2.8.0"]
        assert abs(delta - after.counts["2.7.0"] * 300 / 3600) <= 1
    for push in pushes:
        counts = push.counts
        assert counts["1.7.0"] == 0 or counts["2.7.0"] == 0
        imported |= counts["1.7.0"] > 0
        exported |= counts["2.7.0"] > 0
        watts = counts["1.7.0"] + counts["2.7.0"]
        for voltage in ("32.7.0", "52.7.0", "72.7.0"):
            assert 215 <= counts[voltage] <= 245
        amps = sum(counts[c] for c in ("31.7.0", "51.7.0", "71.7.0")) / 100
        assert abs(amps * 230 - watts) <= max(0.03 * watts, 15)
        assert push.timestamp.tzinfo is not None
    assert imported and exported  # night import, solar export around noon


def test_p1_models_send_voltages_in_tenths_and_the_e450_in_volts() -> None:
    start = datetime(2025, 6, 21, 12, 0, tzinfo=SWISS)
    e360 = _pushes(models.LG_E360, 4, start, timedelta(seconds=10), 1)[0]
    e450 = _pushes(models.LG_E450, 4, start, timedelta(seconds=10), 1)[0]
    assert e360.values["32.7.0"] == Decimal(e360.counts["32.7.0"]) / 10
    assert (
        e360.values["32.7.0"].quantize(Decimal(1), rounding="ROUND_HALF_UP")
        == e450.values["32.7.0"]
    )
    assert e450.values["32.7.0"] == e450.counts["32.7.0"]


def test_invoke_ids_and_invocation_counters() -> None:
    start = datetime(2025, 1, 10, 9, 0, tzinfo=SWISS)
    e450 = meters.SimulatedDlmsMeter(models.LG_E450, seed=2, ciphering=meters.Ciphering(EK, AK))
    pushes = [e450.push_at(start + timedelta(seconds=5 * i)) for i in range(3)]
    ids = [int.from_bytes(p.notification[1:5], "big") for p in pushes]
    assert ids[1] == ids[0] + 1 and ids[2] == ids[1] + 1
    counters = [p.invocation_counter for p in pushes]
    assert counters[1] == counters[0] + 1 and counters[2] == counters[1] + 1  # type: ignore[operator]
    assert all(_parse(p.apdu).invocation_counter == p.invocation_counter for p in pushes)
    assert pushes[0].apdu[2:5] == b"LGZ" and pushes[0].frames[0][3:5] == b"\xce\xff"
    kamstrup = meters.SimulatedDlmsMeter(
        models.KAMSTRUP_OMNIPOWER, seed=2, ciphering=meters.Ciphering(EK, AK)
    )
    k_pushes = [kamstrup.push_at(start + timedelta(seconds=10 * i)) for i in range(2)]
    assert all(p.notification[1:5] == bytes(4) for p in k_pushes)
    assert k_pushes[0].apdu[2:6] == b"KAME"
    # Danish ciphered Kamstrup frames go to HDLC address 41, source 03.
    assert k_pushes[0].frames[0][3:6] == b"\x41\x03\x13"


def test_kamstrup_sends_the_hourly_list_with_the_first_push_of_each_hour() -> None:
    start = datetime(2025, 1, 10, 11, 59, 30, tzinfo=SWISS)
    pushes = _pushes(models.KAMSTRUP_OMNIPOWER, 5, start, timedelta(seconds=10), 10)
    assert [p.hourly for p in pushes] == [False, False, False, True] + [False] * 6
    hourly = pushes[3]
    assert hourly.timestamp == datetime(2025, 1, 10, 12, 0, 0, tzinfo=SWISS)
    assert {"1.8.0", "2.8.0", "3.8.0", "4.8.0"} <= set(hourly.values)
    assert "1.8.0" not in pushes[4].values
    # Energies in 10 Wh units: the register shows whole hundredths of a kWh.
    assert hourly.values["1.8.0"] == Decimal(hourly.counts["1.8.0"]) / 100
    clock = enc.date_time_octet_string(
        models.KAMSTRUP_OMNIPOWER.clock_time.encode(hourly.timestamp)
    )
    assert enc.obis_code("0-1:1.0.0") + clock in hourly.notification


def test_single_phase_kamstrup_pads_absent_phases_with_null_data() -> None:
    start = datetime(2025, 1, 10, 12, 0, 0, tzinfo=SWISS)
    push = _pushes(models.KAMSTRUP_OMNIPOWER_1PH, 5, start, timedelta(seconds=10), 1)[0]
    body = push.notification[18:]
    assert body[:2] == b"\x02\x19"  # still 25 elements
    assert enc.obis_code("1-1:51.7.0") not in body
    assert b"\x00\x00\x00\x00" in body
    assert set(push.values) == {"1.7.0", "2.7.0", "3.7.0", "4.7.0", "31.7.0", "32.7.0"}


def test_keys_never_appear_in_reprs() -> None:
    settings = meters.Ciphering(EK, AK)
    meter = meters.SimulatedDlmsMeter(models.LG_E450, ciphering=settings)
    for text in (repr(settings), repr(meter)):
        assert EK.hex() not in text.lower() and AK.hex() not in text.lower()
        assert repr(EK) not in text and repr(AK) not in text


# -- the simulator pipeline ------------------------------------------------------------


@pytest.mark.parametrize(
    ("standard", "model"),
    [
        (Standard.LG_MBUS, models.LG_E450),
        (Standard.P1_DLMS, models.LG_E360),
        (Standard.KAMSTRUP_DLMS, models.KAMSTRUP_OMNIPOWER),
    ],
)
def test_registered_sources(standard: Standard, model: models.DlmsMeterModel) -> None:
    assert standard in simulators.available_standards()
    source = simulators.create_source(
        standard, sim_source.SourceOptions(seed=4, key=EK, authentication_key=AK)
    )
    assert isinstance(source, meters.DlmsSource)
    assert source.standard is standard and source.meter.model is model
    simulator = sim_source.Simulator(
        source, interval=10, start=datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
    )
    wire = simulator.next_frame()
    assert source.last_push is not None and wire == source.last_push.wire
    assert source.last_push.invocation_counter is not None
    assert source.respond(b"\x7e", datetime.now(UTC)) == b""


@pytest.mark.parametrize(
    ("standard", "model_id"),
    [
        (Standard.P1_DLMS, "iskra-am550"),
        (Standard.LG_MBUS, "lg-e450-mbus"),
        (Standard.KAMSTRUP_DLMS, "kamstrup-omnipower-1ph"),
    ],
)
def test_sources_offer_the_other_models_of_a_standard(standard: Standard, model_id: str) -> None:
    source = simulators.create_source(standard, sim_source.SourceOptions(model=model_id))
    assert isinstance(source, meters.DlmsSource)
    assert source.meter.model is models.MODELS[model_id]
    with pytest.raises(ValueError, match="choose from"):
        simulators.create_source(standard, sim_source.SourceOptions(model="no-such-meter"))
