"""Shared fixtures.

The captures in ../shared/testdata are read in place. Those whose licence allows it (MIT,
Apache-2.0) are also copied into tests/captures (scripts/copy_captures.py, with a NOTICE per
folder), so that a clone alone still tests against real captures; a test that needs one of
the others skips, with the reason, when ../shared is absent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Imported before Home Assistant starts, so that this repository's custom_components
# package wins over the empty one of pytest-homeassistant-custom-component.
import custom_components.ch_smart_meter  # noqa: F401
from custom_components.ch_smart_meter.reader.simulate.pty import open_pty

# No key in any log, error message, command-line output or test output of the whole suite.
from tests.no_secrets import (  # noqa: F401
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"
# The redistributable captures, copied (used when ../shared/testdata is absent).
COPIED = REPO_ROOT / "tests" / "captures"


def testdata_dir(name: str) -> Path:
    """A capture folder: of ../shared/testdata, else its redistributable part copied into
    tests/captures; skip the test when neither exists."""
    folder = TESTDATA / name
    if folder.is_dir():
        return folder
    if (COPIED / name).is_dir():
        return COPIED / name
    pytest.skip(
        f"captures not available: {folder} is absent (needs ../shared/testdata)",
        allow_module_level=True,
    )
    raise AssertionError  # pytest.skip raised


def capture_file(folder: str, name: str) -> Path:
    """One capture, or skip the test when it is neither in ../shared nor copied (its
    licence does not allow copying it into this repository)."""
    path = testdata_dir(folder) / name
    if not path.is_file():
        pytest.skip(f"capture {name} is not redistributable (needs ../shared/testdata)")
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Without ../shared, a test that reads a capture that could not be copied (its licence
    does not allow it) is skipped with that reason, not failed."""
    report = yield
    error = call.excinfo.value if call.excinfo is not None else None
    if (
        report.failed  # type: ignore[attr-defined]
        and not TESTDATA.is_dir()
        and isinstance(error, FileNotFoundError)
        and COPIED in Path(str(error.filename)).parents
    ):
        report.outcome = "skipped"  # type: ignore[attr-defined]
        report.longrepr = (  # type: ignore[attr-defined]
            str(item.path),
            item.location[1] or 0,
            f"Skipped: capture {Path(str(error.filename)).name} is not redistributable "
            "(needs ../shared/testdata)",
        )
    return report


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load this repository's custom integration in every test."""


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A raw pseudo-terminal: (master fd, slave path). The test plays the meter on the master."""
    master, slave, path = open_pty()
    yield master, path
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)
