"""The command-line tool's output on every capture of ../shared/testdata, as one JSON document.

    .venv-ha2025/bin/python scripts/cli_corpus.py > outputs.json
    .venv-ha2025/bin/python scripts/cli_corpus.py --compare outputs.json

For each capture file it runs ``decode`` (in this process, as ``cli.main``) with the
standard and keys the capture needs (from the test tables; files no table names are
decoded with every standard of their folder, without a key) and records the exit code,
standard output and standard error. ``--compare`` prints the cases whose output differs
from an earlier run and exits 1 if any does: the proof that a refactoring changed nothing a
user of the tool sees. Times stamped from the host clock (telegrams without a time) are
replaced by ``<host time>``, the only part that differs between runs.

``tests/reader/test_cli_corpus.py`` checks the digest of every case against
``tests/reader/cli_corpus.sha256.json`` (digests, not outputs: some captures' licences do
not allow redistributing what they contain).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# ../shared/testdata, or without it the redistributable captures copied into tests/captures.
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"
CAPTURE_ROOT = TESTDATA if TESTDATA.is_dir() else REPO_ROOT / "tests" / "captures"
sys.path.insert(0, str(REPO_ROOT))

# Standards tried on capture files that no test table names, per folder.
FOLDER_STANDARDS = {
    "dsmr": ("dsmr",),
    "dlms_lg": ("lg-mbus", "p1-dlms"),
    "dlms_kamstrup": ("kamstrup-dlms",),
    "dlms_other": ("p1-dlms", "lg-mbus", "kamstrup-dlms"),
    "chsmr": ("ch-smr",),
}
_TIMESTAMP = re.compile(r'"ts":"([^"]+)"')


def _cases() -> Iterator[tuple[str, list[str]]]:
    """(case name, decode arguments) for every capture file."""
    from tests.reader.dlms_corpus import CAPTURES  # noqa: PLC0415
    from tests.reader.test_dsmr_encrypted import ENVELOPES  # noqa: PLC0415

    named: dict[str, list[tuple[str, list[str]]]] = {}
    for capture in CAPTURES:
        keys = [*(["--key", capture.key] if capture.key else [])]
        keys += ["--auth-key", capture.auth_key] if capture.auth_key else []
        named.setdefault(f"{capture.folder}/{capture.name}", []).append(
            (capture.standard.value, keys)
        )
    for envelope in ENVELOPES:
        named.setdefault(f"dsmr/{envelope.file}", []).append(("dsmr", ["--key", envelope.key]))
    for folder, standards in FOLDER_STANDARDS.items():
        if not (CAPTURE_ROOT / folder).is_dir():
            continue
        for path in sorted((CAPTURE_ROOT / folder).iterdir()):
            if path.name in ("MANIFEST.md", "NOTICE"):
                continue
            relative = f"{folder}/{path.name}"
            variants = named.get(relative) or [(standard, []) for standard in standards]
            hex_text = ["--hex"] if path.suffix == ".hex" else []
            for standard, keys in variants:
                name = f"{relative} {standard}{' key' if keys else ''}"
                yield name, ["decode", "--standard", standard, *hex_text, *keys, str(path)]


def _mask_host_times(text: str) -> str:
    now = datetime.now(UTC)

    def replace(match: re.Match[str]) -> str:
        try:
            moment = datetime.fromisoformat(match[1])
        except ValueError:
            return match[0]
        if moment.tzinfo is not None and abs(moment - now) < timedelta(days=1):
            return '"ts":"<host time>"'
        return match[0]

    return _TIMESTAMP.sub(replace, text)


def run_corpus() -> dict[str, dict[str, object]]:
    """Every case's exit code, standard output and standard error."""
    from custom_components.ch_smart_meter.reader import cli  # noqa: PLC0415

    outputs: dict[str, dict[str, object]] = {}
    for name, arguments in _cases():
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(arguments, stdout=out, stderr=err)
        outputs[name] = {
            "exit": code,
            "stdout": _mask_host_times(out.getvalue()),
            "stderr": err.getvalue(),
        }
    return outputs


def digests(outputs: dict[str, dict[str, object]]) -> dict[str, str]:
    """A SHA-256 per case of its exit code and outputs."""
    return {
        name: hashlib.sha256(json.dumps(output, sort_keys=True).encode()).hexdigest()
        for name, output in outputs.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", metavar="FILE", help="an earlier output of this script")
    parser.add_argument("--digests", action="store_true", help="print digests, not outputs")
    args = parser.parse_args()
    outputs = run_corpus()
    if args.compare is None:
        document = digests(outputs) if args.digests else outputs
        json.dump(document, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    before = json.loads(Path(args.compare).read_text())
    changed = sorted(
        name for name in before.keys() | outputs.keys() if before.get(name) != outputs.get(name)
    )
    for name in changed:
        print(f"--- {name}\n before: {before.get(name)!r}\n after:  {outputs.get(name)!r}")
    print(f"{len(outputs)} cases, {len(changed)} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
