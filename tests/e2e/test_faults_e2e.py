"""End to end: Home Assistant restarted while the meter goes on sending.

A simulated DSMR meter runs in its own process on a real pseudo-terminal (the reader
library's ``simulate`` command, a minute of meter time per second so the registers move);
a real Home Assistant reads it. Home Assistant is stopped as a service manager stops it
(SIGTERM) and started again on the same configuration. Every state its energy sensors
showed is read from the recorder (a database file that outlives each run):

* no energy value lower than one shown before, nor than the value restored at the start;
* readings resume within 5 s of Home Assistant opening the port again (measured from the
  moment the new process holds the pty to the first new value);
* nothing logged by the integration above debug level (a restart is no outage of the
  meter), and no error or complaint of Home Assistant about it.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Final

from custom_components.ch_smart_meter.const import CONF_STANDARD, CONF_UPDATE_INTERVAL, CONF_URL
from custom_components.ch_smart_meter.reader.simulate.meters.dsmr import equipment_id

from .harness import REPO, ConfigEntrySeed, SimulatedMeter, errors_in_log, free_port, wait_for

sys.path.insert(0, str(REPO / "scripts"))
from lib_ha import HomeAssistantApi, start_hass, stop_hass, write_configuration

RESUME_LIMIT: Final = 5.0
TITLE: Final = "Restart meter"
ENERGY: Final = ("sensor.restart_meter_energy_import", "sensor.restart_meter_energy_export")
# A database file in the configuration (it outlives a run), every state committed at once:
# the history of all runs is read before the last one stops.
RECORDER: Final = "recorder:\n  commit_interval: 0\n"
LOGGER: Final = (
    "logger:\n  default: warning\n  logs:\n    custom_components.ch_smart_meter: debug\n"
)
OWNER: Final = ("E2E", "e2e", "e2e-password")
# A DSMR meter on a pty, a telegram every half second, a minute of meter time per second
# (so the registers move).
METER_ARGS: Final = ("--standard", "dsmr", "--interval", "0.5", "--acceleration", "60")


class HomeAssistantRun:
    """One run of a Home Assistant process on a configuration that outlives it."""

    def __init__(self, config_dir: Path, port: int, log: Path) -> None:
        self.api = HomeAssistantApi(port)
        self.process = start_hass(Path(sys.executable), config_dir, log_file=log, skip_pip=True)
        self.started = time.time()

    def holds(self, path: str) -> bool:
        """Whether the process has ``path`` open."""
        try:
            names = os.listdir(f"/proc/{self.process.pid}/fd")
        except OSError:
            return False
        for name in names:
            try:
                if os.readlink(f"/proc/{self.process.pid}/fd/{name}") == path:
                    return True
            except OSError:
                continue
        return False

    def energy_history(self, since: float) -> dict[str, list[tuple[float, str]]]:
        """Every state of the energy sensors since ``since`` (epoch seconds), of this run and
        the runs before it (the database outlives them): (epoch seconds, state)."""
        start = datetime.fromtimestamp(since).astimezone().isoformat()
        query = urllib.parse.urlencode(
            {"filter_entity_id": ",".join(ENERGY), "significant_changes_only": "0"}
        )
        answer = self.api.request("GET", f"/api/history/period/{urllib.parse.quote(start)}?{query}")
        history: dict[str, list[tuple[float, str]]] = {}
        for states in answer:
            for state in states:
                stamp = datetime.fromisoformat(state["last_updated"]).timestamp()
                if stamp <= since + 0.001:
                    continue  # the state in force at the start, stamped with it
                history.setdefault(state["entity_id"], []).append((stamp, state["state"]))
        return history

    def energy_now(self) -> dict[str, float] | None:
        """The energy sensors' values, or None while one has none."""
        values: dict[str, float] = {}
        for entity_id in ENERGY:
            try:
                state = self.api.request("GET", f"/api/states/{entity_id}")
            except OSError:
                return None
            try:
                values[entity_id] = float(state["state"])
            except ValueError:
                return None
        return values

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; it saves the restore state on the way."""
        assert stop_hass(self.process, timeout=60) == 0


def numbers(states: list[tuple[float, str]]) -> list[tuple[float, float]]:
    """The numeric states (not unavailable/unknown)."""
    out = []
    for stamp, state in states:
        try:
            out.append((stamp, float(state)))
        except ValueError:
            continue
    return out


def restart(config_dir: Path, port: int, log: Path, link: Path) -> tuple[HomeAssistantRun, float]:
    """Start Home Assistant again; returns the run and when it opened the meter's port."""
    run = HomeAssistantRun(config_dir, port, log)
    path = str(link.resolve())
    opened = wait_for(
        lambda: run.holds(path) and time.time(), 120, "Home Assistant to open the pty", step=0.02
    )
    run.api.wait_until_up(run.process, timeout=120)
    run.api.login(*OWNER[1:])
    return run, opened


def test_home_assistant_restarted_mid_stream(tmp_path: Path) -> None:
    """Stop Home Assistant while the meter sends, start it again: the energy sensors go on
    from the values shown before, never lower, and readings resume within seconds. Then
    once more with a meter whose registers start over lower (its process restarted while
    Home Assistant was down): the sensors hold the restored values."""
    config_dir = tmp_path / "restart"
    port = free_port()
    log = tmp_path / "restart.log"
    # The entry reads a stable path (a by-id link in real life) to the meter's pty.
    link = tmp_path / "ttyMeter"
    meter = SimulatedMeter(tmp_path, *METER_ARGS)
    link.symlink_to(meter.path)
    write_configuration(
        config_dir,
        name="restart",
        port=port,
        recorder=RECORDER,
        logger=LOGGER,
        entries=[
            ConfigEntrySeed(
                domain="ch_smart_meter",
                title=TITLE,
                data={
                    CONF_STANDARD: "dsmr",
                    CONF_URL: str(link),
                    "baudrate": 115200,
                    "bytesize": 8,
                    "parity": "N",
                    "stopbits": 1.0,
                },
                options={CONF_UPDATE_INTERVAL: 0},
                unique_id=equipment_id(1),
            )
        ],
    )
    starts: list[float] = []  # of each run (epoch seconds)
    opened: list[float] = []  # when each restarted run held the meter's port
    run = HomeAssistantRun(config_dir, port, log)
    try:
        starts.append(run.started)
        run.api.wait_until_up(run.process, timeout=120)
        run.api.create_owner(*OWNER)
        wait_for(run.energy_now, 30, "the energy sensors' first values")
        time.sleep(4.0)  # the registers move: a few values
        run.stop()

        # 1. The same meter went on sending meanwhile.
        run, at = restart(config_dir, port, log, link)
        starts.append(run.started)
        opened.append(at)
        wait_for(run.energy_now, 30, "the energy sensors' values after the restart")
        time.sleep(4.0)
        run.stop()

        # 2. The meter's registers start over lower than the values shown before.
        meter.stop()
        meter = SimulatedMeter(tmp_path, *METER_ARGS)
        link.unlink()
        link.symlink_to(meter.path)
        run, at = restart(config_dir, port, log, link)
        starts.append(run.started)
        opened.append(at)
        wait_for(run.energy_now, 30, "the energy sensors' values after the second restart")
        time.sleep(4.0)
        # Every state of the three runs: the database holds them all.
        history = {e: numbers(s) for e, s in run.energy_history(starts[0]).items()}
        run.stop()
    except Exception as err:
        raise AssertionError(f"{err}\n--- log ---\n{tail(log)}") from err
    finally:
        if run.process.poll() is None:
            stop_hass(run.process, timeout=30)
        meter.stop()

    assert set(history) == set(ENERGY), history
    resumes: list[float] = []
    for entity_id, states in history.items():
        ends = [*starts[1:], float("inf")]
        shown = [
            [value for stamp, value in states if start <= stamp < end]
            for start, end in zip(starts, ends, strict=True)
        ]
        assert all(shown), (entity_id, shown)
        # Never lower: within each run, and across each restart (the restored value).
        values = [value for _, value in states]
        assert values == sorted(values), (entity_id, shown)
        # The lower meter's values were held back: the restored value is all it shows.
        assert set(shown[2]) == {shown[1][-1]}, (entity_id, shown)
        for start, at in zip(starts[1:], opened, strict=True):
            resumes.append(next(stamp for stamp, _ in states if stamp >= start) - at)
    # The first value after each restart came within seconds of the port being open.
    print(f"\nHome Assistant restarts: first value {max(resumes):.2f} s after the port opened")
    assert 0 <= max(resumes) <= RESUME_LIMIT, resumes
    assert not errors_in_log_file(log), errors_in_log_file(log)
    ours = [
        line
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        if "[custom_components.ch_smart_meter" in line and " DEBUG " not in line
    ]
    # A restart is no outage of the meter: nothing about it above debug level.
    assert ours == [], ours


def errors_in_log_file(log: Path) -> list[str]:
    """Error lines about the integration, or Home Assistant's complaints about it."""
    return errors_in_log(SimpleNamespace(log=log))  # type: ignore[arg-type]


def tail(log: Path, lines: int = 60) -> str:
    """The end of the log, for failure messages."""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])
