"""Benchmark: DLMS push decoding of the capture corpus, this library vs gurux-dlms vs dlms-cosem.

Run with the environment's Python (no pytest), from the repository root:

    /tmp/envs/ha2025/bin/python scripts/bench/dlms.py [--repeat 300] [--testdata DIR]

Every capture of ../shared/testdata/dlms_* that this library decodes to readings (with the
keys published with it) is decoded, in one run, by

* this library: the whole pipeline (framing, CRC, reassembly, AES-GCM, A-XDR, layout,
  profile scaling, Reading) through the standard's stream decoder, kept warm as in service
  (one decoder per stream; only its replay guard is reset between rounds, since the same
  frames come again);
* gurux-dlms: ``GXDLMSSecureClient.getData`` over the same frames (framing, decryption
  without tag check, A-XDR; no OBIS mapping or scaling, so it does less work);
* dlms-cosem: ``XDlmsApduFactory`` / ``GeneralGlobalCipher.to_plain_apdu`` (SC 0x30 with
  both keys only) / ``DlmsDataParser`` on APDUs cut out by this library's framers (it has no
  push framing of its own).

It prints, per capture and in summary, the median time per message (one push) and per link
frame (one HDLC/M-Bus frame or raw APDU line), and the ratios, separately for plain and
encrypted captures. gurux-dlms is GPL: it is used here as a yardstick only, never imported
by the library.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from custom_components.ch_smart_meter.reader.dlms import cipher  # noqa: E402
from custom_components.ch_smart_meter.reader.framing import gbt, hdlc, mbus  # noqa: E402
from custom_components.ch_smart_meter.reader.framing.scan import ScanKind  # noqa: E402
from custom_components.ch_smart_meter.reader.model import Reading, Standard  # noqa: E402
from custom_components.ch_smart_meter.reader.spec import DecoderOptions  # noqa: E402
from custom_components.ch_smart_meter.reader.standards import get_spec  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
FOLDERS = {"dlms_lg": Standard.LG_MBUS, "dlms_kamstrup": Standard.KAMSTRUP_DLMS,
           "dlms_other": Standard.LG_MBUS}  # fmt: skip
# Keys published with the captures (see the MANIFESTs): file name part -> (EK, AK).
KEYS: dict[str, tuple[str, str | None]] = {
    "landisgyr_gh501": ("34743677397A24432646294A404E6352", "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF"),
    "lg_e450_gbt_encrypted": ("5C316162209EBB790B52EB0E7FC5B11C", "92705C5C97286064EABAE38D190F87A4"),
    "encrypted_nopushlist": ("F08660A6C19D2048556BF623AB0257E6", None),
    "e570_encrypted": ("101112131415161718191A1B1C1D1E1F", None),
    "kamstrup_omnipower_encrypted": ("00112233445566778899AABBCCDDEEFF", "FFEEDDCCBBAA99887766554433221100"),
    "iskraemeco_gh787": ("F9897984D43D3108AAFC4DE19DA85713", None),
    "kaifa_gh905": ("39436F513777354C4D466F4C5333674A", None),
    "netznoe": ("36C66639E48A8CA4D6BC8B282A793BBB", None),
}  # fmt: skip
P1_FILES = ("lg_e360", "iskra")


@dataclass
class Capture:
    """One capture file of the corpus and its measurements (microseconds per message)."""

    name: str
    standard: Standard
    lines: list[bytes]
    key: bytes | None
    auth_key: bytes | None
    messages: int = 0
    encrypted: bool = False
    times: dict[str, float | None] = field(default_factory=dict)

    @property
    def stream(self) -> bytes:
        return b"".join(self.lines)


def load(testdata: Path) -> list[Capture]:
    """Every capture this library decodes to at least one reading, with its keys."""
    captures = []
    for folder, standard in FOLDERS.items():
        for path in sorted((testdata / folder).glob("*.hex")):
            key = auth_key = None
            for part, (ek, ak) in KEYS.items():
                if part in path.name:
                    key, auth_key = bytes.fromhex(ek), bytes.fromhex(ak) if ak else None
            p1 = any(part in path.name for part in P1_FILES)
            lines = [bytes.fromhex(line) for line in path.read_text().split()]
            capture = Capture(path.stem, Standard.P1_DLMS if p1 else standard, lines, key, auth_key)
            decoder = _ours_decoder(capture)
            readings = [r for r in decoder.feed(capture.stream) if isinstance(r, Reading)]
            if not readings:
                continue
            capture.messages = len(readings)
            capture.encrypted = b"\xdb\x08" in capture.stream
            captures.append(capture)
    return captures


def _ours_decoder(capture: Capture):
    options = DecoderOptions(encryption_key=capture.key, authentication_key=capture.auth_key)
    return get_spec(capture.standard).create_decoder(options)


def median_time(run: Callable[[], object], prepare: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``run`` in microseconds (``prepare`` is not timed)."""
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            prepare()
            start = time.perf_counter_ns()
            run()
            samples.append(time.perf_counter_ns() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(samples) / 1000


# --- the three decoders ------------------------------------------------------------------------


def bench_ours(capture: Capture, repeat: int) -> float:
    decoder = _ours_decoder(capture)
    stream = capture.stream

    def prepare() -> None:
        # The same frames come round after round: a fresh replay guard lets them through.
        decoder._guard = cipher.InvocationCounterGuard()

    def run() -> None:
        results = decoder.feed(stream)
        assert sum(isinstance(r, Reading) for r in results) == capture.messages

    return median_time(run, prepare, repeat) / capture.messages


def bench_gurux(capture: Capture, repeat: int) -> float | None:
    try:
        from gurux_dlms import GXByteBuffer, GXReplyData  # noqa: PLC0415
        from gurux_dlms.enums import InterfaceType, Security  # noqa: PLC0415
        from gurux_dlms.secure import GXDLMSSecureClient  # noqa: PLC0415
    except ImportError:
        return None
    first = capture.lines[0][0]
    interface = {0x7E: InterfaceType.HDLC, 0x68: InterfaceType.WIRED_MBUS}.get(
        first, InterfaceType.PDU
    )
    client = GXDLMSSecureClient(True, interfaceType=interface)
    if capture.key:
        client.ciphering.security = Security.ENCRYPTION
        client.ciphering.blockCipherKey = capture.key
        if capture.auth_key:
            client.ciphering.authenticationKey = capture.auth_key
    lines = [
        line[3:] if interface == InterfaceType.PDU and line[:2] == b"\xe6\xe7" else line
        for line in capture.lines
    ]
    found = 0
    state: dict[str, GXReplyData] = {}

    def prepare() -> None:
        state["reply"], state["notify"] = GXReplyData(), GXReplyData()

    def run() -> None:
        nonlocal found
        reply, notify = state["reply"], state["notify"]
        found = 0
        for line in lines:  # one buffer per frame: an M-Bus buffer stalls after one frame
            client.getData(GXByteBuffer(line), reply, notify)
            for holder in (notify, reply):
                if holder.value is not None and holder.isComplete() and not holder.isMoreData():
                    found += 1
                    holder.clear()

    # gurux prints "Encryption is applied." for every ciphered APDU: keep stdout quiet.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            run_once = median_time(run, prepare, 1)
        except Exception:
            return None
        del run_once
        if found < capture.messages:
            return None
        return median_time(run, prepare, repeat) / capture.messages


def _apdus(capture: Capture) -> list[bytes]:
    """The complete APDUs of a capture, cut out with this library's framers."""
    apdus: list[bytes] = []
    blocks = gbt.GbtReassembler()
    segments: list[bytes] = []
    parts: list[bytes] = []
    for line in capture.lines:
        if line[0] == hdlc.FLAG:
            scan = hdlc.scan(line, 0)
            if scan.kind is not ScanKind.FRAME:
                continue
            segments.append(scan.frame.information)
            if scan.frame.segmented:
                continue
            unit = hdlc.strip_llc(b"".join(segments))
            segments = []
        elif line[0] == mbus.START:
            frame = mbus.scan(line, 0).frame
            parts.append(frame.segment)
            if not frame.last:
                continue
            unit, parts = b"".join(parts), []
        else:
            unit = hdlc.strip_llc(line)
        if unit[0] == gbt.TAG:
            result = blocks.add(unit)
            if result.message is None:
                continue
            unit = result.message
        apdus.append(unit)
    return apdus


def bench_dlms_cosem(capture: Capture, repeat: int) -> float | None:
    try:
        from dlms_cosem.connection import XDlmsApduFactory  # noqa: PLC0415
        from dlms_cosem.dlms_data import DlmsDataParser  # noqa: PLC0415
        from dlms_cosem.protocol.xdlms import DataNotification, GeneralGlobalCipher  # noqa: PLC0415
    except ImportError:
        return None
    key, auth_key = capture.key, capture.auth_key

    def run() -> int:
        decoded = 0
        for apdu in _apdus(capture):
            parsed = XDlmsApduFactory.apdu_from_bytes(apdu)
            if isinstance(parsed, GeneralGlobalCipher):
                plain = parsed.to_plain_apdu(key, auth_key)
                parsed = XDlmsApduFactory.apdu_from_bytes(plain)
            if isinstance(parsed, DataNotification):
                DlmsDataParser().parse(parsed.body, limit=1)
                decoded += 1
        return decoded

    try:
        if run() < capture.messages:
            return None
    except Exception:
        return None
    return median_time(run, lambda: None, repeat) / capture.messages


# --- report ------------------------------------------------------------------------------------


def _fmt(value: float | None, width: int = 9) -> str:
    return f"{value:{width}.1f}" if value is not None else f"{'n/a':>{width}}"


def _ratio(other: float | None, ours: float | None) -> str:
    if other is None or not ours:
        return f"{'':>7}"
    return f"{other / ours:6.1f}x"


def report(captures: Sequence[Capture]) -> bool:
    header = (
        f"{'capture':58} {'enc':3} {'fr':>3} {'ours/msg':>9} {'ours/fr':>8} "
        f"{'gurux/msg':>9} {'ratio':>7} {'cosem/msg':>9} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for c in captures:
        ours = c.times["ours"]
        frames_per_message = len(c.lines) / c.messages
        print(
            f"{c.name[:58]:58} {'yes' if c.encrypted else '':3} {len(c.lines):3d} "
            f"{_fmt(ours)} {_fmt(ours / frames_per_message if ours else None, 8)} "
            f"{_fmt(c.times['gurux'])} {_ratio(c.times['gurux'], ours)} "
            f"{_fmt(c.times['dlms-cosem'])} {_ratio(c.times['dlms-cosem'], ours)}"
        )
    print()
    ok = True
    for label, group in (
        ("plain", [c for c in captures if not c.encrypted]),
        ("encrypted", [c for c in captures if c.encrypted]),
        ("all", list(captures)),
    ):
        if not group:
            continue
        per_message = statistics.median(c.times["ours"] or 0 for c in group)
        per_frame = statistics.median(
            (c.times["ours"] or 0) * c.messages / len(c.lines) for c in group
        )
        line = (
            f"{label:9} ({len(group):2d} captures): this library median {per_message:6.1f} us "
            f"per message, {per_frame:5.1f} us per link frame"
        )
        for other in ("gurux", "dlms-cosem"):
            pairs = [(c.times[other], c.times["ours"]) for c in group if c.times[other]]
            if pairs:
                ratios = [o / s for o, s in pairs if s]
                line += (
                    f"; {other} median {statistics.median(o for o, _ in pairs):8.1f} us/msg,"
                    f" {statistics.median(ratios):5.1f}x slower ({len(pairs)} captures)"
                )
        print(line)
        if label == "all":
            target = per_message <= 60
            ok &= target
            print(
                f"TARGET median <= 60 us per message (also per frame): "
                f"{'PASS' if target else 'FAIL'} ({per_message:.1f} us/message, "
                f"{per_frame:.1f} us/frame)"
            )
        if label == "encrypted":
            ratios = [
                c.times["gurux"] / c.times["ours"]
                for c in group
                if c.times["gurux"] and c.times["ours"]
            ]
            if ratios:
                target = statistics.median(ratios) >= 30
                ok &= target
                print(
                    f"TARGET at least 30x faster than gurux-dlms on encrypted frames: "
                    f"{'PASS' if target else 'FAIL'} (median {statistics.median(ratios):.1f}x)"
                )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=300, help="rounds per capture (ours)")
    parser.add_argument("--testdata", type=Path, default=TESTDATA)
    args = parser.parse_args(argv)
    if not (args.testdata / "dlms_lg").is_dir():
        print(f"captures not found under {args.testdata}", file=sys.stderr)
        return 2
    captures = load(args.testdata)
    for capture in captures:
        capture.times["ours"] = bench_ours(capture, args.repeat)
        capture.times["gurux"] = bench_gurux(capture, max(10, args.repeat // 10))
        capture.times["dlms-cosem"] = bench_dlms_cosem(capture, max(10, args.repeat // 5))
    print(f"Python {sys.version.split()[0]}, {len(captures)} captures, "
          f"median of {args.repeat} rounds (gurux {max(10, args.repeat // 10)}, "
          f"dlms-cosem {max(10, args.repeat // 5)}); times in microseconds\n")  # fmt: skip
    return 0 if report(captures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
