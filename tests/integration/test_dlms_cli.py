"""The command line with DLMS captures: a notice of a reading is said once on stderr.

Kamstrup keys labelled 64/65 are sometimes handed out swapped; the decoder then verifies
the frames with the keys exchanged and says so on the reading. ``decode`` prints that on
standard error once, not once per frame, and never the keys.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from custom_components.ch_smart_meter.reader.cli import main
from custom_components.ch_smart_meter.reader.dlms.decoder import SWAPPED_KEYS_NOTICE
from custom_components.ch_smart_meter.reader.simulate.dlms_meters import (
    Ciphering,
    SimulatedDlmsMeter,
)
from custom_components.ch_smart_meter.reader.simulate.dlms_models import KAMSTRUP_OMNIPOWER

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
PUSHES = 3


def _capture(tmp_path: Path) -> tuple[Path, SimulatedDlmsMeter]:
    """Three encrypted Kamstrup pushes, 10 s apart, as a binary capture file."""
    meter = SimulatedDlmsMeter(KAMSTRUP_OMNIPOWER, seed=5, ciphering=Ciphering(EK, AK))
    start = datetime(2026, 6, 27, 12, 0, 10, tzinfo=UTC)
    wire = b"".join(meter.push_at(start + timedelta(seconds=10 * n)).wire for n in range(PUSHES))
    path = tmp_path / "kamstrup.bin"
    path.write_bytes(wire)
    return path, meter


def _decode(path: Path, key: bytes, auth_key: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "decode",
            "--standard",
            "kamstrup-dlms",
            "--key",
            key.hex(),
            "--auth-key",
            auth_key.hex(),
            str(path),
        ],
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


def test_swapped_keys_are_said_once(tmp_path: Path) -> None:
    """Keys given the wrong way round decode every push; stderr says so exactly once."""
    path, meter = _capture(tmp_path)
    code, out, err = _decode(path, AK, EK)
    assert code == 0
    payloads = [json.loads(line) for line in out.splitlines()]
    assert len(payloads) == PUSHES
    assert {payload["meter"]["96.1.1"] for payload in payloads} == {meter.identity.equipment_id}
    assert err.count(SWAPPED_KEYS_NOTICE) == 1
    assert err.splitlines() == [f"notice: {SWAPPED_KEYS_NOTICE}"]
    for secret in (EK.hex(), AK.hex()):
        assert secret not in (out + err).lower()


def test_keys_in_the_right_order_say_nothing(tmp_path: Path) -> None:
    """The same capture with the keys in their order: readings only, stderr stays empty."""
    path, _meter = _capture(tmp_path)
    code, out, err = _decode(path, EK, AK)
    assert code == 0
    assert len(out.splitlines()) == PUSHES
    assert err == ""
