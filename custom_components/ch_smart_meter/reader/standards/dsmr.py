"""P1 DSMR: ASCII telegrams on the P1 (RJ12) port, DSMR 2.2 to 5.0.2 and the country
variants (recognised from the telegram), and the encrypted Luxembourg "Smarty" envelope.

The decoder is in :mod:`..dsmr`; this module says how the standard is read.
"""

from __future__ import annotations

from typing import Final

from ..dsmr.telegram import DsmrDecoder
from ..model import SerialSettings, Standard
from ..spec import SerialPreset, StandardSpec

SPEC: Final = StandardSpec(
    standard=Standard.DSMR,
    title="P1 DSMR 5.0.2",
    serial_presets=(
        SerialPreset("dsmr5", "DSMR 5 P1 port", SerialSettings(115200, 8, "N", 1)),
        SerialPreset("dsmr4", "DSMR 4", SerialSettings(115200, 7, "E", 1)),
        SerialPreset("dsmr22", "DSMR 2.2/3", SerialSettings(9600, 7, "E", 1)),
    ),
    # DSMR 5 sends every second, DSMR 4 and Smarty every 10 s: 3x this = unavailable.
    interval=10.0,
    create_decoder=DsmrDecoder,
    supports_encryption=True,
    # The Smarty envelope's authentication key is a public constant the decoder knows: no
    # grid operator hands one out, so none is asked for (the decoder still takes one).
    supports_authentication_key=False,
    description=(
        "ASCII telegrams on the P1 port (DSMR 2.2 to 5.0.2, e-MUCS, Nordic P1), "
        "including the encrypted Luxembourg Smarty envelope"
    ),
)
