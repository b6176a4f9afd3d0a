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
import sys
from pathlib import Path
from types import FrameType

from lib_ha import (
    REPO_ROOT,
    ConfigEntrySeed,
    HomeAssistantApi,
    start_hass,
    stop_hass,
    write_configuration,
)

CONFIG_DIR = REPO_ROOT / ".dev" / "config"
PORT = 8123
OWNER_NAME, USERNAME, PASSWORD = "Developer", "dev", "dev"


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
    from custom_components.ch_smart_meter.reader.standards import (  # noqa: PLC0415
        DecoderOptions,
        get_spec,
    )

    try:
        frame = open_simulated_stream(SIMULATOR_URL).simulator.next_frame()
        results = get_spec("dsmr").create_decoder(DecoderOptions()).feed(frame)
    except Exception as err:
        print(f"scripts/develop: could not read the simulated meter's id ({err!r})", flush=True)
        return None
    return next((result.meter_id for result in results if isinstance(result, Reading)), None)


def prepare(reset: bool) -> None:
    if reset and CONFIG_DIR.exists():
        shutil.rmtree(CONFIG_DIR)
    if (CONFIG_DIR / "configuration.yaml").exists():
        return
    print(f"Creating {CONFIG_DIR.relative_to(REPO_ROOT)} (first start)", flush=True)
    write_configuration(
        CONFIG_DIR,
        name="ch_smart_meter development",
        port=PORT,
        recorder="recorder:\n  purge_keep_days: 3\n",
        logger=(
            "logger:\n  default: warning\n  logs:\n"
            "    homeassistant.setup: info\n"
            "    custom_components.ch_smart_meter: debug\n"
        ),
        entries=[simulated_meter_entry()],
    )


def banner() -> str:
    return (
        "\n"
        "  Home Assistant is running with ch_smart_meter on a simulated DSMR meter.\n"
        f"  Open   http://localhost:{PORT}\n"
        f"  Log in as user '{USERNAME}' with password '{PASSWORD}'.\n"
        "  Settings > Devices & services > Swiss Smart Meter shows the meter and its sensors.\n"
        "  Stop with Ctrl-C.  Start afresh with: scripts/develop --reset\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="delete .dev/config first")
    args = parser.parse_args()
    prepare(args.reset)

    hass = start_hass(Path(sys.executable), CONFIG_DIR)

    def forward(signum: int, _frame: FrameType | None) -> None:
        stop_hass(hass)
        sys.exit(128 + signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)

    api = HomeAssistantApi(PORT)
    try:
        api.wait_until_up(hass)
        if api.needs_owner():
            api.create_owner(OWNER_NAME, USERNAME, PASSWORD)
            print(f"Created the owner account '{USERNAME}'.", flush=True)
    except RuntimeError as err:
        print(f"scripts/develop: {err}", file=sys.stderr)
        stop_hass(hass)
        return 1
    print(banner(), flush=True)
    return hass.wait()


if __name__ == "__main__":
    sys.exit(main())
