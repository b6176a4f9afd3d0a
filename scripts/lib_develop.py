"""scripts/develop: Home Assistant with ch_smart_meter configured on the simulated meter.

Run by scripts/develop with the .venv-dev interpreter. The first start creates .dev/config:
configuration.yaml, custom_components linked to this repository, a config entry for the
integration on ``simulator://dsmr``, and (through HA's onboarding API once it answers) the
owner account dev/dev. Later starts reuse it; ``--reset`` deletes it first.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from lib_ha import (
    REPO_ROOT,
    ConfigEntrySeed,
    HomeAssistantApi,
    free_port,
    start_hass,
    stop_hass,
    write_configuration,
)

CONFIG_DIR = REPO_ROOT / ".dev" / "config"
DOMAIN = "ch_smart_meter"
PORT = 8123
OWNER_NAME, USERNAME, PASSWORD = "Developer", "dev", "dev"
# --check: the simulated meter sends every second; its energy and power sensors have values
# within a few seconds of the start.
CHECK_TIMEOUT = 60.0
START_TIMEOUT = 180.0
MIN_SENSORS_WITH_VALUES = 4
LOG_TAIL_LINES = 60


SIMULATOR_URL = "simulator://dsmr"


def simulated_meter_entry() -> ConfigEntrySeed:
    """The integration's config entry on the built-in simulated DSMR meter, as its config
    flow would create it: the meter's id (from its first telegram) is the unique id.

    The keys come from the integration's const.py so that a rename there cannot leave this
    script writing stale data.
    """
    sys.path.insert(0, str(REPO_ROOT))
    from custom_components.ch_smart_meter.const import (  # noqa: PLC0415
        CONF_STANDARD,
        CONF_URL,
        DOMAIN,
    )

    return ConfigEntrySeed(
        domain=DOMAIN,
        title="Simulated meter (DSMR)",
        data={CONF_STANDARD: "dsmr", CONF_URL: SIMULATOR_URL},
        unique_id=simulated_meter_id(),
    )


def simulated_meter_id() -> str | None:
    """The meter id in the simulated meter's first telegram (None if it cannot be read)."""
    from custom_components.ch_smart_meter.reader.model import Reading  # noqa: PLC0415
    from custom_components.ch_smart_meter.reader.simulate.stream import (  # noqa: PLC0415
        open_simulated_stream,
    )
    from custom_components.ch_smart_meter.reader.spec import DecoderOptions  # noqa: PLC0415
    from custom_components.ch_smart_meter.reader.standards import get_spec  # noqa: PLC0415

    try:
        frame = open_simulated_stream(SIMULATOR_URL).simulator.next_frame()
        results = get_spec("dsmr").create_decoder(DecoderOptions()).feed(frame)
    except Exception as err:
        print(f"scripts/develop: could not read the simulated meter's id ({err!r})", flush=True)
        return None
    return next((result.meter_id for result in results if isinstance(result, Reading)), None)


def prepare(config_dir: Path, port: int, reset: bool) -> None:
    if reset and config_dir.exists():
        shutil.rmtree(config_dir)
    if (config_dir / "configuration.yaml").exists():
        return
    print(f"Creating {config_dir} (first start)", flush=True)
    write_configuration(
        config_dir,
        name="ch_smart_meter development",
        port=port,
        recorder="recorder:\n  purge_keep_days: 3\n",
        logger=(
            "logger:\n  default: warning\n  logs:\n"
            "    homeassistant.setup: info\n"
            "    custom_components.ch_smart_meter: debug\n"
        ),
        entries=[simulated_meter_entry()],
    )


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def banner(port: int) -> str:
    return (
        "\n"
        "  Home Assistant is running with ch_smart_meter on a simulated DSMR meter.\n"
        f"  Open   http://localhost:{port}\n"
        f"  Log in as user '{USERNAME}' with password '{PASSWORD}'.\n"
        "  Settings > Devices & services > Swiss Smart Meter shows the meter and its sensors.\n"
        "  Stop with Ctrl-C.  Start afresh with: scripts/develop --reset\n"
    )


def check(port: int) -> None:
    """What a newcomer does: log in as dev/dev, find the entry loaded and sensors with values."""
    api = HomeAssistantApi(port)
    api.login(USERNAME, PASSWORD)
    deadline = time.monotonic() + CHECK_TIMEOUT
    while True:
        entries = api.config_entries(DOMAIN)
        entities = api.integration_entities(DOMAIN)
        states = [api.request("GET", f"/api/states/{entity}")["state"] for entity in entities]
        valued = [state for state in states if state not in ("unknown", "unavailable")]
        loaded = [entry["state"] for entry in entries] == ["loaded"]
        if loaded and len(valued) >= MIN_SENSORS_WITH_VALUES:
            print(
                f"check passed: entry loaded, {len(valued)} of {len(entities)} sensors have values"
            )
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"check failed: entries {[entry['state'] for entry in entries]},"
                f" sensors with values {len(valued)} of {len(entities)}"
            )
        time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="delete .dev/config first")
    parser.add_argument(
        "--check",
        action="store_true",
        help="start in a temporary configuration, log in as dev/dev, check that the entry is"
        " loaded and its sensors have values, stop (used by CI)",
    )
    args = parser.parse_args()
    config_dir, port = CONFIG_DIR, PORT
    if args.check:
        config_dir, port = (
            Path(tempfile.mkdtemp(prefix="chsm-develop-check-")) / "config",
            free_port(),
        )
    if port_in_use(port):
        print(f"scripts/develop: port {port} is in use (another Home Assistant?)", file=sys.stderr)
        return 1
    prepare(config_dir, port, args.reset)

    # --check keeps Home Assistant's log out of the way and shows its end only on failure.
    log_file = config_dir.parent / "hass.log" if args.check else None
    hass = start_hass(Path(sys.executable), config_dir, log_file=log_file)

    stopping = False

    def forward(_signum: int, _frame: FrameType | None) -> None:
        # Only signal here: waiting for hass inside a handler could deadlock with the
        # hass.wait() it interrupted. A second Ctrl-C kills a slow shutdown.
        nonlocal stopping
        if hass.poll() is None:
            hass.send_signal(signal.SIGKILL if stopping else signal.SIGTERM)
        stopping = True

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)

    api = HomeAssistantApi(port)
    try:
        api.wait_until_up(hass, timeout=START_TIMEOUT)
        if api.needs_owner():
            api.create_owner(OWNER_NAME, USERNAME, PASSWORD)
            print(f"Created the owner account '{USERNAME}'.", flush=True)
        if args.check:
            check(port)
    except (RuntimeError, OSError) as err:
        print(f"scripts/develop: {err}", file=sys.stderr)
        stop_hass(hass)
        if log_file:
            tail = log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            print("\n".join(["Home Assistant's log ends:", *tail]), file=sys.stderr)
        return 1
    if args.check:
        stop_hass(hass)
        shutil.rmtree(config_dir.parent, ignore_errors=True)
        return 0
    print(banner(port), flush=True)
    return hass.wait()


if __name__ == "__main__":
    sys.exit(main())
