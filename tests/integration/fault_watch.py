"""A watch on what Home Assistant shows and logs while a meter's link breaks, and on what
the integration leaves behind: every reading, every state of an entry's sensors and every
log record of the integration's loggers, each with its monotonic time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback

from custom_components.ch_smart_meter.coordinator import ChSmartMeterCoordinator
from custom_components.ch_smart_meter.reader.model import Reading
from custom_components.ch_smart_meter.reader.obis import CATALOGUE

# The integration's loggers: the package and every module below it (the reader library too).
INTEGRATION_LOGGER: Final = "custom_components.ch_smart_meter"
# Sensor key (the entity id's end) -> OBIS code.
CODES_BY_KEY: Final = {entry.key: entry.code for entry in CATALOGUE}


# ------------------------------------------------------------------ what HA shows and logs


@dataclass(frozen=True, slots=True)
class StateRecord:
    """One state an entity showed, and when (monotonic)."""

    at: float
    entity_id: str
    state: str
    device_class: str | None


class _Records(logging.Handler):
    def __init__(self, sink: list[tuple[float, logging.LogRecord]]) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.append((time.monotonic(), record))


class Watch:
    """Every reading and sensor state of one entry, and (``logs``) every record of the
    integration's loggers, each with its monotonic time."""

    def __init__(self, hass: HomeAssistant, entity_prefix: str, *, logs: bool = True) -> None:
        self.hass = hass
        self._logs = logs
        self.prefix = entity_prefix
        self.readings: list[tuple[float, Reading]] = []
        self.states: list[StateRecord] = []
        self.logs: list[tuple[float, logging.LogRecord]] = []
        self._new_reading = asyncio.Event()
        self._handler = _Records(self.logs)
        self._logger = logging.getLogger(INTEGRATION_LOGGER)
        self._level = self._logger.level
        self._remove: list[Callable[[], None]] = []

    def start(self) -> None:
        """Record states and log records from now on (call before set-up)."""
        if self._logs:
            self._logger.addHandler(self._handler)
            self._logger.setLevel(logging.DEBUG)
        self._remove.append(self.hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_state))

    def follow(self, coordinator: ChSmartMeterCoordinator) -> None:
        """Record the coordinator's readings (every one, before any averaging)."""
        self._remove.append(coordinator.add_reading_listener(self._on_reading))

    def stop(self) -> None:
        """Stop recording."""
        for remove in self._remove:
            remove()
        self._remove.clear()
        if self._logs:
            self._logger.removeHandler(self._handler)
            self._logger.setLevel(self._level)

    @callback
    def _on_state(self, event: Event[Any]) -> None:
        entity_id: str = event.data["entity_id"]
        new = event.data["new_state"]
        if new is None or not entity_id.startswith(self.prefix):
            return
        # When the state was written, not when this listener ran: a loaded event loop runs
        # listeners tens of milliseconds later (on the monotonic clock of the readings).
        written = time.monotonic() - max(0.0, time.time() - event.time_fired_timestamp)
        self.states.append(
            StateRecord(written, entity_id, new.state, new.attributes.get("device_class"))
        )

    @callback
    def _on_reading(self, reading: Reading) -> None:
        self.readings.append((time.monotonic(), reading))
        self._new_reading.set()

    # -- questions --------------------------------------------------------------------

    async def reading_after(self, moment: float, timeout: float = 15.0) -> float:
        """Seconds from ``moment`` to the first reading after it (waits for it)."""
        async with asyncio.timeout(timeout):
            while True:
                later = [at for at, _ in self.readings if at > moment]
                if later:
                    return later[0] - moment
                self._new_reading.clear()
                await self._new_reading.wait()

    def last_reading_before(self, moment: float) -> float:
        """When the last reading before ``moment`` arrived."""
        return max(at for at, _ in self.readings if at < moment)

    def records(self, since: float, until: float = float("inf"), about: str = "") -> list[str]:
        """``LEVEL logger: message`` of the records at info level or above in the window
        (only those whose message contains ``about``)."""
        return [
            f"{record.levelname} {record.name}: {message}"
            for at, record in self.logs
            if since <= at < until
            and record.levelno >= logging.INFO
            and about in (message := record.getMessage())
        ]

    async def logged(self, fragment: str, since: float, timeout: float = 10.0) -> float:
        """When a record (any level) containing ``fragment`` was logged after ``since``;
        waits for it."""
        async with asyncio.timeout(timeout):
            while True:
                for at, record in self.logs:
                    if at > since and fragment in record.getMessage():
                        return at
                await asyncio.sleep(0.01)

    def value_states(self) -> list[StateRecord]:
        """States of the meter's value sensors (not the always-available diagnostics)."""
        return [
            s
            for s in self.states
            if not s.entity_id.endswith(("_last_reading", "_frames_rejected"))
        ]

    def unavailable_times(self, since: float = 0.0) -> list[float]:
        """When value sensors went unavailable (after ``since``)."""
        return [s.at for s in self.value_states() if s.state == STATE_UNAVAILABLE and s.at >= since]

    def available_again(self, since: float) -> float:
        """When the first value sensor showed a value after ``since``."""
        return min(
            s.at
            for s in self.value_states()
            if s.at >= since and s.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
        )

    def assert_first_states_show(self, moment: float) -> None:
        """The states written at ``moment`` (the first reading after a silence) show that
        reading's values: no state shows a value from before the silence."""
        reading = next(r for at, r in self.readings if at == moment)
        first: dict[str, str] = {}
        for record in self.value_states():
            if record.at >= moment and record.entity_id not in first:
                first[record.entity_id] = record.state
        shown = {
            CODES_BY_KEY[entity_id.removeprefix(self.prefix)]: state
            for entity_id, state in first.items()
            if entity_id.removeprefix(self.prefix) in CODES_BY_KEY
        }
        assert shown
        for code, state in shown.items():
            assert float(state) == reading.values[code], (code, state, reading.values[code])

    def energy_states(self) -> dict[str, list[float]]:
        """Every numeric state each energy sensor showed, in order."""
        shown: dict[str, list[float]] = {}
        for record in self.states:
            if record.device_class == "energy" and record.state not in (
                STATE_UNAVAILABLE,
                STATE_UNKNOWN,
            ):
                shown.setdefault(record.entity_id, []).append(float(record.state))
        return shown


def assert_never_lower(
    shown: dict[str, list[float]], floor: dict[str, float] | None = None
) -> None:
    """No energy value lower than one shown before it (or than the restored ``floor``)."""
    assert shown, "no energy sensor showed a value"
    for entity_id, values in shown.items():
        lowest = (floor or {}).get(entity_id, float("-inf"))
        for value in values:
            assert value >= lowest, f"{entity_id} went from {lowest} down to {value}: {values}"
            lowest = value


# ------------------------------------------------------------------ what is left behind


def open_fds() -> dict[int, str]:
    """This process's file descriptors and what they point to."""
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return fds


def fds_left(before: dict[int, str], after: dict[int, str]) -> dict[int, str]:
    """Descriptors open after that were not open (to the same thing) before."""
    return {fd: target for fd, target in after.items() if before.get(fd) != target}


def task_names() -> set[str]:
    """Names of the tasks alive now."""
    return {task.get_name() for task in asyncio.all_tasks()}


def fds_to(path: str) -> int:
    """How many of this process's descriptors point to ``path`` (also once deleted)."""
    return sum(1 for target in open_fds().values() if target in (path, f"{path} (deleted)"))


def where(values: Iterable[float]) -> str:
    """Times for a failure message."""
    return ", ".join(f"{v:.2f}" for v in values)
