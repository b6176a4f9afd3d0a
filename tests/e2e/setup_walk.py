"""Adding the integration in the browser, one form at a time, as a person reads and fills it.

Two layers:

* ``FlowDialog`` and ``open_add_integration`` know Home Assistant's frontend (the "Add
  integration" search, the data-entry-flow dialog, its buttons, a progress step) and
  nothing of this integration's flow.
* The functions under "The integration's flow" know ``config_flow.py``: one function per
  form, each checking what the form says (title, labels, texts from the integration's
  translations in the user's language) and filling it. When the flow changes, these
  functions change and the tests keep their shape.

Expected texts come from the integration's own translation files, so a test in German
checks the German texts and a raw key on screen is caught whatever the language.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .browser import Frontend, until

DOMAIN: Final = "ch_smart_meter"
COMPONENT: Final = Path(__file__).resolve().parents[2] / "custom_components" / "ch_smart_meter"
INTEGRATION_NAME: Final = "Swiss Smart Meter"
DIALOG: Final = "dialog-data-entry-flow"
FLOW_UI: Final = "ui.panel.config.integrations.config_flow."
# Words that mark English text inside a form that should be in another language. German
# texts share none of them (they do use port, key, serial, format and adapter: P1-Port,
# Global Unicast Encryption Key, /dev/serial/by-id).
ENGLISH_WORDS: Final = frozenset(
    [
        "the",
        "and",
        "of",
        "with",
        "without",
        "over",
        "your",
        "enter",
        "choose",
        "meter",
        "listening",
        "seconds",
        "until",
        "arrived",
        "nothing",
        "submit",
        "manually",
        "usual",
    ]
)


def integration_strings(language: str) -> dict[str, Any]:
    """The integration's translations (``translations/<language>.json``)."""
    path = COMPONENT / "translations" / f"{language}.json"
    strings: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return strings


def template_pattern(template: str) -> re.Pattern[str]:
    """A translation with ``{placeholders}`` as a pattern over the visible text (any
    placeholder value, whitespace as rendered)."""
    parts = re.split(r"\{[a-z_]+\}", template)
    literal = ".+?".join(r"\s*".join(map(re.escape, part.split())) for part in parts)
    return re.compile(literal, re.DOTALL)


def rendered(markdown: str) -> str:
    """A translation's text as the frontend renders its Markdown (no ``**``, no list
    markers)."""
    return re.sub(r"^\s*- ", "", markdown.replace("**", ""), flags=re.MULTILINE)


def english_words(text: str) -> set[str]:
    """The words of ``ENGLISH_WORDS`` in a text (case-insensitive, whole words); "Smart
    Meter" is German too (Swiss usage: "Smart Meter hinzufügen")."""
    words = re.findall(r"[A-Za-z]+", text.replace("Smart Meter", "").lower())
    return {word for word in words if word in ENGLISH_WORDS}


@dataclass
class FlowDialog:
    """Home Assistant's config flow dialog, as one person's browser shows it."""

    frontend: Frontend
    ui: dict[str, str]  # the frontend's own texts in the user's language
    strings: dict[str, Any]  # the integration's texts in the user's language
    # Texts of every form shown so far, by step (for the language checks).
    seen: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> Any:
        """The dialog element."""
        return self.frontend.page.locator(DIALOG)

    @property
    def surface(self) -> Any:
        """The visible dialog box (for cropped screenshots): Material's surface on Home
        Assistant 2025.x, a native ``<dialog>`` (Web Awesome) on 2026.x."""
        return self.host.locator("[role=dialog], [role=alertdialog], dialog[open]").first

    def text(self) -> str:
        """What the dialog shows now, as one string."""
        return self.frontend.text(self.host)

    def step(self, name: str) -> dict[str, Any]:
        """The integration's texts of one step (``config.step.<name>``)."""
        step: dict[str, Any] = self.strings["config"]["step"][name]
        return step

    def wait_for(self, template: str, timeout: float = 20) -> str:
        """Until the dialog shows a text (a translation, placeholders allowed); its text."""
        pattern = template_pattern(template)
        return str(
            until(
                lambda: (text := self.text()) and pattern.search(text) and text,
                timeout,
                f"the dialog to show {template!r}",
                lambda: f"it shows {self.text()!r}",
            )
        )

    def read_form(
        self, step_id: str, *, title: str | None = None, optional: tuple[str, ...] = ()
    ) -> str:
        """Wait for a form, check that its title, description and field labels are the
        step's texts (``optional`` fields need not be there) and that no raw key shows;
        returns the dialog's text."""
        step = self.step(step_id)
        self.wait_for(title or step["title"])
        labels = [label for key, label in step.get("data", {}).items() if key not in optional]
        patterns = [
            template_pattern(rendered(label))
            for label in [step.get("description"), *labels]
            if label
        ]
        # The title comes first; the fields render a moment later.
        text = str(
            until(
                lambda: (text := self.text()) and all(p.search(text) for p in patterns) and text,
                10,
                f"the {step_id} form with its description and labels",
                lambda: f"it shows {self.text()!r}",
            )
        )
        assert not self.frontend.raw_keys(), self.frontend.raw_keys()
        self.seen[step_id] = text
        return text

    def assert_error(self, error: str, timeout: float = 10) -> str:
        """The form shows the integration's text of ``config.error.<error>``."""
        template = self.strings["config"]["error"][error]
        text = self.wait_for(template, timeout=timeout)
        assert not self.frontend.raw_keys(), self.frontend.raw_keys()
        return text

    def button(self, *keys: str) -> Any:
        """A button of the dialog, named by the frontend's texts (the first that exists)."""
        names = [self.ui[FLOW_UI + key] for key in keys if FLOW_UI + key in self.ui]
        pattern = re.compile("^(" + "|".join(map(re.escape, names)) + ")$", re.IGNORECASE)
        return self.host.get_by_role("button", name=pattern).first

    def submit(self) -> None:
        """Press the form's Submit (or Next)."""
        self.button("submit", "next").click()

    def choose(self, label: str) -> None:
        """Pick a radio button or a menu entry by its visible text."""
        self.host.get_by_text(label, exact=True).first.click()

    def select(self, field_label: str, option_label: str) -> None:
        """Open a drop-down field and pick one of its options."""
        # Home Assistant 2025.x: a combobox named by its label, options in a list box.
        # 2026.x: a list item showing the label and the value, options in a menu.
        combobox = self.host.get_by_role("combobox", name=field_label)
        if combobox.count():
            combobox.first.click()
        else:
            items = self.host.get_by_role("listitem")
            labels = [self.frontend.text(items.nth(index)) for index in range(items.count())]
            index = next(i for i, text in enumerate(labels) if text.startswith(field_label))
            items.nth(index).click()
        page = self.frontend.page
        option = page.get_by_role("option", name=option_label)
        option.or_(page.get_by_role("menuitem", name=option_label)).first.click()

    def fill(self, field_label: str, value: str) -> None:
        """Type into a text field (passwords included) named by its label."""
        box = self.host.get_by_role("textbox", name=field_label).first
        box.fill(value)

    def progress(self, *step_ids: str, timeout: float, seen: bool = False) -> str:
        """A progress step: check its text, then wait until the dialog moves on (a
        progress that never ends on screen fails, issue #12's first bullet).

        ``step_ids`` are the progress keys (``config.progress.<id>``) the step may show
        (detection changes its text as it goes); ``seen``: it has been seen already (it
        may have ended since). Returns the dialog's text when this started waiting.
        """
        patterns = [template_pattern(self.strings["config"]["progress"][step]) for step in step_ids]

        def showing() -> bool:
            text = self.text()
            return any(pattern.search(text) for pattern in patterns)

        if not seen:
            until(showing, 10, f"the progress {step_ids}", lambda: f"it shows {self.text()!r}")
        shown = self.text()
        until(
            lambda: not showing(),
            timeout,
            f"the progress {step_ids} to end",
            lambda: f"it still shows {self.text()!r}",
        )
        return shown

    def created(self) -> str:
        """The success dialog that ends a flow: what it says, the device's name included.

        Home Assistant 2025.x says "Created configuration for <name>."; 2026.x shows "Name
        and assign" with the device's name in a field (returned as "<title> <name>").
        """
        patterns = {
            key: template_pattern(self.ui[FLOW_UI + key])
            for key in ("created_config", "device_created")
            if FLOW_UI + key in self.ui
        }
        text = str(
            until(
                lambda: (
                    (text := self.text())
                    and any(p.search(text) for p in patterns.values())
                    and text
                ),
                20,
                "the success dialog",
                lambda: f"the dialog shows {self.text()!r}",
            )
        )
        assert not self.frontend.raw_keys(), self.frontend.raw_keys()
        if "device_created" in patterns and patterns["device_created"].search(text):
            name = self.host.get_by_role("textbox").first.input_value()
            return f"{text} {name}"
        return text

    def finish(self) -> None:
        """Close the success dialog."""
        self.button("finish", "finish_skip").click()
        self.host.get_by_role("button").first.wait_for(state="hidden")

    def close(self) -> None:
        """Close the dialog with its X (a flow abandoned)."""
        name = re.compile(f"^{re.escape(self.ui['ui.common.close'])}$", re.IGNORECASE)
        self.host.get_by_role("button", name=name).first.click()


def open_add_integration(
    frontend: Frontend, ui: dict[str, str], strings: dict[str, Any]
) -> FlowDialog:
    """Settings > Devices & services > Add integration > search > Swiss Smart Meter."""
    frontend.open("/config/integrations/dashboard")
    add = ui["ui.panel.config.integrations.add_integration"]
    frontend.page.get_by_role("button", name=re.compile(f"^{re.escape(add)}$", re.I)).click()
    search = frontend.page.locator("dialog-add-integration input").first
    search.fill("Swiss Smart")
    frontend.page.locator("dialog-add-integration").get_by_text(
        INTEGRATION_NAME, exact=True
    ).first.click()
    return FlowDialog(frontend, ui, strings)


# ---------------------------------------------------------------- the integration's flow


def start_menu(dialog: FlowDialog, option: str, shot: str | None = None) -> str:
    """First step, a menu: find my meter (first), I know my standard, the simulated meter.
    ``shot``: a screenshot of it by that name before choosing."""
    text = dialog.read_form("user")
    options = dialog.step("user")["menu_options"]
    for key in ("detect", "standard", "demo"):
        assert options[key] in text, (options[key], text)
    assert text.index(options["detect"]) < text.index(options["standard"]), text
    if shot:
        dialog.frontend.shot(shot, dialog.surface)
    dialog.choose(options[option])
    return text


def demo_form(dialog: FlowDialog, standard: str) -> str:
    """The simulated meter: which kind of meter."""
    text = dialog.read_form("demo")
    dialog.choose(dialog.strings["selector"]["standard"]["options"][standard])
    dialog.submit()
    return text


def standard_form(dialog: FlowDialog, standard: str, has_key: bool) -> str:
    """The standard chosen by hand (the hint by maker and model), and whether there is a key."""
    step = dialog.step("standard")
    text = dialog.read_form("standard")
    dialog.choose(dialog.strings["selector"]["standard"]["options"][standard])
    if has_key:
        dialog.host.get_by_role("switch", name=step["data"]["has_key"]).first.click()
    dialog.submit()
    return text


def connection_menu(dialog: FlowDialog, option: str) -> str:
    """The connection menu: serial, network or URL."""
    step = dialog.step("connection")
    text = dialog.read_form("connection")
    for label in step["menu_options"].values():
        assert label in text, (label, text)
    dialog.choose(step["menu_options"][option])
    return text


def serial_port_form(dialog: FlowDialog, path: str) -> str:
    """The serial port, nothing preselected. Home Assistant 2026.5+ shows its serial port
    selector (a text field on 2026.10's frontend): the path is typed there. Before, the
    integration's list: "Enter manually" leads to ``serial_manual_form``, which this calls.
    """
    # No serial format while detecting (detection finds it).
    text = dialog.read_form("serial", optional=("serial_preset",))
    label = dialog.step("serial")["data"]["port"]
    box = dialog.host.get_by_role("textbox", name=re.compile(f"^{re.escape(label)}"))
    if box.count():
        assert box.first.input_value() == "", box.first.input_value()
        box.first.fill(path)
        dialog.submit()
        return text
    combobox = dialog.host.get_by_role("combobox", name=re.compile(f"^{re.escape(label)}"))
    assert "/dev/" not in dialog.frontend.text(combobox.first), "a port is preselected"
    manual = dialog.strings["selector"]["port"]["options"]["manual"]
    dialog.select(label, manual)
    dialog.submit()
    serial_manual_form(dialog, path)
    return text


def serial_manual_form(dialog: FlowDialog, path: str) -> str:
    """The device path typed by hand, in a field that starts empty."""
    text = dialog.read_form("serial_manual")
    box = dialog.host.get_by_role("textbox", name=dialog.step("serial_manual")["data"]["device"])
    box = box.first
    assert box.input_value() in ("", path), box.input_value()  # empty, or what was typed
    box.fill(path)
    dialog.submit()
    return text


def port_again(dialog: FlowDialog, path: str) -> None:
    """After an error about the port: the path typed again where the form shows it (the
    manual path's field on 2025.x, the port field on 2026.x)."""
    labels = [dialog.step("serial_manual")["data"]["device"], dialog.step("serial")["data"]["port"]]
    name = re.compile("^(" + "|".join(map(re.escape, labels)) + ")")
    dialog.host.get_by_role("textbox", name=name).first.fill(path)
    dialog.submit()


def detection(dialog: FlowDialog, timeout: float, seen: bool = False) -> str:
    """Finding the meter: a progress step whose text says what is being tried."""
    return dialog.progress("detect_listen", "detect_ask", timeout=timeout, seen=seen)


def keys_form(dialog: FlowDialog, encryption_key: str) -> str:
    """The key step (only for a meter that encrypts): the key, typed. The second key
    (GAK) shows only for standards whose grid operators hand one out."""
    text = dialog.read_form("keys", optional=("authentication_key",))
    dialog.fill(dialog.step("keys")["data"]["encryption_key"], encryption_key)
    dialog.submit()
    return text


def typed_key(dialog: FlowDialog) -> str:
    """What the key field holds now."""
    label = dialog.step("keys")["data"]["encryption_key"]
    value: str = dialog.host.get_by_role("textbox", name=label).first.input_value()
    return value


def live_check(dialog: FlowDialog, timeout: float) -> str:
    """The live check listens to the meter (a progress step) until it answers or fails."""
    return dialog.progress("probe", timeout=timeout)
