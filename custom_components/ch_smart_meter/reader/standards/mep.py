"""NES/OSGP MEP: the Multipurpose Expansion Port of NES (ex-Echelon) meters, read by polling.

A UART (9600 8N1) on which the reader asks with ANSI C12.18 partial table reads, each
authenticated by an 8-byte digest keyed with the MEP basic key (MBK) the grid operator
hands out, and the meter answers. The port's enable input is the adapter's RTS line,
raised when the port opens. Legacy ("RC4 security") mode only: a port configured to
require TLS is recognised and reported, not read.
"""

from __future__ import annotations

from typing import Final

from ..mep.dialogue import MepDialogueDecoder
from ..mep.keys import parse_mep_key
from ..mep.poller import MEP_SERIAL, MepPoller
from ..model import Standard
from ..spec import SerialPreset, StandardSpec

# A cycle reads three tables (clock, present values, energies); NES asks clients to read
# tables no more than once a second on average.
MIN_POLL_INTERVAL: Final = 3.0

SPEC: Final = StandardSpec(
    standard=Standard.MEP,
    title="NES/OSGP MEP",
    serial_presets=(SerialPreset("mep", "MEP port, 9600 8N1", MEP_SERIAL),),
    interval=5.0,
    create_decoder=MepDialogueDecoder,
    create_poller=MepPoller,
    min_poll_interval=MIN_POLL_INTERVAL,
    supports_encryption=True,  # the MEP key (MBK)
    supports_authentication_key=False,
    parse_key=parse_mep_key,
    frame_noun="answer",
    text_captures=True,
    description=(
        "Polled ANSI C12.18 table reads on the MEP port of NES/Echelon meters, "
        "authenticated with the MEP basic key (MBK) from the grid operator."
    ),
)
