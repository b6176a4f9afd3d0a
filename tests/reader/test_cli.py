"""The command-line tool, run as a real process: decode, read, simulate."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from unittest.mock import patch

import pytest

from custom_components.ch_smart_meter.reader import cli
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (
    encode_telegram,
)
from custom_components.ch_smart_meter.reader.simulate.household import SWISS_TIME
from custom_components.ch_smart_meter.reader.standards import meter_specs
from tests.conftest import REPO_ROOT, capture_file
from tests.conftest import testdata_dir as capture_folder

# In-process reads connect to the simulator on 127.0.0.1.
pytestmark = pytest.mark.usefixtures("socket_enabled")

MODULE = "custom_components.ch_smart_meter.cli"
KEY = "0F0E0D0C0B0A09080706050403020100"
MOMENT = datetime(2026, 6, 17, 12, 0, 5, tzinfo=SWISS_TIME)


def tool(
    *args: str, stdin: bytes | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", MODULE, *args],
        cwd=REPO_ROOT,
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    """The tool in this process (each process start costs the integration's imports)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(args), stdout=out, stderr=err)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def invoke_with_stdin(data: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """The tool in this process, reading ``data`` as its standard input."""
    stdin = io.TextIOWrapper(io.BytesIO(data))
    with patch.object(sys, "stdin", stdin):
        return invoke(*args)


def json_lines(stdout: str) -> list[dict]:
    """Standard output must be JSON objects, one per line, and nothing else."""
    lines = stdout.splitlines()
    documents = [json.loads(line) for line in lines]
    # A sub-meter's message has its metadata next to "meter".
    assert all(
        isinstance(d, dict) and set(d) in ({"meter"}, {"meter", "submeter"}) for d in documents
    )
    return documents


def simulated_telegram(power: str = "1.234") -> bytes:
    return encode_telegram(
        {
            "1.8.1": "1234.567",
            "1.8.2": "2345.678",
            "2.8.1": "0",
            "2.8.2": "12.5",
            "1.7.0": power,
            "2.7.0": "0",
        },
        timestamp=MOMENT,
        equipment_id="E0025000000000042",
    )


# -- decode --------------------------------------------------------------------------------


def test_decode_a_capture_read_in_place() -> None:
    capture = capture_folder("dsmr") / "dsmr_parser__telegram_v5_two_mbus.txt"
    result = tool("decode", "--standard", "dsmr", str(capture))
    assert result.returncode == 0, result.stderr
    document, gas = json_lines(result.stdout)
    meter = document["meter"]
    # Values from the capture folder's MANIFEST (Iskra AM550, NL).
    assert meter["ts"] == "2020-04-26T22:33:25+02:00"
    assert meter["1.8.1"] == 2130.115 and meter["1.8.2"] == 245.467
    assert meter["1.7.0"] == 0.111 and meter["32.7.0"] == 229.9
    # The gas meter on channel 2 (channel 1 is empty), at its own time.
    assert gas["meter"] == {
        "ts": "2020-04-26T22:30:01+02:00",
        "96.1.1": "G0039001936990619",
        "24.2.1": 246.138,
    }
    assert result.stderr == ""


def test_decode_hex_text_with_any_whitespace(tmp_path: Path) -> None:
    capture = (capture_folder("dsmr") / "dsmr_parser__telegram_v5_two_mbus.txt").read_bytes()
    hex_digits = capture.hex()
    spaced = "\n".join(
        " ".join(hex_digits[i : i + 2] for i in range(j, min(j + 32, len(hex_digits)), 2))
        for j in range(0, len(hex_digits), 32)
    )
    path = tmp_path / "capture.hex"
    path.write_text(spaced + "\n")
    result = invoke("decode", "--standard", "dsmr", "--hex", str(path))
    assert result.returncode == 0, result.stderr
    raw = invoke(
        "decode",
        "--standard",
        "dsmr",
        str(capture_folder("dsmr") / "dsmr_parser__telegram_v5_two_mbus.txt"),
    )
    assert result.stdout == raw.stdout


def test_decode_an_encrypted_capture_with_its_key() -> None:
    capture = str(capture_file("dsmr", "nexxtlab__smarty_lu_sagemcom_encrypted.hex"))
    # The published test key of that capture (see the folder's MANIFEST).
    key = "D491470F47126332B07D1923B3504188"
    result = invoke("decode", "--standard", "dsmr", "--hex", "--key", key, capture)
    assert result.returncode == 0, result.stderr
    (document,) = json_lines(result.stdout)
    assert document["meter"]["1.8.0"] == 6.695 and document["meter"]["2.8.0"] == 0.025
    assert document["meter"]["ts"] == "2018-01-30T10:21:22+01:00"
    without = invoke("decode", "--standard", "dsmr", "--hex", capture)
    assert without.returncode == 1 and without.stdout == ""
    assert "rejected frame: the frame is encrypted: an encryption key is needed" in without.stderr
    wrong = invoke("decode", "--standard", "dsmr", "--hex", "--key", KEY, capture)
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "rejected frame: decryption failed" in wrong.stderr
    assert KEY not in wrong.stderr and key not in without.stderr


def test_rejected_frames_go_to_stderr_only(tmp_path: Path) -> None:
    good = simulated_telegram()
    corrupted = simulated_telegram("2.345").replace(b"02.345", b"09.345")  # CRC no longer fits
    truncated = simulated_telegram()[:200]
    path = tmp_path / "mixed.bin"
    path.write_bytes(b"\x00\xffnoise" + corrupted + good + truncated)
    result = invoke("decode", "--standard", "dsmr", str(path))
    assert result.returncode == 0
    (document,) = json_lines(result.stdout)
    assert (
        document["meter"]["1.7.0"] == 1.234 and document["meter"]["96.1.1"] == "E0025000000000042"
    )
    assert "rejected frame: checksum mismatch" in result.stderr
    assert "rejected frame: truncated frame" in result.stderr


def test_decode_from_stdin() -> None:
    result = tool("decode", "--standard", "DSMR", "-", stdin=simulated_telegram() * 3)
    assert result.returncode == 0
    assert len(json_lines(result.stdout)) == 3


def test_decode_without_any_reading_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(bytes(range(256)))
    result = invoke("decode", "--standard", "dsmr", str(path))
    assert result.returncode == 1 and result.stdout == ""
    assert "no reading decoded" in result.stderr


def test_decode_ch_smr_messages(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_text(
        '{"meter": {"ts": "2026-06-17T12:00:00+02:00", "96.1.1": "E1", "1.8.0": 12.5}}\n'
        "\n"
        "not json\n"
        '{"meter": {"ts": "2026-06-17T12:00:01Z", "42.0.0": "LGZ1", "1.7.0": 1}}\n'
    )
    result = invoke("decode", "--standard", "ch-smr", str(path))
    assert result.returncode == 0
    documents = json_lines(result.stdout)
    assert [d["meter"]["ts"] for d in documents] == [
        "2026-06-17T12:00:00+02:00",
        "2026-06-17T12:00:01+00:00",
    ]
    assert documents[1]["meter"]["42.0.0"] == "LGZ1"
    assert "rejected message (line 3): invalid CH-SMR message: not JSON" in result.stderr


# What `mosquitto_sub -v -t 'dt/#'` prints for a reader that publishes base units and names
# the meter only in the topic (as smartmeter-datacollector does).
MOSQUITTO_SUB_LINES = (
    b'dt/zev-sonnenhof/LGZ1030655933512/ds {"meter": {"ts": "2026-06-17T12:00:00+02:00", '
    b'"1.8.0": 12345678, "2.8.0": 2500, "1.7.0": 1500, "2.7.0": 0, "32.7.0": 231.2}}\n'
    b"dt/zev-sonnenhof/LGZ1030655933512/ds not json\n"
    b'dt/zev-sonnenhof/LGZ1030655933512/ds {"meter": {"ts": "2026-06-17T12:00:05+02:00", '
    b'"1.8.0": 12345680, "2.8.0": 2500, "1.7.0": 1450, "2.7.0": 0, "32.7.0": 231.0}}\n'
)


def test_decode_mosquitto_sub_output_in_base_units() -> None:
    """Topic, space, payload: the meter id comes from the topic, W and Wh become kW and kWh."""
    result = tool("decode", "--standard", "ch-smr", "--units", "W", "-", stdin=MOSQUITTO_SUB_LINES)
    assert result.returncode == 0, result.stderr
    first, second = (document["meter"] for document in json_lines(result.stdout))
    assert first["96.1.1"] == second["96.1.1"] == "LGZ1030655933512"
    assert (first["1.8.0"], first["2.8.0"], first["1.7.0"]) == (12345.678, 2.5, 1.5)
    assert first["32.7.0"] == 231.2  # volts are volts in either unit choice
    assert (second["1.8.0"], second["1.7.0"]) == (12345.68, 1.45)
    assert "rejected message (line 2): invalid CH-SMR message: not JSON" in result.stderr


def test_decode_mosquitto_sub_output_in_recommended_units() -> None:
    """Without --units the values are the recommendation's kW and kWh, as the flow's default."""
    result = invoke_with_stdin(MOSQUITTO_SUB_LINES, "decode", "--standard", "ch-smr", "-")
    assert json_lines(result.stdout)[0]["meter"]["1.8.0"] == 12345678


def test_decode_from_a_pipe_prints_each_reading_as_it_arrives() -> None:
    """A pipe from mosquitto_sub never ends: each message is printed before the next comes."""
    process = subprocess.Popen(
        [sys.executable, "-m", MODULE, "decode", "--standard", "ch-smr", "--units", "W", "-"],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(MOSQUITTO_SUB_LINES.splitlines(keepends=True)[0])
        process.stdin.flush()
        line = process.stdout.readline()  # with the pipe still open
        assert json.loads(line)["meter"]["1.7.0"] == 1.5
    finally:
        process.stdin.close()
        assert process.wait(timeout=30) == 0


def test_units_only_for_ch_smr() -> None:
    result = invoke("decode", "--standard", "dsmr", "--units", "W", "whatever.bin")
    assert result.returncode == 2 and "--units applies to --standard ch-smr only" in result.stderr


# -- usage errors -------------------------------------------------------------------------


def test_unknown_standard_lists_the_implemented_ones() -> None:
    result = invoke("decode", "--standard", "sml", "whatever.bin")
    assert result.returncode == 2 and result.stdout == ""
    implemented = [spec.standard.value for spec in meter_specs()]
    assert "unknown standard 'sml'" in result.stderr
    for name in [*implemented, "ch-smr"]:
        assert name in result.stderr


def test_malformed_key_is_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    path.write_bytes(simulated_telegram())
    secret = "C0FFEE15600D0000DEADBEEF1234"  # 28 digits: too short
    result = invoke("decode", "--standard", "dsmr", "--key", secret, str(path))
    assert result.returncode == 2
    assert "--key: a key must be 32 hexadecimal characters (16 bytes)" in result.stderr
    assert secret not in result.stderr and secret not in result.stdout


def test_missing_file_and_bad_arguments() -> None:
    result = invoke("decode", "--standard", "dsmr", "/nonexistent/capture.bin")
    assert result.returncode == 2 and "cannot read /nonexistent/capture.bin" in result.stderr
    assert invoke("decode").returncode == 2
    assert invoke("simulate", "--standard", "dsmr").returncode == 2  # --pty or --tcp needed
    for command in (["read", "--port", "/dev/null"], ["simulate", "--tcp", "0"]):
        result = invoke(command[0], "--standard", "ch-smr", *command[1:])
        assert result.returncode == 2 and "ch-smr is not read from a port" in result.stderr


def test_main_in_process_for_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--standard", "dsmr", "--key", "xyz", "-"]) == 2
    assert "--key: a key must be 32 hexadecimal characters" in capsys.readouterr().err
    assert cli.main(["--help"]) == 0


# -- simulate and read, end to end ---------------------------------------------------------


def _interruptible() -> None:
    # A shell without job control starts background commands with SIGINT ignored (POSIX),
    # and children inherit that: the simulator must get Ctrl-C as a terminal would send
    # it even when the test run itself was started in the background.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_simulator(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", MODULE, "simulate", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,  # noqa: PLW1509 - one signal call, no locks
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    match = re.match(r"listening on (\S+)", line)
    assert match, line + (process.stderr.read() if process.poll() is not None else "")
    return process, match[1]


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(10)
    finally:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_simulate_tcp_and_read_it() -> None:
    simulator, url = start_simulator(
        "--standard", "dsmr", "--tcp", "0", "--interval", "0.05", "--seed", "3"
    )
    try:
        assert url.startswith("socket://127.0.0.1:")
        result = tool(
            "read", "--standard", "dsmr", "--port", url, "--count", "3", "--timeout", "20"
        )
        assert result.returncode == 0, result.stderr
        documents = json_lines(result.stdout)
        assert len(documents) == 3
        assert len({d["meter"]["96.1.1"] for d in documents}) == 1
        assert "connected: " + url in result.stderr
        # Two clients at once (like ser2net with max-connections > 1).
        again = invoke(
            "read",
            "--standard",
            "dsmr",
            "--port",
            url.removeprefix("socket://"),
            "--count",
            "1",
            "--timeout",
            "20",
        )
        assert again.returncode == 0 and len(json_lines(again.stdout)) == 1
    finally:
        assert stop(simulator) == 0


def test_simulate_encrypted_on_a_pty_and_read_it() -> None:
    simulator, path = start_simulator(
        "--standard", "dsmr", "--pty", "--interval", "0.05", "--key", KEY, "--count", "400"
    )
    try:
        assert os.path.exists(path)
        result = tool(
            "read",
            "--standard",
            "dsmr",
            "--port",
            path,
            "--key",
            KEY,
            "--count",
            "2",
            "--timeout",
            "20",
        )
        assert result.returncode == 0, result.stderr
        assert len(json_lines(result.stdout)) == 2
        denied = invoke(
            "read", "--standard", "dsmr", "--port", path, "--count", "1", "--timeout", "1"
        )
        assert denied.returncode == 1 and denied.stdout == ""
        assert (
            "rejected frame: the frame is encrypted: an encryption key is needed" in denied.stderr
        )
        assert KEY not in result.stderr
    finally:
        stop(simulator)


def test_simulate_stops_after_count() -> None:
    simulator, _ = start_simulator(
        "--standard", "dsmr", "--tcp", "0", "--interval", "0.01", "--count", "5"
    )
    assert simulator.wait(10) == 0
    stop(simulator)


def test_simulate_replays_a_capture() -> None:
    capture = capture_file("dsmr", "nexxtlab__smarty_lu_sagemcom_encrypted.hex")
    simulator, url = start_simulator(
        "--standard", "dsmr", "--tcp", "0", "--interval", "0.05", "--replay", str(capture), "--hex"
    )
    try:
        result = tool(
            "read",
            "--standard",
            "dsmr",
            "--port",
            url,
            "--key",
            "D491470F47126332B07D1923B3504188",
            "--count",
            "1",
            "--timeout",
            "20",
        )
        assert result.returncode == 0, result.stderr
        (document,) = json_lines(result.stdout)
        assert document["meter"]["1.8.0"] == 6.695
    finally:
        stop(simulator)


def test_read_gives_up_after_timeout_without_data() -> None:
    result = invoke(
        "read", "--standard", "dsmr", "--port", "/dev/ttyUSB-not-there", "--timeout", "0.5"
    )
    assert result.returncode == 1 and result.stdout == ""
    assert (
        "connection lost: cannot open the port: /dev/ttyUSB-not-there: no such device"
        in result.stderr
    )


def test_simulate_without_a_model_needs_replay() -> None:
    from custom_components.ch_smart_meter.reader.simulate.meters import available_standards  # noqa: PLC0415

    implemented = {spec.standard for spec in meter_specs()}
    without_model = [s for s in implemented if s not in available_standards()]
    if not without_model:
        pytest.skip("every implemented standard has a simulated meter")
    result = invoke("simulate", "--standard", without_model[0].value, "--tcp", "0")
    assert result.returncode == 2 and "--replay" in result.stderr
