"""P1 DLMS: HDLC-framed DLMS push over the P1 (RJ12) port (Iskra AM550, L&G E360).

The same connector and electrics as DSMR P1, but binary HDLC + DLMS instead of ASCII:
AM550 segments its push with the HDLC S bit at 115200 8N1; the E360 sends one long frame at
9600 8N1 (SCS default). Both use the push-object-list layout with voltages in 0.1 V.
"""

from __future__ import annotations

from functools import partial

from ..dlms.decoder import DlmsStreamDecoder, Framing, PipelineConfig
from ..model import SerialSettings, Standard
from ..profiles import spec_profiles
from ..spec import SerialPreset, StandardSpec

PIPELINE = PipelineConfig(standard=Standard.P1_DLMS, framing=Framing.HDLC)


SPEC = StandardSpec(
    standard=Standard.P1_DLMS,
    title="P1 DLMS",
    serial_presets=(
        SerialPreset("am550", "Iskra AM550 P1", SerialSettings(115200, 8, "N", 1)),
        SerialPreset("e360", "Landis+Gyr E360 P1", SerialSettings(9600, 8, "N", 1)),
    ),
    interval=10.0,
    create_decoder=partial(DlmsStreamDecoder, config=PIPELINE),
    supports_encryption=True,
    supports_authentication_key=True,
    description=(
        "HDLC-framed DLMS/COSEM push on the P1 (RJ12) port, optionally encrypted "
        "(AES-GCM): Iskraemeco AM550, Landis+Gyr E360."
    ),
    profiles=spec_profiles(Standard.P1_DLMS),
)
