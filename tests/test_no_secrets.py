"""Keys never appear in logs, error messages, reprs or command-line output.

The watch over the whole suite is the plugin in ``tests/no_secrets.py`` (hooked in by
``tests/conftest.py``): it fails the session when a key was seen anywhere. Here: the
watch is in place and catches each kind of leak; the classes that hold keys keep them out
of their repr; the places that handle keys on purpose (wrong keys, keys in simulator
addresses, the command line with ``--key``) say nothing about them; and nothing was seen
so far in this run.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import logging
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import custom_components.ch_smart_meter.reader as reader_package
from custom_components.ch_smart_meter.reader import cli
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder
from custom_components.ch_smart_meter.reader.errors import DecryptionFailed, FrameError
from custom_components.ch_smart_meter.reader.model import RejectedFrame
from custom_components.ch_smart_meter.reader.simulate.dlms_meters import Ciphering
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import encrypt_smarty
from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions
from custom_components.ch_smart_meter.reader.simulate.stream import parse_simulator_url
from custom_components.ch_smart_meter.reader.spec import DecoderOptions
from custom_components.ch_smart_meter.reader.standards import get_spec
from tests import no_secrets
from tests.reader import dlms_synthetic as syn

SECRET = bytes.fromhex("8A1B2C3D4E5F60718293A4B5C6D7E8F9")  # only in this module
OTHER = bytes.fromhex("1F2E3D4C5B6A79880102030405060708")


@pytest.fixture
def fresh_guard(monkeypatch: pytest.MonkeyPatch) -> no_secrets.Guard:
    """The installed watches report to a guard of this test only."""
    guard = no_secrets.Guard()
    guard.add(SECRET)
    monkeypatch.setattr(no_secrets, "GUARD", guard)
    return guard


@pytest.mark.parametrize(
    "text",
    [
        SECRET.hex(),
        SECRET.hex().upper(),
        " ".join(f"{b:02X}" for b in SECRET),
        ":".join(f"{b:02x}" for b in SECRET),
        repr(SECRET),
        f"options: {DecoderOptions.__name__}(key={SECRET!r})",
    ],
)
def test_every_written_form_of_a_key_is_found(text: str) -> None:
    guard = no_secrets.Guard()
    guard.add(SECRET)
    guard.scan(f"before {text} after", "here")
    assert len(guard.findings) == 1
    assert SECRET.hex() not in guard.findings[0].lower()  # the finding hides the key


def test_trivial_keys_are_not_watched() -> None:
    guard = no_secrets.Guard()
    guard.add(bytes(16), b"\xaa" * 16, None)
    assert not guard.keys


def test_log_records_of_any_level_are_watched(fresh_guard: no_secrets.Guard) -> None:
    logging.getLogger("custom_components.ch_smart_meter.reader.session").debug(
        "opened with %s", SECRET.hex()
    )
    logging.getLogger("some.other.library").warning("%r", SECRET)
    assert len(fresh_guard.findings) == 2


def test_library_error_messages_are_watched(fresh_guard: no_secrets.Guard) -> None:
    FrameError(f"key {SECRET.hex()}")
    assert fresh_guard.findings


def test_command_line_output_is_watched(fresh_guard: no_secrets.Guard) -> None:
    streams = cli._Streams(io.StringIO(), io.StringIO())
    print(SECRET.hex(), file=streams.err)
    assert fresh_guard.findings


def test_child_process_output_is_watched(fresh_guard: no_secrets.Guard) -> None:
    subprocess.run(
        [sys.executable, "-c", f"print('{SECRET.hex()}')"], capture_output=True, check=True
    )
    assert fresh_guard.findings


def test_keys_that_reach_the_library_are_watched(fresh_guard: no_secrets.Guard) -> None:
    DecoderOptions(encryption_key=OTHER)
    assert OTHER in fresh_guard.keys


# --- reprs ---------------------------------------------------------------------------


def _library_dataclasses() -> list[type]:
    found = []
    for module_info in pkgutil.walk_packages(reader_package.__path__, "reader."):
        name = "custom_components.ch_smart_meter." + module_info.name
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        found += [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and obj.__module__ == name
        ]
    return found


def test_every_key_field_of_the_library_is_left_out_of_reprs() -> None:
    """A field that holds key bytes is ``repr=False``, or the class writes its own repr."""
    offenders = []
    for cls in _library_dataclasses():
        own_repr = "def __repr__" in inspect.getsource(cls)
        for item in dataclasses.fields(cls):
            holds_bytes = "bytes" in str(item.type) and "Callable" not in str(item.type)
            if "key" in item.name and holds_bytes and item.repr and not own_repr:
                offenders.append(f"{cls.__module__}.{cls.__name__}.{item.name}")
    assert offenders == []


def test_reprs_of_what_holds_keys() -> None:
    holders = [
        DecoderOptions(encryption_key=SECRET, authentication_key=OTHER),
        SourceOptions(key=SECRET, authentication_key=OTHER),
        Ciphering(SECRET, OTHER),
        parse_simulator_url(f"simulator://dsmr?key={SECRET.hex()}&auth_key={OTHER.hex()}"),
    ]
    guard = no_secrets.Guard()
    guard.add(SECRET, OTHER)
    for holder in holders:
        guard.scan(repr(holder), type(holder).__name__)
        guard.scan(str(holder), type(holder).__name__)
    assert guard.findings == []


# --- places that handle keys on purpose ------------------------------------------------


def test_wrong_keys_are_named_without_the_keys(fresh_guard: no_secrets.Guard) -> None:
    envelope = encrypt_smarty(b"/ISK5\\2M550T\r\n\r\n1-0:1.8.1(1*kWh)\r\n!", OTHER, b"SAG12345", 7)
    (rejected,) = DsmrDecoder(DecoderOptions(encryption_key=SECRET)).feed(envelope)
    assert isinstance(rejected, RejectedFrame) and isinstance(rejected.error, DecryptionFailed)
    push = syn.hdlc(syn.cipher(syn.notification(syn.e450_body()), counter=9, key=OTHER))
    options = DecoderOptions(encryption_key=SECRET, authentication_key=SECRET)
    (rejected,) = get_spec("lg-mbus").create_decoder(options).feed(push)
    assert isinstance(rejected, RejectedFrame) and isinstance(rejected.error, DecryptionFailed)
    assert fresh_guard.findings == []


def test_the_command_line_with_keys_says_nothing_about_them(
    fresh_guard: no_secrets.Guard, tmp_path: Path
) -> None:
    capture = tmp_path / "frame.hex"
    capture.write_text(encrypt_smarty(b"/X", OTHER, b"SAG12345", 7).hex())
    out, err = io.StringIO(), io.StringIO()
    for key in (SECRET.hex(), SECRET.hex().upper(), " ".join(f"{b:02x}" for b in SECRET)):
        arguments = ["decode", "--standard", "dsmr", "--hex", "--key", key, str(capture)]
        cli.main([*arguments, "--auth-key", OTHER.hex()], stdout=out, stderr=err)
    assert "decryption failed" in err.getvalue()
    assert fresh_guard.findings == []


# --- the whole run --------------------------------------------------------------------


def test_no_key_was_seen_so_far() -> None:
    """What ran before this test (all of it, in a full run: this module comes last); the
    session's end checks the rest."""
    assert no_secrets.GUARD.findings == [], no_secrets.findings_text(no_secrets.GUARD.findings)
