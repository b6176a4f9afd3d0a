"""Constants of the Swiss smart meter integration: domain, configuration keys, defaults."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "ch_smart_meter"
LOGGER: Final = logging.getLogger(__package__)

# Connection data (ConfigEntry.data).
CONF_STANDARD: Final = "standard"
CONF_URL: Final = "url"
CONF_BAUDRATE: Final = "baudrate"
CONF_BYTESIZE: Final = "bytesize"
CONF_PARITY: Final = "parity"
CONF_STOPBITS: Final = "stopbits"
CONF_ENCRYPTION_KEY: Final = "encryption_key"
CONF_AUTHENTICATION_KEY: Final = "authentication_key"

# Tunables (ConfigEntry.options).
CONF_UPDATE_INTERVAL: Final = "update_interval"
# Polled standards (KMP, MEP): seconds between the starts of two reading cycles.
CONF_POLL_INTERVAL: Final = "poll_interval"
MAX_POLL_INTERVAL: Final = 60
CONF_PROFILE: Final = "profile"
# Which tariff number (0-0:96.14.0) is the low tariff: 2 in Switzerland (1 = HT, 2 = NT);
# 1 where the grid operator counts the other way (the Dutch DSMR convention).
CONF_LOW_TARIFF: Final = "low_tariff"
DEFAULT_LOW_TARIFF: Final = 2
# Energy registers that continue from a new baseline (a replaced meter), accepted by the user
# in the repair flow: partial OBIS code -> offset added to the meter's register.
CONF_BASELINES: Final = "baselines"
# The meter id the user accepted as the entry's meter after a replacement.
CONF_ACCEPTED_METER_ID: Final = "accepted_meter_id"

# Seconds over which measurements are averaged before the sensors are written; 0 writes
# every reading. Five seconds matches the rate the Swiss recommendation asks of meters.
DEFAULT_UPDATE_INTERVAL: Final = 5
MAX_UPDATE_INTERVAL: Final = 3600
PROFILE_AUTO: Final = "auto"

# Entities become unavailable after this many normal reading intervals of silence.
SILENCE_INTERVALS: Final = 3

# A lower energy register value is published only when it persists this long and this
# often (a replaced meter); a single bad frame or a restart never makes a counter go back.
COUNTER_DROP_READINGS: Final = 3
COUNTER_DROP_SECONDS: Final = 60.0

# Rejected frames of one reason logged again at most this often (as a summary).
REJECTION_SUMMARY_SECONDS: Final = 300.0
# Key errors that persist this many frames in a row start Home Assistant's reauthentication
# (reauth_flow.py), which asks for the new keys.
KEY_ISSUE_FRAMES: Final = 3
# What the coordinator tells the reauthentication flow: the reason code of the key error.
CONF_KEY_PROBLEM: Final = "key_problem"
# The reauthentication's check of the new keys, and its outcome once the keys worked: a
# flow at these steps ends by itself.
REAUTH_CHECK_STEP: Final = "reauth_check"
REAUTH_END_STEP: Final = "reauth_end"

# Averages carry this many decimals more than the catalogue's minimum resolution, so that
# averaging does not hide detail the meter delivers while keeping float noise out of states.
AVERAGE_EXTRA_DECIMALS: Final = 2

# Channels that are not an OBIS value of the meter itself.
NET_POWER: Final = "net_power"  # import minus export power of the same reading (kW)
SUBMETER_PREFIX: Final = "mbus"  # "mbus1": the sub-meter on M-Bus channel 1
IMPORT_POWER: Final = "1.7.0"
EXPORT_POWER: Final = "2.7.0"

ISSUE_METER_REPLACED: Final = "meter_replaced"

# ---------------------------------------------------------------- CH-SMR (issue #4)

# A CH-SMR reader over MQTT as the source of an entry (standard "ch-smr"): the meter's topic
# dt/<group>/<id_ims>/ds (ConfigEntry.data), and the units the reader publishes (options).
CONF_TOPIC: Final = "topic"
CONF_SOURCE_UNITS: Final = "source_units"
# kW/kWh/kvar/kvarh as the recommendation says, or W/Wh/var/varh (one known reader).
SOURCE_UNITS_KILO: Final = "kilo"
SOURCE_UNITS_BASE: Final = "base"

# The CH-SMR republisher of a meter entry (ConfigEntry.options).
CONF_REPUBLISH: Final = "republish"
CONF_REPUBLISH_GROUP: Final = "republish_group"
CONF_REPUBLISH_ID_IMS: Final = "republish_id_ims"
# 0: every reading; N: at most every N seconds, the latest reading (trailing edge).
CONF_REPUBLISH_INTERVAL: Final = "republish_interval"
CONF_REPUBLISH_QOS: Final = "republish_qos"
CONF_REPUBLISH_RETAIN: Final = "republish_retain"
# Chapter 6 wants data at least every 10 s while it flows: a rate limit never goes beyond.
MAX_REPUBLISH_INTERVAL: Final = 10

ISSUE_MQTT_MISSING: Final = "mqtt_missing"
