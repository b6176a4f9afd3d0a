"""The P1 DSMR decoder against real captures (../shared/testdata/dsmr, read in place).

Expected numbers are transcribed from that folder's MANIFEST.md (its "Key registers" and
the values the source projects assert), converted to CH-SMR units; totals the meter does
not send are the exact sums of its tariff registers, worked out by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dsmr_parser import telegram_specifications
from dsmr_parser.objects import CosemObject
from dsmr_parser.parsers import TelegramParser

from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.dsmr.variants import VARIANTS
from custom_components.ch_smart_meter.reader.errors import CrcError, FrameError, TruncatedFrame
from custom_components.ch_smart_meter.reader.model import Reading, RejectedFrame, TimeSource
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from tests.conftest import TESTDATA
from tests.conftest import testdata_dir as capture_folder
from tests.reader.dsmr_oracle import dsmr_parser_specification

W = "+01:00"  # winter time flag W
S = "+02:00"  # summer time flag S
HOST_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Capture:
    """What one capture must decode to. ``timestamp`` None: no meter time (host clock)."""

    file: str
    timestamp: str | None
    values: dict[str, str]  # partial OBIS -> decimal text in CH-SMR units
    variant: str
    meter_id: str | None = None
    id_obis: str = "96.1.1"
    manufacturer: str | None = None
    absent: tuple[str, ...] = field(default=())  # codes that must not be in the values


CAPTURES = (
    Capture(
        "amshan__ell5_se_p1_c.txt",
        "2020-10-20T08:52:22" + W,
        {
            "1.8.0": "1605.055",
            "2.8.0": "0.131",
            "1.7.0": "6.000",
            "2.7.0": "0",
            "32.7.0": "234.4",
            "31.7.0": "13.6",
        },
        "nordic",
        "ELL5\\253833635_A",
        manufacturer="Elster/Honeywell",
    ),
    Capture(
        "amshan__kamstrup_kam5_se_p1.txt",
        "2022-04-08T13:50:21" + W,
        {
            "1.8.0": "60995.424",
            "2.8.0": "0",
            "1.7.0": "2.202",
            "2.7.0": "0",
            "32.7.0": "235.5",
            "31.7.0": "8.3",
        },
        "nordic",
        "KAM5",
        manufacturer="Kamstrup",
    ),
    Capture(
        "amshan__lg_e360_se_p1_a.txt",
        "2021-02-22T16:19:00" + W,
        {
            "1.8.0": "896.020",
            "2.8.0": "48.792",
            "1.7.0": "0",
            "2.7.0": "0.020",
            "32.7.0": "230.1",
            "31.7.0": "0.6",
        },
        "nordic",
        "LGF5E360",
        manufacturer="Landis+Gyr",
    ),
    Capture(
        "amsreader__kamstrup_gh578-1.txt",
        "2024-04-07T12:28:54" + S,
        {
            "1.8.0": "9621.983",
            "2.8.0": "0",
            "1.7.0": "1.453",
            "2.7.0": "0",
            "32.7.0": "237.4",
            "31.7.0": "5.1",
        },
        "nordic",
        manufacturer="Kamstrup",
    ),
    Capture(
        "amsreader__kamstrup_gh699-1.txt",
        "2023-12-21T12:42:33" + W,
        {
            "1.8.0": "9222.471",
            "2.8.0": "0.017",
            "1.7.0": "0.014",
            "2.7.0": "0",
            "32.7.0": "244.2",
            "31.7.0": "0.1",
        },
        "nordic",
    ),
    Capture(
        "amsreader__kamstrup_gh934-2.txt",
        "2025-05-25T18:42:15" + S,
        {
            "1.8.0": "28073.776",
            "2.8.0": "0",
            "1.7.0": "0.976",
            "2.7.0": "0",
            "32.7.0": "233.9",
            "31.7.0": "0.9",
        },
        "nordic",
    ),
    Capture(
        "amsreader__landisgyr_gh382-1.txt",
        "2022-12-15T15:50:50" + W,
        {
            "1.8.0": "2721.126",
            "2.8.0": "0",
            "1.7.0": "4.190",
            "2.7.0": "0",
            "32.7.0": "230.7",
            "52.7.0": "230.1",
            "72.7.0": "231.0",
            "31.7.0": "9.7",
            "51.7.0": "1.9",
            "71.7.0": "9.2",
        },
        "nordic",
        "LGF5E360",
        manufacturer="Landis+Gyr",
    ),
    Capture(
        "amsreader__landisgyr_gh497-1.txt",
        "2023-03-27T06:42:30" + W,
        {
            "1.8.0": "2564.183",
            "2.8.0": "67.342",
            "1.7.0": "0.002",
            "2.7.0": "0.007",
            "32.7.0": "229.4",
            "31.7.0": "0.9",
        },
        "nordic",
    ),
    Capture(  # "20240111 09:35:00" has no season flag: local (Swiss) time
        "amsreader__nes_gh712-1.txt",
        "2024-01-11T09:35:00" + W,
        {
            "1.8.0": "36.273",
            "2.8.0": "0",
            "1.7.0": "0.193",
            "2.7.0": "0",
            "32.7.0": "237.2",
            "31.7.0": "1.3",
        },
        "nordic",
        "NES5:83335-3E",
        manufacturer="NES/Echelon",
    ),
    Capture(
        "dsmr_parser__telegram_fluvius_v171.txt",
        "2020-05-12T13:54:09" + S,
        {
            "1.8.1": "0.034",
            "1.8.2": "15.758",
            "2.8.1": "0",
            "2.8.2": "0.011",
            "1.7.0": "0",
            "2.7.0": "0",
            "32.7.0": "234.7",
            "31.7.0": "0",
            "1.8.0": "15.792",
            "2.8.0": "0.011",
        },
        "emucs",
        "1SAG3101021605",
        manufacturer="Fluvius",
    ),
    Capture(
        "dsmr_parser__telegram_fluvius_v171_alt.txt",
        "2023-11-02T12:15:48" + W,
        {
            "1.8.1": "301.548",
            "1.8.2": "270.014",
            "2.8.1": "0.005",
            "2.8.2": "0",
            "1.7.0": "0.338",
            "2.7.0": "0",
            "32.7.0": "232.9",
            "31.7.0": "0.27",
            "1.8.0": "571.562",
            "2.8.0": "0.005",
        },
        "emucs",
        "1SAG3100721326",
    ),
    Capture(
        "dsmr_parser__telegram_iskra_ie.txt",
        "2023-02-02T13:27:47" + S,
        {
            "1.8.1": "10.181",
            "1.8.2": "10.182",
            "2.8.1": "10.281",
            "2.8.2": "10.282",
            "1.7.0": "0.170",
            "2.7.0": "0.270",
            "32.7.0": "242.5",
            "31.7.0": "0",
            "1.8.0": "20.363",
            "2.8.0": "20.563",
        },
        "iskra_ie",
        manufacturer="Iskraemeco",
    ),
    Capture(  # Wh and W: divided by 1000
        "dsmr_parser__telegram_sagemcom_t210_d_r.txt",
        "2022-10-06T15:50:14" + S,
        {
            "1.8.0": "6545.766",
            "1.8.1": "5017.120",
            "1.8.2": "1528.646",
            "1.7.0": "0.286",
            "2.8.0": "0.058",
            "2.8.1": "0",
            "2.8.2": "0.058",
            "2.7.0": "0",
        },
        "austria",
        "EST5\\253710000_A",
        manufacturer="Sagemcom",
    ),
    Capture(  # heat interface: no electricity line; CRC "B9F" without zero padding
        "dsmr_parser__telegram_unpadded_crc.txt",
        "2026-02-15T20:05:23" + W,
        {},
        "dsmr5",
        "ADC3100000158491",
    ),
    Capture(
        "dsmr_parser__telegram_v4_2.txt",
        "2016-11-13T20:57:57" + W,
        {
            "1.8.1": "1581.123",
            "1.8.2": "1435.706",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "2.027",
            "2.7.0": "0",
            "31.7.0": "0",
            "51.7.0": "6",
            "71.7.0": "2",
            "1.8.0": "3016.829",
            "2.8.0": "0",
        },
        "dsmr4",
        manufacturer="Kaifa",
    ),
    Capture(
        "dsmr_parser__telegram_v5.txt",
        "2017-01-02T19:20:02" + W,
        {
            "1.8.1": "4.426",
            "1.8.2": "2.399",
            "2.8.1": "2.444",
            "2.8.2": "0",
            "1.7.0": "0.244",
            "2.7.0": "0",
            "32.7.0": "230.0",
            "52.7.0": "230.0",
            "72.7.0": "229.0",
            "31.7.0": "0.48",
            "51.7.0": "0.44",
            "71.7.0": "0.86",
            "1.8.0": "6.825",
            "2.8.0": "2.444",
        },
        "dsmr5",
        "K8EG004046395507",
        manufacturer="Iskraemeco",
    ),
    Capture(  # power factor 13.7.0 = 4.556 cannot be one: left out
        "dsmr_parser__telegram_v5_eon_hu.txt",
        "2023-07-24T15:07:30" + S,
        {
            "1.8.0": "173.640",
            "1.8.1": "47.719",
            "1.8.2": "125.921",
            "2.8.0": "627.177",
            "2.8.1": "401.829",
            "2.8.2": "225.348",
            "32.7.0": "240.4",
            "31.7.0": "3",
            "14.7.0": "50.00",
            "1.7.0": "0",
            "2.7.0": "2.601",
        },
        "eon_hu",
        "SAG3082200002160",
        "42.0.0",
        "Sagemcom",
        absent=("13.7.0",),
    ),
    Capture(
        "dsmr_parser__telegram_v5_two_mbus.txt",
        "2020-04-26T22:33:25" + S,
        {
            "1.8.1": "2130.115",
            "1.8.2": "245.467",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "0.111",
            "2.7.0": "0",
            "32.7.0": "229.9",
            "31.7.0": "0",
            "1.8.0": "2375.582",
            "2.8.0": "0",
        },
        "dsmr5",
        "E0044007382246019",
    ),
    Capture(
        "dsmrreader__example_dsmr50.txt",
        "2010-12-09T11:30:20" + W,
        {
            "1.8.1": "123456.789",
            "1.8.2": "123456.789",
            "2.8.1": "123456.789",
            "2.8.2": "123456.789",
            "1.7.0": "1.193",
            "2.7.0": "0",
            "32.7.0": "220.1",
            "52.7.0": "220.2",
            "72.7.0": "220.3",
            "31.7.0": "1",
            "21.7.0": "1.111",
            "41.7.0": "2.222",
            "61.7.0": "3.333",
            "22.7.0": "4.444",
            "42.7.0": "5.555",
            "62.7.0": "6.666",
            "1.8.0": "246913.578",
            "2.8.0": "246913.578",
        },
        "dsmr5",
        "K8EG004046395507",
    ),
    Capture(
        "dsmrreader__fluvius.txt",
        "2020-08-07T08:27:11" + S,
        {
            "1.8.1": "1924.771",
            "1.8.2": "2549.919",
            "2.8.1": "1968.710",
            "2.8.2": "692.984",
            "1.7.0": "0",
            "2.7.0": "0.611",
            "32.7.0": "235.6",
            "31.7.0": "2",
            "1.8.0": "4474.690",
            "2.8.0": "2661.694",
        },
        "emucs",
    ),
    Capture(
        "dsmrreader__fluvius_multiple_gas_devices.txt",
        "2023-01-19T12:46:38" + W,
        {
            "1.8.1": "4423.770",
            "1.8.2": "2607.237",
            "2.8.1": "1194.693",
            "2.8.2": "755.554",
            "1.7.0": "0",
            "2.7.0": "0.204",
            "32.7.0": "234.3",
            "31.7.0": "2.18",
            "1.8.0": "7031.007",
            "2.8.0": "1950.247",
        },
        "emucs",
    ),
    Capture(
        "dsmrreader__fluvius_with_peak_data.txt",
        "2023-02-01T15:50:56" + W,
        {
            "1.8.1": "143.608",
            "1.8.2": "170.853",
            "2.8.1": "2.963",
            "2.8.2": "0.427",
            "1.7.0": "0.182",
            "2.7.0": "0",
            "32.7.0": "227.8",
            "31.7.0": "1.60",
            "1.8.0": "314.461",
            "2.8.0": "3.390",
        },
        "emucs",
    ),
    Capture(
        "dsmrreader__fluvius_without_gas.txt",
        "2020-03-05T22:29:45" + W,
        {
            "1.8.1": "172.987",
            "1.8.2": "160.643",
            "2.8.1": "23.457",
            "2.8.2": "4.819",
            "1.7.0": "0.638",
            "2.7.0": "0",
            "32.7.0": "230.3",
            "52.7.0": "230.5",
            "72.7.0": "229.3",
            "31.7.0": "0",
            "1.8.0": "333.630",
            "2.8.0": "28.276",
        },
        "emucs",
    ),
    Capture(
        "dsmrreader__iskra_dsmr5_bus2.txt",
        "2019-11-08T14:55:19" + W,
        {
            "1.8.1": "1043.936",
            "1.8.2": "870.706",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "0.189",
            "2.7.0": "0",
            "32.7.0": "235.4",
            "31.7.0": "1",
            "1.8.0": "1914.642",
            "2.8.0": "0",
        },
        "dsmr5",
    ),
    Capture(
        "dsmrreader__kaifa_dsmr42.txt",
        "2016-03-03T16:43:47" + W,
        {
            "1.8.1": "1073.079",
            "1.8.2": "1263.199",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "0.143",
            "2.7.0": "0",
            "31.7.0": "0",
            "1.8.0": "2336.278",
        },
        "dsmr4",
    ),
    Capture(
        "dsmrreader__landisgyr350_dsmr40.txt",
        "2015-07-01T19:29:59" + S,
        {
            "1.8.1": "510.747",
            "1.8.2": "500.013",
            "2.8.1": "0.123",
            "2.8.2": "123.456",
            "1.7.0": "0.192",
            "2.7.0": "0.123",
            "31.7.0": "0",
            "1.8.0": "1010.760",
            "2.8.0": "123.579",
        },
        "dsmr4",
        manufacturer="Landis+Gyr",
    ),
    Capture(
        "dsmrreader__landisgyr350_dsmr42.txt",
        "2016-02-10T20:30:34" + W,
        {
            "1.8.1": "756.849",
            "1.8.2": "714.405",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "0.111",
            "2.7.0": "0",
            "31.7.0": "111",
            "1.8.0": "1471.254",
        },
        "dsmr4",
    ),
    Capture(
        "dsmrreader__landisgyr350_other_dsmr42.txt",
        "2016-03-17T22:10:58" + W,
        {
            "1.8.1": "1255.252",
            "1.8.2": "1284.838",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "0.187",
            "2.7.0": "0",
            "31.7.0": "1",
            "1.8.0": "2540.090",
        },
        "dsmr4",
    ),
    Capture(  # 42.0.0 is not hex-encoded text here: kept as sent
        "dsmrreader__luxembourg_smarty.txt",
        "2019-10-31T14:22:39" + W,
        {"1.8.0": "5675.956", "2.8.0": "0.002", "1.7.0": "3.074", "2.7.0": "0"},
        "smarty",
        "12345678901234567890123456789012",
        "42.0.0",
        "Sagemcom",
    ),
    Capture(
        "dsmrreader__sweden_kamstrup.txt",
        "2021-11-15T10:09:40" + W,
        {
            "1.8.0": "3.997",
            "2.8.0": "0",
            "1.7.0": "0",
            "2.7.0": "0",
            "32.7.0": "238.0",
            "52.7.0": "238.0",
            "72.7.0": "240.7",
            "31.7.0": "0",
        },
        "nordic",
    ),
    Capture(
        "nexxtlab__smarty_lu_sagemcom_decrypted.txt",
        "2018-01-30T10:21:22" + W,
        {"1.8.0": "6.695", "2.8.0": "0.025", "1.7.0": "0", "2.7.0": "0", "31.7.0": "0"},
        "smarty",
        "SAG1030700114004",
        "42.0.0",
        "Sagemcom",
    ),
    Capture(
        "openhab__kaifa_sagemcom_xs210_dsmr42.txt",
        "2017-11-19T20:23:57" + W,
        {
            "1.8.1": "3095.599",
            "1.8.2": "3283.520",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "0.526",
            "2.7.0": "0",
            "31.7.0": "1",
            "1.8.0": "6379.119",
        },
        "dsmr4",
        "E0026000010687914",
        manufacturer="Kaifa",
    ),
    Capture(
        "openhab__landis_gyr_zcf110_dsmr42.txt",
        "2016-11-16T20:10:35" + W,
        {
            "1.8.1": "75.067",
            "1.8.2": "84.813",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "2.778",
            "2.7.0": "0",
            "31.7.0": "12",
            "1.8.0": "159.880",
        },
        "dsmr4",
        "E0031003277898816",
        manufacturer="Landis+Gyr",
    ),
    Capture(
        "openhab__sagemcom_t210d_austria_dsmr50.txt",
        "2021-09-02T21:57:13" + S,
        {
            "1.8.0": "326.641",
            "1.8.1": "230.515",
            "1.8.2": "96.126",
            "1.7.0": "0.621",
            "2.8.0": "4.998",
            "2.8.1": "1.350",
            "2.8.2": "3.648",
            "2.7.0": "0",
        },
        "austria",
    ),
    # Legacy telegrams without a CRC (DSMR 2.2/3, gateways): accepted.
    Capture(
        "amsreader__iskraemeco_gh1037-1.txt",
        None,
        {
            "1.8.0": "317.695",
            "1.8.1": "162.246",
            "1.8.2": "155.449",
            "2.8.0": "0",
            "2.8.1": "0",
            "2.8.2": "0",
            "1.7.0": "2.356",
            "2.7.0": "0",
            "32.7.0": "234.6",
            "31.7.0": "0",
        },
        "dsmr22",
        manufacturer="Iskraemeco",
    ),
    Capture(  # *255 suffixes, power in W
        "dsmr_parser__telegram_esy5q3da1004_v304.txt",
        None,
        {"1.8.0": "32549.5061662", "1.7.0": "1.68821"},
        "q3d",
        manufacturer="EasyMeter",
    ),
    Capture(  # gateway lines and 0xFF padding after "!"
        "dsmr_parser__telegram_esy5q3db1024_v304.txt",
        None,
        {"1.8.0": "52185.7825309", "2.8.0": "19949.3221493", "1.7.0": "2.12486"},
        "q3d",
        "ESY5Q3DB1024 V3.04",
    ),
    Capture(  # all-zero 96.1.1: the identification line identifies the meter
        "dsmr_parser__telegram_v2_2.txt",
        None,
        {
            "1.8.1": "1.001",
            "1.8.2": "1.001",
            "2.8.1": "1.001",
            "2.8.2": "1.001",
            "1.7.0": "1.01",
            "2.7.0": "0",
            "1.8.0": "2.002",
            "2.8.0": "2.002",
        },
        "dsmr22",
        "ISk5\\2MT382-1004",
    ),
    Capture(
        "dsmr_parser__telegram_v3.txt",
        None,
        {
            "1.8.1": "12345.678",
            "1.8.2": "12345.678",
            "2.8.1": "12345.678",
            "2.8.2": "12345.678",
            "1.7.0": "1.19",
            "2.7.0": "0",
            "1.8.0": "24691.356",
            "2.8.0": "24691.356",
        },
        "dsmr22",
        "K8EG004046395507",
    ),
    Capture(
        "dsmrreader__iskra.txt",
        None,
        {
            "1.8.1": "1234.784",
            "1.8.2": "4321.725",
            "2.8.1": "0",
            "2.8.2": "0.002",
            "1.7.0": "0.36",
            "2.7.0": "0",
            "1.8.0": "5556.509",
            "2.8.0": "0.002",
        },
        "dsmr22",
    ),
)

# (file, error type, text the message must contain)
NEGATIVES = (
    ("amsreader__elgama_gh1177-1.txt", CrcError, "given 2503, computed 5E5D"),
    ("amsreader__kaifa_gh1067-2.txt", CrcError, "given D770, computed B2F6"),
    ("amsreader__kamstrup_gh712-2.txt", CrcError, "given 8AEF, computed 7AEB"),
    ("dsmrreader__negative_invalid_crc_kaifa.txt", CrcError, "given ABCD, computed 4BC6"),
    ("amsreader__sagemcom_gh264-1.txt", TruncatedFrame, "ended after"),
    # A DSMR 4.2 telegram (version line 42) whose CRC was left out where it was published:
    # DSMR 4 and later always carry one, so without it the telegram may be a damaged one
    # cut at a "!" that line noise wrote.
    ("amshan__lg_e350_xmx5_dsmr42_b.txt", CrcError, "P1 version 42"),
)


def _options(**overrides: Any) -> DecoderOptions:
    return DecoderOptions(clock=lambda: HOST_TIME, **overrides)


def _decode(data: bytes, *, byte_by_byte: bool = False, **options: Any) -> list[Any]:
    decoder = DsmrDecoder(_options(**options))
    if byte_by_byte:
        results = [result for byte in data for result in decoder.feed(bytes((byte,)))]
    else:
        results = decoder.feed(data)
    return results + decoder.flush()


def _read(name: str) -> bytes:
    return (capture_folder("dsmr") / name).read_bytes()


def test_every_capture_is_covered() -> None:
    """Each .txt capture of the folder is in the positive or the negative table (and with
    ../shared, every capture of the tables is in the folder)."""
    folder = capture_folder("dsmr")
    covered = {capture.file for capture in CAPTURES} | {name for name, *_ in NEGATIVES}
    present = {path.name for path in folder.glob("*.txt")}
    assert present == covered if folder.parent == TESTDATA else present <= covered


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["one-chunk", "byte-by-byte"])
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda capture: capture.file)
def test_capture_decodes_exactly(capture: Capture, byte_by_byte: bool) -> None:
    """Values, meter id, time (with the meter's offset) and variant, exactly."""
    data = _read(capture.file)
    decoder = DsmrDecoder(_options())
    feed = [bytes((byte,)) for byte in data] if byte_by_byte else [data]
    results = [result for chunk in feed for result in decoder.feed(chunk)] + decoder.flush()

    assert len(results) == 1, results
    reading = results[0]
    assert isinstance(reading, Reading), reading
    for code, text in capture.values.items():
        assert reading.values.get(code) == float(Decimal(text)), code
    for code in capture.absent:
        assert code not in reading.values
    assert all(isinstance(value, float) for value in reading.values.values())
    if capture.timestamp is None:
        assert reading.time_source is TimeSource.HOST
        assert reading.timestamp == HOST_TIME
        assert reading.timestamp.utcoffset() == timedelta(hours=1)  # Swiss winter time
    else:
        assert reading.time_source is TimeSource.METER
        assert reading.timestamp.isoformat() == capture.timestamp
    if capture.meter_id is not None:
        assert (reading.meter_id, reading.id_obis) == (capture.meter_id, capture.id_obis)
    if capture.manufacturer is not None:
        assert reading.manufacturer == capture.manufacturer
    assert decoder.variant is not None and decoder.variant.id == capture.variant
    assert reading.frame.startswith(b"/") and reading.frame in data


@pytest.mark.parametrize(("name", "error", "detail"), NEGATIVES, ids=[n for n, *_ in NEGATIVES])
@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["one-chunk", "byte-by-byte"])
def test_negative_capture_is_rejected(
    name: str, error: type[FrameError], detail: str, byte_by_byte: bool
) -> None:
    """Bad CRCs and cut-off telegrams give the right typed error, with the raw frame."""
    data = _read(name)
    results = _decode(data, byte_by_byte=byte_by_byte)
    assert len(results) == 1
    rejected = results[0]
    assert isinstance(rejected, RejectedFrame)
    assert type(rejected.error) is error
    assert detail in rejected.error.message
    assert rejected.frame.startswith(b"/") and rejected.frame in data


def test_local_time_follows_the_configured_timezone() -> None:
    """A time without season flag is local time in DecoderOptions.timezone."""
    (reading,) = _decode(_read("amsreader__nes_gh712-1.txt"), timezone=ZoneInfo("UTC"))
    assert reading.timestamp.isoformat() == "2024-01-11T09:35:00+00:00"
    (reading,) = _decode(_read("amsreader__nes_gh712-1.txt"), timezone=timezone(timedelta(hours=3)))
    assert reading.timestamp.isoformat() == "2024-01-11T09:35:00+03:00"


def test_all_captures_in_one_stream() -> None:
    """Every capture back to back in one stream: the same results as one by one.

    One decoder reads one meter, and a meter that has sent a valid CRC never gets a
    telegram accepted without one: the captures without a CRC come first."""
    folder = capture_folder("dsmr")
    names = sorted(
        (capture.file for capture in CAPTURES), key=lambda name: b"!\r\n" not in _read(name)
    )
    stream = b"".join(_read(name) + b"\r\n" for name in names)
    results = _decode(stream)
    assert [type(result) for result in results] == [Reading] * len(names)
    separately = [_decode((folder / name).read_bytes())[0] for name in names]
    assert [r.values for r in results] == [r.values for r in separately]


# --- dsmr-parser as the oracle ---------------------------------------------------------

_CODE_OF_REFERENCE = re.compile(r"^\^\\d-\\d:(\d+)\\\.(\d+)\\\.(\d+)\.\+\?")
_KILO = {"Wh": 3, "W": 3, "varh": 3, "var": 3}


def _oracle_values(telegram: str, variant_spec: dict[str, Any]) -> dict[str, Decimal]:
    """dsmr-parser's numeric single-value electricity lines, in CH-SMR units."""
    parsed = TelegramParser(variant_spec, apply_checksum_validation=False).parse(telegram)
    values: dict[str, Decimal] = {}
    for reference, obj in dict.items(parsed):
        match = _CODE_OF_REFERENCE.match(reference)
        if not match or not isinstance(obj, CosemObject) or not isinstance(obj.value, Decimal):
            continue
        values[".".join(match.groups())] = obj.value.scaleb(-_KILO.get(obj.unit or "", 0))
    return values


@pytest.mark.parametrize(
    "capture", [c for c in CAPTURES if "esy5q3" not in c.file], ids=lambda capture: capture.file
)
def test_same_numbers_as_dsmr_parser(capture: Capture) -> None:
    """dsmr-parser, with the specification of the recognised variant, reads the same numbers
    for every line both understand (CRC aside: that is checked above)."""
    data = _read(capture.file)
    decoder = DsmrDecoder(_options())
    (reading,) = decoder.feed(data) + decoder.flush()
    assert isinstance(reading, Reading) and decoder.variant is not None
    start = data.index(b"/")
    telegram = data[start:].decode("latin-1")
    if not telegram.endswith("\r\n"):
        telegram += "\r\n"  # dsmr-parser's line patterns need the line end
    oracle = _oracle_values(telegram, dsmr_parser_specification(decoder.variant))
    common = sorted(set(oracle) & set(reading.values))
    assert len(common) >= min(len(reading.values), 2) or not reading.values
    for code in common:
        assert reading.values[code] == float(oracle[code]), code


def test_extended_v5_specification_keeps_what_stock_v5_drops() -> None:
    """The V5 specification handed out for DSMR 5 adds 2.8.0, 3.8.0/4.8.0, 3.7.0/4.7.0 and
    reactive per-phase lines to dsmr-parser's stock V5."""
    stock = {obj["value_name"] for obj in telegram_specifications.V5["objects"]}
    extended = {
        obj["value_name"] for obj in dsmr_parser_specification(VARIANTS["dsmr5"])["objects"]
    }
    assert "ELECTRICITY_EXPORTED_TOTAL" not in stock
    assert {
        "ELECTRICITY_EXPORTED_TOTAL",
        "ELECTRICITY_REACTIVE_IMPORTED_TOTAL",
        "ELECTRICITY_REACTIVE_EXPORTED_TOTAL",
        "CURRENT_REACTIVE_IMPORTED",
        "CURRENT_REACTIVE_EXPORTED",
        "INSTANTANEOUS_REACTIVE_POWER_L1_POSITIVE",
        "INSTANTANEOUS_REACTIVE_POWER_L3_NEGATIVE",
    } <= extended
    assert stock <= extended
