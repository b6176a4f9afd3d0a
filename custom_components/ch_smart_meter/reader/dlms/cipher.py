"""DLMS general-glo-ciphering (tag 0xDB) with AES-128-GCM.

Layout: ``DB | 08 | system title (8) | length (A-XDR) | security control (1) |
invocation counter (4) | ciphertext | tag (12, when authenticated)``.

Security control: bits 0-3 suite, bit 4 authentication, bit 5 encryption. Seen on meters:
0x30 (E450, Smarty, Kamstrup DK), 0x20 (E570, Austrian M-Bus), 0x21 (Tirol Kaifa), 0x10.
The initialisation vector is system title || invocation counter. With authentication the
additional authenticated data is SC || AK (|| plaintext when only authenticated).

Used by the Smarty DSMR envelope and by every DLMS standard.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import (
    DecryptionFailed,
    InvalidKey,
    KeyRequired,
    MalformedFrame,
    ReplayedFrame,
    TruncatedFrame,
)

TAG_GENERAL_GLO_CIPHERING = 0xDB
TAG_LENGTH = 12
SC_AUTHENTICATED = 0x10
SC_ENCRYPTED = 0x20

# The authentication key every Luxembourg "Smarty" meter uses: a public constant.
SMARTY_AUTHENTICATION_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")

_KEY_SEPARATORS = re.compile(r"[\s:\-]")


def parse_key(text: str | None) -> bytes | None:
    """Parse a 16-byte key written as 32 hex digits (spaces, colons and dashes allowed).

    Empty input means "no key". Raises :class:`InvalidKey` (whose message never repeats the
    input) otherwise.
    """
    if text is None:
        return None
    cleaned = _KEY_SEPARATORS.sub("", text)
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    if not cleaned:
        return None
    if len(cleaned) != 32:
        raise InvalidKey(f"got {len(cleaned)} characters")
    try:
        return bytes.fromhex(cleaned)
    except ValueError as err:
        raise InvalidKey("not hexadecimal") from err


def read_length(data: bytes | memoryview, offset: int) -> tuple[int, int]:
    """Decode an A-XDR length at ``offset``; returns (length, offset after it)."""
    if offset >= len(data):
        raise TruncatedFrame("length field missing")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise MalformedFrame(f"invalid length encoding 0x{first:02X}")
    end = offset + 1 + count
    if end > len(data):
        raise TruncatedFrame("length field cut off")
    return int.from_bytes(data[offset + 1 : end], "big"), end


@dataclass(frozen=True, slots=True)
class CipheredApdu:
    """The parts of a general-glo-ciphering APDU."""

    system_title: bytes
    security_control: int
    invocation_counter: int
    payload: bytes  # ciphertext followed by the tag when authenticated

    @property
    def authenticated(self) -> bool:
        """True when the frame carries a GCM authentication tag."""
        return bool(self.security_control & SC_AUTHENTICATED)

    @property
    def encrypted(self) -> bool:
        """True when the payload is encrypted."""
        return bool(self.security_control & SC_ENCRYPTED)

    @property
    def manufacturer(self) -> str:
        """FLAG manufacturer id of the system title (e.g. ``LGZ``, ``KAM``, ``ISK``)."""
        return self.system_title[:3].decode("ascii", "replace")


def parse_general_glo_ciphering(apdu: bytes | memoryview) -> tuple[CipheredApdu, int]:
    """Parse a 0xDB APDU; returns it and the number of bytes it occupies."""
    if len(apdu) < 2:
        raise TruncatedFrame("ciphered APDU shorter than its header")
    if apdu[0] != TAG_GENERAL_GLO_CIPHERING:
        raise MalformedFrame(f"not a general-glo-ciphering APDU (tag 0x{apdu[0]:02X})")
    title_length = apdu[1]
    if title_length != 8:
        raise MalformedFrame(f"system title of {title_length} bytes")
    if len(apdu) < 10:
        raise TruncatedFrame("system title cut off")
    system_title = bytes(apdu[2:10])
    length, start = read_length(apdu, 10)
    end = start + length
    if length < 5:
        raise MalformedFrame("ciphered content shorter than its security header")
    if end > len(apdu):
        raise TruncatedFrame(f"ciphered APDU announces {length} bytes, {len(apdu) - start} present")
    security_control = apdu[start]
    counter = int.from_bytes(apdu[start + 1 : start + 5], "big")
    payload = bytes(apdu[start + 5 : end])
    ciphered = CipheredApdu(system_title, security_control, counter, payload)
    if ciphered.authenticated and len(payload) < TAG_LENGTH:
        raise TruncatedFrame("authentication tag cut off")
    return ciphered, end


@dataclass(frozen=True, slots=True)
class Decrypted:
    """The plaintext, and what was proven about it."""

    plaintext: bytes
    authenticated: bool  # the GCM tag was verified
    keys_swapped: bool = False  # the tag verified only with the two keys exchanged


# One AEAD context per key: a reader holds one or two keys (bounded all the same).
_AEADS: dict[bytes, AESGCM] = {}
_MAX_AEADS = 8


def _aead(key: bytes) -> AESGCM:
    aead = _AEADS.get(key)
    if aead is None:
        if len(_AEADS) >= _MAX_AEADS:
            _AEADS.clear()
        aead = _AEADS[key] = AESGCM(key)
    return aead


def _ctr_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    # GCM without a tag is AES-CTR starting at counter block IV || 00000002: the keystream
    # GCM encryption XORs in, so "encrypting" the ciphertext yields the plaintext. One call
    # into the AEAD is about twice as fast as building a CTR cipher per frame.
    return _aead(key).encrypt(iv, data, None)[: len(data)]


def _gcm_decrypt(key: bytes, iv: bytes, aad: bytes, data: bytes, tag: bytes) -> bytes:
    plaintext = _ctr_decrypt(key, iv, data)
    # Encrypting the plaintext gives back ``data`` and the full 16-byte tag over (aad,
    # data); DLMS sends its first 12 bytes. Compared in constant time, as GCM decryption does.
    expected = _aead(key).encrypt(iv, plaintext, aad)[len(data) :]
    if len(tag) < TAG_LENGTH or not hmac.compare_digest(expected[: len(tag)], tag):
        raise InvalidTag
    return plaintext


def decrypt(
    apdu: CipheredApdu,
    encryption_key: bytes | None,
    authentication_key: bytes | None,
    *,
    try_swapped: bool = False,
) -> Decrypted:
    """Decrypt and, where the frame carries a tag and an AK is known, authenticate.

    Raises :class:`KeyRequired` without a key, :class:`DecryptionFailed` when the tag does
    not verify. With ``try_swapped`` a failed tag is retried with the two keys exchanged
    (Danish Kamstrup keys labelled 64/65 are known to be handed out swapped).
    """
    iv = apdu.system_title + apdu.invocation_counter.to_bytes(4, "big")
    sc = bytes((apdu.security_control,))
    if not apdu.encrypted:
        if not apdu.authenticated:
            return Decrypted(apdu.payload, authenticated=False)
        if authentication_key is None:
            return Decrypted(apdu.payload[:-TAG_LENGTH], authenticated=False)
        if encryption_key is None:
            raise KeyRequired("an encryption key is needed to check the authentication tag")
        body, tag = apdu.payload[:-TAG_LENGTH], apdu.payload[-TAG_LENGTH:]
        try:
            _gcm_decrypt(encryption_key, iv, sc + authentication_key + body, b"", tag)
        except InvalidTag as err:
            raise DecryptionFailed() from err
        return Decrypted(body, authenticated=True)

    if encryption_key is None:
        raise KeyRequired()
    if not apdu.authenticated:
        return Decrypted(_ctr_decrypt(encryption_key, iv, apdu.payload), authenticated=False)

    body, tag = apdu.payload[:-TAG_LENGTH], apdu.payload[-TAG_LENGTH:]
    if authentication_key is None:
        # Without AK the tag cannot be checked; the caller must validate the plaintext.
        return Decrypted(_ctr_decrypt(encryption_key, iv, body), authenticated=False)
    try:
        return Decrypted(
            _gcm_decrypt(encryption_key, iv, sc + authentication_key, body, tag),
            authenticated=True,
        )
    except InvalidTag:
        pass
    if try_swapped:
        try:
            plain = _gcm_decrypt(authentication_key, iv, sc + encryption_key, body, tag)
        except InvalidTag:
            pass
        else:
            return Decrypted(plain, authenticated=True, keys_swapped=True)
    raise DecryptionFailed()


def plaintext_without_tag(apdu: CipheredApdu, encryption_key: bytes) -> bytes:
    """Decrypt ignoring the tag: used to tell a wrong AK (sane plaintext) from a wrong EK."""
    body = apdu.payload[:-TAG_LENGTH] if apdu.authenticated else apdu.payload
    iv = apdu.system_title + apdu.invocation_counter.to_bytes(4, "big")
    return _ctr_decrypt(encryption_key, iv, body)


class InvocationCounterGuard:
    """Drops frames whose invocation counter does not increase (replays, duplicates).

    One counter per system title. A counter far below the last one (a meter whose counter
    was reset, or a replaced meter with the same title) is accepted after it has been seen
    ``accept_reset_after`` times in a row, so a reset meter is not locked out forever.
    """

    def __init__(self, accept_reset_after: int = 3) -> None:
        self._last: dict[bytes, int] = {}
        # Counters below the last accepted one, increasing among themselves: a meter reset.
        self._reset_run: dict[bytes, list[int]] = {}
        self._accept_reset_after = accept_reset_after
        self.rejected = 0

    def check(self, system_title: bytes, counter: int) -> None:
        """Raise :class:`ReplayedFrame` unless ``counter`` is new for this system title."""
        last = self._last.get(system_title)
        if last is None or counter > last:
            self._last[system_title] = counter
            self._reset_run.pop(system_title, None)
            return
        if counter < last:
            run = self._reset_run.setdefault(system_title, [])
            if run and counter <= run[-1]:
                run.clear()
            run.append(counter)
            if len(run) >= self._accept_reset_after:
                self._last[system_title] = counter
                del self._reset_run[system_title]
                return
        self.rejected += 1
        raise ReplayedFrame(f"invocation counter {counter}, last accepted {last}")
