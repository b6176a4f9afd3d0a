"""The OBIS catalogue: Tables 1 and 2 of the Swiss recommendation, plus common extras, as data.

Codes are partial OBIS (value groups C.D.E). Units are those of the CH-SMR format; every
decoder converts to them. Home Assistant entity descriptions are generated from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Quantity(StrEnum):
    """The kind of physical quantity; it decides device class, state class and unit."""

    IDENTIFIER = "identifier"
    ACTIVE_ENERGY = "active_energy"
    REACTIVE_ENERGY = "reactive_energy"
    ACTIVE_POWER = "active_power"
    REACTIVE_POWER = "reactive_power"
    VOLTAGE = "voltage"
    CURRENT = "current"
    POWER_FACTOR = "power_factor"
    FREQUENCY = "frequency"
    TARIFF = "tariff"  # the number of the active tariff (1, 2, ...)
    COUNT = "count"  # events counted by the meter (power failures, voltage sags)


UNITS: dict[Quantity, str | None] = {
    Quantity.IDENTIFIER: None,
    Quantity.ACTIVE_ENERGY: "kWh",
    Quantity.REACTIVE_ENERGY: "kvarh",
    Quantity.ACTIVE_POWER: "kW",
    Quantity.REACTIVE_POWER: "kvar",
    Quantity.VOLTAGE: "V",
    Quantity.CURRENT: "A",
    Quantity.POWER_FACTOR: None,
    Quantity.FREQUENCY: "Hz",
    Quantity.TARIFF: None,
    Quantity.COUNT: None,
}


@dataclass(frozen=True, slots=True)
class ObisEntry:
    """One value of the catalogue.

    ``table`` is 1 or 2 for the recommendation's tables, ``None`` for the common extras.
    ``resolution`` is the minimum resolution the recommendation asks for (decimals follow
    from it). ``phase`` is 1, 2, 3 or ``None`` for totals. ``key`` is a stable snake_case name
    used as translation key and in entity unique ids.
    """

    code: str
    key: str
    name: str
    quantity: Quantity
    resolution: float
    table: int | None
    phase: int | None = None
    counter: bool = False  # a register that only grows (energy)

    @property
    def unit(self) -> str | None:
        """Unit in the CH-SMR format."""
        return UNITS[self.quantity]

    @property
    def decimals(self) -> int:
        """Number of decimals that the minimum resolution implies."""
        text = f"{self.resolution:.6f}".rstrip("0")
        return len(text.split(".")[1]) if "." in text else 0


def _entry(
    code: str,
    key: str,
    name: str,
    quantity: Quantity,
    resolution: float,
    table: int | None,
    phase: int | None = None,
) -> ObisEntry:
    counter = quantity in (Quantity.ACTIVE_ENERGY, Quantity.REACTIVE_ENERGY)
    return ObisEntry(code, key, name, quantity, resolution, table, phase, counter)


_Q = Quantity

CATALOGUE: tuple[ObisEntry, ...] = (
    # Table 1: the minimum set.
    _entry("42.0.0", "logical_device_name", "COSEM logical device name", _Q.IDENTIFIER, 0, 1),
    _entry("96.1.1", "equipment_identifier", "Equipment identifier", _Q.IDENTIFIER, 0, 1),
    _entry("1.8.0", "energy_import", "Active energy import (+A)", _Q.ACTIVE_ENERGY, 0.01, 1),
    _entry("2.8.0", "energy_export", "Active energy export (-A)", _Q.ACTIVE_ENERGY, 0.01, 1),
    _entry("1.7.0", "power_import", "Active power import (+P)", _Q.ACTIVE_POWER, 0.01, 1),
    _entry("2.7.0", "power_export", "Active power export (-P)", _Q.ACTIVE_POWER, 0.01, 1),
    _entry("32.7.0", "voltage_l1", "Voltage L1", _Q.VOLTAGE, 1, 1, 1),
    _entry("52.7.0", "voltage_l2", "Voltage L2", _Q.VOLTAGE, 1, 1, 2),
    _entry("72.7.0", "voltage_l3", "Voltage L3", _Q.VOLTAGE, 1, 1, 3),
    _entry("31.7.0", "current_l1", "Current L1", _Q.CURRENT, 0.01, 1, 1),
    _entry("51.7.0", "current_l2", "Current L2", _Q.CURRENT, 0.01, 1, 2),
    _entry("71.7.0", "current_l3", "Current L3", _Q.CURRENT, 0.01, 1, 3),
    # Table 2: where technically possible.
    _entry(
        "3.8.0",
        "reactive_energy_import",
        "Reactive energy import (+R)",
        _Q.REACTIVE_ENERGY,
        0.01,
        2,
    ),
    _entry(
        "4.8.0",
        "reactive_energy_export",
        "Reactive energy export (-R)",
        _Q.REACTIVE_ENERGY,
        0.01,
        2,
    ),
    _entry("21.7.0", "power_import_l1", "Active power import L1", _Q.ACTIVE_POWER, 0.01, 2, 1),
    _entry("41.7.0", "power_import_l2", "Active power import L2", _Q.ACTIVE_POWER, 0.01, 2, 2),
    _entry("61.7.0", "power_import_l3", "Active power import L3", _Q.ACTIVE_POWER, 0.01, 2, 3),
    _entry("22.7.0", "power_export_l1", "Active power export L1", _Q.ACTIVE_POWER, 0.01, 2, 1),
    _entry("42.7.0", "power_export_l2", "Active power export L2", _Q.ACTIVE_POWER, 0.01, 2, 2),
    _entry("62.7.0", "power_export_l3", "Active power export L3", _Q.ACTIVE_POWER, 0.01, 2, 3),
    _entry(
        "23.7.0",
        "reactive_power_import_l1",
        "Reactive power import L1",
        _Q.REACTIVE_POWER,
        0.01,
        2,
        1,
    ),
    _entry(
        "43.7.0",
        "reactive_power_import_l2",
        "Reactive power import L2",
        _Q.REACTIVE_POWER,
        0.01,
        2,
        2,
    ),
    _entry(
        "63.7.0",
        "reactive_power_import_l3",
        "Reactive power import L3",
        _Q.REACTIVE_POWER,
        0.01,
        2,
        3,
    ),
    _entry(
        "24.7.0",
        "reactive_power_export_l1",
        "Reactive power export L1",
        _Q.REACTIVE_POWER,
        0.01,
        2,
        1,
    ),
    _entry(
        "44.7.0",
        "reactive_power_export_l2",
        "Reactive power export L2",
        _Q.REACTIVE_POWER,
        0.01,
        2,
        2,
    ),
    _entry(
        "64.7.0",
        "reactive_power_export_l3",
        "Reactive power export L3",
        _Q.REACTIVE_POWER,
        0.01,
        2,
        3,
    ),
    # Common extras, outside the two tables.
    _entry(
        "1.8.1",
        "energy_import_tariff_1",
        "Active energy import tariff 1",
        _Q.ACTIVE_ENERGY,
        0.01,
        None,
    ),
    _entry(
        "1.8.2",
        "energy_import_tariff_2",
        "Active energy import tariff 2",
        _Q.ACTIVE_ENERGY,
        0.01,
        None,
    ),
    _entry(
        "2.8.1",
        "energy_export_tariff_1",
        "Active energy export tariff 1",
        _Q.ACTIVE_ENERGY,
        0.01,
        None,
    ),
    _entry(
        "2.8.2",
        "energy_export_tariff_2",
        "Active energy export tariff 2",
        _Q.ACTIVE_ENERGY,
        0.01,
        None,
    ),
    _entry(
        "3.7.0",
        "reactive_power_import",
        "Reactive power import (+Q)",
        _Q.REACTIVE_POWER,
        0.01,
        None,
    ),
    _entry(
        "4.7.0",
        "reactive_power_export",
        "Reactive power export (-Q)",
        _Q.REACTIVE_POWER,
        0.01,
        None,
    ),
    _entry("13.7.0", "power_factor", "Power factor", _Q.POWER_FACTOR, 0.001, None),
    _entry("14.7.0", "frequency", "Frequency", _Q.FREQUENCY, 0.01, None),
    # What the electricity meter says about itself (DSMR; DLMS where pushed): "grid
    # operators may publish more values" than Tables 1 and 2.
    # Demand and limits (DSMR: Belgian e-MUCS capacity tariff, thresholds of DSMR 2.2 to 5,
    # E.ON Hungary): what core's dsmr shows for them. 0-0:17.0.0 is an abstract object.
    _entry("1.4.0", "average_demand", "Current average demand", _Q.ACTIVE_POWER, 0.001, None),
    _entry(
        "1.6.0", "maximum_demand_month", "Maximum demand this month", _Q.ACTIVE_POWER, 0.001, None
    ),
    _entry("17.0.0", "power_limit", "Power limit (threshold)", _Q.ACTIVE_POWER, 0.001, None),
    _entry("31.4.0", "current_limit_l1", "Current limit L1", _Q.CURRENT, 1, None, 1),
    _entry("51.4.0", "current_limit_l2", "Current limit L2", _Q.CURRENT, 1, None, 2),
    _entry("71.4.0", "current_limit_l3", "Current limit L3", _Q.CURRENT, 1, None, 3),
    _entry("96.14.0", "tariff", "Active tariff", _Q.TARIFF, 1, None),
    _entry("96.7.21", "power_failures", "Power failures", _Q.COUNT, 1, None),
    _entry("96.7.9", "long_power_failures", "Long power failures", _Q.COUNT, 1, None),
    _entry("32.32.0", "voltage_sags_l1", "Voltage sags L1", _Q.COUNT, 1, None, 1),
    _entry("52.32.0", "voltage_sags_l2", "Voltage sags L2", _Q.COUNT, 1, None, 2),
    _entry("72.32.0", "voltage_sags_l3", "Voltage sags L3", _Q.COUNT, 1, None, 3),
    _entry("32.36.0", "voltage_swells_l1", "Voltage swells L1", _Q.COUNT, 1, None, 1),
    _entry("52.36.0", "voltage_swells_l2", "Voltage swells L2", _Q.COUNT, 1, None, 2),
    _entry("72.36.0", "voltage_swells_l3", "Voltage swells L3", _Q.COUNT, 1, None, 3),
)

BY_CODE: dict[str, ObisEntry] = {entry.code: entry for entry in CATALOGUE}

# Values meters write in several units or none (0-0:17.0.0 in kW, kVA, A or bare): read
# only with a unit of their quantity, and left out otherwise, never costing the reading.
UNIT_REQUIRED: frozenset[str] = frozenset(
    {"1.4.0", "1.6.0", "17.0.0", "31.4.0", "51.4.0", "71.4.0"}
)

# The codes that identify a meter; they are strings, never sensor values.
ID_CODES: tuple[str, ...] = ("96.1.1", "42.0.0")

# Numbers a meter counts or indicates rather than measures. Meters send them as abstract
# objects (0-0:96.14.0) as well as electricity ones (1-0:32.32.0); one that cannot be read
# is left out, it never costs the reading its measured values.
STATUS_QUANTITIES: frozenset[Quantity] = frozenset({Quantity.TARIFF, Quantity.COUNT})
