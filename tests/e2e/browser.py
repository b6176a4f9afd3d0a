"""A person's browser for the end-to-end tests: Debian's Chromium, driven by Playwright.

Only Debian's ``chromium`` package is used (``scripts/setup --system`` installs it, also
inside the Python 3.14 root of ``scripts/test --latest``); Playwright's own browser
downloads are never used. Nothing here knows the integration's config flow: that is
``setup_walk.py``.

What a person sees is read from the rendered page: the visible text of an element and of
everything inside it, shadow roots and slotted content included (Home Assistant's frontend
is made of web components), not from the flow's JSON.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
# Set to a folder (scripts/screenshots sets docs/images) to write the screenshots there
# instead of a temporary folder.
SCREENSHOT_DIR_VARIABLE = "CHSM_SCREENSHOTS"
# Expect-style waits: how long an element may take to appear (the machine is small and shared).
TIMEOUT_MS = 20_000
FIRST_LOAD_TIMEOUT_MS = 90_000

# The visible text of a subtree, in document order, shadow DOM and slots included. A text
# counts when the nearest ancestor that makes a box (display: contents has none: slots)
# is visible.
_VISIBLE_TEXT_JS = """
(root) => {
  const out = [];
  const up = (node) => node.parentElement || (node.parentNode && node.parentNode.host) || null;
  const boxed = (node) => {
    let element = up(node);
    while (element && getComputedStyle(element).display === "contents") element = up(element);
    return element;
  };
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.replace(/\\s+/g, " ").trim();
      const element = text ? boxed(node) : null;
      if (element && element.checkVisibility({ opacityProperty: true, visibilityProperty: true }))
        out.push(text);
      return;
    }
    if (node.nodeType === Node.ELEMENT_NODE) {
      if (["STYLE", "SCRIPT", "TEMPLATE", "NOSCRIPT"].includes(node.tagName)) return;
      if (node.tagName === "SLOT") {
        const assigned = node.assignedNodes({ flatten: true });
        for (const child of assigned.length ? assigned : node.childNodes) walk(child);
        return;
      }
      if (node.shadowRoot) { walk(node.shadowRoot); return; }
    }
    for (const child of node.childNodes) walk(child);
  };
  walk(root);
  return out;
}
"""

# What an untranslated string looks like on screen: a translation key instead of its text.
RAW_TRANSLATION_KEY = re.compile(
    r"component\.[a-z0-9_]+\.|\bui\.(panel|dialogs|components|common)\.|\[%key:|"
    r"\bconfig\.(step|error|abort|progress)\.|\bentity\.sensor\."
)


def frontend_strings(language: str) -> dict[str, str]:
    """The frontend's own texts in a language (flat keys such as
    ``ui.panel.config.integrations.config_flow.submit``), from the installed
    home-assistant-frontend package: the tests name buttons as the frontend labels them."""
    import hass_frontend  # noqa: PLC0415 - the frontend package Home Assistant serves

    folder = Path(hass_frontend.where()) / "static" / "translations"
    name = re.compile(rf"^{re.escape(language)}-[0-9a-f]{{32}}\.json$")
    strings: dict[str, str] = {}
    for path in sorted(folder.rglob(f"{language}-*.json")):
        if name.match(path.name):
            strings.update(json.loads(path.read_text(encoding="utf-8")))
    if not strings:
        raise FileNotFoundError(f"no {language} translations in {folder}")
    return strings


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is absent: install Debian's chromium package (scripts/setup --system)"
    try:
        import playwright  # noqa: F401, PLC0415
    except ImportError:
        return "the playwright package is absent (requirements_test*.txt)"
    return None


def screenshot_dir(default: Path) -> Path:
    """Where this run writes its screenshots (created)."""
    folder = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium (Debian's binary) under Playwright; closed at the end."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    # Playwright's driver writes its profile to TMPDIR; keep it out of the shared /tmp root.
    profile_parent = tempfile.mkdtemp(prefix="chsm-chromium-")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # /dev/shm is small in containers and chroots; the GPU is absent anyway.
            args=["--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"],
            env={**os.environ, "TMPDIR": profile_parent},
        )
        try:
            yield browser
        finally:
            browser.close()
            shutil.rmtree(profile_parent, ignore_errors=True)


class BrowserThread:
    """Chromium and every page of it, used from one thread of their own.

    Playwright's synchronous API keeps an event loop running in the thread that uses it,
    which the asyncio fixtures of pytest-homeassistant-custom-component (and asyncio.run)
    cannot share: the tests hand their browser work to this thread with ``run``.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._chromium: AbstractContextManager[Any] = chromium()
        self.browser: Any = self.run(self._chromium.__enter__)

    def run[T](self, function: Callable[..., T], *args: Any) -> T:
        """Call ``function(*args)`` in the browser's thread; its result or its exception."""
        return self._executor.submit(function, *args).result()

    def close(self) -> None:
        """Close the browser and end the thread."""
        try:
            self.run(self._chromium.__exit__, None, None, None)
        finally:
            self._executor.shutdown()


@dataclass
class Frontend:
    """One person at Home Assistant's frontend: a browser context logged in as a user.

    ``language`` is the user's language (the frontend's own setting, kept in the browser as
    Profile > Language does). Requests to anything but this Home Assistant are refused, so
    that nothing leaves the machine (brand icons come from the internet: they stay blank).
    """

    browser: Any
    base_url: str
    screenshots: Path
    # Home Assistant's REST API with the owner's token (lib_ha.HomeAssistantApi).
    api: Any
    language: str = "en"
    page: Any = field(init=False)
    # Config flow ids as the frontend created and submitted them (from its HTTP responses).
    flow_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        context = self.browser.new_context(viewport=VIEWPORT, locale=self.language)
        context.set_default_timeout(TIMEOUT_MS)
        context.route(lambda url: not url.startswith(self.base_url), _refuse)
        if self.language != "en":
            context.add_init_script(
                f"localStorage.setItem('selectedLanguage', JSON.stringify({self.language!r}));"
            )
        self.page = context.new_page()
        self.page.on("response", self._watch_flows)

    def _watch_flows(self, response: Any) -> None:
        if "/api/config/config_entries/flow" not in response.url or response.status != 200:
            return
        with suppress(Exception):  # not JSON, or the page went away
            flow_id = response.json().get("flow_id")
            if flow_id and (not self.flow_ids or self.flow_ids[-1] != flow_id):
                self.flow_ids.append(flow_id)

    def login(self, username: str, password: str) -> None:
        """The login page, as a person fills it; returns when the frontend has loaded."""
        self.page.goto(self.base_url)
        self.page.locator("input[name=username]").fill(username)
        self.page.locator("input[name=password]").fill(password)
        self.page.locator("input[name=password]").press("Enter")
        # The first load parses the whole frontend: slow on a busy CI machine (3 test workers
        # on 2 cores), so it gets longer than a step inside the frontend.
        self.page.locator("ha-sidebar").wait_for(timeout=FIRST_LOAD_TIMEOUT_MS)

    def open(self, path: str) -> None:
        """Go to a frontend path (as typing the address)."""
        self.page.goto(self.base_url + path)

    def texts(self, locator: Any = None) -> list[str]:
        """The visible texts inside an element (the whole page by default)."""
        target = locator if locator is not None else self.page.locator("body")
        texts: list[str] = self.page.evaluate(_VISIBLE_TEXT_JS, target.element_handle())
        return texts

    def text(self, locator: Any = None) -> str:
        """The visible text inside an element as one string (fragments joined by spaces)."""
        return " ".join(self.texts(locator))

    def raw_keys(self) -> list[str]:
        """Visible texts of the whole page that look like untranslated keys."""
        return [text for text in self.texts() if RAW_TRANSLATION_KEY.search(text)]

    def shot(self, name: str, locator: Any = None) -> Path:
        """A PNG of the page, or of one element of it (a dialog)."""
        path = self.screenshots / f"{name}.png"
        # Bytes written here: Playwright would write the file through its event loop's
        # executor, a thread that outlives the test (pytest-homeassistant's cleanup check).
        path.write_bytes((locator or self.page).screenshot(animations="disabled"))
        return path

    def close(self) -> None:
        """Close the context (its pages)."""
        self.page.context.close()


def _refuse(route: Any) -> None:
    route.abort()


_PROMOTE_HTTP_SETTINGS_JS = """
async () => {
  const hass = document.querySelector("home-assistant").hass;
  try {
    await hass.callWS({ type: "http/config/promote" });
    return true;
  } catch (err) {
    return false;  // no such command before 2026.x, or nothing pending
  }
}
"""


def confirm_http_settings(frontend: Frontend) -> bool:
    """Confirm Home Assistant's HTTP settings, as the frontend's Confirm button does.

    Home Assistant 2026.10 takes configuration.yaml's ``http:`` into its storage as a
    *pending* setting: the frontend asks to confirm it in a modal dialog and Home Assistant
    restarts on its default port after five minutes without an answer. True when it was
    confirmed; False on versions without the command.
    """
    confirmed: bool = frontend.page.evaluate(_PROMOTE_HTTP_SETTINGS_JS)
    return confirmed


def until(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    seen: Callable[[], str] | None = None,
    step: float = 0.25,
) -> Any:
    """Poll ``condition`` (browser reads) until truthy; the failure says what was awaited
    and, with ``seen``, what was there instead at the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            instead = f" ({seen()})" if seen else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{instead}")
        time.sleep(step)
