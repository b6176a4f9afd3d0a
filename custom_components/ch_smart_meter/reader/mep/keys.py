"""The MEP key as grid operators hand it out.

NES meters hold 20-byte key fields of which the digest uses the first 16 bytes. The MEP
basic key (MBK) usually reaches customers as a 20-character text; its characters' ASCII
codes are the key bytes (community readers ask for the same bytes as 40 hex digits). Both
forms are accepted, and 32 hex digits (the 16 bytes that matter) too.
"""

from __future__ import annotations

import re
from typing import Final

from ..errors import InvalidKey, Reason

ASCII_KEY_LENGTH: Final = 20
_HEX_LENGTHS: Final = (32, 40)
_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^[0-9A-Fa-f]*$")


class InvalidMepKey(InvalidKey):
    """A MEP key in neither of its forms (the text itself is never repeated)."""

    reason = Reason.INVALID_MEP_KEY
    default_message = (
        "the MEP key is the 20-character MBK as the grid operator writes it, "
        "or its bytes as 40 (or 32) hexadecimal digits"
    )


def parse_mep_key(text: str | None) -> bytes | None:
    """The key bytes (20 or 16), ``None`` for an empty field; raises :class:`InvalidMepKey`.

    Exactly 20 printable ASCII characters are the key text; otherwise 40 or 32 hex digits,
    with spaces, colons or dashes allowed between them.
    """
    if text is None:
        return None
    stripped = text.strip()
    if not stripped:
        return None
    if len(stripped) == ASCII_KEY_LENGTH and all(" " <= char <= "~" for char in stripped):
        return stripped.encode("ascii")
    cleaned = _SEPARATORS.sub("", stripped)
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    if len(cleaned) not in _HEX_LENGTHS:
        raise InvalidMepKey(f"got {len(stripped)} characters")
    if not _HEX.match(cleaned):
        raise InvalidMepKey("not hexadecimal")
    return bytes.fromhex(cleaned)
