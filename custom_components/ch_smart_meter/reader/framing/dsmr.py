"""Cut a P1 byte stream into DSMR telegrams and Smarty envelopes.

Two kinds of frame travel on a P1 port:

* a text telegram, ``/`` .. ``!`` followed by 0 to 4 hexadecimal CRC digits (no digits on
  DSMR 2.2/3; three on meters that do not zero-pad) and CRLF;
* the Luxembourg "Smarty" envelope (also Sagemcom T210-D-R): a raw DLMS
  general-glo-ciphering APDU ``DB 08 <system title> <A-XDR length> <content>``, framed by
  its length field.

Bytes outside frames are line noise and ignored. A frame start (``/`` or ``DB 08``) inside
an unfinished text telegram means the telegram was cut off: it is reported truncated and
the framer resynchronises on the new start. A text telegram without an end within
:data:`MAX_FRAME` bytes is reported malformed. A telegram without CRC digits is cut after
the ``!`` CR LF that ends a DSMR 2.2/3 telegram, so that the decoder can tell it from a
``!`` that line noise wrote into a line (then nothing or something else follows).

A damaged frame costs at most itself: an envelope is framed by its length field, which
may claim more bytes than were sent (a cut envelope) and so take in the start of the
frames after it. When the decoder rejects a frame, it hands it back (:meth:`rescan`) and
framing resumes at the first plausible frame start inside it; at the end of input the
same holds for a frame still waiting for its bytes.

Every decision depends only on bytes already received, never on how they were chunked, so
feeding byte by byte gives exactly what feeding one chunk gives. The CRC is not checked
here: the decoder checks it, also on decrypted envelopes.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import MalformedFrame, TruncatedFrame
from ..model import RejectedFrame

MAX_FRAME = 16 * 1024

_SLASH = 0x2F  # "/": start of a text telegram
_BANG = b"!"  # end of a text telegram, the CRC follows
_LINE_END = b"\r\n"  # after the CRC, or right after "!" on DSMR 2.2/3
_CIPHER_TAG = 0xDB  # general-glo-ciphering
_ENVELOPE_START = b"\xdb\x08"  # the tag, then the 8-byte system title length
_HEX_DIGITS = frozenset(b"0123456789ABCDEFabcdef")
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_CRC_DIGITS = 4
# Security control bytes an envelope may carry (suite 0 or 1; authenticated and/or
# encrypted); anything else after "DB 08 <title> <length>" is noise that looked like a start.
_SECURITY_CONTROLS = frozenset({0x10, 0x20, 0x30, 0x11, 0x21, 0x31})
_MIN_CONTENT = 5  # security control + invocation counter
# Bytes after a candidate start that tell whether it is plausible (an envelope header).
_START_LOOKAHEAD = 14


def _next_start(buffer: bytes | bytearray, start: int, end: int) -> int:
    """Index of the first ``/`` or ``DB`` in ``buffer[start:end]``, or -1."""
    slash = buffer.find(_SLASH, start, end)
    tag = buffer.find(_CIPHER_TAG, start, end if slash < 0 else slash)
    return tag if tag >= 0 else slash


def _plausible_start(data: bytes | bytearray, pos: int) -> bool:
    """Whether a frame may start at ``data[pos]``: ``/`` and a FLAG manufacturer id (three
    letters; the baud rate character after it is not always a digit: ``/NWA-WARMTELINK``),
    or an envelope header. A start cut off by the end of ``data`` is plausible as far as it
    goes."""
    if data[pos] == _SLASH:
        return all(byte in _LETTERS for byte in data[pos + 1 : pos + 4])
    head = bytes(data[pos : pos + _START_LOOKAHEAD])
    if head[:1] != b"\xdb" or head[1:2] not in (b"", b"\x08"):
        return False
    if len(head) < 12:
        return True
    length_byte = head[10]
    if length_byte < 0x80:
        control = head[11]
    elif length_byte in (0x81, 0x82):
        header = 11 + (length_byte & 0x7F)
        if len(head) <= header:
            return True
        control = head[header]
    else:
        return False
    return control in _SECURITY_CONTROLS


class DsmrFramer:
    """Bytes in; complete frames (``bytes``) and framing rejections out, in stream order."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        # Inside an unfinished text telegram: where to resume looking for its end.
        self._resume = 1
        self._max_frame = max_frame

    def feed(self, data: bytes) -> list[bytes | RejectedFrame]:
        """Consume a chunk; return the frames it completed."""
        return list(self.frames(data))

    def frames(self, data: bytes) -> Iterator[bytes | RejectedFrame]:
        """Consume a chunk; yield the frames it completes one by one, so that the consumer
        can hand a frame it rejects back (:meth:`rescan`) before framing goes on."""
        if not self._buffer and data[:1] == b"/":
            telegram = self._whole_telegram(data)
            if telegram is not None:
                yield telegram
                yield from self._drain()  # bytes a rescan put back, if any
                return
        self._buffer += data
        yield from self._drain()

    def rescan(self, frame: bytes) -> None:
        """``frame`` (as cut by this framer) was rejected: resume framing at the first
        plausible frame start inside it, before the bytes still buffered. An envelope
        whose length claimed more than was sent took in the start of the next frame."""
        lookahead = frame + bytes(self._buffer[:_START_LOOKAHEAD])
        pos = self._restart_after(lookahead)
        if 0 < pos < len(frame):
            self._buffer[:0] = frame[pos:]
            self._resume = 1

    def _drain(self) -> Iterator[bytes | RejectedFrame]:
        out: list[bytes | RejectedFrame] = []
        while self._step(out):
            yield from out
            out.clear()

    def _whole_telegram(self, data: bytes) -> bytes | None:
        """The usual chunk of a P1 port, one whole telegram ending in four CRC digits and
        maybe a line end, cut without buffering or copying it twice; ``None`` for anything
        else, which takes the general path. It gives what the general path gives: nothing
        inside restarts a frame, and what follows the CRC is noise without a frame start.
        """
        bang = data.find(_BANG, 1, self._max_frame)
        if bang < 0:
            return None
        end = bang + 1 + _CRC_DIGITS
        digits = data[bang + 1 : end]
        if (
            len(digits) != _CRC_DIGITS
            or not _HEX_DIGITS.issuperset(digits)
            or data.find(b"/", 1, bang) >= 0
            or data.find(_ENVELOPE_START, 1, bang) >= 0
            or data.find(b"/", end) >= 0
            or data.find(b"\xdb", end) >= 0
        ):
            return None
        return data[:end]

    def flush(self) -> list[bytes | RejectedFrame]:
        """End of input; see :meth:`flush_frames`."""
        return list(self.flush_frames())

    def flush_frames(self) -> Iterator[bytes | RejectedFrame]:
        """End of input: a telegram whose CRC line was cut by the end is complete as it
        is; any other pending frame is reported truncated, and the frames that started
        inside the span it was waiting for are framed as usual."""
        buffer = self._buffer
        while buffer:
            first = buffer[0]
            if first not in (_SLASH, _CIPHER_TAG):
                break  # noise
            bang = buffer.find(_BANG, 1) if first == _SLASH else -1
            if bang >= 0 and bang + 1 < len(buffer) and buffer[bang + 1] in _HEX_DIGITS:
                yield bytes(buffer)  # "!" with 1-3 CRC digits and no line end yet
                break
            restart = self._restart_after(bytes(buffer))
            kind = "telegram" if first == _SLASH else "encrypted frame"
            pending = bytes(buffer[:restart]) if restart > 0 else bytes(buffer)
            yield RejectedFrame(TruncatedFrame(f"{kind} ended after {len(pending)} bytes"), pending)
            if restart <= 0:
                break
            del buffer[:restart]
            self._resume = 1
            yield from self._drain()
        self.reset()

    def _restart_after(self, frame: bytes) -> int:
        """Index of the first plausible frame start in ``frame[1:]``, or -1."""
        pos = _next_start(frame, 1, len(frame))
        while pos >= 0 and not _plausible_start(frame, pos):
            pos = _next_start(frame, pos + 1, len(frame))
        return pos

    def reset(self) -> None:
        """Forget everything pending."""
        self._buffer.clear()
        self._resume = 1

    def _step(self, out: list[bytes | RejectedFrame]) -> bool:
        """Make one decision; False when more bytes are needed."""
        buffer = self._buffer
        if not buffer:
            return False
        first = buffer[0]
        if first == _SLASH:
            return self._text(out)
        if first == _CIPHER_TAG:
            return self._envelope(out)
        start = _next_start(buffer, 1, len(buffer))
        if start < 0:
            buffer.clear()  # all noise
            return False
        del buffer[:start]
        self._resume = 1
        return True

    def _text(self, out: list[bytes | RejectedFrame]) -> bool:
        buffer = self._buffer
        size = len(buffer)
        window = min(size, self._max_frame)  # the end marker must lie within the bound
        resume = self._resume
        bang = buffer.find(_BANG, resume, window)
        limit = bang if bang >= 0 else window
        restart = self._restart_within(resume, limit)
        if restart >= 0:
            out.append(
                RejectedFrame(
                    TruncatedFrame(
                        f"a new frame started after {restart} bytes, before the end marker"
                    ),
                    bytes(buffer[:restart]),
                )
            )
            del buffer[:restart]
            self._resume = 1
            return True
        if bang < 0:
            if size >= self._max_frame:
                out.append(
                    RejectedFrame(
                        MalformedFrame(f"no end marker within {self._max_frame} bytes"),
                        bytes(buffer[: self._max_frame]),
                    )
                )
                del buffer[: self._max_frame]
                self._resume = 1
                return True
            # Look at the last byte again next time: it may be the "DB" of "DB 08".
            self._resume = max(1, size - 1)
            return False
        end = bang + 1
        while end < size and end - bang <= _CRC_DIGITS and buffer[end] in _HEX_DIGITS:
            end += 1
        if end == bang + 1:
            # No CRC digits: a DSMR 2.2/3 telegram ends here only if CR LF follows.
            after = bytes(buffer[end : end + 2])
            if _LINE_END.startswith(after) and len(after) < 2:
                self._resume = bang  # the line end may come in the next chunk
                return False
            if after == _LINE_END:
                end += 2
        elif end - bang <= _CRC_DIGITS and end == size:
            self._resume = bang  # the CRC may go on in the next chunk
            return False
        out.append(bytes(buffer[:end]))
        del buffer[:end]
        self._resume = 1
        return True

    def _restart_within(self, start: int, end: int) -> int:
        """A new frame start inside the current text telegram: ``/`` or ``DB 08``."""
        buffer = self._buffer
        slash = buffer.find(_SLASH, start, end)
        envelope = buffer.find(_ENVELOPE_START, start, end if slash < 0 else slash + 1)
        if envelope >= 0 and (slash < 0 or envelope < slash):
            return envelope
        return slash

    def _envelope(self, out: list[bytes | RejectedFrame]) -> bool:
        buffer = self._buffer
        size = len(buffer)
        if size < 2:
            return False
        if buffer[1] != 0x08:
            return self._skip_noise_byte()
        if size < 11:
            return False
        length_byte = buffer[10]
        if length_byte < 0x80:
            header, length = 11, length_byte
        elif length_byte in (0x81, 0x82):
            header = 11 + (length_byte & 0x7F)
            if size < header:
                return False
            length = int.from_bytes(buffer[11:header], "big")
        else:
            return self._skip_noise_byte()
        if size <= header:
            return False
        if (
            buffer[header] not in _SECURITY_CONTROLS
            or length < _MIN_CONTENT
            or header + length > self._max_frame
        ):
            return self._skip_noise_byte()
        total = header + length
        if size < total:
            return False
        out.append(bytes(buffer[:total]))
        del buffer[:total]
        return True

    def _skip_noise_byte(self) -> bool:
        """The 0xDB was not the start of an envelope: drop it and look further."""
        del self._buffer[:1]
        return True
