"""general-glo-ciphering in the DLMS decoder: keys, tags, wrong keys, swapped keys, replays."""

from __future__ import annotations

import pytest

from custom_components.ch_smart_meter.reader.dlms.decoder import SWAPPED_KEYS_NOTICE
from custom_components.ch_smart_meter.reader.errors import (
    DecryptionFailed,
    KeyRequired,
    KeyRole,
    ReplayedFrame,
)
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame
from custom_components.ch_smart_meter.reader.session import SourceStats
from custom_components.ch_smart_meter.reader.simulate import dlms_encoder as enc
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec

from . import dlms_synthetic as syn
from .dlms_corpus import BY_ID, decode

SC = enc.SecurityControl
WRONG = bytes.fromhex("FFEEDDCCBBAA99887766554433221100")


def _tally(results: list) -> SourceStats:
    """The results counted as the reading session counts them."""
    stats = SourceStats()
    for result in results:
        stats.count(result)
    return stats


def _push(counter: int, sc: int = SC.AUTHENTICATED_AND_ENCRYPTED, *, energy: int = 482939,
          key: bytes = syn.EK, auth_key: bytes | None = syn.AK, title: bytes = syn.TITLE_LGZ,
          standard: str = "lg-mbus") -> bytes:  # fmt: skip
    body = syn.e450_body(energy_wh=energy)
    if standard == "kamstrup-dlms":
        body = syn.obis_value_body(
            {
                "1-1:0.0.5": enc.visible_string("5706567329747082"),
                "1-1:1.7.0": enc.uint32(1234),
            }
        )
    apdu = syn.cipher(syn.notification(body), counter=counter, title=title,
                      security_control=sc, key=key, auth_key=auth_key)  # fmt: skip
    return syn.hdlc(apdu)


def _decode(stream: bytes, standard: str = "lg-mbus", **options: object) -> list:
    decoder = get_spec(standard).create_decoder(DecoderOptions(**options))  # type: ignore[arg-type]
    return decoder.feed(stream) + decoder.flush()


def _error(results: list) -> Exception:
    (rejected,) = results
    assert isinstance(rejected, RejectedFrame)
    return rejected.error


@pytest.mark.parametrize("sc", [SC.AUTHENTICATED_AND_ENCRYPTED, SC.ENCRYPTED, 0x21, 0x31])
def test_the_right_keys_decode(sc: int) -> None:
    (reading,) = _decode(_push(1, sc), encryption_key=syn.EK, authentication_key=syn.AK)
    assert reading.values["1.8.0"] == 482.939


def test_no_key_for_an_encrypted_frame() -> None:
    error = _error(_decode(_push(1)))
    assert isinstance(error, KeyRequired)
    assert "an encryption key is needed" in error.message


def test_wrong_encryption_key_with_tag() -> None:
    error = _error(_decode(_push(1), encryption_key=WRONG, authentication_key=syn.AK))
    assert isinstance(error, DecryptionFailed)
    assert error.message.startswith(
        "decryption failed: check the encryption key (GUEK) and the authentication key (GAK)"
    )
    assert "do not decrypt with this encryption key" in error.message
    assert error.wrong_key is KeyRole.ENCRYPTION  # a form can mark that key's field


def test_wrong_authentication_key_is_named() -> None:
    error = _error(_decode(_push(1), encryption_key=syn.EK, authentication_key=WRONG))
    assert isinstance(error, DecryptionFailed)
    assert "authentication key (GAK) does not match" in error.message
    assert error.wrong_key is KeyRole.AUTHENTICATION


def test_tagged_frame_without_authentication_key_decodes_after_a_plaintext_check() -> None:
    (reading,) = _decode(_push(1), encryption_key=syn.EK)
    assert reading.values["1.8.0"] == 482.939


@pytest.mark.parametrize("sc", [SC.AUTHENTICATED_AND_ENCRYPTED, SC.ENCRYPTED])
def test_wrong_key_without_a_tag_check_is_a_decryption_failure_not_malformed(sc: int) -> None:
    error = _error(_decode(_push(1, sc), encryption_key=WRONG))
    assert type(error) is DecryptionFailed
    assert "not a valid notification" in error.message


def test_authentication_only() -> None:
    frame = _push(1, SC.AUTHENTICATED)
    (reading,) = _decode(frame, encryption_key=syn.EK, authentication_key=syn.AK)
    assert reading.values["1.8.0"] == 482.939
    (unchecked,) = _decode(frame)  # plaintext: readable without keys, tag not checked
    assert unchecked.values["1.8.0"] == 482.939
    error = _error(_decode(frame, encryption_key=syn.EK, authentication_key=WRONG))
    assert isinstance(error, DecryptionFailed)


def test_kamstrup_swapped_keys_decode_and_say_so() -> None:
    frame = _push(1, title=syn.TITLE_KAM, standard="kamstrup-dlms")
    (reading,) = _decode(frame, "kamstrup-dlms", encryption_key=syn.AK, authentication_key=syn.EK)
    assert isinstance(reading, Reading)
    assert reading.values["1.7.0"] == 1.234
    assert reading.notices == (SWAPPED_KEYS_NOTICE,)
    assert "swapped" in SWAPPED_KEYS_NOTICE
    (normal,) = _decode(frame, "kamstrup-dlms", encryption_key=syn.EK, authentication_key=syn.AK)
    assert normal.notices == ()


def test_swapped_keys_are_only_tried_for_kamstrup() -> None:
    frame = _push(1)
    error = _error(_decode(frame, encryption_key=syn.AK, authentication_key=syn.EK))
    assert isinstance(error, DecryptionFailed)


def test_the_published_kamstrup_keys_swapped() -> None:
    capture = BY_ID["esphome_dlmsparser__kamstrup_omnipower_encrypted"]
    (reading,) = decode(
        capture,
        capture.lines(),
        encryption_key=bytes.fromhex(capture.auth_key or ""),
        authentication_key=bytes.fromhex(capture.key or ""),
    )
    assert isinstance(reading, Reading)
    assert reading.notices == (SWAPPED_KEYS_NOTICE,)
    assert reading.values["1.8.0"] == 63074.98


def test_replays_and_duplicates_are_dropped_and_counted() -> None:
    decoder = get_spec("lg-mbus").create_decoder(
        DecoderOptions(encryption_key=syn.EK, authentication_key=syn.AK)
    )
    results = decoder.feed(
        _push(10, energy=1000)
        + _push(10, energy=1000)  # duplicate
        + _push(11, energy=2000)
        + _push(9, energy=999)  # replay of an older one
        + _push(12, energy=3000)
    )
    kinds = [type(r.error) if isinstance(r, RejectedFrame) else Reading for r in results]
    assert kinds == [Reading, ReplayedFrame, Reading, ReplayedFrame, Reading]
    assert [r.values["1.8.0"] for r in results if isinstance(r, Reading)] == [1.0, 2.0, 3.0]
    assert _tally(results).rejected_by_reason == {"replayed": 2}


def test_a_frame_that_fails_decryption_does_not_advance_the_counter() -> None:
    decoder = get_spec("lg-mbus").create_decoder(
        DecoderOptions(encryption_key=syn.EK, authentication_key=syn.AK)
    )
    forged = _push(1000, key=WRONG)
    results = decoder.feed(forged + _push(5))
    assert isinstance(results[0].error, DecryptionFailed)
    assert isinstance(results[1], Reading)


def test_keys_never_appear_in_messages_or_reprs() -> None:
    secrets = [key.hex() for key in (syn.EK, syn.AK, WRONG)]
    secrets += [s.upper() for s in secrets]
    texts: list[str] = []
    for options in (
        {"encryption_key": syn.EK, "authentication_key": syn.AK},
        {"encryption_key": WRONG, "authentication_key": syn.AK},
        {"encryption_key": syn.EK, "authentication_key": WRONG},
        {"encryption_key": WRONG},
        {},
    ):
        decoder = get_spec("kamstrup-dlms").create_decoder(DecoderOptions(**options))  # type: ignore[arg-type]
        results = decoder.feed(_push(1) + _push(1)) + decoder.flush()
        texts += [repr(r) for r in results] + [repr(decoder.diagnostics())]
        texts += [r.error.message for r in results if isinstance(r, RejectedFrame)]
    joined = "\n".join(texts)
    assert not any(secret in joined for secret in secrets)


def test_decoder_options_keep_keys_out_of_their_repr() -> None:
    text = repr(DecoderOptions(encryption_key=syn.EK, authentication_key=syn.AK))
    assert syn.EK.hex() not in text and str(syn.EK) not in text and str(syn.AK) not in text


def test_gcm_internals_match_a_reference_gcm() -> None:
    """cipher.py decrypts through one-shot AEAD calls; check them against plain GCM/CTR."""
    import random  # noqa: PLC0415

    from cryptography.exceptions import InvalidTag  # noqa: PLC0415
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: PLC0415

    from custom_components.ch_smart_meter.reader.dlms import cipher  # noqa: PLC0415

    rng = random.Random(9)
    for size in [0, 1, 15, 16, 17, 100, 511]:
        key, iv, aad = rng.randbytes(16), rng.randbytes(12), rng.randbytes(rng.choice([0, 17]))
        data = rng.randbytes(size)
        encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        encryptor.authenticate_additional_data(aad)
        ciphertext = encryptor.update(data) + encryptor.finalize()
        tag = encryptor.tag[:12]
        assert cipher._gcm_decrypt(key, iv, aad, ciphertext, tag) == data
        ctr = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
        assert cipher._ctr_decrypt(key, iv, ciphertext) == ctr.update(ciphertext)
        for forged in (
            (aad + b"x", ciphertext, tag),
            (aad, ciphertext, bytes((tag[0] ^ 1,)) + tag[1:]),
            (aad, ciphertext[:-1] + bytes((ciphertext[-1] ^ 1,)) if ciphertext else b"x", tag),
            (aad, ciphertext, tag[:8]),
        ):
            with pytest.raises(InvalidTag):
                cipher._gcm_decrypt(key, iv, *forged)
