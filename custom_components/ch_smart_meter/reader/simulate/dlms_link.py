"""Put DLMS/COSEM APDUs on the wire: the link layers of the simulated push meters.

The encoder side, like :mod:`.dlms_encoder`, and never sharing code with the decoders
(``framing/``) but for ``reader.crc`` (checked against its published check values):

* HDLC frame format type 3 (IEC 62056-46) with the LLC header, optionally with the S-bit
  segmentation, :func:`hdlc_frame` / :func:`hdlc_segments`;
* wired M-Bus long frames (EN 13757-2) with the CI sequence and last-segment bit,
  :func:`mbus_long_frames`;
* :class:`HdlcLink` ties the link choices of one meter model together (addresses, GBT block
  size or segment size) and turns an APDU into the frames that model puts on the wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..crc import crc16_x25
from .dlms_encoder import gbt_block_size, general_block_transfer

# --------------------------------------------------------------------------------------------
# HDLC (IEC 62056-46), frame format type 3
# --------------------------------------------------------------------------------------------

HDLC_FLAG = 0x7E
LLC_HEADER = bytes((0xE6, 0xE7, 0x00))  # destination LSAP, source LSAP (response), quality
CONTROL_UI_FINAL = 0x13  # UI frame, poll/final bit set
CONTROL_UI = 0x03  # UI frame, poll/final bit clear (Iskra's non-final segments)
_FORMAT_TYPE_3 = 0xA000
_SEGMENTATION_BIT = 0x0800
MAX_HDLC_FRAME_LENGTH = 0x07FF


def hdlc_address(*parts: int) -> bytes:
    """An HDLC address as it appears on the wire: 1, 2 or 4 bytes of 7 bits each, shifted
    left, the extension bit (LSB) set on the last byte only.

    ``hdlc_address(0x67, 0x7F)`` = ``CE FF`` (E450 destination), ``hdlc_address(1)`` = ``03``.
    """
    if len(parts) not in (1, 2, 4):
        raise ValueError("an HDLC address has 1, 2 or 4 bytes")
    if any(not 0 <= part <= 0x7F for part in parts):
        raise ValueError("each address byte carries 7 bits")
    return bytes((part << 1) | (index == len(parts) - 1) for index, part in enumerate(parts))


def _check_address(address: bytes) -> None:
    if len(address) not in (1, 2, 4):
        raise ValueError("an HDLC address has 1, 2 or 4 bytes")
    if any(byte & 1 for byte in address[:-1]) or not address[-1] & 1:
        raise ValueError("only the last address byte may carry the extension bit")


def _crc_lsb_first(data: bytes) -> bytes:
    return crc16_x25(data).to_bytes(2, "little")


def hdlc_frame(
    information: bytes,
    *,
    destination: bytes,
    source: bytes,
    control: int = CONTROL_UI_FINAL,
    segmented: bool = False,
) -> bytes:
    """One HDLC frame: ``7E | format (2) | destination | source | control | HCS | information
    | FCS | 7E``.

    The format field is 0xA000 | S-bit | frame length (the bytes between the two flags).
    HCS and FCS are CRC-16/X.25 transmitted LSB first; the HCS is left out when there is no
    information field. No byte stuffing (IEC 62056-46 frames by length).
    """
    _check_address(destination)
    _check_address(source)
    header_length = 2 + len(destination) + len(source) + 1
    length = header_length + (2 + len(information) if information else 0) + 2
    if length > MAX_HDLC_FRAME_LENGTH:
        raise ValueError(f"HDLC frame of {length} bytes exceeds {MAX_HDLC_FRAME_LENGTH}")
    frame_format = _FORMAT_TYPE_3 | (_SEGMENTATION_BIT if segmented else 0) | length
    header = frame_format.to_bytes(2, "big") + destination + source + bytes((control,))
    body = header + (_crc_lsb_first(header) + information if information else b"")
    return bytes((HDLC_FLAG,)) + body + _crc_lsb_first(body) + bytes((HDLC_FLAG,))


def hdlc_segments(
    information: bytes,
    *,
    max_information: int,
    destination: bytes,
    source: bytes,
    control: int = CONTROL_UI_FINAL,
    non_final_control: int = CONTROL_UI,
) -> list[bytes]:
    """Split an information field over frames with the HDLC segmentation (S) bit.

    Every frame but the last has the S bit and ``non_final_control`` (Iskra AM550: 0x03);
    the last one has no S bit and ``control`` (0x13).
    """
    if max_information < 1:
        raise ValueError("segments must carry at least one byte")
    chunks = [
        information[start : start + max_information]
        for start in range(0, len(information), max_information)
    ] or [b""]
    last = len(chunks) - 1
    return [
        hdlc_frame(
            chunk,
            destination=destination,
            source=source,
            control=control if index == last else non_final_control,
            segmented=index != last,
        )
        for index, chunk in enumerate(chunks)
    ]


class Segmentation(StrEnum):
    """How a meter model gets an APDU longer than one frame onto the line."""

    SINGLE_FRAME = "single"  # one long HDLC frame (L&G E360, Kamstrup)
    HDLC_S_BIT = "hdlc-s-bit"  # HDLC segmentation bit (Iskra AM550)
    GENERAL_BLOCK_TRANSFER = "gbt"  # GBT blocks, one per UI frame (L&G E450/E570)


@dataclass(frozen=True, slots=True)
class HdlcLink:
    """The link-layer habits of one meter model.

    ``segment_size`` is the largest information field of one frame (GBT and S bit); unused
    for single frames. An E450 fills its GBT frames to 129 bytes of information: the first
    block carries 119 bytes after the LLC header and the GBT header, the next ones 122.
    """

    destination: bytes
    source: bytes
    segmentation: Segmentation = Segmentation.SINGLE_FRAME
    segment_size: int = 128

    def frames(self, apdu: bytes) -> list[bytes]:
        """The frames that carry ``apdu``; the first information field starts with the LLC
        header E6 E7 00."""
        match self.segmentation:
            case Segmentation.SINGLE_FRAME:
                return [
                    hdlc_frame(LLC_HEADER + apdu, destination=self.destination, source=self.source)
                ]
            case Segmentation.HDLC_S_BIT:
                return hdlc_segments(
                    LLC_HEADER + apdu,
                    max_information=self.segment_size,
                    destination=self.destination,
                    source=self.source,
                )
            case Segmentation.GENERAL_BLOCK_TRANSFER:
                blocks = general_block_transfer(
                    apdu,
                    gbt_block_size(self.segment_size),
                    first_block_size=gbt_block_size(self.segment_size - len(LLC_HEADER)),
                )
                return [
                    hdlc_frame(
                        (LLC_HEADER if index == 0 else b"") + block,
                        destination=self.destination,
                        source=self.source,
                    )
                    for index, block in enumerate(blocks)
                ]
        raise ValueError(f"unknown segmentation {self.segmentation!r}")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Wired M-Bus (EN 13757-2) long frames
# --------------------------------------------------------------------------------------------

MBUS_START = 0x68
MBUS_STOP = 0x16
MBUS_SND_UD = 0x53
MBUS_BROADCAST = 0xFF
_CI_LAST_SEGMENT = 0x10
_MBUS_MAX_L = 0xFF
_MBUS_OVERHEAD = 5  # C, A, CI, STSAP, DTSAP


def mbus_long_frames(
    apdu: bytes,
    *,
    max_segment: int = _MBUS_MAX_L - _MBUS_OVERHEAD,
    control: int = MBUS_SND_UD,
    address: int = MBUS_BROADCAST,
    stsap: int = 0x01,
    dtsap: int = 0x67,
) -> list[bytes]:
    """Split an APDU over M-Bus long frames the Austrian way.

    ``68 L L 68 | C | A | CI | STSAP | DTSAP | segment | checksum | 16``; L counts C to the end
    of the user data; CI = sequence number (low nibble) | 0x10 on the last segment; checksum =
    sum of C .. end of user data, modulo 256.
    """
    if not 1 <= max_segment <= _MBUS_MAX_L - _MBUS_OVERHEAD:
        raise ValueError(f"an M-Bus segment holds 1..{_MBUS_MAX_L - _MBUS_OVERHEAD} bytes")
    chunks = [apdu[start : start + max_segment] for start in range(0, len(apdu), max_segment)] or [
        b""
    ]
    if len(chunks) > 16:
        raise ValueError("more than 16 segments: the CI sequence number has four bits")
    frames = []
    for index, chunk in enumerate(chunks):
        ci = index | (_CI_LAST_SEGMENT if index == len(chunks) - 1 else 0)
        user = bytes((control, address, ci, stsap, dtsap)) + chunk
        checksum = sum(user) & 0xFF
        frames.append(
            bytes((MBUS_START, len(user), len(user), MBUS_START))
            + user
            + bytes((checksum, MBUS_STOP))
        )
    return frames


def concatenate(frames: Sequence[bytes]) -> bytes:
    """The byte stream of consecutive frames (each keeps its own flags)."""
    return b"".join(frames)
