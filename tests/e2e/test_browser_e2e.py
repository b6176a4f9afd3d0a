"""The setup as a person does it: a real Home Assistant with its frontend, in headless Chromium.

One Home Assistant for the module (a database file, so the energy dashboard works), an
owner account, and three people at the frontend, each in their own browser context:

* English, the simulated meter: Add integration > search > "Try it with a simulated meter"
  > the kind of meter > the live check > the created entry; then the device page shows the
  meter's sensors with values, and the energy dashboard takes its energy import as grid
  consumption and its export as return to the grid (on Home Assistant 2026.x one grid
  connection with "Grid power" as its power), with no validation error shown.
* English, "Find my meter automatically" on a real pseudo-terminal fed by an encrypted
  simulated meter (``cli simulate`` in its own process): the port typed, the detection's
  progress, the key step (asked because the frames are encrypted), a wrong key (the error
  on the key field, the key kept as typed), then the right key and the created entry.
* German (the user's language is German): "I know my meter's standard", a port that does
  not exist (its error at once, issue #12's first bullet), then a port where nothing
  arrives; every form of the walk in German with no English inside it, and the errors in
  German.

The walks that wait (detection, the silent port's full live check) are started first and
run while the simulated meter is added. Screenshots go to a temporary folder (printed), or
to ``$CHSM_SCREENSHOTS`` (``scripts/screenshots`` regenerates ``docs/images`` with it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import pytest_socket
from homeassistant.const import __version__ as HA_VERSION
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .browser import (
    BrowserThread,
    Frontend,
    chromium_missing,
    confirm_http_settings,
    frontend_strings,
    screenshot_dir,
    until,
)
from .harness import HomeAssistant, SimulatedMeter, errors_in_log
from .setup_walk import (
    FlowDialog,
    connection_menu,
    demo_form,
    detection,
    english_words,
    integration_strings,
    keys_form,
    live_check,
    open_add_integration,
    port_again,
    serial_port_form,
    standard_form,
    start_menu,
    typed_key,
)

# Skipped where the browser is missing, except in CI (.ci/run), which installs it: there a
# missing browser fails the module instead of hiding it.
pytestmark = pytest.mark.skipif(
    chromium_missing() is not None and not os.environ.get("CI"), reason=str(chromium_missing())
)

OWNER: Final = ("E2E", "e2e", "e2e-password")
# A database file: the energy dashboard needs the recorder (an in-memory one is refused).
RECORDER: Final = "recorder:\n  commit_interval: 1\n"
# The encrypted meter's key (the simulators' demo key) and a wrong one; both are in the
# key guard's list (tests/no_secrets.py).
METER_KEY: Final = "000102030405060708090A0B0C0D0E0F"
WRONG_KEY: Final = "0F0E0D0C0B0A09080706050403020100"
# The live check listens this long before it reports a silent port, plus the time the
# frontend takes to show the result.
LIVE_CHECK: Final = 25.0 + 15.0
# Detection's worst case (detect_flow.DETECT_BUDGET), plus the frontend's time.
DETECTION: Final = 60.0 + 15.0
# A device path that does not exist: the port check fails at once.
MISSING_PORT: Final = "/dev/ttyUSB9"
# Sensors enabled by default whose state is a number, by translation key.
NUMERIC_SENSORS: Final = ("energy_import", "energy_export", "net_power")
# A number as the frontend formats it (grouping by comma, apostrophe or space), a unit.
NUMBER: Final = re.compile(r"^-?[\d',.\s\u2019]+\d(\s?[a-zA-Z]+)?$")


@dataclass
class Session:
    """The module's Home Assistant, browser and meters."""

    home_assistant: HomeAssistant
    browser: BrowserThread
    screenshots: Path
    encrypted_meter: SimulatedMeter
    silent_port: str

    def person(self, language: str) -> Frontend:
        """A new person at the frontend, logged in as the owner."""
        frontend = Frontend(
            self.browser.browser,
            self.home_assistant.api.base,
            self.screenshots,
            self.home_assistant.api,
            language=language,
        )
        frontend.login(OWNER[1], OWNER[2])
        return frontend


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """Home Assistant (owner created, HTTP settings confirmed), Chromium, the meters."""
    # Module fixtures run before the per-test fixture that allows loopback sockets.
    pytest_socket.enable_socket()
    workdir = tmp_path_factory.mktemp("browser")
    # Outside pytest's temporary folders (other runs prune them), one folder per version.
    screenshots = screenshot_dir(
        Path(tempfile.gettempdir()) / "ch_smart_meter-screenshots" / HA_VERSION
    )
    print(f"screenshots in {screenshots}")
    home_assistant = HomeAssistant("browser", workdir, [], recorder=RECORDER)
    meter = SimulatedMeter(
        workdir, "--standard", "dsmr", "--key", METER_KEY, "--seed", "2", "--interval", "1"
    )
    # A port where nothing ever arrives: a pty whose other side nobody writes.
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        home_assistant.wait_ready()
        browser = BrowserThread()
        try:
            session = Session(home_assistant, browser, screenshots, meter, os.ttyname(slave))
            browser.run(confirm_http_settings_once, session)
            yield session
        finally:
            browser.close()
        assert errors_in_log(home_assistant) == [], home_assistant.log_tail()
    finally:
        pytest_socket.enable_socket()
        meter.stop()
        home_assistant.stop_async()
        home_assistant.wait_stopped()
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def confirm_http_settings_once(session: Session) -> None:
    """Home Assistant 2026.10 asks to confirm its HTTP settings once (see
    ``confirm_http_settings``): a first person does it, the others are not asked."""
    frontend = session.person("en")
    confirm_http_settings(frontend)
    frontend.close()


@dataclass
class SlowWalks:
    """The walks that wait (detection, a silent port), started before anything else."""

    detected: FlowDialog
    silent_port: FlowDialog


@pytest.fixture(scope="module")
def slow_walks(session: Session) -> SlowWalks:
    """English: detection started on the encrypted meter's port; German: a missing port,
    then the silent one, its live check started."""
    return session.browser.run(start_slow_walks, session)


def start_slow_walks(session: Session) -> SlowWalks:
    """Both walks up to their waiting (in the browser's thread)."""
    english = session.person("en")
    detected = open_add_integration(english, frontend_strings("en"), integration_strings("en"))
    start_menu(detected, "detect")
    connection_menu(detected, "serial")
    serial_port_form(detected, session.encrypted_meter.path)
    detected.wait_for(detected.strings["config"]["progress"]["detect_listen"])
    english.shot("detecting", detected.surface)

    german = session.person("de")
    silent = open_add_integration(german, frontend_strings("de"), integration_strings("de"))
    start_menu(silent, "standard")
    standard_form(silent, "dsmr", has_key=False)
    connection_menu(silent, "serial")
    serial_port_form(silent, MISSING_PORT)
    # The port is checked before anything listens: its error at once, not after a progress.
    silent.assert_error("port_not_found", timeout=10)
    port_again(silent, session.silent_port)
    silent.wait_for(silent.strings["config"]["progress"]["probe"])
    return SlowWalks(detected, silent)


def test_simulated_meter_device_page_and_energy_dashboard(
    session: Session, slow_walks: SlowWalks
) -> None:
    """Add the simulated meter, see its sensors with values, use it in the energy dashboard."""
    session.browser.run(add_simulated_meter, session)


def add_simulated_meter(session: Session) -> None:
    """The walk of the test above."""
    frontend = session.person("en")
    ui, strings = frontend_strings("en"), integration_strings("en")
    dialog = open_add_integration(frontend, ui, strings)
    start_menu(dialog, "demo", shot="add-integration")
    demo_form(dialog, "dsmr")
    live_check(dialog, timeout=15)
    created = dialog.created()
    frontend.shot("meter-added", dialog.surface)
    meter_id = re.search(r"E0025\d{11}", created)
    assert meter_id, created
    dialog.finish()
    # The device's name (the maker and the id), as Home Assistant lists it.
    device = device_name(session.home_assistant, meter_id.group())

    sensors = device_page(frontend, device, strings)
    for key in NUMERIC_SENSORS:
        name = strings["entity"]["sensor"][key]["name"]
        assert NUMBER.match(sensors[name]), (name, sensors[name])
    frontend.shot("device-page")

    energy_dashboard(frontend, ui, device, strings)
    frontend.shot("energy-dashboard", frontend.page.locator("ha-energy-grid-settings"))


def test_detected_wrong_key_then_the_right_key(session: Session, slow_walks: SlowWalks) -> None:
    """Detection finds the encrypted meter and asks for its key; a wrong key: the error on
    the key field, the key kept; the right key: the meter is added."""
    session.browser.run(detected_wrong_key_then_the_right_key, slow_walks)


def detected_wrong_key_then_the_right_key(slow_walks: SlowWalks) -> None:
    """The walk of the test above."""
    dialog = slow_walks.detected
    detection(dialog, timeout=DETECTION, seen=True)  # seen when the walk started
    shown = keys_form(dialog, WRONG_KEY)
    # DSMR asks for no second key (the Smarty envelope's is public).
    assert dialog.step("keys")["data"]["authentication_key"] not in shown, shown
    text = dialog.assert_error("decryption_failed", timeout=LIVE_CHECK)
    assert dialog.step("keys")["title"] in text, text  # on the key form, where it is fixed
    assert typed_key(dialog).replace(" ", "").upper() == WRONG_KEY, "the key was not kept"
    dialog.frontend.shot("wrong-key", dialog.surface)
    keys_form(dialog, METER_KEY)
    live_check(dialog, timeout=LIVE_CHECK)
    created = dialog.created()
    assert "E0025" in created, created
    dialog.finish()


def test_silent_port_in_german(session: Session, slow_walks: SlowWalks) -> None:
    """Every form in German, no English in them, the errors in German."""
    session.browser.run(silent_port_in_german, slow_walks)


def silent_port_in_german(slow_walks: SlowWalks) -> None:
    """The walk of the test above."""
    dialog = slow_walks.silent_port
    text = dialog.assert_error("no_data", timeout=LIVE_CHECK)
    dialog.frontend.shot("silent-port-de", dialog.surface)
    english = integration_strings("en")["config"]
    # Home Assistant 2026.x types the path in the port field: no manual path form.
    assert set(dialog.seen) - {"serial_manual"} == {"user", "standard", "connection", "serial"}
    for step_id, shown in dialog.seen.items():
        assert not english_words(shown), (step_id, english_words(shown), shown)
        german = dialog.step(step_id)
        for key, label in english["step"][step_id].get("data", {}).items():
            if label != german["data"][key]:
                assert label not in shown, (step_id, label)
        for key, label in english["step"][step_id].get("menu_options", {}).items():
            if label != german["menu_options"][key]:
                assert label not in shown, (step_id, label)
    assert english["error"]["no_data"] not in text


# ---------------------------------------------------------------- pages of Home Assistant


def device_name(home_assistant: HomeAssistant, meter_id: str) -> str:
    """The name of the integration's device whose name has this meter id."""
    names = home_assistant.api.render(
        "{% for e in integration_entities('ch_smart_meter') %}"
        "{{ device_attr(device_id(e), 'name') }}\n{% endfor %}"
    ).splitlines()
    matching = sorted({str(name) for name in names if meter_id in name})
    assert len(matching) == 1, names
    return matching[0]


def device_page(frontend: Frontend, device_name: str, strings: dict[str, Any]) -> dict[str, str]:
    """Settings > Devices > the meter: its sensors as listed, name -> shown state."""
    frontend.open("/config/devices/dashboard")
    frontend.page.get_by_text(device_name, exact=True).first.click()
    names = {
        strings["entity"]["sensor"][key]["name"] for key in (*NUMERIC_SENSORS, "frames_rejected")
    }

    def listed() -> dict[str, str] | None:
        texts = frontend.texts()
        shown = {name: texts[index + 1] for index, name in enumerate(texts[:-1]) if name in names}
        numeric = all(
            NUMBER.match(shown.get(strings["entity"]["sensor"][key]["name"], ""))
            for key in NUMERIC_SENSORS
        )
        return shown if numeric else None

    sensors: dict[str, str] = until(listed, 20, f"the sensors of {device_name} with values")
    assert not frontend.raw_keys(), frontend.raw_keys()
    return sensors


def energy_dashboard(
    frontend: Frontend, ui: dict[str, str], device_name: str, strings: dict[str, Any]
) -> None:
    """Settings > Dashboards > Energy: the meter's energy registers as the grid."""
    frontend.open("/config/energy")
    entity = device_name.lower().replace(" ", "_")
    grid = "ui.panel.config.energy.grid."
    if grid + "add_connection" in ui:
        # Home Assistant 2026.x: one grid connection with import, export and power; each
        # statistic picker opens a list, the first empty one is next (import, export, then
        # power once its type is chosen). Grid power is import minus export: positive
        # while drawing, the "Standard" type.
        frontend.page.get_by_role("button", name=ui[grid + "add_connection"]).click()
        dialog = frontend.page.locator("dialog-energy-grid-settings")
        sensor = strings["entity"]["sensor"]
        pickers = dialog.get_by_role("listitem")
        for index, key in enumerate(("energy_import", "energy_export", "net_power")):
            if key == "net_power":
                dialog.get_by_role("radio", name=ui[grid + "dialog.type_standard"]).click()
            item = f"{sensor[key]['name']} {device_name}"
            pick_from_list(frontend, dialog, ui, pickers.nth(index), item)
        save = dialog.get_by_role("button", name=ui["ui.common.save"])
        save.click()
        save.wait_for(state="hidden")
    else:
        # Home Assistant 2025.x: consumption and return are added one by one.
        for add, suffix in (("add_consumption", "energy_import"), ("add_return", "energy_export")):
            dialog = frontend.page.locator("dialog-energy-grid-flow-settings")
            # A click while the previous dialog is still closing opens nothing: click again.
            for _ in range(4):
                frontend.page.get_by_role("button", name=ui[grid + add]).click()
                with contextlib.suppress(PlaywrightTimeoutError):
                    dialog.get_by_role("combobox").first.wait_for(timeout=5_000)
                    break
            pick(frontend, dialog, None, f"sensor.{entity}_{suffix}")
            save = dialog.get_by_role("button", name=ui["ui.common.save"])
            save.click()
            save.wait_for(state="hidden")
    names = [strings["entity"]["sensor"][key]["name"] for key in ("energy_import", "energy_export")]
    # The energy integration validates the sensors; during their first five minutes it
    # notes that their statistics are not compiled yet, and nothing else when they fit.
    issues = energy_issue_titles(frontend.language)
    pending = issues.pop("statistics_not_defined")
    shown = until(
        lambda: (text := frontend.text()) and all(n in text for n in [*names, pending]) and text,
        15,
        "the energy settings to list the meter's sensors and validate them",
    )
    assert [title for title in issues.values() if title in shown] == [], shown
    assert not frontend.raw_keys(), frontend.raw_keys()


def energy_issue_titles(language: str) -> dict[str, str]:
    """The titles of the energy dashboard's validation issues (Home Assistant's energy
    integration's translations), by issue type."""
    from homeassistant.components import energy  # noqa: PLC0415

    path = Path(energy.__file__).parent / "translations" / f"{language}.json"
    issues = json.loads(path.read_text(encoding="utf-8"))["issues"]
    return {issue: texts["title"] for issue, texts in issues.items()}


def pick(frontend: Frontend, dialog: Any, picker: Any, entity_id: str) -> None:
    """A statistic picker of the energy settings (``picker``, or the dialog's first
    combobox): open it, type the entity id, pick the match."""
    box = picker if picker is not None else dialog.get_by_role("combobox").first
    try:
        box.click()
        frontend.page.keyboard.type(entity_id)
        frontend.page.get_by_role("option").filter(has_text=entity_id).first.click()
    except Exception as err:
        raise AssertionError(
            f"picking {entity_id}: {err}\n{frontend.page.locator('body').aria_snapshot()}"
        ) from err


def pick_from_list(
    frontend: Frontend, dialog: Any, ui: dict[str, str], picker: Any, item: str
) -> None:
    """A statistic picker of Home Assistant 2026.x (a list item; the n-th while no list is
    open): it opens a list with a search field; ``item`` is the sensor as listed (its
    name, then the device's). Whether it was picked is read from the dialog's
    accessibility tree while no list is open (the item shows once: in its picker)."""
    name = " ".join(item.split(" ", 2)[:2])
    search = dialog.get_by_placeholder(ui["ui.common.search"], exact=True).filter(visible=True)
    # The list renders again at every state change of the meter's sensors (every second),
    # which makes a mouse click miss now and then, and can drop the highlighted item: the
    # keyboard picks the best match, tried again if nothing was picked.
    # A click on the picker while the dialog redraws may open nothing either: that attempt
    # ends after a few seconds and the next one clicks again.
    try:
        for _ in range(6):
            if item in dialog.aria_snapshot():
                return
            picker.click()
            try:
                search.first.fill(item, timeout=5_000)
                dialog.get_by_text(name, exact=True).filter(visible=True).first.wait_for(
                    timeout=5_000
                )
                search.first.press("ArrowDown")
                frontend.page.keyboard.press("Enter")
            except PlaywrightTimeoutError:
                pass
            with contextlib.suppress(PlaywrightTimeoutError):
                search.first.wait_for(state="hidden", timeout=3_000)
            if search.count():
                search.first.press("Escape")
                search.first.wait_for(state="hidden")
            with contextlib.suppress(AssertionError):
                until(lambda: item in dialog.aria_snapshot(), 5, f"{item} picked")
        if item not in dialog.aria_snapshot():
            raise AssertionError(f"{item} was not picked")
    except Exception as err:
        raise AssertionError(f"picking {item}: {err}\n{dialog.aria_snapshot()}") from err
