"""What a loaded entry holds at run time (``ConfigEntry.runtime_data``)."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .coordinator import ChSmartMeterCoordinator
from .reader.session import ReadingSource
from .republish import Republisher


@dataclass(slots=True)
class ChSmartMeterData:
    """The coordinator (sensors), its reading source (port or MQTT) and the republisher."""

    coordinator: ChSmartMeterCoordinator
    source: ReadingSource
    republisher: Republisher | None


type ChSmartMeterConfigEntry = ConfigEntry[ChSmartMeterData]
