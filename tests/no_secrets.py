"""No key ever leaks: a pytest plugin that watches what the whole suite produces.

Every key the suite uses is listed in :data:`SUITE_KEYS` (one place); keys that reach the
library in other ways are added as they appear (every ``DecoderOptions`` and simulator
``SourceOptions`` made during the run). Watched, from the start of the session to its end:

* every log record of every logger (the integration's loggers at DEBUG), message and
  traceback;
* the message of every :class:`ReaderError` the library creates (what logs, the config
  flow and the command-line tool show);
* what the command-line tool writes (``cli.main`` in this process), what child processes
  write to pipes (``Popen.communicate``: the tool run as a program, the simulator), and
  the captured output and failure reports of every test.

A key is found in any of its written forms: hexadecimal in lower or upper case, with or
without spaces or colons between bytes, and the escaped bytes of its ``repr``. Keys of a
single repeated byte (``bytes(16)``) are left out: their forms occur in any hex dump.
What is found is kept (without the key) and fails the session at its end;
``tests/test_no_secrets.py`` checks it along the way. Cheap: one compiled regular
expression per scan, rebuilt only when a new key appears.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import pytest

from custom_components.ch_smart_meter.reader import cli, errors, spec
from custom_components.ch_smart_meter.reader.simulate import source

# The keys the suite uses (tests, captures' published keys, simulators), hexadecimal.
SUITE_KEYS: tuple[str, ...] = (
    "000102030405060708090A0B0C0D0E0F",  # simulators' DEMO_KEY, dlms_synthetic.EK
    "0F0E0D0C0B0A09080706050403020100",  # the wrong key of several tests
    "00112233445566778899AABBCCDDEEFF",  # the public Smarty AK; Kamstrup ESPHome EK
    "FFEEDDCCBBAA99887766554433221100",  # Kamstrup ESPHome AK
    "101112131415161718191A1B1C1D1E1F",  # test_dlms_simulators
    "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF",  # dlms_synthetic.AK
    "D491470F47126332B07D1923B3504188",  # NEXXTLAB Smarty capture
    "34743677397A24432646294A404E6352",  # E450 Burgenland EK
    "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF",  # E450 Burgenland AK
    "5C316162209EBB790B52EB0E7FC5B11C",  # E450 ESPHome EK
    "92705C5C97286064EABAE38D190F87A4",  # E450 ESPHome AK
    "36C66639E48A8CA4D6BC8B282A793BBB",  # dlms_corpus captures
    "39436F513777354C4D466F4C5333674A",
    "F08660A6C19D2048556BF623AB0257E6",
    "F9897984D43D3108AAFC4DE19DA85713",
)
PACKAGE_LOGGER = "custom_components.ch_smart_meter"


def key_forms(key: bytes) -> list[str]:
    """How a key may be written: hex (both cases, spaced, with colons), repr escapes."""
    text = key.hex()
    spaced = " ".join(text[i : i + 2] for i in range(0, len(text), 2))
    forms = [text, spaced, spaced.replace(" ", ":"), repr(key)[2:-1]]
    return [form for form in forms if form]


@dataclass
class Guard:
    """The keys, the findings, and a scanner rebuilt when a key is added."""

    keys: set[bytes] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)
    _pattern: re.Pattern[str] | None = None

    def add(self, *keys: bytes | None) -> None:
        """Watch for these keys too (None and trivial keys are ignored)."""
        new = {k for k in keys if k and len(set(k)) > 1 and k not in self.keys}
        if new:
            self.keys |= new
            self._pattern = None

    def scan(self, text: str | bytes | None, where: str) -> None:
        """Note every key found in ``text`` (the finding names the place, not the key)."""
        if not text:
            return
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        if self._pattern is None:
            forms = sorted({f for k in self.keys for f in key_forms(k)}, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, forms)), re.IGNORECASE)
        match = self._pattern.search(text)
        if match:
            start = max(0, match.start() - 40)
            excerpt = text[start : match.start()] + "<KEY>" + text[match.end() : match.end() + 40]
            finding = f"{where}: ...{excerpt!r}..."
            if finding not in self.findings:  # a test's sections come with each phase
                self.findings.append(finding)


GUARD = Guard()
GUARD.add(*(bytes.fromhex(key) for key in SUITE_KEYS))


class _Handler(logging.Handler):
    """Scans every record that reaches the root logger."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: its template then
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r} {record.exc_info[1]}"
        GUARD.scan(text, f"log record of {record.name}")


class _ScanningText:
    """A text stream that scans what is written to it, then passes it on."""

    def __init__(self, stream: TextIO, where: str) -> None:
        self._stream = stream
        self._where = where

    def write(self, text: str) -> int:
        GUARD.scan(text, self._where)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _wrap_init(cls: type, *attributes: str) -> Callable[[], None]:
    """Make ``cls`` hand the key attributes of every instance to the guard."""
    original = cls.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        GUARD.add(*(getattr(self, name) for name in attributes))

    cls.__init__ = init  # type: ignore[misc]
    return lambda: setattr(cls, "__init__", original)


def install() -> Callable[[], None]:
    """Put every watch in place; returns what takes them away again."""
    undo: list[Callable[[], None]] = []
    handler = _Handler(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    undo.append(lambda: root.removeHandler(handler))
    package = logging.getLogger(PACKAGE_LOGGER)
    level = package.level
    package.setLevel(logging.DEBUG)
    undo.append(lambda: package.setLevel(level))

    error_init = errors.ReaderError.__init__

    def reader_error_init(self: errors.ReaderError, detail: str | None = None) -> None:
        error_init(self, detail)
        GUARD.scan(self.message, f"{type(self).__name__} message")

    errors.ReaderError.__init__ = reader_error_init  # type: ignore[method-assign]
    undo.append(lambda: setattr(errors.ReaderError, "__init__", error_init))

    streams = cli._Streams

    def scanning_streams(out: TextIO, err: TextIO) -> Any:
        return streams(
            _ScanningText(out, "command-line output"),  # type: ignore[arg-type]
            _ScanningText(err, "command-line error output"),  # type: ignore[arg-type]
        )

    cli._Streams = scanning_streams  # type: ignore[assignment,misc]
    undo.append(lambda: setattr(cli, "_Streams", streams))

    communicate = subprocess.Popen.communicate

    def scanning_communicate(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> Any:
        out, err = communicate(self, *args, **kwargs)
        GUARD.scan(out, f"output of {self.args!r:.80}")
        GUARD.scan(err, f"error output of {self.args!r:.80}")
        return out, err

    subprocess.Popen.communicate = scanning_communicate  # type: ignore[method-assign]
    undo.append(lambda: setattr(subprocess.Popen, "communicate", communicate))

    undo.append(_wrap_init(spec.DecoderOptions, "encryption_key", "authentication_key"))
    undo.append(_wrap_init(source.SourceOptions, "key", "authentication_key"))

    def uninstall() -> None:
        for step in reversed(undo):
            step()

    return uninstall


def scan_report(report: pytest.TestReport) -> None:
    """A test's captured output and failure report."""
    for title, text in report.sections:
        GUARD.scan(text, f"{report.nodeid} {title}")
    if report.failed:
        GUARD.scan(report.longreprtext, f"{report.nodeid} failure report")


def findings_text(findings: Iterable[str]) -> str:
    """The findings for the terminal (never the key itself)."""
    return "\n".join(f"  {finding}" for finding in findings)


# --- pytest hooks (imported into tests/conftest.py, so they apply to the whole suite) -----

_UNDO: list[Callable[[], None]] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    """Watch from before the first test module is imported."""
    _UNDO.append(install())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Scan what each test printed and how it failed."""
    scan_report(report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where a key was seen (never which key)."""
    if GUARD.findings:
        terminalreporter.section("keys seen in output", red=True)
        terminalreporter.write_line(findings_text(GUARD.findings[:50]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A key seen anywhere fails the run, whatever the tests said."""
    while _UNDO:
        _UNDO.pop()()
    if GUARD.findings and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
