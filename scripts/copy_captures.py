"""Copy the captures of ../shared/testdata whose licence allows redistribution into
tests/captures/, with a NOTICE per folder naming each file's source and licence.

    .venv-ha2025/bin/python scripts/copy_captures.py

Redistributable: MIT, Apache-2.0, BSD, CC0, public domain (as each folder's MANIFEST.md
states per file). Everything else (Fair Source, GPL, EPL, CC BY-NC, no licence) stays in
../shared and is read in place; its tests skip with a reason when ../shared is absent.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "testdata"
TARGET = REPO / "tests" / "captures"
PERMISSIVE = ("MIT", "APACHE-2.0", "BSD", "CC0", "PUBLIC DOMAIN")


# The MIT licence under which most of these captures were published; the Apache-2.0 text is
# this repository's own LICENSE.
MIT = """\
MIT License (the licence of the captures marked MIT in the NOTICE files)

Copyright (c) the authors of the source repositories named in each NOTICE

Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
"""


def _rows(manifest: Path) -> list[dict[str, str]]:
    """The table rows of a MANIFEST.md that have a File and a Licence column."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    previous: dict[str, str] = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "File":
            header = cells
            continue
        if header is None or set(cells[0]) <= set("-: ") or "Licence" not in header:
            continue
        row = dict(zip(header, cells, strict=False))
        for key, value in row.items():
            if value == "same":  # "same" as the row above
                row[key] = previous.get(key, value)
        previous = row
        rows.append(row)
    return rows


def permissive(licence: str) -> bool:
    """Whether a MANIFEST licence allows copying the file into this repository."""
    upper = licence.upper()
    return any(upper.startswith(name) for name in PERMISSIVE) and "NC" not in upper


def main() -> int:
    if not SHARED.is_dir():
        print(f"{SHARED} is absent", file=sys.stderr)
        return 1
    shutil.rmtree(TARGET, ignore_errors=True)
    copied = 0
    for manifest in sorted(SHARED.glob("*/MANIFEST.md")):
        folder = manifest.parent.name
        notice: list[str] = []
        for row in _rows(manifest):
            source = SHARED / folder / row["File"]
            if not permissive(row["Licence"]) or not source.is_file():
                continue
            (TARGET / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, TARGET / folder / source.name)
            origin = next(
                (value for key, value in row.items() if key.startswith("Source")), "unknown"
            )
            notice.append(f"- {source.name}\n  Source: {origin}\n  Licence: {row['Licence']}")
            copied += 1
        if notice:
            text = (
                f"Captures copied from the project's shared test data ({folder}), each under\n"
                "the licence of the project it was published in (as listed below): MIT (text in\n"
                "../LICENSE-MIT) or Apache-2.0 (text in this repository's LICENSE).\n\n"
            )
            (TARGET / folder / "NOTICE").write_text(text + "\n".join(notice) + "\n", "utf-8")
    (TARGET / "LICENSE-MIT").write_text(MIT, "utf-8")
    print(f"{copied} captures copied to {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
