"""The MEP authentication digest (Appendix A of the MEP Client Developer's Guide).

An 8-byte keyed checksum, written here from the guide's description. Eight state bytes
start at zero; the key is walked one and a half times per round (24 key bytes for a
16-byte key), each key byte giving eight steps, one per state byte from the last to the
first, and each step consuming one data byte. A step takes the complement of the state
byte plus its index, rotates it left (key bit 1) or rotates it right and negates it (key
bit 0), and adds the previous result and the data byte. Rounds repeat until the data is
used up; the last one runs on zeros, so the key schedule always completes.

A request's digest runs over its code through its sequence number; an answer's over the
request's bytes followed by the answer's code through data (the guide's two ways of
saving the state amount to digesting the concatenation). The same function serves the
reader and the simulated meter, like the CRCs of :mod:`..crc`: the guide's example
digests, reproduced byte for byte in the tests, are what keeps it right.

A consequence of the zero padding: an answer made of the single code 0x00 (a successful
write) has the request's digest. Reads always carry data, so this does not weaken them.
"""

from __future__ import annotations

from typing import Final

DIGEST_SIZE: Final = 8
# Only the first 16 bytes of a (possibly 20-byte) MEP key take part.
KEY_SIZE: Final = 16


def _passes(key_length: int) -> int:
    # The guide's rule: 1.5 times the key, except for 6-byte keys (walked once).
    return key_length if key_length == 6 else key_length + key_length // 2


def mep_digest(key: bytes, data: bytes) -> bytes:
    """The 8-byte digest of ``data`` with the first 16 bytes of ``key``."""
    key = key[:KEY_SIZE]
    if not key:
        raise ValueError("the digest needs a key")
    state = [0] * DIGEST_SIZE
    passes = _passes(len(key))
    size = len(data)
    position = 0
    while True:
        for index in range(passes):
            key_bits = key[index % len(key)]
            previous = state[0]
            for slot in range(DIGEST_SIZE - 1, -1, -1):
                byte = data[position] if position < size else 0
                position += 1
                mixed = ~(state[slot] + slot) & 0xFF
                if key_bits & 1:
                    mixed = ((mixed << 1) | (mixed >> 7)) & 0xFF
                else:
                    mixed = -((mixed >> 1) | (mixed << 7)) & 0xFF
                previous = state[slot] = (previous + byte + mixed) & 0xFF
                key_bits >>= 1
        if position >= size:
            return bytes(state)
