"""The command-line tool's output on every capture of ../shared/testdata does not change
unnoticed: exit code, standard output and standard error of each case, by digest (without
../shared: of the redistributable captures copied into tests/captures).

A deliberate change of what the tool prints (a new value in the payload, a better message)
regenerates the digests: ``.venv-ha2025/bin/python scripts/cli_corpus.py --digests >
tests/reader/cli_corpus.sha256.json``; ``scripts/cli_corpus.py --compare`` on a full output
saved before the change shows what changed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, TESTDATA
from tests.conftest import testdata_dir as capture_folder

capture_folder("dsmr")  # skips the module without any captures
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import cli_corpus  # noqa: E402

EXPECTED = Path(__file__).with_name("cli_corpus.sha256.json")


def test_cli_output_on_every_capture_is_unchanged() -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    actual = cli_corpus.digests(cli_corpus.run_corpus())
    if not TESTDATA.is_dir():
        # Only the redistributable captures (tests/captures): each as before.
        expected = {name: digest for name, digest in expected.items() if name in actual}
        assert len(actual) > 30
    changed = sorted(
        name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name)
    )
    assert changed == []
    assert len(actual) > 150 or not TESTDATA.is_dir()  # every capture folder was read
