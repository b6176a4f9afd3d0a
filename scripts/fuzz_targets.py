"""The fuzzer's targets: one entry per standard (and per way its meters send).

Each :class:`Target` says which decoder is fed, how its units are made (simulated meters
of ``reader/simulate``, or the real captures of ../shared/testdata, read in place), how
far apart they come and what protects them. Adding a standard to the fuzzer means adding
its generator and one entry to :data:`TARGETS`; ``scripts/lib_fuzz.py`` does the rest.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"
sys.path.insert(0, str(REPO_ROOT))

from custom_components.ch_smart_meter.reader.chsmr import encode_payload  # noqa: E402
from custom_components.ch_smart_meter.reader.dlms.cipher import (  # noqa: E402
    SMARTY_AUTHENTICATION_KEY,
)
from custom_components.ch_smart_meter.reader.dsmr.telegram import DsmrDecoder  # noqa: E402
from custom_components.ch_smart_meter.reader.kmp import codec as kmp_codec  # noqa: E402
from custom_components.ch_smart_meter.reader.kmp import poller as kmp_poller  # noqa: E402
from custom_components.ch_smart_meter.reader.kmp.codec import Command  # noqa: E402
from custom_components.ch_smart_meter.reader.mep import message as mep_message  # noqa: E402
from custom_components.ch_smart_meter.reader.mep.meter import (  # noqa: E402
    Gathered,
    MeterKnowledge,
)
from custom_components.ch_smart_meter.reader.mep.tables import Read  # noqa: E402
from custom_components.ch_smart_meter.reader.model import Reading, Standard  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate import kmp_meter  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.dlms_meters import (  # noqa: E402
    SimulatedDlmsMeter,
    create_dlms_source,
)
from custom_components.ch_smart_meter.reader.simulate.dlms_models import (  # noqa: E402
    MODELS,
    ObjectKind,
)
from custom_components.ch_smart_meter.reader.simulate.dsmr_telegram import (  # noqa: E402
    encode_telegram,
    encrypt_smarty,
)
from custom_components.ch_smart_meter.reader.simulate.household import (  # noqa: E402
    HouseholdModel,
)
from custom_components.ch_smart_meter.reader.simulate.kmp_meter import KmpMeter  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.mep_meter import (  # noqa: E402
    DEMO_MBK,
    MepSource,
)
from custom_components.ch_smart_meter.reader.simulate.meters import dsmr as dsmr_meter  # noqa: E402
from custom_components.ch_smart_meter.reader.simulate.source import SourceOptions  # noqa: E402
from custom_components.ch_smart_meter.reader.spec import SWISS_TIME, DecoderOptions  # noqa: E402

HOST_TIME = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
START = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # the night of the spring DST change
KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AUTH_KEY = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
POOL = 240  # units generated per target and process; streams take windows of them
ABSURD_SHARE = 0.03


class Link(StrEnum):
    """How a reading's frame splits into the parts a checksum protects."""

    DSMR = "dsmr"  # a telegram (CRC-16/ARC, none on DSMR 2.2/3) or a Smarty envelope (GCM)
    DLMS = "dlms"  # HDLC frames (CRC-16/X.25), M-Bus long frames (8-bit sum), raw APDUs
    LINE = "line"  # a CH-SMR message: no checksum
    KMP = "kmp"  # a KMP answer: byte stuffing and CRC-16/XMODEM
    MEP = "mep"  # MEP answers written as '< hex' lines: the 8-byte keyed MEP digest


@dataclass(frozen=True)
class Unit:
    """One message as the meter sends it: its frames, in order."""

    frames: tuple[bytes, ...]
    options: DecoderOptions | None = None  # captures carry their own keys
    absurd: bool = False
    name: str = ""
    # What a polled meter's dialogue says before its readings (the identification
    # exchanges): fed undamaged at the start of every stream and before a unit decoded
    # alone, so that each unit stands alone; the same for every unit of a target.
    context: bytes = b""


@dataclass(frozen=True)
class Target:
    """A way a decoder is fed: the units, their spacing and what protects them."""

    name: str
    standard: Standard
    link: Link
    units: Callable[[int], list[Unit]]  # seed -> units in time order
    interval: float = 10.0  # seconds between two units (live streams)
    baud: int = 115200
    key: bytes | None = None
    authentication_key: bytes | None = None
    authenticated: bool = False  # an AES-GCM tag protects every unit
    # Units are framed outside the byte stream (CH-SMR: one MQTT message each; MEP: the
    # lines of a capture, a cut line ending where the capture's next line starts): damage
    # stays inside its unit, each unit and each garbage run ends with this.
    separator: bytes = b""
    captures: bool = False  # units are real captures: a damaged copy, then the original
    # Bytes that start, end or escape this format's frames, mixed into the garbage between
    # units (besides the other formats' start bytes).
    frame_bytes: bytes = b""


def _moments(count: int, interval: float) -> Iterator[datetime]:
    return (START + timedelta(seconds=interval * index) for index in range(count))


def _absurd_dsmr(moment: datetime, meter_id: str, rng: random.Random) -> bytes:
    big = rng.choice(("999999.999", "0", "000000.001"))
    values = dict.fromkeys(dsmr_meter.DSMR_CODES, "0") | {
        "1.8.1": big,
        "1.8.2": rng.choice((big, "0")),
        "1.7.0": rng.choice(("99.999", "0")),
        "32.7.0": rng.choice(("999.9", "0", "23.0")),
        "31.7.0": rng.choice(("999", "0")),
    }
    return encode_telegram(
        values,
        timestamp=moment,
        equipment_id=meter_id,
        identification=dsmr_meter.IDENTIFICATION,
    )


def _dsmr_units(seed: int, *, key: bytes | None = None, interval: float = 1.0) -> list[Unit]:
    source = dsmr_meter.DsmrSource(SourceOptions(seed=seed, key=key))
    rng = random.Random(f"{seed}/absurd")
    units = []
    for moment in _moments(POOL, interval):
        if rng.random() >= ABSURD_SHARE:
            units.append(Unit((source.frame_at(moment),)))
            continue
        telegram = _absurd_dsmr(moment.astimezone(SWISS_TIME), source.meter_id, rng)
        if key is not None:
            title = dsmr_meter.system_title(seed)
            telegram = encrypt_smarty(
                telegram, key, title, source.counter, SMARTY_AUTHENTICATION_KEY
            )
            source.counter += 1
        units.append(Unit((telegram,), absurd=True))
    return units


def _legacy_units(seed: int) -> list[Unit]:
    """DSMR 2.2/3 telegrams: no CRC, no version line."""
    household = HouseholdModel(seed)
    units = []
    for moment in _moments(POOL, 10.0):
        values = household.step(moment).values()
        telegram = encode_telegram(
            {code: values[code] for code in dsmr_meter.DSMR_CODES[:6]},
            timestamp=moment,
            version=None,
            crc=False,
            status_lines=False,
            identification="ISk5\\2MT382-1000",
        )
        units.append(Unit((telegram,)))
    return units


def _chsmr_units(seed: int) -> list[Unit]:
    decoder = DsmrDecoder(DecoderOptions(clock=lambda: HOST_TIME))
    units = []
    for unit in _dsmr_units(seed, interval=10.0):
        reading = decoder.decode_frame(unit.frames[0])
        if isinstance(reading, Reading):
            units.append(Unit((encode_payload(reading).encode(),)))
    return units


def _absurd_counts(meter: SimulatedDlmsMeter, rng: random.Random) -> dict[str, int]:
    counts = {}
    for item in meter.model.objects:
        if item.kind is ObjectKind.REGISTER:
            top = 0xFFFFFFFF if item.tag.name.startswith("DOUBLE") else 0xFFFF
            counts[item.code] = rng.choice((0, 1, top, top // 10))
    return counts


def _dlms_units(
    model: str, seed: int, *, key: bytes | None = None, auth: bytes | None = None
) -> list[Unit]:
    source = create_dlms_source(MODELS[model], seed=seed, key=key, authentication_key=auth)
    meter = source.meter
    rng = random.Random(f"{seed}/absurd")
    units = []
    for moment in _moments(POOL, MODELS[model].interval):
        if rng.random() < ABSURD_SHARE:
            push = meter.push_counts(_absurd_counts(meter, rng), moment)
            units.append(Unit(push.frames, absurd=True))
        else:
            units.append(Unit(meter.push_at(moment).frames))
    return units


def _kmp_units(seed: int) -> list[Unit]:
    """GetRegister exchanges of the poller's steady cycle with a simulated Kamstrup meter,
    after its GetSerialNo and GetType exchanges (the context: the meter id and model)."""
    meter = KmpMeter(SourceOptions(seed=seed))
    context = b""
    for command in (Command.GET_SERIAL, Command.GET_TYPE):
        request = kmp_codec.request(command)
        context += request + meter.respond(request, START)
    steps = kmp_poller.steady_cycle()
    rng = random.Random(f"{seed}/absurd")
    units = []
    for index, moment in enumerate(_moments(POOL, 5.0)):
        step = steps[index % len(steps)]
        if rng.random() < ABSURD_SHARE:
            answer = _absurd_kmp(step.registers, rng)
            units.append(Unit((step.request, answer), absurd=True, context=context))
        else:
            answer = meter.respond(step.request, moment)
            units.append(Unit((step.request, answer), context=context))
    return units


def _absurd_kmp(registers: tuple[int, ...], rng: random.Random) -> bytes:
    """A valid GetRegister answer with values at the edges of what the format holds."""
    data = bytearray()
    for register in registers:
        fmt = kmp_meter.FORMATS[register]
        decimals = rng.choice((0, fmt.decimals, 9))
        value = Decimal(rng.choice((0, 1, 2**32 - 1, 10**12))).scaleb(-decimals)
        value = -value if rng.random() < 0.2 else value
        data += register.to_bytes(2, "big") + bytes((fmt.unit,))
        data += kmp_meter.number(value, decimals, fmt.length)
    return kmp_meter.answer_frame(Command.GET_REGISTER, bytes(data))


def _mep_exchange(
    source: MepSource, read: Read, sequence: int, moment: datetime, *, encrypt: bool
) -> tuple[bytes, bytes, bytes]:
    """One read as a dialogue's two lines, and the answer's table data (b"" if refused)."""
    sent = mep_message.seal(
        source.key,
        mep_message.read_body(read.table, read.offset, read.length, sequence),
        encrypt=encrypt,
    )
    answer = source.respond(sent.wire, moment)
    opened = mep_message.open_answer(source.key, sent, answer)
    data = opened.data if opened.code == mep_message.ResponseCode.OK else b""
    return f"> {sent.wire.hex()}\n".encode(), f"< {answer.hex(' ')}\n".encode(), data


def _mep_units(seed: int, *, model: str | None = None, encrypt: bool = False) -> list[Unit]:
    """Reading cycles (BT52, BT28, BT23) of a simulated NES meter, after the dialogue's
    identification reads (the context: the meter id and register layout), asked as the
    poller asks: each request with the next sequence number."""
    source = MepSource(SourceOptions(seed=seed, model=model))
    sequence = source.sequence
    knowledge = MeterKnowledge()
    context = bytearray()
    while reads := knowledge.identification_reads():
        sequence += 1
        ask, answer, data = _mep_exchange(source, reads[0], sequence, START, encrypt=encrypt)
        context += ask + answer
        if data:
            knowledge.learn(reads[0], data, Gathered())
        else:
            knowledge.give_up(reads[0])
    units = []
    for moment in _moments(POOL, 10.0):
        lines: list[bytes] = []
        for read in knowledge.cycle_reads():
            sequence += 1
            lines += _mep_exchange(source, read, sequence, moment, encrypt=encrypt)[:2]
        units.append(Unit(tuple(lines), context=bytes(context)))
    return units


def _dsmr_captures(seed: int) -> list[Unit]:
    from tests.reader.test_dsmr_encrypted import ENVELOPES  # noqa: PLC0415

    folder = TESTDATA / "dsmr"
    units = [
        Unit(((folder / path.name).read_bytes(),), name=path.name)
        for path in sorted(folder.glob("*.txt"))
    ]
    for envelope in ENVELOPES:
        frame = bytes.fromhex("".join((folder / envelope.file).read_text().split()))
        options = DecoderOptions(encryption_key=bytes.fromhex(envelope.key), clock=host_time)
        units.append(Unit((frame,), options=options, name=envelope.file))
    return units


def _dlms_captures(standard: Standard, seed: int) -> list[Unit]:
    from tests.reader.dlms_corpus import CAPTURES  # noqa: PLC0415

    units = []
    for capture in CAPTURES:
        if capture.standard is standard:
            options = dataclasses.replace(capture.decoder_options(), clock=host_time)
            units.append(Unit(tuple(capture.lines()), options=options, name=capture.name))
    return units


def host_time() -> datetime:
    return HOST_TIME


TARGETS: tuple[Target, ...] = (
    Target("dsmr", Standard.DSMR, Link.DSMR, _dsmr_units, interval=1.0),
    Target(
        "dsmr-smarty",
        Standard.DSMR,
        Link.DSMR,
        lambda seed: _dsmr_units(seed, key=KEY, interval=10.0),
        key=KEY,
        authenticated=True,
    ),
    Target("dsmr-2.2", Standard.DSMR, Link.DSMR, _legacy_units, baud=9600),
    Target("dsmr-captures", Standard.DSMR, Link.DSMR, _dsmr_captures, captures=True),
    Target(
        "p1-dlms-am550",
        Standard.P1_DLMS,
        Link.DLMS,
        lambda seed: _dlms_units("iskra-am550", seed),
        interval=5.0,
    ),
    Target(
        "p1-dlms-e360-gcm",
        Standard.P1_DLMS,
        Link.DLMS,
        lambda seed: _dlms_units("lg-e360", seed, key=KEY, auth=AUTH_KEY),
        baud=9600,
        key=KEY,
        authentication_key=AUTH_KEY,
        authenticated=True,
    ),
    Target(
        "p1-dlms-captures",
        Standard.P1_DLMS,
        Link.DLMS,
        lambda seed: _dlms_captures(Standard.P1_DLMS, seed),
        captures=True,
    ),
    Target(
        "lg-e450-gbt",
        Standard.LG_MBUS,
        Link.DLMS,
        lambda seed: _dlms_units("lg-e450", seed),
        interval=5.0,
        baud=2400,
    ),
    Target(
        "lg-e450-gbt-gcm",
        Standard.LG_MBUS,
        Link.DLMS,
        lambda seed: _dlms_units("lg-e450", seed, key=KEY, auth=AUTH_KEY),
        interval=5.0,
        baud=2400,
        key=KEY,
        authentication_key=AUTH_KEY,
        authenticated=True,
    ),
    Target(
        "lg-e450-mbus",
        Standard.LG_MBUS,
        Link.DLMS,
        lambda seed: _dlms_units("lg-e450-mbus", seed),
        interval=5.0,
        baud=2400,
    ),
    Target(
        "lg-mbus-captures",
        Standard.LG_MBUS,
        Link.DLMS,
        lambda seed: _dlms_captures(Standard.LG_MBUS, seed),
        captures=True,
    ),
    Target(
        "kamstrup",
        Standard.KAMSTRUP_DLMS,
        Link.DLMS,
        lambda seed: _dlms_units("kamstrup-omnipower", seed),
        baud=2400,
    ),
    Target(
        "kamstrup-gcm",
        Standard.KAMSTRUP_DLMS,
        Link.DLMS,
        lambda seed: _dlms_units("kamstrup-omnipower-1ph", seed, key=KEY, auth=AUTH_KEY),
        baud=2400,
        key=KEY,
        authentication_key=AUTH_KEY,
        authenticated=True,
    ),
    Target(
        "kamstrup-captures",
        Standard.KAMSTRUP_DLMS,
        Link.DLMS,
        lambda seed: _dlms_captures(Standard.KAMSTRUP_DLMS, seed),
        captures=True,
    ),
    Target("ch-smr", Standard.CH_SMR, Link.LINE, _chsmr_units, separator=b"\n"),
    Target(
        "kmp",
        Standard.KMP,
        Link.KMP,
        _kmp_units,
        interval=5.0,
        baud=9600,
        frame_bytes=b"\x40\x80\x0d\x1b\x06",
    ),
    Target(
        "mep",
        Standard.MEP,
        Link.MEP,
        _mep_units,
        baud=9600,
        key=DEMO_MBK,
        separator=b"\n",
        frame_bytes=b"<> 0123456789abcdef#:-",
    ),
    Target(
        "mep-rc4-ct",
        Standard.MEP,
        Link.MEP,
        lambda seed: _mep_units(seed, model="nes-ct", encrypt=True),
        baud=9600,
        key=DEMO_MBK,
        separator=b"\n",
        frame_bytes=b"<> 0123456789abcdef#:-",
    ),
)
BY_NAME = {target.name: target for target in TARGETS}
