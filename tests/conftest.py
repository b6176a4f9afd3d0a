"""Shared fixtures.

The captures in ../shared/testdata are read in place (their licences vary, they are not
copied into this repository); tests that need them skip with a reason when it is absent.
"""

from __future__ import annotations

import contextlib
import os
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

# Imported before Home Assistant starts, so that this repository's custom_components
# package wins over the empty one of pytest-homeassistant-custom-component.
import custom_components.ch_smart_meter  # noqa: F401

# No key in any log, error message, command-line output or test output of the whole suite.
from tests.no_secrets import (  # noqa: F401
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


def testdata_dir(name: str) -> Path:
    """A capture folder of ../shared/testdata, or skip the test when it is absent."""
    folder = TESTDATA / name
    if not folder.is_dir():
        pytest.skip(
            f"captures not available: {folder} is absent (needs ../shared/testdata)",
            allow_module_level=True,
        )
    return folder


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load this repository's custom integration in every test."""


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A raw pseudo-terminal: (master fd, slave path). The test plays the meter on the master."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    yield master, os.ttyname(slave)
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)
