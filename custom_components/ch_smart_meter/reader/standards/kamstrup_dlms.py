"""Kamstrup DLMS: the OMNIPOWER HAN push (list ``Kamstrup_V0001``).

HDLC UI frames at 2400 8N1, OBIS/value pairs; a 10-second list (powers, voltages,
currents) and an hourly one that adds the clock and the energies (10 Wh units). Danish
meters encrypt (SC 0x30, two keys). The two keys are known to be handed out swapped: the
decoder tries them exchanged when the tag does not verify, and says so on the reading.
"""

from __future__ import annotations

from functools import partial

from ..dlms.decoder import DlmsStreamDecoder, Framing, PipelineConfig
from ..model import SerialSettings, Standard
from ..profiles import spec_profiles
from ..spec import CT_METER_MAX_POWER, SerialPreset, StandardSpec

PIPELINE = PipelineConfig(
    standard=Standard.KAMSTRUP_DLMS, framing=Framing.HDLC, try_swapped_keys=True
)


SPEC = StandardSpec(
    standard=Standard.KAMSTRUP_DLMS,
    title="Kamstrup DLMS",
    serial_presets=(
        SerialPreset("han", "Kamstrup HAN", SerialSettings(2400, 8, "N", 1)),
        SerialPreset("han_8e1", "Kamstrup HAN, 2400 8E1 adapters", SerialSettings(2400, 8, "E", 1)),
    ),
    interval=10.0,
    create_decoder=partial(DlmsStreamDecoder, config=PIPELINE),
    supports_encryption=True,
    supports_authentication_key=True,
    description=(
        "DLMS/COSEM push of the Kamstrup OMNIPOWER HAN port (10-second list; the hourly "
        "list carries the energies), optionally encrypted (AES-GCM)."
    ),
    profiles=spec_profiles(Standard.KAMSTRUP_DLMS),
    max_power=CT_METER_MAX_POWER,
)
