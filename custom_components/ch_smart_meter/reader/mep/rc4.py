"""Optional RC4 encryption of MEP messages (Appendix B of the MEP Client Developer's Guide).

Per key, a base key: the RC4 keystream of the MEP key's first 16 bytes applied to a
constant given in the guide. Per request, RC4 is keyed with that base key whose first 8
bytes are XORed with the request's digest; it encrypts the request from its code through
its sequence number, and the same cipher state, continued, decrypts the answer's code
through data. The length field and the digests are never encrypted, and digests are
always computed over the plain bytes. Answers 0x0B (authentication failure) are sent
plain; 0x0C (sequence number) answers are encrypted like any other.

The meter mirrors the reader: it encrypts its answer only when the request was encrypted.
The guide discourages RC4 and makes it optional for the client, so the reader sends plain
requests unless asked otherwise. Like the digest, this module serves both the reader and
the simulated meter; RC4 itself is checked against the published test vectors.
"""

from __future__ import annotations

from typing import Final

from .digest import DIGEST_SIZE, KEY_SIZE

# Appendix B's constant, turned into the base key by the MEP key's keystream.
_CONSTANT: Final = bytes.fromhex("388B8FBC36A8558587AFC90FB23A3B99")


class Rc4:
    """The RC4 stream cipher (key schedule and keystream); XOR is its own inverse."""

    __slots__ = ("_i", "_j", "_state")

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("RC4 needs a key")
        state = list(range(256))
        j = 0
        for i in range(256):
            j = (j + state[i] + key[i % len(key)]) & 0xFF
            state[i], state[j] = state[j], state[i]
        self._state = state
        self._i = 0
        self._j = 0

    def apply(self, data: bytes) -> bytes:
        """Encrypt or decrypt ``data``, continuing the keystream."""
        state = self._state
        i, j = self._i, self._j
        out = bytearray(len(data))
        for index, byte in enumerate(data):
            i = (i + 1) & 0xFF
            j = (j + state[i]) & 0xFF
            state[i], state[j] = state[j], state[i]
            out[index] = byte ^ state[(state[i] + state[j]) & 0xFF]
        self._i, self._j = i, j
        return bytes(out)


def base_key(mep_key: bytes) -> bytes:
    """The per-key RC4 base key (the guide's ``mep_EncryptKey``)."""
    return Rc4(mep_key[:KEY_SIZE]).apply(_CONSTANT)


def packet_cipher(mep_key: bytes, request_digest: bytes) -> Rc4:
    """The cipher of one exchange: the base key with the request's digest mixed in.

    Encrypt the request body with it, then decrypt the answer body with the same object.
    """
    if len(request_digest) != DIGEST_SIZE:
        raise ValueError("a request digest has 8 bytes")
    key = bytearray(base_key(mep_key))
    for index, byte in enumerate(request_digest):
        key[index] ^= byte
    return Rc4(bytes(key))
