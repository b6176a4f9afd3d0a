"""Real processes for the end-to-end tests: a Mosquitto broker and Home Assistant instances.

Everything listens on 127.0.0.1 only, on free ports, in temporary directories, and is
stopped by the fixture that started it. Home Assistant runs through ``scripts/lib_ha.py``
(the same configuration, seeding and login code as ``scripts/develop``).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from lib_ha import (  # noqa: E402
    ConfigEntrySeed,
    HomeAssistantApi,
    free_port,
    start_hass,
    stop_hass,
    write_configuration,
)

__all__ = [
    "Broker",
    "BrokerTap",
    "ConfigEntrySeed",
    "HomeAssistant",
    "SimulatedMeter",
    "free_port",
    "mosquitto_binary",
    "wait_for",
]


def mosquitto_binary() -> str | None:
    """The mosquitto broker binary (the Debian package puts it in /usr/sbin)."""
    return shutil.which("mosquitto") or next(
        (path for path in ("/usr/sbin/mosquitto",) if Path(path).is_file()), None
    )


def wait_for[T](probe: Callable[[], T | None], timeout: float, what: str, step: float = 0.2) -> T:
    """Call ``probe`` until it returns something other than None/False."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


class Broker:
    """A Mosquitto broker on a free 127.0.0.1 port with a temporary configuration."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        config = workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\n",
            encoding="utf-8",
        )
        self.log = workdir / "mosquitto.log"
        self._process = subprocess.Popen(
            [binary, "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self._accepts, 10, "mosquitto to listen")

    def _accepts(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {self.log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the broker."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


@dataclass
class Message:
    """One message as a subscriber on the broker saw it."""

    topic: str
    payload: bytes
    retain: bool
    received: float


@dataclass
class BrokerTap:
    """A paho-mqtt subscriber (another system on the network) that records messages."""

    port: int
    topic_filter: str = "dt/#"
    messages: list[Message] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        import paho.mqtt.client as mqtt  # noqa: PLC0415 - installed with Home Assistant

        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-tap")
        subscribed = threading.Event()

        def on_connect(client: Any, _userdata: Any, _flags: Any, _rc: Any, _props: Any) -> None:
            client.subscribe(self.topic_filter, qos=0)

        def on_subscribe(*_args: Any) -> None:
            subscribed.set()

        def on_message(_client: Any, _userdata: Any, msg: Any) -> None:
            with self._lock:
                self.messages.append(
                    Message(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic())
                )

        self._client.on_connect = on_connect
        self._client.on_subscribe = on_subscribe
        self._client.on_message = on_message
        self._client.connect("127.0.0.1", self.port)
        self._client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("the test subscriber could not subscribe")

    def snapshot(self) -> list[Message]:
        """The messages so far."""
        with self._lock:
            return list(self.messages)

    def stop(self) -> None:
        """Disconnect and stop paho's thread."""
        self._client.disconnect()
        self._client.loop_stop()


class SimulatedMeter:
    """``cli simulate --pty`` in its own process: a meter on a pseudo-terminal.

    ``args`` are the simulate command's options other than ``--pty`` (the standard, the
    interval, a key...).
    """

    def __init__(self, workdir: Path, *args: str) -> None:
        # Its messages go to a file, not a pipe nobody reads once the path is known.
        output = workdir / f"meter-{time.monotonic_ns()}.log"
        with output.open("wb") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "custom_components.ch_smart_meter.cli",
                    "simulate",
                    "--pty",
                    *args,
                ],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        line = wait_for(
            lambda: output.read_text(encoding="utf-8").partition("\n")[1] and output.read_text(),
            30,
            "the simulated meter's pty",
        )
        assert line.startswith("listening on /dev/pts/"), line
        self.path = line.split()[2]

    def stop(self) -> None:
        """Stop it (its pty disappears)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


# In memory: the history integrations need a recorder, most tests need no file. (Home
# Assistant 2025.4 refuses it and starts without recorder, history, logbook and energy;
# tests that need them pass a recorder with a database file.)
IN_MEMORY_RECORDER = "recorder:\n  db_url: 'sqlite://'\n"


class HomeAssistant:
    """A real Home Assistant process on a free port with seeded config entries."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        entries: Sequence[ConfigEntrySeed],
        *,
        recorder: str = IN_MEMORY_RECORDER,
    ) -> None:
        self.name = name
        self.config_dir = workdir / name
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        write_configuration(
            self.config_dir,
            name=name,
            port=self.port,
            recorder=recorder,
            logger=(
                "logger:\n  default: warning\n  logs:\n"
                "    custom_components.ch_smart_meter: debug\n"
            ),
            entries=entries,
        )
        self.process = start_hass(
            Path(sys.executable), self.config_dir, log_file=self.log, skip_pip=True
        )
        self.api = HomeAssistantApi(self.port)

    def wait_ready(self, timeout: float = 90) -> None:
        """Until HTTP answers; then the owner account is created and logged in."""
        self.api.wait_until_up(self.process, timeout=timeout)
        self.api.create_owner("E2E", "e2e", "e2e-password")

    def states(self) -> dict[str, dict[str, Any]]:
        """Every state, at one moment (one request)."""
        return {state["entity_id"]: state for state in self.api.request("GET", "/api/states")}

    def get(self, path: str) -> Any:
        """GET a JSON API path with the owner's token."""
        return self.api.request("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON with the owner's token."""
        return self.api.request("POST", path, body)

    def log_tail(self, lines: int = 60) -> str:
        """The end of its log (for failure messages)."""
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop_async(self) -> None:
        """Ask it to stop (SIGTERM); ``wait_stopped`` waits."""
        if self.process.poll() is None:
            self.process.terminate()

    def wait_stopped(self) -> None:
        """Until it has stopped (killed after 30 s)."""
        stop_hass(self.process, timeout=30)


# What Home Assistant says when an integration misbehaves without raising: blocking calls
# in the event loop, deprecated APIs, slow set-ups.
_HA_COMPLAINTS = (
    " ERROR ",
    "Detected blocking call",
    "Detected that custom integration",
    "Detected code that",
)


def errors_in_log(instance: HomeAssistant) -> list[str]:
    """Lines about our integration at ERROR level, or Home Assistant's complaints about it."""
    return [
        line
        for line in instance.log.read_text(encoding="utf-8", errors="replace").splitlines()
        if "ch_smart_meter" in line and any(mark in line for mark in _HA_COMPLAINTS)
    ]


def http_status(call: Callable[[], Any]) -> int:
    """The HTTP status an API call ends with (200 when it returns)."""
    try:
        call()
    except urllib.error.HTTPError as err:
        return err.code
    return 200


def json_lines(messages: Sequence[Message]) -> Iterator[dict[str, Any]]:
    """The payloads as JSON documents."""
    for message in messages:
        yield json.loads(message.payload)
