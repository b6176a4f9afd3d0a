"""Run a real Home Assistant for scripts/develop and scripts/cost: configuration, start, login.

Standard library only, so any Python can import it. Home Assistant's own storage formats are
used only where HA migrates them itself (a version-1.1 config entry store); everything else
(the owner user, logins, states) goes through HA's HTTP API, as a person's browser would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# Onboarding steps that scripts mark done in advance. The remaining "user" step is done
# through the API (it creates the owner properly); the "core_config" step would otherwise
# start config flows for met, radio_browser... and install their packages.
PREDONE_ONBOARDING_STEPS = ("core_config", "analytics", "integration")

# configuration.yaml's homeassistant: section: a Swiss home, so no repair asks for it.
CORE_CONFIG = """\
homeassistant:
  name: {name}
  latitude: 46.948
  longitude: 7.447
  elevation: 540
  unit_system: metric
  currency: CHF
  country: CH
  time_zone: Europe/Zurich
  language: en
"""

# A lean set instead of default_config: what sensors, the energy dashboard and the
# integration's pages need, without integrations that need hardware or install packages
# at start-up (bluetooth, go2rtc, cloud...).
LEAN_INTEGRATIONS = """\
frontend:
config:
api:
energy:
history:
logbook:
system_health:
"""


@dataclass(frozen=True, slots=True)
class ConfigEntrySeed:
    """A config entry written into a fresh configuration before the first start."""

    domain: str
    title: str
    data: Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)
    unique_id: str | None = None
    version: int = 1
    minor_version: int = 1


def write_configuration(
    config_dir: Path,
    *,
    name: str,
    port: int,
    recorder: str,
    logger: str,
    entries: Sequence[ConfigEntrySeed] = (),
    link_custom_components: bool = True,
    custom_components: Path | None = None,
) -> None:
    """Write configuration.yaml and the seed storage files of a new configuration directory."""
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        CORE_CONFIG.format(name=name)
        + f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        + LEAN_INTEGRATIONS
        + recorder
        + logger,
        encoding="utf-8",
    )
    if link_custom_components:
        # This repository's integration, or another checkout's (scripts/cost compares them).
        source = custom_components or REPO_ROOT / "custom_components"
        link = config_dir / "custom_components"
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(source, config_dir))
    _write_store(
        storage / "onboarding",
        "onboarding",
        version=4,
        minor_version=1,
        data={"done": list(PREDONE_ONBOARDING_STEPS)},
    )
    if entries:
        _write_store(
            storage / "core.config_entries",
            "core.config_entries",
            version=1,
            minor_version=1,  # HA migrates it to its current layout on load
            data={"entries": [_entry_dict(seed, index) for index, seed in enumerate(entries)]},
        )


def _entry_dict(seed: ConfigEntrySeed, index: int) -> dict[str, Any]:
    return {
        "entry_id": f"{seed.domain}{index:02d}seed{int(time.time()):x}"[:26].upper(),
        "version": seed.version,
        "minor_version": seed.minor_version,
        "domain": seed.domain,
        "title": seed.title,
        "data": dict(seed.data),
        "options": dict(seed.options),
        "source": "user",
        "unique_id": seed.unique_id,
        "disabled_by": None,
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
    }


def _write_store(
    path: Path, key: str, *, version: int, minor_version: int, data: dict[str, Any]
) -> None:
    payload = {"version": version, "minor_version": minor_version, "key": key, "data": data}
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_hass(
    python: Path, config_dir: Path, *, log_file: Path | None = None, skip_pip: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``hass`` on a configuration directory; its output goes to log_file or ours."""
    command = [str(python), "-m", "homeassistant", "--config", str(config_dir)]
    if skip_pip:
        command.append("--skip-pip")
    output = log_file.open("ab") if log_file else None
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        cwd=config_dir,  # not the repository: python -m would put its custom_components on sys.path
        start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop hass ourselves
    )


def stop_hass(process: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """Stop hass the way a service manager does (SIGTERM, then SIGKILL after a timeout)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class HomeAssistantApi:
    """The HTTP API of a running Home Assistant on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client_id = f"{self.base}/"
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        form: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """One request; JSON in and out. Raises urllib.error.HTTPError on a 4xx/5xx."""
        headers = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def wait_until_up(self, process: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
        """Wait until the HTTP server answers (HA opens it once start-up is done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"hass exited with status {process.returncode} while starting")
            try:
                # Served without login whether or not onboarding is done.
                self.request("GET", "/auth/providers", timeout=5)
                return
            except urllib.error.HTTPError:
                return  # it answers
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        raise RuntimeError(f"Home Assistant did not answer on {self.base} within {timeout:.0f} s")

    def needs_owner(self) -> bool:
        """True until the onboarding "user" step (owner account) is done."""
        try:
            steps = self.request("GET", "/api/onboarding")
        except urllib.error.HTTPError as err:
            if err.code == HTTPStatus.NOT_FOUND:  # onboarding finished: its views are gone
                return False
            raise
        return any(step["step"] == "user" and not step["done"] for step in steps)

    def create_owner(self, name: str, username: str, password: str) -> None:
        """Create the owner account through onboarding, then hold a token for it."""
        answer = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
        )
        self._exchange_code(answer["auth_code"])

    def login(self, username: str, password: str) -> None:
        """Log in as a person does (the login flow of the login page), then hold a token."""
        flow = self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )
        result = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"login refused: {result.get('errors')}")
        self._exchange_code(result["result"])

    def _exchange_code(self, code: str) -> None:
        self.token = None
        tokens = self.request(
            "POST",
            "/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        )
        self.token = tokens["access_token"]

    def render(self, template: str) -> str:
        """Render a template on the server (POST /api/template)."""
        request = urllib.request.Request(
            self.base + "/api/template",
            data=json.dumps({"template": template}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text: str = response.read().decode()
        return text

    def integration_entities(self, domain: str) -> list[str]:
        """The entity ids an integration has created."""
        return list(
            json.loads(self.render(f"{{{{ integration_entities('{domain}') | to_json }}}}"))
        )

    def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """Config entries of a domain with their state (loaded, setup_error...)."""
        entries = self.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        return list(entries)
