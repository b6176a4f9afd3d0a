"""``detect`` on the command line, and ``simulate --line-format``: real processes where it
matters (the simulated line in one, detection in another), in-process otherwise."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.reader.test_cli import invoke, start_simulator, stop, tool


@pytest.mark.parametrize(
    ("meter", "expected"),
    [
        (
            ["--standard", "dsmr", "--line-format", "115200 8N1"],
            {"standard": "dsmr", "serial": "115200 8N1", "encrypted": False, "preset": "dsmr5"},
        ),
        (
            ["--standard", "p1-dlms", "--model", "iskra-am550", "--line-format", "115200 8N1"],
            {"standard": "p1-dlms", "serial": "115200 8N1", "encrypted": True, "preset": "am550"},
        ),
    ],
    ids=["dsmr5", "am550-encrypted"],
)
def test_detect_a_meter_behind_a_simulated_line(meter: list[str], expected: dict) -> None:
    key = ["--key", "000102030405060708090A0B0C0D0E0F"] if expected["encrypted"] else []
    simulator, where = start_simulator(*meter, *key, "--pty", "--interval", "0.4")
    try:
        result = tool("detect", "--port", where, "--cadence", "1")
    finally:
        stop(simulator)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    found = json.loads(lines[0])
    assert {name: found[name] for name in expected} == expected
    assert (found["meter_id"] is None) == expected["encrypted"]
    assert "listening at 115200 8N1 and 115200 7E1 (step 1 of 7)" in result.stderr
    assert "recognised in" in result.stderr


def test_detect_says_what_it_heard_when_nothing_matched(pty_pair: tuple[int, str]) -> None:
    _master, path = pty_pair
    result = invoke("detect", "--port", path, "--cadence", "0.3")
    assert result.returncode == 1
    assert result.stdout == ""
    assert re.search(
        r"no meter recognised in \d+ s: 115200 8N1 and 115200 7E1: nothing", result.stderr
    )
    assert "Nothing arrived at all" in result.stderr


def test_detect_on_a_port_that_cannot_be_opened() -> None:
    started = time.monotonic()
    result = invoke("detect", "--port", "/dev/ttyUSB-nothing-here")
    assert time.monotonic() - started < 1.0
    assert (result.returncode, result.stdout) == (1, "")
    assert "error: cannot open the port: /dev/ttyUSB-nothing-here: no such device" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect", "--port", "/dev/null", "--budget", "0"], "--budget and --cadence must be"),
        (
            ["simulate", "--standard", "dsmr", "--tcp", "0", "--line-format", "2400 8E1"],
            "--line-format needs --pty",
        ),
        (["simulate", "--standard", "dsmr", "--pty", "--line-format", "fast"], "not a serial"),
        (
            ["simulate", "--standard", "lg-mbus", "--pty", "--model", "lg-e999"],
            "no simulated lg-mbus meter 'lg-e999' (choose from lg-e450, lg-e450-mbus)",
        ),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.returncode == 2
    assert message in result.stderr
