"""CH-SMR as a source: the reader output format of chapter 6 read back, from another
reader (gPlug, whatwatt, smartmeter-datacollector, another Home Assistant).

It is carried as MQTT messages, one per reading; the format is in :mod:`..chsmr`. Outside
MQTT (a capture, a log) the messages come one per line: that is this standard's decoder. A
line is the payload alone, or the topic, a space and the payload, as ``mosquitto_sub -v``
prints them; the topic then names the meter when the payload does not (as
smartmeter-datacollector publishes).
"""

from __future__ import annotations

from typing import Any, Final

from ..chsmr import decode_payload
from ..errors import ChSmrError
from ..framing.lines import LineSplitter
from ..model import DecodeResult, RejectedFrame, Standard
from ..spec import CT_METER_MAX_POWER, Carrier, DecoderOptions, StandardSpec

# The recommendation asks readers for data at least every 10 s.
CHSMR_INTERVAL: Final = 10.0
# A message longer than this is no CH-SMR reading (Tables 1 and 2 fit in well under 2 kB).
MAX_MESSAGE_BYTES: Final = 64 * 1024


def decode_message(message: bytes, **kwargs: Any) -> DecodeResult:
    """One message: a reading, or the message rejected with the reason."""
    if len(message) > MAX_MESSAGE_BYTES:
        return RejectedFrame(ChSmrError("message too long"), message[:256])
    try:
        return decode_payload(message, **kwargs)
    except ChSmrError as err:
        return RejectedFrame(err, message)


class ChSmrLineDecoder:
    """CH-SMR messages one per line (a capture, a log): the ``StreamDecoder`` of the spec."""

    def __init__(self, options: DecoderOptions | None = None) -> None:
        self._lines = LineSplitter(MAX_MESSAGE_BYTES)
        self._base_units = options is not None and options.source_in_base_units

    def feed(self, data: bytes) -> list[DecodeResult]:
        """Decode every complete line."""
        results: list[DecodeResult] = []
        for line in self._lines.feed(data):
            if line is None:
                results.append(RejectedFrame(ChSmrError("line too long"), position=self._where()))
            else:
                self._decode(line, results)
        return results

    def flush(self) -> list[DecodeResult]:
        """A last line without a line break."""
        results: list[DecodeResult] = []
        if (line := self._lines.rest()) is not None:
            self._decode(line, results)
        return results

    def reset(self) -> None:
        """Forget a partial line."""
        self._lines.clear()

    def diagnostics(self) -> dict[str, Any]:
        """Nothing to learn about the meter from a message format."""
        return {}

    def _decode(self, line: bytes, results: list[DecodeResult]) -> None:
        line = line.strip()
        if not line:
            return
        topic: str | None = None
        name, _, rest = line.partition(b" ")
        if not line.startswith(b"{") and (rest := rest.strip()).startswith(b"{"):
            # "<topic> <payload>" (mosquitto_sub -v); a topic holds no space in practice.
            topic, line = name.decode("utf-8", "replace"), rest
        result = decode_message(line, topic=topic, source_in_base_units=self._base_units)
        if isinstance(result, RejectedFrame):
            result = RejectedFrame(result.error, result.frame, position=self._where())
        results.append(result)

    def _where(self) -> str:
        return f"line {self._lines.number}"


SPEC: Final = StandardSpec(
    standard=Standard.CH_SMR,
    title="CH-SMR reader over MQTT",
    carrier=Carrier.MQTT,
    interval=CHSMR_INTERVAL,
    create_decoder=ChSmrLineDecoder,
    description="Chapter 6 of the Swiss recommendation: JSON on dt/<group>/<id_ims>/ds",
    frame_noun="message",
    text_captures=True,
    max_power=CT_METER_MAX_POWER,
)
