"""Landis+Gyr M-Bus/DLMS: the CII of the L&G E450/E570 over an M-Bus slave adapter.

The meter is the M-Bus master and powers the bus; the reader needs an M-Bus slave
transceiver. On the wire: HDLC frames carrying general-block-transfer blocks, optionally
general-glo-ciphered (E450 SC 0x30 with tag, E570 SC 0x20). Austrian-style wired M-Bus long
frames are recognised too.
"""

from __future__ import annotations

from functools import partial

from ..dlms.decoder import DlmsStreamDecoder, Framing, PipelineConfig
from ..model import SerialSettings, Standard
from ..profiles import spec_profiles
from ..spec import CT_METER_MAX_POWER, SerialPreset, StandardSpec

PIPELINE = PipelineConfig(standard=Standard.LG_MBUS, framing=Framing.HDLC)


SPEC = StandardSpec(
    standard=Standard.LG_MBUS,
    title="Landis+Gyr M-Bus/DLMS",
    serial_presets=(
        SerialPreset(
            "cii", "E450/E570 CII over an M-Bus slave adapter", SerialSettings(2400, 8, "E", 1)
        ),
        SerialPreset(
            "cii_9600", "E450 CII at 9600 baud (e.g. Thurgau)", SerialSettings(9600, 8, "E", 1)
        ),
        SerialPreset(
            "no_parity", "2400 8N1 (adapters without parity)", SerialSettings(2400, 8, "N", 1)
        ),
        SerialPreset("9600_8n1", "9600 8N1", SerialSettings(9600, 8, "N", 1)),
    ),
    interval=10.0,
    create_decoder=partial(DlmsStreamDecoder, config=PIPELINE),
    supports_encryption=True,
    supports_authentication_key=True,
    description=(
        "DLMS/COSEM push of the Landis+Gyr E450/E570 customer interface (HDLC, block "
        "transfer, optional AES-GCM) over wired M-Bus."
    ),
    profiles=spec_profiles(Standard.LG_MBUS),
    max_power=CT_METER_MAX_POWER,
)
