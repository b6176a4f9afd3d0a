"""Command-line tool: decode captures, read a live meter, run a simulated meter.

    python -m custom_components.ch_smart_meter.cli decode --standard dsmr capture.bin
    python -m custom_components.ch_smart_meter.cli read --standard dsmr --port /dev/ttyUSB0
    python -m custom_components.ch_smart_meter.cli simulate --standard dsmr --tcp 2001
    python -m custom_components.ch_smart_meter.cli detect --port /dev/ttyUSB0
    mosquitto_sub -v -t 'dt/#' | python -m custom_components.ch_smart_meter.cli \
        decode --standard ch-smr --units W -

``decode`` and ``read`` print one CH-SMR payload (JSON) per reading, then one per sub-meter
of the reading (gas, water, heat: the messages a republisher sends on their own topics),
on standard output and nothing else, so the output can be piped; rejected frames,
connection changes and messages go to standard error. ``detect`` prints one JSON object
(standard, serial format, whether a key is needed) and its progress on standard error.
Exit codes: 0 at least one reading (or a simulator that ran, or a meter detected), 1 none,
2 usage error. Keys given on the command line are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Final, TextIO

from . import chsmr
from .detect import NothingDetected, Progress, Timing, detect
from .errors import InvalidKey, ReaderError, TransportError
from .model import DecodeResult, Reading, SerialSettings, Standard
from .session import MeterSession
from .simulate import stream as _simulator_scheme  # noqa: F401 - read simulator:// ports
from .simulate.meters import available_standards, create_source
from .simulate.outputs import Output, PtyOutput, TcpOutput, run
from .simulate.replay import load_capture, parse_hex_text, replay_source
from .simulate.source import FrameSource, Simulator, SourceOptions
from .simulate.uart import SimulatedLine, parse_format
from .spec import Carrier, DecoderOptions, StandardSpec
from .standards import STANDARDS, get_spec
from .transport import READ_SIZE, redact_url

EXIT_OK: Final = 0
EXIT_NO_READING: Final = 1
EXIT_USAGE: Final = 2


class UsageError(Exception):
    """A problem with the command line; the message is shown as is."""


@dataclass(frozen=True, slots=True)
class _Streams:
    out: TextIO
    err: TextIO
    # Reading notices already printed (e.g. swapped keys): each is said once, not per frame.
    notices: set[str] = field(default_factory=set)


def _spec(name: str) -> StandardSpec:
    """The spec of a standard, or a usage error naming the implemented ones."""
    try:
        return get_spec(name.strip().lower())
    except ValueError:
        listing = ", ".join(STANDARDS)
        raise UsageError(f"unknown standard {name!r}; implemented: {listing}") from None


def _key(spec: StandardSpec, option: str, text: str | None) -> bytes | None:
    """A key in the form the standard's grid operators hand it out."""
    try:
        return spec.parse_key(text)
    except InvalidKey as err:
        raise UsageError(f"{option}: {err.message}") from None


def _decoder_options(spec: StandardSpec, args: argparse.Namespace) -> DecoderOptions:
    units = getattr(args, "units", None)
    if units is not None and spec.standard is not Standard.CH_SMR:
        raise UsageError("--units applies to --standard ch-smr only")
    return DecoderOptions(
        encryption_key=_key(spec, "--key", args.key),
        authentication_key=_key(spec, "--auth-key", args.auth_key),
        source_in_base_units=units == "W",
    )


def _print_result(result: DecodeResult, streams: _Streams, spec: StandardSpec) -> bool:
    """Print a reading (stdout, its new notices on stderr) or a rejection (stderr); True for
    a reading."""
    if isinstance(result, Reading):
        for notice in result.notices:
            if notice not in streams.notices:
                streams.notices.add(notice)
                print(f"notice: {notice}", file=streams.err, flush=True)
        # A push of sub-meter values only, from a meter that named itself nowhere yet,
        # has no message of its own (it would carry neither a value nor an id).
        if result.values or result.meter_id or not result.submeters:
            print(chsmr.encode_payload(result), file=streams.out, flush=True)
        for _, payload in chsmr.submeter_payloads(result, "cli"):
            print(payload, file=streams.out, flush=True)
        return True
    where = f" ({result.position})" if result.position else ""
    print(
        f"rejected {spec.frame_noun}{where}: {result.error.message}", file=streams.err, flush=True
    )
    return False


def _read_input(path: str, *, hex_text: bool) -> bytes:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    if not hex_text:
        return data
    try:
        return parse_hex_text(data)
    except ValueError as err:
        raise UsageError(f"{path}: {err}") from None


def _chunks(data: bytes) -> Iterable[bytes]:
    for start in range(0, len(data), READ_SIZE):
        yield data[start : start + READ_SIZE]


# -- decode --------------------------------------------------------------------------


def _command_decode(args: argparse.Namespace, streams: _Streams) -> int:
    spec = _spec(args.standard)
    options = _decoder_options(spec, args)
    hex_text = args.hex and not spec.text_captures
    decoder = spec.create_decoder(options)
    readings = 0
    if args.file == "-" and not hex_text:
        # Standard input as it comes (a pipe from mosquitto_sub or a serial port never ends).
        stdin = sys.stdin.buffer
        read: Callable[[int], bytes] = getattr(stdin, "read1", stdin.read)
        chunks: Iterable[bytes] = iter(lambda: read(READ_SIZE), b"")
    else:
        chunks = _chunks(_read_input(args.file, hex_text=hex_text))
    for chunk in chunks:
        for result in decoder.feed(chunk):
            readings += _print_result(result, streams, spec)
    for result in decoder.flush():
        readings += _print_result(result, streams, spec)
    if readings == 0:
        print("no reading decoded", file=streams.err)
    return EXIT_OK if readings else EXIT_NO_READING


# -- read ----------------------------------------------------------------------------


def _serial_settings(spec: StandardSpec, args: argparse.Namespace) -> SerialSettings:
    settings = spec.serial or SerialSettings()
    if args.baud is not None:
        settings = replace(settings, baudrate=args.baud)
    if args.bytesize is not None:
        settings = replace(settings, bytesize=args.bytesize)
    if args.parity is not None:
        settings = replace(settings, parity=args.parity.upper())
    if args.stopbits is not None:
        settings = replace(settings, stopbits=args.stopbits)
    return settings


@dataclass(slots=True)
class _Tally:
    readings: int = 0


async def _read_live(
    spec: StandardSpec, args: argparse.Namespace, streams: _Streams, tally: _Tally
) -> None:
    options = _decoder_options(spec, args)
    enough = asyncio.Event()

    def on_result(result: DecodeResult) -> None:
        if enough.is_set():
            return
        if _print_result(result, streams, spec):
            tally.readings += 1
            if args.count is not None and tally.readings >= args.count:
                enough.set()

    def on_connection(connected: bool, error: ReaderError | None) -> None:
        if connected:
            print(f"connected: {redact_url(args.port)}", file=streams.err, flush=True)
        else:
            reason = error.message if error else "closed"
            print(f"connection lost: {reason} (retrying)", file=streams.err, flush=True)

    session = MeterSession(
        args.port,
        spec,
        options,
        serial=_serial_settings(spec, args),
        on_result=on_result,
        on_connection=on_connection,
    )
    task = asyncio.create_task(session.run())
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.timeout):
                await enough.wait()
    finally:
        await session.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _port_spec(name: str) -> StandardSpec:
    """The spec of a standard read from a port, or a usage error."""
    spec = _spec(name)
    if spec.carrier is not Carrier.BYTE_STREAM:
        raise UsageError(
            f"{spec.standard.value} is not read from a port: "
            f"use 'decode --standard {spec.standard.value} FILE' on captured messages"
        )
    return spec


def _command_read(args: argparse.Namespace, streams: _Streams) -> int:
    spec = _port_spec(args.standard)
    tally = _Tally()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_read_live(spec, args, streams, tally))
    if tally.readings == 0:
        print("no reading received", file=streams.err)
    return EXIT_OK if tally.readings else EXIT_NO_READING


# -- simulate ------------------------------------------------------------------------


def _simulated_source(spec: StandardSpec, args: argparse.Namespace) -> FrameSource:
    if args.replay is not None:
        try:
            data = load_capture(args.replay, hex_text=args.hex)
        except OSError as err:
            raise UsageError(f"cannot read {args.replay}: {err.strerror or err}") from None
        except ValueError as err:
            raise UsageError(f"{args.replay}: {err}") from None
        try:
            return replay_source(data, spec)
        except ValueError as err:
            raise UsageError(f"{args.replay}: {err}") from None
    if spec.standard not in available_standards():
        models = ", ".join(s.value for s in available_standards()) or "none"
        raise UsageError(
            f"no simulated {spec.standard.value} meter yet (simulated: {models}); "
            "replay a capture with --replay FILE"
        )
    options = SourceOptions(
        seed=args.seed,
        key=_key(spec, "--key", args.key),
        authentication_key=_key(spec, "--auth-key", args.auth_key),
        model=args.model,
    )
    try:
        return create_source(spec.standard, options)
    except ValueError as err:
        raise UsageError(str(err)) from None


async def _simulate(simulator: Simulator, args: argparse.Namespace, streams: _Streams) -> None:
    output: Output
    if args.line_format is not None:
        line = SimulatedLine(simulator, args.line_format)
        output, where = line, f"{line.path} (the meter sends at {args.line_format.describe()})"
    elif args.pty:
        pty = PtyOutput(simulator)
        output, where = pty, pty.path
    else:
        tcp = TcpOutput(simulator)
        port = await tcp.start(args.host, args.tcp)
        output, where = tcp, f"socket://{args.host}:{port}"
    print(f"listening on {where}", file=streams.err, flush=True)
    try:
        await run(simulator, output, count=args.count)
        # Let the last frame leave before the port disappears.
        await asyncio.sleep(min(simulator.interval, 0.5))
    finally:
        await output.close()


def _command_simulate(args: argparse.Namespace, streams: _Streams) -> int:
    spec = _port_spec(args.standard)
    if args.interval <= 0:
        raise UsageError("--interval must be positive")
    if args.acceleration <= 0:
        raise UsageError("--acceleration must be positive")
    if args.line_format is not None and not args.pty:
        raise UsageError("--line-format needs --pty (a simulated serial line)")
    start = None
    if args.start is not None:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            raise UsageError("--start must be an ISO 8601 time with offset") from None
        if start.tzinfo is None:
            raise UsageError("--start needs a UTC offset, e.g. 2026-06-17T12:00:00+02:00")
    source = _simulated_source(spec, args)
    simulator = Simulator(
        source,
        interval=args.interval,
        acceleration=args.acceleration,
        start=start,
    )
    try:
        asyncio.run(_simulate(simulator, args, streams))
    except OSError as err:
        print(f"cannot listen: {err.strerror or err}", file=streams.err)
        return EXIT_USAGE
    return EXIT_OK


# -- detect --------------------------------------------------------------------------


def _command_detect(args: argparse.Namespace, streams: _Streams) -> int:
    if args.budget <= 0 or args.cadence <= 0:
        raise UsageError("--budget and --cadence must be positive")

    def progress(step: Progress) -> None:
        print(step.describe(), file=streams.err, flush=True)

    search = detect(
        args.port, on_progress=progress, budget=args.budget, timing=Timing(cadence=args.cadence)
    )
    try:
        detection = asyncio.run(search)
    except NothingDetected as err:
        print(f"no meter recognised in {err.seconds:.0f} s: {err.detail}", file=streams.err)
        return EXIT_NO_READING
    except TransportError as err:
        print(f"error: {err.message}", file=streams.err)
        return EXIT_NO_READING
    print(json.dumps(detection.as_dict()), file=streams.out, flush=True)
    print(f"recognised in {detection.seconds:.1f} s", file=streams.err)
    return EXIT_OK


# -- command line --------------------------------------------------------------------


def _add_standard_and_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--standard", required=True, help=f"standard id ({', '.join(s.value for s in Standard)})"
    )
    parser.add_argument(
        "--key",
        metavar="KEY",
        help="encryption key (GUEK), 32 hex digits; MEP: the MBK (20 characters or 40 hex digits)",
    )
    parser.add_argument("--auth-key", metavar="HEX", help="authentication key (GAK), 32 hex digits")


def _serial_format(text: str) -> SerialSettings:
    try:
        return parse_format(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="ch_smart_meter",
        description="Read Swiss smart meter customer interfaces; print CH-SMR JSON.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    decode = commands.add_parser("decode", help="decode a capture file")
    _add_standard_and_keys(decode)
    decode.add_argument("--hex", action="store_true", help="the file holds hex text")
    decode.add_argument(
        "--units",
        choices=("kW", "W"),
        help="ch-smr: the units the reader publishes in: kW, kWh, kvar, kvarh as the "
        "recommendation says (default), or W, Wh, var, varh",
    )
    decode.add_argument("file", metavar="FILE", help='capture file ("-" for standard input)')

    read = commands.add_parser("read", help="read a live meter")
    _add_standard_and_keys(read)
    read.add_argument("--port", required=True, metavar="URL", help="device path or URL")
    read.add_argument("--baud", type=_positive_int)
    read.add_argument("--bytesize", type=int, choices=(5, 6, 7, 8))
    read.add_argument("--parity", choices=("N", "E", "O", "n", "e", "o"))
    read.add_argument("--stopbits", type=float, choices=(1, 1.5, 2))
    read.add_argument("--count", type=_positive_int, help="stop after N readings")
    read.add_argument("--timeout", type=float, help="stop after S seconds")

    simulate = commands.add_parser("simulate", help="run a simulated meter")
    _add_standard_and_keys(simulate)
    where = simulate.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="on a new pseudo-terminal")
    where.add_argument("--tcp", type=int, metavar="PORT", help="on a TCP port (0: any free)")
    simulate.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1)")
    simulate.add_argument(
        "--interval", type=float, default=1.0, help="seconds between frames (default 1)"
    )
    simulate.add_argument("--seed", type=int, default=1, help="the simulated household")
    simulate.add_argument(
        "--acceleration", type=float, default=1.0, help="simulated seconds per second"
    )
    simulate.add_argument("--start", help="simulated time of the first frame (ISO 8601)")
    simulate.add_argument("--replay", metavar="FILE", help="send the frames of a capture")
    simulate.add_argument("--hex", action="store_true", help="the replayed file holds hex text")
    simulate.add_argument("--count", type=_positive_int, help="stop after N frames")
    simulate.add_argument("--model", help="the meter model of a DLMS standard (e.g. lg-e450-mbus)")
    simulate.add_argument(
        "--line-format",
        type=_serial_format,
        metavar="FORMAT",
        help='with --pty: the meter sends at FORMAT (e.g. "2400 8E1") through a simulated '
        "serial line; a reader at another format receives what a real UART would",
    )

    detect_ = commands.add_parser(
        "detect", help="find the standard and serial format of the meter on a port"
    )
    detect_.add_argument("--port", required=True, metavar="URL", help="device path or URL")
    detect_.add_argument(
        "--budget", type=float, default=60.0, help="give up after S seconds (default 60)"
    )
    detect_.add_argument(
        "--cadence",
        type=float,
        default=Timing().cadence,
        help="the longest push interval to wait for at each format (default 10 s)",
    )
    return parser


_COMMANDS: Final = {
    "decode": _command_decode,
    "read": _command_read,
    "simulate": _command_simulate,
    "detect": _command_detect,
}


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the tool; returns the exit code."""
    streams = _Streams(stdout or sys.stdout, stderr or sys.stderr)
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(streams.out), contextlib.redirect_stderr(streams.err):
            args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        return _COMMANDS[args.command](args, streams)
    except UsageError as err:
        print(f"error: {err}", file=streams.err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
