"""The fuzzer's deterministic subset: about 1.4 x 10^4 cases over every target (2,000 per
decoder, seven decoders), in this process.

``scripts/fuzz --long`` runs a million cases per decoder; this runs 2,000 per decoder with
a fixed seed and requires what the long run requires: no exception but typed rejections,
no wrong reading that a protection's limits do not explain, every undamaged unit decoded
next to damaged ones, the same result whichever byte boundary splits a frame, bounded
buffers. The oracle itself is checked too: a wrong reading is caught, and only the
protections that cannot catch it explain it.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime

import pytest

from custom_components.ch_smart_meter.reader.model import Reading
from tests.conftest import REPO_ROOT, TESTDATA

sys.path.insert(0, str(REPO_ROOT / "scripts"))

import fuzz_targets
import lib_fuzz

CASES_PER_DECODER = 2_000
SEED = 20260601
TARGETS = lib_fuzz.available_targets()
NAMES = [target.name for target in TARGETS]


@pytest.fixture(scope="module")
def totals() -> dict[str, lib_fuzz.Stats]:
    stats, _ = lib_fuzz.run(TARGETS, CASES_PER_DECODER, seed=SEED, jobs=1)
    return stats


@pytest.mark.parametrize("name", NAMES)
def test_the_oracle_holds(totals: dict[str, lib_fuzz.Stats], name: str) -> None:
    stats = totals[name]
    assert stats.escaped == 0, stats.examples
    assert stats.unexplained == 0, stats.examples
    assert stats.split_mismatches == 0, stats.examples
    assert stats.max_retained <= lib_fuzz.MAX_RETAINED
    assert stats.survived >= 0.99 * stats.undamaged, stats.examples
    assert not stats.failed


@pytest.mark.parametrize("name", NAMES)
def test_every_target_is_fed_damaged_and_undamaged_units(
    totals: dict[str, lib_fuzz.Stats], name: str
) -> None:
    stats = totals[name]
    assert stats.cases >= CASES_PER_DECODER // 4
    assert 0.35 * stats.cases <= stats.damaged <= 0.65 * stats.cases
    assert stats.readings and stats.rejections
    assert stats.undamaged >= stats.cases // 4 or fuzz_targets.BY_NAME[name].captures


def test_the_subset_is_two_thousand_cases_per_decoder_of_every_kind(
    totals: dict[str, lib_fuzz.Stats],
) -> None:
    cases = sum(stats.cases for stats in totals.values())
    assert 14_000 <= cases <= 16_000
    mutations = sum((stats.mutations for stats in totals.values()), start=Counter[str]())
    assert set(mutations) == {str(kind) for kind in lib_fuzz.MUTATIONS}
    # Splits at every byte boundary come from the real captures: fewer when only the
    # redistributable ones (tests/captures) are there.
    assert sum(stats.splits for stats in totals.values()) > (1_000 if TESTDATA.is_dir() else 300)
    decoders = {fuzz_targets.BY_NAME[name].standard for name in totals}
    assert len(decoders) == 7


def _reading(values: dict[str, float], frame: bytes) -> Reading:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return Reading(timestamp=moment, meter_id="X", values=values, frame=frame)


def test_the_oracle_catches_a_wrong_reading() -> None:
    """A reading that equals no undamaged unit's is wrong; only a protection that cannot
    catch the damage explains it."""
    stats = lib_fuzz.Stats()
    pool = lib_fuzz.Pool([fuzz_targets.Unit((b"x",))], [frozenset()])
    smarty = fuzz_targets.BY_NAME["dsmr-smarty"]
    wrong = _reading({"1.8.0": 1.0}, b"\xdb\x08" + bytes(30))
    lib_fuzz.judge(smarty, pool, [0], [True], [wrong], stats, "test", live=True)
    assert stats.unexplained == 1  # an authenticated envelope: nothing explains it
    legacy = fuzz_targets.BY_NAME["dsmr-2.2"]
    telegram = _reading({"1.8.0": 1.0}, b"/ISk5\\2MT382-1000\r\n\r\n1-0:1.8.1(1)\r\n!\r\n")
    stats = lib_fuzz.Stats()
    lib_fuzz.judge(legacy, pool, [0], [True], [telegram], stats, "test", live=False)
    assert stats.unexplained == 0
    assert stats.wrong == {"no checksum: DSMR 2.2/3 telegram": 1}


def test_a_lost_undamaged_unit_fails_the_target() -> None:
    stats = lib_fuzz.Stats(undamaged=100, survived=98)
    assert stats.failed
    assert not lib_fuzz.Stats(undamaged=100, survived=99).failed


def test_the_polled_links_explain_only_what_their_checks_let_through() -> None:
    """KMP: a damaged answer that passes CRC-16/XMODEM is explained, an undamaged one that
    gives another reading is not. MEP: a reading made of the capture's own answers is a
    failure (the digest did not fail: the decoder joined them wrongly)."""
    from custom_components.ch_smart_meter.reader.simulate import kmp_meter  # noqa: PLC0415

    pool = lib_fuzz.Pool([fuzz_targets.Unit((b"x",))], [frozenset()])
    kmp = fuzz_targets.BY_NAME["kmp"]
    answer = kmp_meter.answer_frame(0x10, bytes.fromhex("000d0204430000000a"))
    other = kmp_meter.answer_frame(0x10, bytes.fromhex("000d0204430000000b"))
    for frame, explained in ((other, True), (answer, False)):
        stats = lib_fuzz.Stats()
        unit = fuzz_targets.Unit((b"\x80\x3f\x10\x0d", answer))
        lib_fuzz.judge(
            kmp,
            lib_fuzz.Pool([unit], [frozenset()]),
            [0],
            [True],
            [_reading({"1.8.0": 1.0}, frame)],
            stats,
            "test",
            live=False,
        )
        assert (stats.unexplained == 0) is explained
    mep = fuzz_targets.BY_NAME["mep"]
    message = bytes.fromhex("000c00000100") + bytes(8)
    line = f"< {message.hex(' ')}\n".encode()
    unit = fuzz_targets.Unit((line,))
    stats = lib_fuzz.Stats()
    wrong = _reading({"1.8.0": 1.0}, message)
    lib_fuzz.judge(
        mep, lib_fuzz.Pool([unit], [frozenset()]), [0], [True], [wrong], stats, "t", live=False
    )
    assert stats.unexplained == 1
    stats = lib_fuzz.Stats()
    damaged = _reading({"1.8.0": 1.0}, message[:-1] + b"\x01")
    lib_fuzz.judge(mep, pool, [0], [True], [damaged], stats, "t", live=False)
    assert stats.wrong == {"MEP digest (8 bytes, keyed) matched a damaged answer": 1}
