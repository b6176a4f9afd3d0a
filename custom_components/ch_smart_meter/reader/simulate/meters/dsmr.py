"""A simulated P1 DSMR 5.0.2 meter (three phases, solar roof), plain or Smarty-encrypted,
optionally with M-Bus sub-meters (gas, water, heat) and a daily tariff schedule."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Final

from ...dlms.cipher import SMARTY_AUTHENTICATION_KEY
from ...model import Standard
from ..dsmr_telegram import encode_telegram, encrypt_smarty
from ..household import HouseholdModel, daily_tariff, tariff_at
from ..source import SourceOptions
from ..submeters import SubMeterModel

# The objects of a DSMR 5.0.2 base telegram (the encoder writes them in the standard's order).
DSMR_CODES: Final = (
    "1.8.1",
    "1.8.2",
    "2.8.1",
    "2.8.2",
    "1.7.0",
    "2.7.0",
    "32.7.0",
    "52.7.0",
    "72.7.0",
    "31.7.0",
    "51.7.0",
    "71.7.0",
    "21.7.0",
    "41.7.0",
    "61.7.0",
    "22.7.0",
    "42.7.0",
    "62.7.0",
)
IDENTIFICATION: Final = "ISK5\\2M550T-1012"  # an Iskraemeco AM550, common in Switzerland


def equipment_id(seed: int) -> str:
    """A stable, seed-dependent equipment identifier (0-0:96.1.1)."""
    return f"E0025{random.Random(f'{seed}/id').randrange(10**11):011d}"


def system_title(seed: int) -> bytes:
    """The 8-byte DLMS system title of the simulated Smarty meter."""
    return b"SAG" + random.Random(f"{seed}/title").randbytes(5)


@dataclass(slots=True)
class DsmrSource:
    """Household model -> DSMR 5.0.2 telegram -> (optionally) Smarty envelope."""

    options: SourceOptions
    model: HouseholdModel = field(init=False)
    submeters: list[SubMeterModel] = field(init=False)
    counter: int = field(init=False)  # invocation counter of the next encrypted frame

    def __post_init__(self) -> None:
        options = self.options
        hours = options.tariff_hours
        tariff = tariff_at if hours is None else partial(daily_tariff, *hours)
        self.model = HouseholdModel(options.seed, tariff=tariff)
        self.submeters = [
            SubMeterModel(kind, channel, options.seed)
            for channel, kind in enumerate(options.submeters, start=1)
        ]
        self.counter = 1 + random.Random(f"{self.options.seed}/counter").randrange(2**20)

    @property
    def standard(self) -> Standard:
        """P1 DSMR."""
        return Standard.DSMR

    @property
    def meter_id(self) -> str:
        """The equipment identifier in the telegrams."""
        return equipment_id(self.options.seed)

    def telegram_at(self, moment: datetime) -> bytes:
        """The plain telegram at ``moment`` (advances the model)."""
        state = self.model.step(moment)
        values = state.values()
        return encode_telegram(
            {code: values[code] for code in DSMR_CODES},
            timestamp=state.timestamp,
            equipment_id=self.meter_id,
            tariff=state.tariff,
            identification=IDENTIFICATION,
            submeters=[submeter.channel_at(state.timestamp) for submeter in self.submeters],
        )

    def frame_at(self, moment: datetime) -> bytes:
        """The telegram, in a Smarty envelope when a key is set."""
        telegram = self.telegram_at(moment)
        if self.options.key is None:
            return telegram
        frame = encrypt_smarty(
            telegram,
            self.options.key,
            system_title(self.options.seed),
            self.counter,
            self.options.authentication_key or SMARTY_AUTHENTICATION_KEY,
        )
        self.counter += 1
        return frame

    def respond(self, request: bytes, moment: datetime) -> bytes:
        """A P1 port only talks: requests are ignored."""
        return b""


def create_source(options: SourceOptions) -> DsmrSource:
    """The registry's entry point."""
    return DsmrSource(options)
