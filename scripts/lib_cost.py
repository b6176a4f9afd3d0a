"""scripts/cost: what reading a P1 meter costs a real Home Assistant, ours against core dsmr.

For each case (an integration and its update interval) a fresh Home Assistant 2025.4.4 process
starts with one config entry whose serial port is a pseudo-terminal, and Home Assistant's
default recorder settings (the states database as users have it, commit every 5 s). This
script plays the meter on the other side of it: real DSMR 5.0.2 telegrams (the integration's
own simulated household meter, one telegram per simulated second, every value moving) at a
fixed rate, 10 per second by default, ten times what a real meter sends, to make the cost
measurable. Every case gets the same simulated meter from the same moment on.

The cases run side by side: every case's process is started first, then the cycles take
the cases in turn, so that a change in the machine's own speed during the run (runs minutes
apart differed by 2x) falls on every case alike; the ratio ours / core is also given cycle by
cycle. Measured per case, in the same process, over several cycles of a feeding window and a
silent window (so that Home Assistant's own background work is measured in between, not
guessed from one quiet moment):
  CPU/telegram   (CPU time of the feeding window - the idle CPU rate of the silent windows
                 x its length) / telegrams sent; the median of the cycles is reported,
                 with their range;
  event loop     the same for the main thread alone (integrations, sensors, state
                 machine); the rest is other threads, mostly the recorder writing rows;
  rows/telegram  rows the recorder wrote to the ``states`` table for the integration's
                 entities with last_updated inside the feeding windows / telegrams sent,
                 counted after the recorder has committed.
Polled meters (cases kmp-30 and mep-30): ten simulated Kamstrup KMP or NES MEP meters, each
on its own pseudo-terminal and config entry (a ZEV's meters on one Home Assistant), asked at
their shortest poll interval (KMP 2 s, MEP 3 s); "telegrams" are then reading cycles the
meters answered. Their silent windows are kept shorter than the sensors' unavailability
threshold (three poll intervals), so no availability change lands in them; the pollers'
unanswered requests during the silence count as idle (a slight under-count).
CPU time comes from /proc/<pid>/task/*/schedstat (nanoseconds on the CPU; the clock ticks of
.../stat, 10 ms each, are too coarse for a 20 s window of ~1 ms telegrams).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from lib_ha import (
    REPO_ROOT,
    ConfigEntrySeed,
    HomeAssistantApi,
    free_port,
    start_hass,
    stop_hass,
    write_configuration,
)

sys.path.insert(0, str(REPO_ROOT))

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RECORDER = "recorder:\n"  # Home Assistant's defaults (commit_interval 5 s)
LOGGER = "logger:\n  default: warning\n"
COMMIT_WAIT = 7.0  # seconds for the recorder to commit what the windows produced


@dataclass(frozen=True, slots=True)
class Case:
    """One measured configuration: an integration at one update interval.

    ``checkout``: ch_smart_meter from another checkout of this repository (a case named
    ``ours-0@/path/to/checkout``), to compare two versions of the code in one run.
    """

    label: str
    domain: str
    interval: int
    make_entry: Callable[[str, str, int], ConfigEntrySeed]  # (port, meter id, interval)
    checkout: Path | None = None
    polled: str | None = None  # "kmp" or "mep": POLLED_METERS meters asked, not a push meter
    # Every telegram the meter will send decoded before the run (see FLOOR_INTEGRATION).
    decoded_in_advance: bool = False


@dataclass(frozen=True, slots=True)
class Cycle:
    """One feeding window and the silent window after it."""

    telegrams: int
    window: float
    cpu: float  # seconds, whole process, feeding window
    main_cpu: float  # seconds, main thread, feeding window
    idle_seconds: float
    idle_cpu: float
    idle_main_cpu: float
    threads: dict[str, float]  # seconds per thread name, feeding window


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    cycles: list[Cycle]
    rows: int
    entities: int

    @property
    def telegrams(self) -> int:
        return sum(cycle.telegrams for cycle in self.cycles)

    @property
    def idle_cpu_rate(self) -> float:
        return sum(c.idle_cpu for c in self.cycles) / sum(c.idle_seconds for c in self.cycles)

    @property
    def idle_main_rate(self) -> float:
        seconds = sum(c.idle_seconds for c in self.cycles)
        return sum(c.idle_main_cpu for c in self.cycles) / seconds

    def per_telegram(self, main: bool = False) -> list[float]:
        """CPU seconds per telegram of each cycle, idle rate subtracted."""
        rate = self.idle_main_rate if main else self.idle_cpu_rate
        return [
            ((cycle.main_cpu if main else cycle.cpu) - rate * cycle.window) / cycle.telegrams
            for cycle in self.cycles
        ]

    @property
    def cpu_per_telegram(self) -> float:
        return statistics.median(self.per_telegram())

    @property
    def main_per_telegram(self) -> float:
        return statistics.median(self.per_telegram(main=True))

    @property
    def rows_per_telegram(self) -> float:
        return self.rows / self.telegrams if self.telegrams else 0.0


def core_dsmr_entry(port: str, meter_id: str, interval: int) -> ConfigEntrySeed:
    """Core dsmr's entry as its config flow stores it (HA 2025.4.4 dsmr/config_flow.py)."""
    return ConfigEntrySeed(
        domain="dsmr",
        title=port,
        data={
            "port": port,
            "dsmr_version": "5",
            "protocol": "dsmr_protocol",
            "serial_id": meter_id,
            "serial_id_gas": None,
        },
        options={"time_between_update": interval},
        unique_id=meter_id,
    )


def ours_entry(port: str, meter_id: str, interval: int) -> ConfigEntrySeed:
    """ch_smart_meter's entry; keys from its const.py (serial format: the DSMR default)."""
    from custom_components.ch_smart_meter.const import (  # noqa: PLC0415
        CONF_STANDARD,
        CONF_UPDATE_INTERVAL,
        CONF_URL,
        DOMAIN,
    )

    return ConfigEntrySeed(
        domain=DOMAIN,
        title="P1 meter",
        data={CONF_STANDARD: "dsmr", CONF_URL: port},
        options={CONF_UPDATE_INTERVAL: interval},
        unique_id=meter_id,
    )


POLLED_METERS = 10


def polled_entry(standard: str) -> Callable[[str, str, int], ConfigEntrySeed]:
    """ch_smart_meter's entry for a polled meter at 9600 8N1, asked as often as it can be."""

    def make(port: str, meter_id: str, interval: int) -> ConfigEntrySeed:
        from custom_components.ch_smart_meter.const import (  # noqa: PLC0415
            CONF_BAUDRATE,
            CONF_BYTESIZE,
            CONF_ENCRYPTION_KEY,
            CONF_PARITY,
            CONF_POLL_INTERVAL,
            CONF_STANDARD,
            CONF_STOPBITS,
            CONF_UPDATE_INTERVAL,
            CONF_URL,
            DOMAIN,
        )
        from custom_components.ch_smart_meter.reader.simulate.mep_meter import DEMO_MBK  # noqa: PLC0415
        from custom_components.ch_smart_meter.reader.standards import get_spec  # noqa: PLC0415

        data = {
            CONF_STANDARD: standard,
            CONF_URL: port,
            CONF_BAUDRATE: 9600,
            CONF_BYTESIZE: 8,
            CONF_PARITY: "N",
            CONF_STOPBITS: 1.0,
        }
        if standard == "mep":
            data[CONF_ENCRYPTION_KEY] = DEMO_MBK.hex()
        return ConfigEntrySeed(
            domain=DOMAIN,
            title=f"{standard} {meter_id}",
            data=data,
            options={
                CONF_UPDATE_INTERVAL: interval,
                CONF_POLL_INTERVAL: get_spec(standard).min_poll_interval,
            },
            unique_id=meter_id,
        )

    return make


def all_cases() -> dict[str, Case]:
    return {
        "core-0": Case(
            "core dsmr, every telegram (time_between_update 0)", "dsmr", 0, core_dsmr_entry
        ),
        "ours-0": Case(
            "ch_smart_meter, every telegram (update_interval 0)", "ch_smart_meter", 0, ours_entry
        ),
        "core-30": Case(
            "core dsmr, default 30 s (time_between_update 30)", "dsmr", 30, core_dsmr_entry
        ),
        "ours-30": Case(
            "ch_smart_meter, 30 s (update_interval 30)", "ch_smart_meter", 30, ours_entry
        ),
        "floor-0": Case(
            "ch_smart_meter, every telegram, telegrams decoded in advance",
            "ch_smart_meter",
            0,
            ours_entry,
            decoded_in_advance=True,
        ),
        "floor-30": Case(
            "ch_smart_meter, 30 s, telegrams decoded in advance",
            "ch_smart_meter",
            30,
            ours_entry,
            decoded_in_advance=True,
        ),
        "ours-5": Case(
            "ch_smart_meter, default 5 s (update_interval 5)", "ch_smart_meter", 5, ours_entry
        ),
        "kmp-30": Case(
            f"ch_smart_meter, {POLLED_METERS} KMP meters polled every 2 s, 30 s",
            "ch_smart_meter",
            30,
            polled_entry("kmp"),
            polled="kmp",
        ),
        "mep-30": Case(
            f"ch_smart_meter, {POLLED_METERS} MEP meters polled every 3 s, 30 s",
            "ch_smart_meter",
            30,
            polled_entry("mep"),
            polled="mep",
        ),
    }


# The simulated meter of every push case: the same telegrams from the same moment on.
METER_SEED: Final = 7
METER_START: Final = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)  # then one telegram per second

# Cases floor-0/floor-30: what this integration costs when decoding costs nothing, i.e. the
# share of Home Assistant itself (state writes, recorder, event loop) and of the coordinator.
# A second integration in the same configuration decodes, before the run, every telegram the
# simulated meter will send, and replaces DsmrDecoder.feed by a lookup of the bytes (a
# telegram not found, none in practice, is decoded as usual). Production code is untouched.
FLOOR_INTEGRATION: Final = """\
\"\"\"scripts/cost: ch_smart_meter with every telegram decoded in advance.\"\"\"

from datetime import timedelta

from homeassistant.core import HomeAssistant

SEED = {seed}
START = {start!r}
COUNT = {count}


def _decoded() -> tuple[dict, type]:
    from datetime import datetime

    from custom_components.ch_smart_meter.reader.dsmr.telegram import (
        DsmrDecoder,
        decode_telegram,
    )
    from custom_components.ch_smart_meter.reader.simulate.meters import create_source
    from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions
    from custom_components.ch_smart_meter.reader.spec import DecoderOptions

    source = create_source("dsmr", SourceOptions(seed=SEED))
    moment = datetime.fromisoformat(START)
    options = DecoderOptions()
    table = {{}}
    for _ in range(COUNT):
        moment += timedelta(seconds=1)
        frame = source.frame_at(moment)
        table[frame] = decode_telegram(frame, options).reading
    return table, DsmrDecoder


async def async_setup(hass: HomeAssistant, config: dict) -> bool:
    table, decoder_class = await hass.async_add_executor_job(_decoded)
    decode = decoder_class.feed

    def feed(self, data):
        reading = table.get(data)
        return [reading] if reading is not None else decode(self, data)

    decoder_class.feed = feed
    return True
"""


class Meter:
    """The simulated household DSMR 5.0.2 meter: one telegram per simulated second."""

    def __init__(self) -> None:
        from custom_components.ch_smart_meter.reader.simulate.meters import create_source  # noqa: PLC0415
        from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions  # noqa: PLC0415

        self._source = create_source("dsmr", SourceOptions(seed=METER_SEED))
        self.meter_id: str = self._source.meter_id  # type: ignore[attr-defined]
        # A winter evening: the household imports, so power and energy move nearly every second.
        self._moment = METER_START

    def next_telegram(self) -> bytes:
        self._moment += timedelta(seconds=1)
        return self._source.frame_at(self._moment)


class PtyFeeder:
    """The meter's end of a pseudo-terminal; Home Assistant opens the other end by path."""

    def __init__(self, meter: Meter, rate: float) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no newline translation: a raw serial line
        self.path = os.ttyname(self._slave)
        self._meter = meter
        self._period = 1.0 / rate
        self._running = threading.Event()
        self._stop = threading.Event()
        self.sent = 0
        threading.Thread(target=self._drain, daemon=True).start()
        threading.Thread(target=self._feed, daemon=True).start()

    def start(self) -> None:
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def close(self) -> None:
        self._stop.set()
        self._running.set()
        time.sleep(2 * self._period)  # let the feeding thread see the stop before the fds go
        os.close(self._slave)
        os.close(self.master)

    def _feed(self) -> None:
        telegram = self._meter.next_telegram()
        while not self._stop.is_set():
            self._running.wait()
            due = time.monotonic()
            while self._running.is_set() and not self._stop.is_set():
                os.write(self.master, telegram)
                self.sent += 1
                telegram = self._meter.next_telegram()  # built outside the HA process's time
                due += self._period
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def _drain(self) -> None:
        # Whatever Home Assistant writes to the port (nothing, for P1) must not fill the pty.
        while not self._stop.is_set():
            try:
                os.read(self.master, 4096)
            except OSError:
                time.sleep(0.1)


def _counting_meter_class(standard: str) -> Callable[..., object]:
    """The simulated meter of ``standard``, calling ``count()`` at the end of each cycle."""
    from custom_components.ch_smart_meter.reader.kmp.poller import steady_cycle  # noqa: PLC0415
    from custom_components.ch_smart_meter.reader.simulate.kmp_meter import KmpMeter  # noqa: PLC0415
    from custom_components.ch_smart_meter.reader.simulate.mep_meter import MepSource  # noqa: PLC0415

    last_kmp_request = steady_cycle()[-1].request

    class CountingKmp(KmpMeter):
        def __init__(self, options: object, count: Callable[[], None]) -> None:
            super().__init__(options)  # type: ignore[arg-type]
            self.count = count

        def _answer(self, frame: bytes, moment: datetime) -> bytes:  # type: ignore[override]
            if frame == last_kmp_request:
                self.count()
            return super()._answer(frame, moment)  # type: ignore[no-any-return]

    class CountingMep(MepSource):
        def __init__(self, options: object, count: Callable[[], None]) -> None:
            super().__init__(options)  # type: ignore[arg-type]
            self.count = count

        def _table(self, table: int, moment: datetime) -> bytes | None:
            if table == 23:  # BT23, the energies: a cycle's last read
                self.count()
            return super()._table(table, moment)

    return CountingKmp if standard == "kmp" else CountingMep


class PolledMeters:
    """Simulated polled meters, each answering on its own pseudo-terminal; ``sent`` counts
    the reading cycles they answered (a cycle ends with its last request: KMP's last
    GetRegister, MEP's BT23 read)."""

    def __init__(self, standard: str, count: int) -> None:
        from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions  # noqa: PLC0415

        self.standard = standard
        self.sent = 0
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._stop = threading.Event()
        kind = _counting_meter_class(standard)
        self.meters = [kind(SourceOptions(seed=100 + n), self._count) for n in range(count)]
        self.ids: list[str] = []
        self.paths: list[str] = []
        self._fds: list[tuple[int, int]] = []
        for meter in self.meters:
            master, slave = os.openpty()
            tty.setraw(slave)
            self._fds.append((master, slave))
            self.paths.append(os.ttyname(slave))
            self.ids.append(self._meter_id(meter))
            threading.Thread(target=self._serve, args=(meter, master), daemon=True).start()

    def _meter_id(self, meter: object) -> str:
        if self.standard == "mep":
            return str(meter.utility_serial)  # type: ignore[attr-defined]
        return str(meter.serial)  # type: ignore[attr-defined]

    def _count(self) -> None:
        with self._lock:
            self.sent += 1

    def _serve(self, meter: object, master: int) -> None:
        while not self._stop.is_set():
            try:
                request = os.read(master, 4096)
            except OSError:
                return
            if not self._running.is_set():
                continue  # a silent meter: the request goes unanswered
            answer = meter.respond(request, datetime.now(UTC))  # type: ignore[attr-defined]
            if answer:
                os.write(master, answer)

    def start(self) -> None:
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def close(self) -> None:
        self._stop.set()
        for master, slave in self._fds:
            os.close(slave)
            os.close(master)


def _task_cpu_seconds(stat_dir: str) -> float:
    """CPU time of one thread: nanoseconds from schedstat, else clock ticks from stat."""
    try:
        return int(Path(f"{stat_dir}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"{stat_dir}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


MAIN_THREAD: Final = "main"


def cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads, summed by thread name (the main thread: "main";
    a thread that ended meanwhile is left out)."""
    seconds: dict[str, float] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            cpu = _task_cpu_seconds(f"/proc/{pid}/task/{task}")
            name = (
                MAIN_THREAD
                if task == str(pid)
                else Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()
            )
        except OSError:
            continue
        seconds[name] = seconds.get(name, 0.0) + cpu
    return seconds


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU time of all threads, of the main thread) of a process, in seconds."""
    return _totals(cpu_by_thread(pid))


def _totals(threads: dict[str, float]) -> tuple[float, float]:
    return sum(threads.values()), threads.get(MAIN_THREAD, 0.0)


def count_rows(database: Path, entity_ids: list[str], start: float, end: float) -> int:
    if not entity_ids:
        return 0
    marks = ",".join("?" * len(entity_ids))
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        (rows,) = db.execute(
            "SELECT COUNT(*) FROM states JOIN states_meta USING (metadata_id)"
            f" WHERE states_meta.entity_id IN ({marks})"
            " AND states.last_updated_ts >= ? AND states.last_updated_ts < ?",
            (*entity_ids, start, end),
        ).fetchone()
    return int(rows)


def window_seconds(case: Case, args: argparse.Namespace) -> float:
    """A feeding window: long enough to hold two updates of a throttled case."""
    return args.window if args.window is not None else max(20.0, 2.0 * case.interval)


def wait_for_entities(api: HomeAssistantApi, domain: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [entry["state"] for entry in api.config_entries(domain)]
        if states and set(states) == {"loaded"} and api.integration_entities(domain):
            return
        time.sleep(1)
    raise RuntimeError(f"{domain}: no loaded entry with entities after {timeout:.0f} s: {states}")


class CaseRun:
    """One case's Home Assistant process and meter(s), from start to result.

    Cases run side by side: every process is started first, then the cycles take the cases
    in turn (case 1, case 2, ..., case 1, ...), so that a change in the machine's own speed
    during the run (it varied 2x between runs) falls on every case alike.
    """

    def __init__(self, case: Case, args: argparse.Namespace, workdir: Path) -> None:
        self.case, self.args = case, args
        self.settle, self.idle = args.settle, args.idle
        self.rewarm = 2.0  # seconds fed before a window: back in the steady state
        self.feeder: PtyFeeder | PolledMeters
        if case.polled is None:
            meter = Meter()
            self.feeder = PtyFeeder(meter, args.rate)
            entries = [case.make_entry(self.feeder.path, meter.meter_id, case.interval)]
        else:
            from custom_components.ch_smart_meter.reader.standards import (  # noqa: PLC0415
                get_spec,
            )

            self.feeder = PolledMeters(case.polled, POLLED_METERS)
            entries = [
                case.make_entry(path, meter_id, case.interval)
                for path, meter_id in zip(self.feeder.paths, self.feeder.ids, strict=True)
            ]
            # Unavailable 3 poll intervals after the last reading, itself at most one interval
            # before the silence: the silent window ends a half second before that. After
            # the other cases' windows, the meters are unavailable: two polls and the
            # reconnect's backoff (at most 4 s) bring them back.
            poll = get_spec(case.polled).min_poll_interval
            self.settle = min(self.settle, 0.5)
            self.idle = min(self.idle, 2 * poll - self.settle - 0.5)
            self.rewarm = 2 * poll + 5.0
        self.config_dir = workdir / f"{len(list(workdir.iterdir()))}-{case.domain}-{case.interval}"
        port = free_port()
        write_configuration(
            self.config_dir,
            name="cost",
            port=port,
            recorder=RECORDER,
            logger=LOGGER,
            entries=entries,
            link_custom_components=case.domain != "dsmr" and not case.decoded_in_advance,
            custom_components=None
            if case.checkout is None
            else case.checkout / "custom_components",
        )
        if case.decoded_in_advance:
            self._add_floor_integration()
        self.hass = start_hass(
            Path(sys.executable),
            self.config_dir,
            log_file=self.config_dir / "hass.out",
            skip_pip=True,
        )
        self.api = HomeAssistantApi(port)
        self.cycles: list[Cycle] = []
        self.windows: list[tuple[float, float]] = []  # wall-clock feeding windows, for rows

    def _add_floor_integration(self) -> None:
        """ch_smart_meter and, beside it, the integration that decodes in advance."""
        components = self.config_dir / "custom_components"
        components.mkdir()
        source = (self.case.checkout or REPO_ROOT) / "custom_components" / "ch_smart_meter"
        (components / "ch_smart_meter").symlink_to(source)
        floor = components / "cost_floor"
        floor.mkdir()
        (floor / "manifest.json").write_text(
            '{"domain": "cost_floor", "name": "cost floor", "version": "0.0.0", '
            '"codeowners": [], "documentation": "https://example.invalid", '
            '"iot_class": "local_push"}',
            encoding="utf-8",
        )
        # Enough telegrams for the warm-up, the cycles and their re-warming, twice over.
        seconds = (
            self.args.warmup
            + 60
            + self.args.cycles * (self.rewarm + window_seconds(self.case, self.args))
        )
        count = int(2 * seconds * self.args.rate)
        (floor / "__init__.py").write_text(
            FLOOR_INTEGRATION.format(seed=METER_SEED, start=METER_START.isoformat(), count=count),
            encoding="utf-8",
        )
        with (self.config_dir / "configuration.yaml").open("a", encoding="utf-8") as config:
            config.write("cost_floor:\n")

    def warm_up(self) -> None:
        """Feed until the entry is loaded and its entities exist (core dsmr creates them on
        the first telegram, ours finishes setting up on the first reading), then warm up."""
        self.api.wait_until_up(self.hass)
        self.api.create_owner("Cost", "cost", "cost-measurement")
        self.feeder.start()
        wait_for_entities(self.api, self.case.domain)
        time.sleep(self.args.warmup)
        self.feeder.pause()

    def cycle(self) -> None:
        """One feeding window and the silent window after it."""
        feeder, pid = self.feeder, self.hass.pid
        feeder.start()
        time.sleep(self.rewarm)
        sent0, threads0, t0, wall0 = feeder.sent, cpu_by_thread(pid), time.monotonic(), time.time()
        time.sleep(window_seconds(self.case, self.args))
        sent1, threads1, t1, wall1 = feeder.sent, cpu_by_thread(pid), time.monotonic(), time.time()
        (cpu0, main0), (cpu1, main1) = _totals(threads0), _totals(threads1)
        feeder.pause()
        self.windows.append((wall0, wall1))
        time.sleep(self.settle)
        (idle_cpu0, idle_main0), i0 = cpu_seconds(pid), time.monotonic()
        time.sleep(self.idle)
        (idle_cpu1, idle_main1), i1 = cpu_seconds(pid), time.monotonic()
        self.cycles.append(
            Cycle(
                sent1 - sent0,
                t1 - t0,
                cpu1 - cpu0,
                main1 - main0,
                i1 - i0,
                idle_cpu1 - idle_cpu0,
                idle_main1 - idle_main0,
                {name: threads1[name] - threads0.get(name, 0.0) for name in threads1},
            )
        )

    def result(self) -> Result:
        """Rows counted after the recorder has committed (the caller waited for it)."""
        # Entities with a state: enabled ones (disabled entities are registered, never written).
        with_state = {state["entity_id"] for state in self.api.request("GET", "/api/states")}
        entity_ids = [
            entity
            for entity in self.api.integration_entities(self.case.domain)
            if entity in with_state
        ]
        database = self.config_dir / "home-assistant_v2.db"
        rows = sum(count_rows(database, entity_ids, start, end) for start, end in self.windows)
        return Result(self.case, self.cycles, rows, len(entity_ids))

    def close(self) -> None:
        self.feeder.close()
        stop_hass(self.hass)


def measure_side_by_side(
    cases: list[Case], args: argparse.Namespace, workdir: Path
) -> list[Result]:
    """Start every case's process, then run the cycles taking the cases in turn."""
    runs: list[CaseRun] = []
    try:
        for case in cases:
            print(f"starting: {case.label} ...", flush=True)
            runs.append(CaseRun(case, args, workdir))
        for run in runs:
            run.warm_up()
        for number in range(args.cycles):
            for run in runs:
                print(f"cycle {number + 1}/{args.cycles}: {run.case.label}", flush=True)
                run.cycle()
        time.sleep(COMMIT_WAIT)
        return [run.result() for run in runs]
    finally:
        for run in runs:
            run.close()


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(
        f"Home Assistant 2025.4.4, {args.rate:g} DSMR 5.0.2 telegrams/s through a pty "
        f"(polled cases: {POLLED_METERS} meters, telegrams = answered reading cycles); "
        f"{args.cycles} cycles of feeding (20 s, or two update intervals) and "
        f"{args.idle:g} s of silence after {args.settle:g} s; medians of the cycles."
    )
    header = (
        f"{'case':<52} {'CPU ms/telegram':>15} {'(cycles)':>17} {'event loop':>10}"
        f" {'rows/telegram':>13} {'idle CPU %':>10} {'telegrams':>9} {'entities':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        spread = result.per_telegram()
        print(
            f"{result.case.label:<52} {result.cpu_per_telegram * 1000:>15.2f}"
            f" {min(spread) * 1000:>8.2f}-{max(spread) * 1000:<8.2f}"
            f" {result.main_per_telegram * 1000:>10.2f} {result.rows_per_telegram:>13.3f}"
            f" {result.idle_cpu_rate * 100:>10.2f} {result.telegrams:>9d} {result.entities:>8d}"
        )
    by_key = {
        (result.case.domain, result.case.interval): result
        for result in results
        if result.case.checkout is None
        and result.case.polled is None
        and not result.case.decoded_in_advance
    }
    floors = {result.case.interval: result for result in results if result.case.decoded_in_advance}
    for (domain, interval), core in sorted(by_key.items()):
        ours = by_key.get(("ch_smart_meter", interval))
        if domain != "dsmr" or ours is None:
            continue
        print(f"ch_smart_meter / core dsmr at update interval {interval} s: {_ratio(ours, core)}")
        if (floor := floors.get(interval)) is not None:
            print(f"  decoded in advance / core dsmr at {interval} s: {_ratio(floor, core)}")


def _ratio(mine: Result, core: Result) -> str:
    """The ratio of the medians, and of each cycle to core's cycle of the same turn."""
    # Cycle i of each case ran minutes apart at most: the ratio of each pair.
    pairs = [
        ours / theirs
        for ours, theirs in zip(mine.per_telegram(), core.per_telegram(), strict=False)
    ]
    return (
        f"{mine.cpu_per_telegram / core.cpu_per_telegram:.2f} (medians); "
        f"cycle by cycle {statistics.median(pairs):.2f} ({min(pairs):.2f}-{max(pairs):.2f})"
    )


def print_threads(results: list[Result]) -> None:
    """CPU per telegram by thread name (feeding windows, idle not subtracted), largest first."""
    print()
    print("CPU ms/telegram by thread (feeding windows, idle not subtracted):")
    for result in results:
        totals: dict[str, float] = {}
        for cycle in result.cycles:
            for name, seconds in cycle.threads.items():
                totals[name] = totals.get(name, 0.0) + seconds
        shown = sorted(totals.items(), key=lambda item: -item[1])
        parts = [
            f"{name} {seconds * 1000 / result.telegrams:.2f}"
            for name, seconds in shown
            if seconds * 1000 / result.telegrams >= 0.01
        ]
        print(f"  {result.case.label}: {', '.join(parts)}")


def _case(cases: dict[str, Case], name: str) -> Case:
    """A standard case, or ``ours-N@CHECKOUT``: ours from another checkout of this repository."""
    base, _, checkout = name.partition("@")
    case = cases[base]
    if not checkout:
        return case
    path = Path(checkout).resolve()
    return Case(f"{case.label} [{path.name}]", case.domain, case.interval, case.make_entry, path)


def main() -> int:
    cases = all_cases()
    parser = argparse.ArgumentParser(
        description="CPU time and recorder rows per telegram in a real Home Assistant."
    )
    parser.add_argument(
        "cases",
        nargs="*",
        default=["core-0", "ours-0", "core-30", "ours-30"],
        help="which cases, in order (default: core-0 ours-0 core-30 ours-30; all: "
        f"{' '.join(cases)})",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="telegrams per second (10)")
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        help="seconds of each feeding window (default: 20, or two update intervals if longer)",
    )
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds fed before measuring (5)"
    )
    parser.add_argument(
        "--cycles", type=int, default=3, help="feeding and silent windows per case (3)"
    )
    parser.add_argument(
        "--idle", type=float, default=10.0, help="seconds of each silent window (10)"
    )
    parser.add_argument(
        "--settle", type=float, default=3.0, help="silent seconds before each silent window (3)"
    )
    parser.add_argument(
        "--threads", action="store_true", help="also show CPU per telegram by thread name"
    )
    parser.add_argument("--keep", action="store_true", help="keep the configuration directories")
    args = parser.parse_args()
    unknown = [name for name in args.cases if name.partition("@")[0] not in cases]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {list(cases)} (ours-N@CHECKOUT too)")

    workdir = Path(tempfile.mkdtemp(prefix="chsm-cost-"))
    try:
        results = measure_side_by_side([_case(cases, name) for name in args.cases], args, workdir)
    finally:
        if args.keep:
            print(f"configuration directories kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(results, args)
    if args.threads:
        print_threads(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
