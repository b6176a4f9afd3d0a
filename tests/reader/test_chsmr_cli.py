"""``decode --standard ch-smr``: CH-SMR messages of other readers, one per line, decoded
exactly; a broken line in the middle is rejected on its own (standard error)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from custom_components.ch_smart_meter.reader.cli import main

REPO = Path(__file__).resolve().parents[2]

# What different readers publish: offsets in several spellings, integers, metadata inside
# and outside "meter", unknown codes, the id only in 42.0.0.
LINES = [
    '{"meter": {"ts": "2026-06-27T12:05:10Z", "96.1.1": "CH1", "1.8.0": 12345.67, "1.7.0": 1.234}}',
    '{"meter": {"ts": "2026-06-27T14:05:20+0200", "96.1.1": "CH1", "1.8.0": 12346, "32.7.0": 231}}',
    "this line is not JSON",
    '{"meter": {"ts": "2026-06-27T13:05:30.250+01:00", "42.0.0": "LGZ1", "2.7.0": 0.5,'
    ' "99.1.0": 3, "fw": "1.2"}, "vendor": {"name": "x"}}',
    '{"meter": {"96.1.1": "CH1", "1.7.0": 1.0}}',
    '{"meter": {"ts": "2026-06-27T14:05:40+02:00", "96.1.1": "CH1", "1.7.0": "1.0"}}',
    "",
    '{"meter": {"ts": "2026-06-27 14:05:50+02:00", "96.1.1": "CH1", "31.7.0": 2.64}}',
]

EXPECTED = [
    {
        "meter": {
            "ts": "2026-06-27T12:05:10+00:00",
            "96.1.1": "CH1",
            "1.8.0": 12345.67,
            "1.7.0": 1.234,
        }
    },
    {
        "meter": {
            "ts": "2026-06-27T14:05:20+02:00",
            "96.1.1": "CH1",
            "1.8.0": 12346.0,
            "32.7.0": 231.0,
        }
    },
    {
        "meter": {
            "ts": "2026-06-27T13:05:30.250+01:00",
            "42.0.0": "LGZ1",
            "2.7.0": 0.5,
            "99.1.0": 3.0,
        }
    },
    {"meter": {"ts": "2026-06-27T14:05:50+02:00", "96.1.1": "CH1", "31.7.0": 2.64}},
]


def test_decode_ch_smr_lines(tmp_path: Path) -> None:
    """Exact values and offsets; each broken line named on stderr, the others decoded."""
    capture = tmp_path / "messages.jsonl"
    capture.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["decode", "--standard", "ch-smr", str(capture)], stdout=out, stderr=err) == 0
    assert [json.loads(line) for line in out.getvalue().splitlines()] == EXPECTED
    # Key order of the output: ts, the id, then the values.
    assert out.getvalue().splitlines()[0] == (
        '{"meter":{"ts":"2026-06-27T12:05:10+00:00","96.1.1":"CH1","1.8.0":12345.67,"1.7.0":1.234}}'
    )
    rejected = err.getvalue().splitlines()
    assert len(rejected) == 3
    assert rejected[0].startswith("rejected message (line 3): ")
    assert "not JSON" in rejected[0]
    assert rejected[1].startswith("rejected message (line 5): ") and "ts" in rejected[1]
    assert rejected[2].startswith("rejected message (line 6): ") and "non-numeric" in rejected[2]


def test_decode_ch_smr_nothing_valid_exits_1(tmp_path: Path) -> None:
    """Only broken lines: exit code 1 and a closing note."""
    capture = tmp_path / "broken.jsonl"
    capture.write_text("{}\nnope\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["decode", "--standard", "ch-smr", str(capture)], stdout=out, stderr=err) == 1
    assert out.getvalue() == ""
    assert err.getvalue().splitlines()[-1] == "no reading decoded"


def test_decode_ch_smr_from_standard_input() -> None:
    """A pipe: ``mosquitto_sub -t 'dt/#' | python -m ... decode --standard ch-smr -``."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "custom_components.ch_smart_meter.reader",
            "decode",
            "--standard",
            "ch-smr",
            "-",
        ],
        input="\n".join(LINES).encode(),
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.decode().splitlines()] == EXPECTED
    assert done.stderr.decode().count("rejected message") == 3
