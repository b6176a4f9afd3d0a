"""hassfest-like checks (hassfest itself cannot run here): manifest, translations, icons,
dependencies, quality scale, HACS metadata. Each test names the hassfest rule it mirrors.
"""

from __future__ import annotations

import ast
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from awesomeversion import AwesomeVersion

from custom_components.ch_smart_meter import config_flow, const, detect_flow, sensor
from custom_components.ch_smart_meter.const import DOMAIN
from custom_components.ch_smart_meter.reader.detect_report import Finding
from custom_components.ch_smart_meter.reader.errors import InvalidKey
from custom_components.ch_smart_meter.reader.mep.keys import InvalidMepKey
from custom_components.ch_smart_meter.reader.model import SubMeterKind
from custom_components.ch_smart_meter.reader.session import PROBE_ERRORS
from custom_components.ch_smart_meter.reader.standards import meter_specs

INTEGRATION = Path(config_flow.__file__).parent
REPO = INTEGRATION.parent.parent
LANGUAGES = ("en", "de", "fr", "it")
# hassfest translations.py: lower-case words separated by single - or _.
TRANSLATION_KEY = re.compile(r"^[a-z0-9]+([-_][a-z0-9]+)*$")
REQUIREMENT = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?([<>=!~]=?[A-Za-z0-9.*]+,?)*$"
)
IOT_CLASSES = {
    "assumed_state",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
    "calculated",
}
INTEGRATION_TYPES = {"device", "entity", "hardware", "helper", "hub", "service", "system"}
MANIFEST_KEYS = {
    "domain",
    "name",
    "integration_type",
    "config_flow",
    "mqtt",
    "zeroconf",
    "ssdp",
    "bluetooth",
    "homekit",
    "dhcp",
    "usb",
    "documentation",
    "quality_scale",
    "requirements",
    "dependencies",
    "after_dependencies",
    "codeowners",
    "loggers",
    "disabled",
    "iot_class",
    "single_config_entry",
    "version",
    "issue_tracker",
    "import_executor",
}
# developers.home-assistant _includes/tiers.json (August 2026).
QUALITY_RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "docs-conditions",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}


def _json(name: str) -> Any:
    return json.loads((INTEGRATION / name).read_text(encoding="utf-8"))


def _flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], data


def _keys(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from _keys(value)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _integration_sources() -> list[Path]:
    """The integration's own modules (the reader library never imports Home Assistant)."""
    return sorted(INTEGRATION.glob("*.py"))


# ------------------------------------------------------------------ manifest, HACS


def test_manifest() -> None:
    """hassfest manifest.py (custom schema): required keys, values, key order."""
    manifest = _json("manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:]), "Manifest keys are not sorted correctly"
    assert set(keys) <= MANIFEST_KEYS
    assert manifest["domain"] == DOMAIN == INTEGRATION.name
    assert manifest["config_flow"] is True and (INTEGRATION / "config_flow.py").is_file()
    assert manifest["iot_class"] == "local_push" and manifest["iot_class"] in IOT_CLASSES
    assert manifest["integration_type"] in INTEGRATION_TYPES
    assert manifest["integration_type"] == "device"  # "Add device": a meter reader
    for url_key in ("documentation", "issue_tracker"):
        assert manifest[url_key].startswith("https://")
        assert "home-assistant.io/integrations" not in manifest[url_key]
    assert manifest["codeowners"] and all(owner.startswith("@") for owner in manifest["codeowners"])
    assert AwesomeVersion(manifest["version"]).valid
    assert manifest["after_dependencies"] == ["mqtt"]
    for requirement in manifest["requirements"]:
        assert " " not in requirement and REQUIREMENT.match(requirement), requirement
        assert not requirement.lower().startswith("pyserial-asyncio")  # forbidden by hassfest


# USB serial chips of P1 cables and M-Bus adapters: generic, so each matcher names the
# product too (hassfest: vid/pid upper case, texts lower case).
USB_CHIPS = {("0403", "6001"), ("10C4", "EA60"), ("1A86", "7523"), ("067B", "2303")}


def test_usb_matchers() -> None:
    """hassfest usb rules: upper-case ids, lower-case texts; generic chips need a text."""
    matchers = _json("manifest.json")["usb"]
    assert {(m["vid"], m["pid"]) for m in matchers} == USB_CHIPS
    for matcher in matchers:
        assert matcher["vid"] == matcher["vid"].upper() and matcher["pid"] == matcher["pid"].upper()
        assert matcher["description"] == matcher["description"].lower(), matcher
        assert set(matcher) <= {"vid", "pid", "description", "manufacturer", "known_devices"}


def test_every_json_file_parses() -> None:
    """hassfest json.py."""
    for path in INTEGRATION.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_hacs_and_brand() -> None:
    """hacs.json for HACS; a local brand icon (PNG, square)."""
    hacs = json.loads((REPO / "hacs.json").read_text(encoding="utf-8"))
    assert hacs["name"] and hacs["country"] == "CH"
    assert AwesomeVersion(hacs["homeassistant"]) == AwesomeVersion("2025.4.0")
    icon = (INTEGRATION / "brand" / "icon.png").read_bytes()
    assert icon[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(icon[16:20], "big"), int.from_bytes(icon[20:24], "big")
    assert width == height == 256


# ------------------------------------------------------------------ code rules


def _component_imports(path: Path) -> set[str]:
    """homeassistant.components.X imported outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "homeassistant.components":
                names = [f"homeassistant.components.{alias.name}" for alias in node.names]
        for name in names:
            if name.startswith("homeassistant.components."):
                found.add(name.split(".")[2])
    return found


def test_component_imports_are_declared() -> None:
    """hassfest dependencies.py: every component imported is declared or a platform of ours."""
    manifest = _json("manifest.json")
    allowed = set(manifest.get("dependencies", [])) | set(manifest.get("after_dependencies", []))
    allowed |= {path.stem for path in _integration_sources()}  # sensor.py, diagnostics.py...
    for path in _integration_sources():
        undeclared = _component_imports(path) - allowed
        assert not undeclared, f"{path.name} imports undeclared components {undeclared}"


def test_platforms_set_parallel_updates() -> None:
    """Quality scale parallel-updates: every entity platform sets PARALLEL_UPDATES."""
    from custom_components.ch_smart_meter import PLATFORMS  # noqa: PLC0415

    for platform in PLATFORMS:
        source = (INTEGRATION / f"{platform.value}.py").read_text(encoding="utf-8")
        assert re.search(r"^PARALLEL_UPDATES = 0$", source, re.MULTILINE), platform


def test_no_services_and_config_schema() -> None:
    """hassfest services.py / config_schema.py: no services; async_setup has CONFIG_SCHEMA."""
    for path in _integration_sources():
        source = path.read_text(encoding="utf-8")
        assert "services.async_register" not in source, path.name
        assert "_attr_icon" not in source, path.name  # icons come from icons.json
    init = ast.parse((INTEGRATION / "__init__.py").read_text(encoding="utf-8"))
    functions = {node.name for node in init.body if isinstance(node, ast.AsyncFunctionDef)}
    assigned = {
        target.id
        for node in init.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    if "async_setup" in functions:
        assert "CONFIG_SCHEMA" in assigned, "async_setup needs CONFIG_SCHEMA (hassfest)"


# ------------------------------------------------------------------ translations


def test_strings_and_english_translation_are_identical() -> None:
    """Custom integrations ship translations/en.json; strings.json is the same text."""
    assert _json("strings.json") == _json("translations/en.json")


@pytest.mark.parametrize("language", LANGUAGES)
def test_translation_rules(language: str) -> None:
    """hassfest translations.py: key format, no HTML, no surrounding spaces, no quoted placeholders."""
    data = _json(f"translations/{language}.json")
    for key in _keys(data):
        assert TRANSLATION_KEY.match(key), f"invalid translation key {key!r}"
    for path, text in _flatten(data):
        assert isinstance(text, str) and text, path
        assert text == text.strip(), f"{path}: leading or trailing spaces"
        assert not re.search(r"<[a-zA-Z/]", text), f"{path}: HTML"
        assert not re.search(r"'\{\w+\}'", text), f"{path}: placeholder in single quotes"
        assert "[%key:" not in text, f"{path}: references are for core only"
    for section in ("config", "options"):
        for step_id, step in data[section]["step"].items():
            assert set(step.get("data_description", {})) <= set(step.get("data", {})), step_id
            assert set(step.get("data", {})) == set(step.get("data_description", {})), (
                f"{step_id}: every field needs a data_description"
            )
    for issue in data["issues"].values():
        # hassfest: a title, and a description or a fix flow.
        assert "title" in issue and ("description" in issue or "fix_flow" in issue)


@pytest.mark.parametrize("language", LANGUAGES[1:])
def test_translations_are_complete(language: str) -> None:
    """Every language has every English key, nothing more, and the same placeholders."""
    english = dict(_flatten(_json("translations/en.json")))
    other = dict(_flatten(_json(f"translations/{language}.json")))
    assert set(other) == set(english)
    for path, text in english.items():
        assert _placeholders(other[path]) == _placeholders(text), path


def test_translations_cover_the_code() -> None:
    """Every step, error, abort, selector, entity, issue and exception the code uses has text."""
    en = _json("translations/en.json")
    source = (INTEGRATION / "config_flow.py").read_text(encoding="utf-8")
    # The CH-SMR steps (issue #4) live in chsmr_flow.py and republish_flow.py.
    chsmr_source = (INTEGRATION / "chsmr_flow.py").read_text(encoding="utf-8")
    chsmr_source += (INTEGRATION / "republish_flow.py").read_text(encoding="utf-8")
    chsmr_source += (INTEGRATION / "options_flow.py").read_text(encoding="utf-8")
    # The reauthentication (issue #12) lives in reauth_flow.py.
    reauth_source = (INTEGRATION / "reauth_flow.py").read_text(encoding="utf-8")
    reauth_forms = {"reauth_confirm", "reauth_key_required", "reauth_mep_key"}
    assert reauth_forms == set(re.findall(r'return "(reauth_\w+)"', reauth_source))
    for step in (*reauth_forms, "reauth", "reauth_check", "reauth_end"):
        assert hasattr(config_flow.ChSmartMeterConfigFlow, f"async_step_{step}"), step
    forms = set(re.findall(r'(?<!next_)step_id="(\w+)"', source)) - {"probe", "init", "detect_run"}
    forms |= {"serial_format", "serial_manual", "standard", "demo", "usb_confirm"} | reauth_forms
    assert forms <= set(en["config"]["step"]), forms - set(en["config"]["step"])
    # The menus: their options are steps, each with its text.
    menus = {
        "user": ["detect", "standard", "demo", "chsmr"],
        "reconfigure": ["detect", "standard"],
        "connection": ["serial", "network", "url"],
    }
    for menu, options in menus.items():
        assert list(en["config"]["step"][menu]["menu_options"]) == options, menu
        assert f'"{options[-1]}"' in source, menu
    flow = config_flow.ChSmartMeterConfigFlow
    for step in (
        *{option for options in menus.values() for option in options},
        "serial_manual",
        "serial_format",
        "keys",
        "mep_key",
        "probe",
        "finish",
        "probe_failed",
        "detect_run",
        "detect_done",
        "detect_failed",
        "usb",
        "usb_confirm",
    ):
        assert hasattr(flow, f"async_step_{step}"), step
    # The flow shows the reason code of what the live check raised (a port that does not
    # open by its cause), and its own few errors; detection's explanations by finding.
    errors = {error.reason for error in PROBE_ERRORS} | {InvalidKey.reason, InvalidMepKey.reason}
    errors |= detect_flow.PORT_ERROR_KEYS
    errors |= {f"detect_{finding.value}" for finding in Finding}
    errors |= {"invalid_url", config_flow.ERROR_UNKNOWN, config_flow.ERROR_AUTHENTICATION_KEY}
    errors |= {"invalid_topic_filter", "only_republished", "no_meters", "invalid_messages"}
    assert errors == set(en["config"]["error"])
    aborts = set(re.findall(r'reason="(\w+)"', source + chsmr_source + reauth_source))
    aborts |= {"already_configured"}
    assert aborts == set(en["config"]["abort"])
    assert set(en["config"]["progress"]) == {
        "probe",
        "chsmr_listen",
        detect_flow.PROGRESS_LISTEN,
        detect_flow.PROGRESS_ASK,
    }
    assert set(en["options"]["step"]["init"]["data"]) == {
        "update_interval",
        "poll_interval",
        "profile",
        "source_units",
        "low_tariff",
    }
    assert {"republish", "republish_preview", "republish_unavailable"} <= set(en["options"]["step"])
    selectors = set(re.findall(r"translation_key=(CONF_\w+)", source + chsmr_source))
    selectors |= set(re.findall(r"_select\(\s*list\(\w+\),\s*(CONF_\w+)", source))
    assert {getattr(config_flow, name, None) or getattr(const, name) for name in selectors} == set(
        en["selector"]
    )
    assert set(en["selector"]["parity"]["options"]) == set(config_flow.PARITIES)
    assert set(en["selector"]["stopbits"]["options"]) == set(config_flow.STOPBITS)
    assert set(en["selector"]["bytesize"]["options"]) == set(config_flow.BYTESIZES)
    assert set(en["selector"]["next"]["options"]) == set(config_flow.NEXT_CHOICES)
    # Every standard read from a port and every serial preset is named by the translations;
    # a preset's name starts with its format, which says the same in every language.
    assert set(en["selector"]["standard"]["options"]) == {s.standard.value for s in meter_specs()}
    presets = {preset.id: preset for spec in meter_specs() for preset in spec.serial_presets}
    assert len(presets) == sum(len(spec.serial_presets) for spec in meter_specs())  # unique ids
    assert set(en["selector"]["serial_preset"]["options"]) == {*presets, config_flow.PRESET_CUSTOM}
    for language in LANGUAGES:
        names = _json(f"translations/{language}.json")["selector"]["serial_preset"]["options"]
        for preset_id, preset in presets.items():
            assert names[preset_id].startswith(preset.settings.describe()), (language, preset_id)
    entity_keys = {d.translation_key for d in (sensor.SENSORS | sensor.EXTRA_SENSORS).values()}
    entity_keys |= {sensor.LAST_READING.translation_key, sensor.FRAMES_REJECTED.translation_key}
    assert entity_keys == set(en["entity"]["sensor"])
    # Sub-meter devices are named by their kind.
    assert set(en["device"]) == {f"{kind.value}_meter" for kind in SubMeterKind}
    assert en["entity"]["sensor"]["tariff"]["state"].keys() == set(sensor.TARIFF_STATES)
    coordinator_source = (INTEGRATION / "coordinator.py").read_text(encoding="utf-8")
    init_source = (INTEGRATION / "__init__.py").read_text(encoding="utf-8")
    # A rejected key starts Home Assistant's reauthentication, which has its own issue.
    assert set(en["issues"]) == {"mqtt_missing", "meter_replaced"}
    assert set(en["exceptions"]) == {"cannot_connect", "unknown_standard", "mqtt_unavailable"}
    assert '"cannot_connect"' in coordinator_source and '"unknown_standard"' in init_source


# ------------------------------------------------------------------ icons, quality scale


def test_icons() -> None:
    """hassfest icons.py: mdi icons, for translation keys that exist."""
    icons = _json("icons.json")
    entities = _json("translations/en.json")["entity"]["sensor"]
    assert set(icons) == {"entity"}
    assert set(icons["entity"]["sensor"]) == set(entities)
    for key, icon in icons["entity"]["sensor"].items():
        assert set(icon) == {"default"}, key
        assert re.match(r"^mdi:[a-z0-9-]+$", icon["default"]), key


def test_quality_scale_file() -> None:
    """quality_scale.yaml format (hassfest quality_scale.py): every rule, exemptions explained."""
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text(encoding="utf-8"))[
        "rules"
    ]
    expected = [rule for tier in QUALITY_RULES.values() for rule in tier]
    assert sorted(rules) == sorted(expected)
    for rule, value in rules.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "todo", "exempt"}, rule
        if status == "exempt":
            assert value["comment"], rule
