"""The DLMS capture corpus (../shared/testdata/dlms_*) as test data, and gurux as oracle.

The captures are read in place (never copied). ``CAPTURES`` transcribes, per capture, the
keys and the values its MANIFEST gives, already in CH-SMR units after the meter profile's
scaling; negatives list the rejection they must produce.

gurux-dlms (GPL) is a test oracle only: the library never imports it. Its pitfalls
(protocols.md 11.1) are handled here: its stdout chatter is swallowed, M-Bus frames go in
one fresh buffer each, APDUs without link layer go in PDU mode without the LLC header, and
its times are compared as wall-clock times.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custom_components.ch_smart_meter.reader.dlms import axdr
from custom_components.ch_smart_meter.reader.errors import (
    CrcError,
    FrameError,
    KeyRequired,
    MalformedFrame,
    TruncatedFrame,
    UnsupportedFrame,
)
from custom_components.ch_smart_meter.reader.model import DecodeResult, Standard, TimeSource
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec
from tests.conftest import testdata_dir

HOST_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LG = Standard.LG_MBUS
P1 = Standard.P1_DLMS
KAM = Standard.KAMSTRUP_DLMS


@dataclass(frozen=True)
class Expected:
    """What one reading must contain (values: a subset of the reading's, exactly)."""

    timestamp: str
    values: dict[str, float]
    meter_id: str | None = None
    id_obis: str = "96.1.1"
    model: str | None = None
    time_source: TimeSource = TimeSource.METER


@dataclass(frozen=True)
class Capture:
    """One capture file and what decoding it must give, in stream order."""

    folder: str
    name: str
    standard: Standard
    key: str | None = None
    auth_key: str | None = None
    readings: tuple[Expected, ...] = ()
    errors: tuple[type[FrameError], ...] = ()
    note: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.name.removesuffix(".hex")

    def path(self) -> Path:
        return testdata_dir(self.folder) / self.name

    def lines(self) -> list[bytes]:
        """The frames of the capture, one per line."""
        text = self.path().read_text()
        return [bytes.fromhex(line) for line in text.split()]

    def decoder_options(self, **overrides: Any) -> DecoderOptions:
        keys = {
            "encryption_key": bytes.fromhex(self.key) if self.key else None,
            "authentication_key": bytes.fromhex(self.auth_key) if self.auth_key else None,
        }
        return DecoderOptions(**(keys | self.options | overrides))


def decode(capture: Capture, chunks: Sequence[bytes], **overrides: Any) -> list[DecodeResult]:
    """Feed ``chunks`` into a fresh decoder of the capture's standard, then flush."""
    decoder = get_spec(capture.standard).create_decoder(capture.decoder_options(**overrides))
    results: list[DecodeResult] = []
    for chunk in chunks:
        results += decoder.feed(chunk)
    return results + decoder.flush()


def _u(*phases: float) -> dict[str, float]:
    return dict(zip(("32.7.0", "52.7.0", "72.7.0"), phases, strict=False))


def _i(*phases: float) -> dict[str, float]:
    return dict(zip(("31.7.0", "51.7.0", "71.7.0"), phases, strict=False))


_ZERO_KAMSTRUP_10S = (
    {"1.7.0": 0.0, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.0} | _u(0, 0, 0) | _i(0, 0, 0)
)
_ZERO_ENERGIES = {"1.8.0": 0.0, "2.8.0": 0.0, "3.8.0": 0.0, "4.8.0": 0.0}

# Keys published with the captures (test keys or keys their owners posted publicly).
E450_BURGENLAND = ("34743677397A24432646294A404E6352", "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF")
E450_ESPHOME = ("5C316162209EBB790B52EB0E7FC5B11C", "92705C5C97286064EABAE38D190F87A4")
KAMSTRUP_ESPHOME = ("00112233445566778899AABBCCDDEEFF", "FFEEDDCCBBAA99887766554433221100")

CAPTURES: tuple[Capture, ...] = (
    # --- Landis+Gyr -----------------------------------------------------------------------
    Capture("dlms_lg", "amsreader__landisgyr_em-ct623_2frames.hex", LG, errors=(KeyRequired,),
            note="encrypted, key not published"),
    Capture("dlms_lg", "amsreader__landisgyr_gh501-1.hex", LG, *E450_BURGENLAND, readings=(
        Expected("2023-03-28T19:11:20+02:00",
                 _u(236, 237, 236) | _i(0, 0.04, 0.26)
                 | {"1.7.0": 0.029, "2.7.0": 0.0, "1.8.0": 31358.606, "2.8.0": 7.619},
                 "30137181", model="E450"),)),
    Capture("dlms_lg", "amsreader__landisgyr_gh501-2.hex", LG, *E450_BURGENLAND, readings=(
        Expected("2023-03-28T19:11:25+02:00",
                 _u(236, 237, 237) | _i(0, 0.04, 0.26)
                 | {"1.7.0": 0.029, "2.7.0": 0.0, "1.8.0": 31358.606, "2.8.0": 7.619},
                 "30137181"),)),
    Capture("dlms_lg", "amsreader__landisgyr_gh934-1.hex", LG, readings=(
        Expected("2025-02-28T11:29:30+01:00",
                 {"1.7.0": 0.331, "1.8.0": 4912.257, "21.7.0": 0.014, "41.7.0": 0.289,
                  "61.7.0": 0.028} | _i(0.49, 1.67, 0.23) | _u(234, 235, 233),
                 "63316890"),)),
    Capture("dlms_lg", "amsreader__landisgyr_gh949_blocks1-2_INCOMPLETE.hex", LG,
            errors=(TruncatedFrame,), note="GBT blocks 1-2 only"),
    Capture("dlms_lg", "esphome_dlmsparser__lg_e450_gbt_encrypted_1.hex", LG, *E450_ESPHOME,
            readings=(Expected("2022-02-21T17:37:30+01:00", {
                "1.8.0": 4408.736, "1.8.1": 3593.919, "1.8.2": 814.817, "1.7.0": 2.893,
                "2.8.0": 0.0, "2.8.1": 0.0, "2.8.2": 0.0, "2.7.0": 0.0, "3.8.0": 1591.784,
                "3.8.1": 1358.75, "3.8.2": 233.034, "3.7.0": 1.735, "4.8.0": 1401.005,
                "4.8.1": 872.483, "4.8.2": 528.522, "4.7.0": 0.0},
                "LGZ677370B177"),)),
    Capture("dlms_lg", "esphome_dlmsparser__lg_zmf100_no_NEGATIVE_badfcs_as_logged.hex", LG,
            errors=(CrcError,)),
    Capture("dlms_lg", "scs__lg_e360_plain_vse2026.hex", P1, readings=(
        Expected("2023-06-06T17:31:20.180000+02:00",
                 {"1.8.0": 21.956, "2.8.0": 4.547, "3.8.0": 27.256, "4.8.0": 4.432,
                  "1.7.0": 0.011, "2.7.0": 0.0} | _u(235.7, 0, 0) | _i(0.06, 0, 0),
                 "LGZ1030163598905", "42.0.0", "E360"),)),
    Capture("dlms_lg", "scs__lg_e450_NEGATIVE_duplicated_block.hex", LG, errors=(MalformedFrame,)),
    Capture("dlms_lg", "scs__lg_e450_encrypted_nopushlist_2022.hex", LG,
            "F08660A6C19D2048556BF623AB0257E6", readings=(
        Expected("2022-02-23T21:36:00+01:00", {
            "1.8.0": 6226.327, "1.8.1": 4395.17, "1.8.2": 1831.157, "1.7.0": 0.769,
            "2.8.0": 0.0, "2.8.1": 0.0, "2.8.2": 0.0, "2.7.0": 0.0, "3.8.0": 1139.036,
            "3.8.1": 689.91, "3.8.2": 449.126, "3.7.0": 0.0, "4.8.0": 1373.822,
            "4.8.1": 958.712, "4.8.2": 415.11, "4.7.0": 0.442}, "LGZ6773781FD0"),)),
    Capture("dlms_lg", "scs__lg_e450_plain_2021_two_pushes.hex", LG, errors=(TruncatedFrame,),
            readings=(Expected("2021-07-06T14:58:16+02:00", {
                "1.7.0": 0.028, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.01, "1.8.0": 886.977,
                "2.8.0": 0.0, "5.8.0": 0.018, "6.8.0": 0.001, "7.8.0": 0.0, "8.8.0": 291.341,
                "13.7.0": 0.941}, "1935912"),)),
    Capture("dlms_lg", "scs__lg_e450_plain_2022_altconfig.hex", LG, readings=(
        Expected("2022-11-22T16:37:30+01:00", {
            "1.7.0": 0.777, "2.7.0": 0.0, "1.8.0": 25149.419, "2.8.0": 4422.366,
            "5.8.0": 3132.846, "6.8.0": 13.247, "7.8.0": 3633.198, "8.8.0": 15745.368},
            "44337811"),)),
    # M-Bus sub-meter registers only, no electricity values and no meter id (checked in
    # test_values_dlms.py).
    Capture("dlms_lg", "scs__lg_e450_plain_2024_mbus_extended_registers.hex", LG, readings=(
        Expected("2024-06-11T16:00:00+02:00", {}, ""),)),
    Capture("dlms_lg", "scs__lg_e450_plain_vse2026.hex", LG, readings=(
        Expected("2026-05-04T11:39:20+02:00",
                 {"1.8.0": 482.939, "2.8.0": 0.0, "3.8.0": 0.037, "4.8.0": 344.697,
                  "1.7.0": 0.028, "2.7.0": 0.0} | _u(236, 236, 0) | _i(0.09, 0.08, 0),
                 "1909113", model="E450"),)),
    Capture("dlms_lg", "scs__lg_e570_encrypted_2024.hex", LG, "101112131415161718191A1B1C1D1E1F",
            readings=(Expected("2024-03-13T09:02:45+01:00", {
                "1.7.0": 0.0, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.0, "1.8.0": 862.055,
                "2.8.0": 641.361, "5.8.0": 595.211, "6.8.0": 73.518, "7.8.0": 287.389,
                "8.8.0": 78.751, "13.7.0": 1.0} | _i(0, 0, 0),
                "LGZ1030769231253", "42.0.0"),)),
    Capture("dlms_lg", "scs__lg_e570_plain_vse2026_load.hex", LG, readings=(
        Expected("2026-06-09T16:04:40+02:00",
                 {"1.8.0": 2607.383, "2.8.0": 641.338, "3.8.0": 956.364, "4.8.0": 2329.593,
                  "1.7.0": 258.874, "2.7.0": 0.0} | _u(229, 230, 229) | _i(400, 200, 601),
                 "LGZ1030769231250", "42.0.0", "E570"),),
            note="currents in A: the power check recognises the E570"),
    Capture("dlms_lg", "scs__lg_e570_plain_vse2026_noload.hex", LG, readings=(
        Expected("2026-06-04T17:06:40+02:00",
                 _ZERO_ENERGIES | {"1.7.0": 0.0, "2.7.0": 0.0} | _u(232, 0, 0) | _i(0, 0, 0),
                 "LGZ1030781910790", "42.0.0"),)),
    # --- Kamstrup -------------------------------------------------------------------------
    Capture("dlms_kamstrup", "amshan__kamstrup_no_list_1_single_phase_real_sample.llcpdu.hex",
            KAM, readings=(Expected("2022-01-17T12:44:40+01:00", {
                "1.7.0": 1.896, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.493, "31.7.0": 8.96,
                "32.7.0": 225.0}, "5705705705705702", model="6861111BN242101040"),)),
    Capture("dlms_kamstrup", "amshan__kamstrup_no_list_1_three_phase.llcpdu.hex", KAM,
            readings=(Expected("2000-01-01T22:33:00+01:00", _ZERO_KAMSTRUP_10S,
                               "5706567000000000"),)),
    Capture("dlms_kamstrup", "amshan__kamstrup_no_list_2_single_phase.llcpdu.hex", KAM,
            readings=(Expected("2017-08-16T16:00:05+02:00",
                               {"1.7.0": 0.0, "31.7.0": 0.0, "32.7.0": 0.0, "1.8.0": 0.0},
                               "5706567000000000"),)),
    Capture("dlms_kamstrup", "amshan__kamstrup_no_list_2_single_phase_real_sample.llcpdu.hex",
            KAM, readings=(Expected("2021-11-24T00:00:25+01:00", {
                "1.7.0": 10.05, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.279, "31.7.0": 45.12,
                "32.7.0": 223.0, "1.8.0": 77452.5, "2.8.0": 0.0, "3.8.0": 137.31,
                "4.8.0": 11415.87}, "5705705705705702"),)),
    Capture("dlms_kamstrup", "amshan__kamstrup_no_list_2_three_phase.llcpdu.hex", KAM,
            readings=(Expected("2017-08-16T16:00:05+02:00", _ZERO_KAMSTRUP_10S | _ZERO_ENERGIES,
                               "5706567000000000"),)),
    Capture("dlms_kamstrup", "amshan__kamstrup_omnipower_se_list_3ph_2022_hdlc.hex", KAM,
            readings=(Expected("2022-01-24T18:58:50+01:00",
                               {"1.7.0": 0.826, "2.7.0": 0.0, "3.7.0": 0.104, "4.7.0": 0.176}
                               | _i(2.37, 0.89, 0.75) | _u(232, 233, 236),
                               "5706567326590407", model="6841138BN245101090"),)),
    Capture("dlms_kamstrup", "amshan__kamstrup_se_list_real_sample.llcpdu.hex", KAM,
            readings=(Expected("2022-01-24T18:58:50+01:00",
                               {"1.7.0": 0.826, "2.7.0": 0.0, "3.7.0": 0.104, "4.7.0": 0.176}
                               | _i(2.37, 0.89, 0.75) | _u(232, 233, 236),
                               "5705705705705707"),)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_em001-1.hex", KAM, readings=(
        Expected("2021-11-25T23:00:55+01:00",
                 {"1.7.0": 1.247, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.417}
                 | _i(1.89, 3.27, 1.28) | _u(236, 236, 236)
                 | {"1.8.0": 85823.28, "2.8.0": 4540.83, "3.8.0": 153.27, "4.8.0": 14774.38},
                 "5706567202753025"),)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_em001-3.hex", KAM, readings=(
        Expected("2021-11-25T22:00:55+01:00",
                 {"1.7.0": 1.964, "4.7.0": 0.205} | _i(1.77, 3.28, 4.13) | _u(235, 235, 235)
                 | {"1.8.0": 85820.92, "2.8.0": 4540.83, "3.8.0": 153.27, "4.8.0": 14774.12},
                 "5706567202753025"),)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_em001-5.hex", KAM, errors=(TruncatedFrame,),
            note="cut off: no closing flag, too short for its length"),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh175-1.hex", KAM, errors=(CrcError,),
            note="bit error, FCS bad"),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh196-1.hex", KAM, readings=(
        Expected("2022-02-13T16:28:10+01:00",
                 {"1.7.0": 4.629, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.083}
                 | _i(9.03, 9.88, 1.43) | _u(234, 233, 235),
                 "5706567329747082", model="6841131BN240101063"),)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh196-2.hex", KAM, errors=(CrcError,)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh196-3.hex", KAM, errors=(CrcError,)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh216-1.hex", KAM, readings=(
        Expected("2022-02-01T09:17:20+01:00",
                 {"1.8.0": 127676.0, "2.8.0": 206977.49, "3.8.0": 1445173.1, "4.8.0": 791.33,
                  "1.7.0": 0.0, "2.7.0": 2.585, "3.7.0": 63.364, "4.7.0": 0.0, "13.7.0": 0.04}
                 | _u(233, 233, 233) | _i(90.999, 93.955, 92.645),
                 "26733640", model="OMNIPOWER CT"),),
            note="CT meter without type: 0.001 A found by the power check (amsreader: 909.99 A)"),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh239-2.hex", KAM, readings=(
        Expected("2022-02-18T22:00:35+01:00",
                 {"1.7.0": 2.269, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.4}
                 | _i(2.87, 5.99, 1.06) | _u(241, 240, 243),
                 "5706567331323526"),),
            note="Swedish list: energies may count Wh, not 10 Wh (uncertain; not asserted)"),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh350-1.hex", KAM, errors=(KeyRequired,)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh350-2.hex", KAM, readings=(
        Expected("2022-10-31T11:27:00+01:00",
                 {"1.8.0": 1717.35, "2.8.0": 251.27, "3.8.0": 24.88, "4.8.0": 1645.33,
                  "1.7.0": 0.0, "2.7.0": 0.528, "3.7.0": 0.0, "4.7.0": 0.005, "13.7.0": 0.99,
                  "21.8.0": 610.79, "41.8.0": 931.56, "61.8.0": 191.74}
                 | _u(234, 236, 233) | _i(1.47, 1.62, 1.71),
                 "34374909"),)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh517-1.hex", KAM, errors=(KeyRequired,)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh517-2.hex", KAM, readings=(
        Expected("2023-04-06T13:49:50+02:00",
                 {"1.8.0": 13529.97, "2.8.0": 0.0, "3.8.0": 125.13, "4.8.0": 5828.84,
                  "1.7.0": 0.485, "4.7.0": 0.172, "32.7.0": 232.0, "31.7.0": 2.44,
                  "21.7.0": 0.485, "33.7.0": 0.94, "13.7.0": 0.94}, "21928281"),)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh73-1.hex", KAM, errors=(KeyRequired,)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh741-1.hex", KAM, readings=(
        Expected("2024-03-01T12:37:20+01:00",
                 {"1.7.0": 0.021, "2.7.0": 0.0, "4.7.0": 0.191}
                 | _i(0.79, 0.48, 1.23) | _u(226, 221, 226), "5706567282299475"),)),
    Capture("dlms_kamstrup", "amsreader__kamstrup_gh862-3.hex", KAM, readings=(
        Expected("2024-10-30T17:32:00+01:00",
                 {"1.7.0": 3.825, "2.7.0": 0.0, "4.7.0": 0.387}
                 | _i(1.06, 9.95, 6.01) | _u(242, 240, 242), "5706567277656672"),)),
    Capture("dlms_kamstrup", "esphome_dlmsparser__kamstrup_omnipower_encrypted.hex", KAM,
            *KAMSTRUP_ESPHOME, readings=(Expected("2026-03-12T15:24:30+01:00", {
                "1.8.0": 63074.98, "2.8.0": 0.0, "3.8.0": 3263.6, "4.8.0": 21240.57,
                "1.7.0": 1.083, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.718, "21.7.0": 0.036,
                "41.7.0": 0.424, "61.7.0": 0.623, "33.7.0": 0.31, "53.7.0": 0.87,
                "73.7.0": 0.85, "13.7.0": 0.83, "22.7.0": 0.0, "21.8.0": 12116.44,
                "41.8.0": 24082.08, "61.8.0": 26876.44}
                | _u(222, 221, 227) | _i(0.57, 2.28, 3.33), "12343400"),)),
    # --- Other meters (Iskra AM550 CH first) ---------------------------------------------
    Capture("dlms_other", "scs__iskra_am550_ch_plain_2020.hex", P1, readings=(
        Expected("2020-08-15T06:19:45+02:00", {
            "1.7.0": 0.0, "2.7.0": 0.0, "3.7.0": 0.0, "4.7.0": 0.0, "1.8.0": 6229.669,
            "1.8.1": 3097.647, "1.8.2": 3132.022, "2.8.0": 0.0, "5.8.0": 345.98,
            "5.8.1": 230.463, "5.8.2": 115.517, "6.8.0": 0.009, "6.8.1": 0.009,
            "8.8.0": 68.343, "8.8.1": 38.064, "8.8.2": 30.279, "13.7.0": 0.0},
            "1876350", model="AM550"),)),
    Capture("dlms_other", "scs__iskra_am550_ch_plain_vse2026.hex", P1, readings=(
        Expected("2026-05-04T19:19:30+02:00",
                 {"1.8.0": 15.207, "2.8.0": 8.987, "3.8.0": 12.784, "4.8.0": 5.654,
                  "1.7.0": 0.027, "2.7.0": 0.0} | _u(234.7, 0, 0) | _i(0.12, 0, 0),
                 "ISK1030783821282", "42.0.0", "AM550"),)),
    Capture("dlms_other", "amsreader__iskraemeco_gh1001-1.hex", P1, errors=(KeyRequired,)),
    Capture("dlms_other", "amsreader__iskraemeco_gh1001-3.hex", P1, errors=(KeyRequired,)),
    Capture("dlms_other", "esphome_dlmsparser__iskra_hdlc_segmented_3frames.hex", P1, readings=(
        Expected("2023-04-01T21:32:35+02:00",
                 {"1.7.0": 0.182, "2.7.0": 0.0, "1.8.0": 261.927, "2.8.0": 63.832,
                  "1.8.1": 82.426, "1.8.2": 179.501, "2.8.1": 50.647, "2.8.2": 13.185}
                 | _u(236.4, 234.4, 237.0) | _i(0.63, 0.89, 0.68), "160456"),),
            note="in-band scaler-units"),
    Capture("dlms_other", "amsreader__iskraemeco_gh615-1.hex", P1, readings=(
        Expected("2023-07-24T19:40:25+02:00",
                 {"1.7.0": 1.393, "2.7.0": 0.0} | _u(237.9, 237.9, 229.6)
                 | _i(1.03, 1.25, 5.97), "ISK1030789375606", "42.0.0"),),
            note="values-only list, Iskra profile map"),
    Capture("dlms_other", "amsreader__iskraemeco_gh956-1.hex", P1, readings=(
        Expected("2025-05-16T23:45:00+02:00",
                 {"1.7.0": 0.246} | _u(232.5, 232.1, 232.8) | _i(1.52, 0.11, 0.16),
                 "ISK1030792283067", "42.0.0"),)),
    Capture("dlms_other", "amsreader__iskraemeco_gh787-1.hex", P1,
            "F9897984D43D3108AAFC4DE19DA85713", errors=(UnsupportedFrame,),
            note="decrypts; KELAG values-only list has no profile"),
    Capture("dlms_other", "netznoe_evn__kaifa_ma309_at_mbus_encrypted_official_sample.hex", LG,
            "36C66639E48A8CA4D6BC8B282A793BBB", readings=(
        Expected("2021-09-27T09:47:15+02:00",
                 {"1.8.0": 12.937, "2.8.0": 0.0, "1.7.0": 0.0, "2.7.0": 0.0, "13.7.0": 1.0}
                 | _u(233.7, 0, 0) | _i(0, 0, 0)),),
            note="wired M-Bus, 2 segments, SC 0x20"),
    Capture("dlms_other", "amsreader__kaifa_gh905-1.hex", LG, "39436F513777354C4D466F4C5333674A",
            readings=(Expected("2021-09-27T20:56:00+02:00",
                               {"1.7.0": 2.867, "2.7.0": 0.0, "1.8.0": 278.041, "2.8.0": 0.0,
                                "3.8.0": 3.932, "4.8.0": 38.584}
                               | _u(227.1, 233.0, 233.6) | _i(12.41, 0.02, 0.31),
                               "KFM1200200169986", "42.0.0"),),
            note="wired M-Bus, SC 0x21"),
    Capture("dlms_other", "amsreader__kaifa_gh433-1.hex", LG, errors=(KeyRequired,)),
    Capture("dlms_other", "amsreader__sagemcom_gh867-1.hex", LG, errors=(KeyRequired,)),
    Capture("dlms_other", "amsreader__sagemcom_gh867-2.hex", LG, readings=(
        Expected("2024-11-15T14:45:45+01:00",
                 {"1.8.0": 4752.026, "2.8.0": 5157.273, "1.7.0": 0.0, "2.7.0": 0.009,
                  "13.7.0": 0.094} | _u(233.4, 232.5, 232.1) | _i(0.02, 0.48, 0.83)),)),
    Capture("dlms_other", "amsreader__kaifa_gh539-4.hex", LG, readings=(
        Expected("2023-04-25T10:59:30+02:00",
                 {"1.7.0": 0.0, "2.7.0": 0.024, "1.8.0": 1403.036, "2.8.0": 1103.174,
                  "3.8.0": 132.305, "4.8.0": 512.81}
                 | _u(233.0, 232.5, 233.0) | _i(0.45, 0.43, 0.81),
                 "KFM1200200182517", "42.0.0"),)),
    Capture("dlms_other", "amsreader__kaifa_gh180-2.hex", LG, readings=(
        Expected("2022-01-02T14:37:20+01:00",
                 {"1.7.0": 4.097} | _u(239.2, 0, 239.7) | _i(12.056, 5.754, 13.412),
                 "6970631403275928", model="MA304H3E"),),
            note="values-only Kaifa list, currents in mA"),
    Capture("dlms_other", "amsreader__aidon_gh1119-1.hex", LG, readings=(
        Expected("2025-12-14T16:00:00+00:00",
                 {"1.7.0": 4.027, "1.8.0": 109552.25} | _u(233.0, 233.4, 231.1)
                 | _i(0.5, 0.3, 16.8), "7359992890497997"),),
            note="Aidon scaler-units; the meter sends deviation 0 (UTC)"),
    Capture("dlms_other", "amsreader__aidon_gh146-1.hex", LG, errors=(TruncatedFrame,)),
    Capture("dlms_other", "amshan__aidon_no_list_1.llcpdu.hex", LG, readings=(
        Expected(HOST_TIME.isoformat(), {"1.7.0": 0.28}, "", time_source=TimeSource.HOST),),
            note="one {OBIS, value, scaler-unit} item, no time: host clock",
            options={"clock": lambda: HOST_TIME}),
    Capture("dlms_other", "esphome_dlmsparser__elster_mbus_kmswest_encrypted_nokey.hex", LG,
            errors=(KeyRequired,)),
    Capture("dlms_other", "esphome_dlmsparser__egd_cz_example_raw_apdu.hex", LG,
            errors=(MalformedFrame,), note="attribute-descriptor layout (not a Data value)"),
    Capture("dlms_other", "esphome_dlmsparser__sagemcom_xt211_cz_raw_apdu.hex", LG,
            errors=(MalformedFrame,), note="attribute-descriptor layout (not a Data value)"),
)  # fmt: skip

BY_ID = {capture.id: capture for capture in CAPTURES}


def all_capture_files() -> list[tuple[str, str]]:
    """Every capture file of the dlms_* folders (folder, name), table or not."""
    found = []
    for folder in ("dlms_lg", "dlms_kamstrup", "dlms_other"):
        found += [(folder, p.name) for p in sorted(testdata_dir(folder).glob("*.hex"))]
    return found


# --- gurux oracle ------------------------------------------------------------------------


def normalise(value: Any) -> Any:
    """A comparable form of an A-XDR value, from gurux or from this library."""
    from gurux_dlms import GXArray, GXBitString, GXDateTime, GXStructure  # noqa: PLC0415

    if isinstance(value, GXStructure | GXArray | tuple | list):
        # gurux returns some top-level structures as arrays: compare sequences as lists.
        return [normalise(v) for v in value]
    if isinstance(value, bytearray | axdr.DateTimeValue | axdr.DateValue | axdr.TimeValue):
        return bytes(value)
    if isinstance(value, GXDateTime):
        return ("date-time", value.value.replace(tzinfo=None))
    if isinstance(value, GXBitString | axdr.BitString):
        return ("bit-string", str(value))
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes | float):
        return value
    if isinstance(value, int):
        return int(value)
    return value


def gurux_notifications(
    frames: Sequence[bytes], key: str | None, auth_key: str | None
) -> list[tuple[Any, datetime | None]]:
    """Every data-notification gurux decodes from the frames: (body, header time)."""
    from gurux_dlms import GXByteBuffer, GXReplyData  # noqa: PLC0415
    from gurux_dlms.enums import InterfaceType, Security  # noqa: PLC0415
    from gurux_dlms.secure import GXDLMSSecureClient  # noqa: PLC0415

    first = frames[0][0]
    interface = {0x7E: InterfaceType.HDLC, 0x68: InterfaceType.WIRED_MBUS}.get(
        first, InterfaceType.PDU
    )
    client = GXDLMSSecureClient(True, interfaceType=interface)
    if key:
        client.ciphering.security = Security.ENCRYPTION
        client.ciphering.blockCipherKey = bytes.fromhex(key)
        if auth_key:
            client.ciphering.authenticationKey = bytes.fromhex(auth_key)
    reply, notify = GXReplyData(), GXReplyData()
    found: list[tuple[Any, datetime | None]] = []
    for frame in frames:
        data = frame[3:] if interface == InterfaceType.PDU and frame[:2] == b"\xe6\xe7" else frame
        # One fresh buffer per frame (an M-Bus buffer stalls after its first frame); gurux
        # prints "Encryption is applied." for every ciphered APDU.
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                client.getData(GXByteBuffer(data), reply, notify)
            except Exception:
                reply.clear()
                notify.clear()
                continue
        for holder in (notify, reply):
            if holder.value is not None and holder.isComplete() and not holder.isMoreData():
                time = holder.time.value if holder.time is not None else None
                found.append((holder.value, time))
                holder.clear()
    return found
