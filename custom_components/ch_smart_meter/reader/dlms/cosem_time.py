"""COSEM date-time (12 bytes) to an aware ``datetime``.

Layout: year (uint16, 0xFFFF unspecified), month, day of month, day of week, hour, minute,
second, hundredths (0xFF = unspecified), deviation (int16 minutes, 0x8000 = unspecified),
clock status (bit 7 = daylight saving time active).

Two rules make the result right for Swiss meters:

* The deviation sign is the one the meters use: they send -120 during CEST, i.e.
  ``UTC = local time + deviation``, so the UTC offset is ``-deviation``.
* An unspecified deviation (L&G E450, Kamstrup) means the meter's local time: it is
  localised with the configured zone (Europe/Zurich by default), never with the host's zone,
  and the clock status DST bit picks the right hour in the autumn overlap.

The result always carries a fixed UTC offset (``+02:00``), the meter's offset at that
instant: arithmetic between two readings is then right even across the autumn overlap,
where zone-aware datetimes of the same zone ignore the fold.

A time whose date or hour/minute is unspecified (or invalid) gives ``None``: the caller then
stamps the reading with the host clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

DEVIATION_UNSPECIFIED = 0x8000
STATUS_DST_ACTIVE = 0x80
# Deviations beyond this are not time zones (UTC-12 ... UTC+14): treat them as unspecified.
_MAX_DEVIATION_MINUTES = 14 * 60

_OFFSETS: dict[int, timezone] = {}


def _fixed_offset(minutes: int) -> timezone:
    zone = _OFFSETS.get(minutes)
    if zone is None:
        zone = timezone(timedelta(minutes=minutes)) if minutes else UTC
        _OFFSETS[minutes] = zone
    return zone


def _with_offset(local: datetime, offset: timedelta | None) -> datetime:
    """The same wall time with a fixed UTC offset (no fold ambiguity in arithmetic)."""
    if offset is None:
        return local
    return local.replace(tzinfo=_fixed_offset(offset // timedelta(minutes=1)), fold=0)


_LOCAL_OFFSETS: dict[tuple[tzinfo, int, int, int, int, int, int], tzinfo] = {}
_MAX_LOCAL_OFFSETS = 256


def _local_offset(
    zone: tzinfo, year: int, month: int, day: int, *, hour: int, minute: int, dst: bool
) -> tzinfo:
    """The fixed offset of a wall time in ``zone``; in the autumn overlap the DST flag
    decides (without it the meter means the second occurrence, standard time)."""
    local = datetime(year, month, day, hour, minute, tzinfo=zone)
    offset = local.utcoffset()
    if not dst:
        later = local.replace(fold=1).utcoffset()
        if later is not None and later != offset:
            offset = later
    if offset is None:
        return zone
    return _fixed_offset(offset // timedelta(minutes=1))


def parse_datetime(raw: bytes, local_zone: tzinfo) -> datetime | None:
    """The aware datetime of a 12-byte COSEM date-time, or None when it names no instant."""
    if len(raw) != 12:
        return None
    year = raw[0] << 8 | raw[1]
    month, day, hour, minute, second, hundredths = raw[2], raw[3], raw[5], raw[6], raw[7], raw[8]
    # 0xFFFF/0xFF unspecified, 0xFD/0xFE month/day "DST begin/end", "last day": no instant.
    if year == 0xFFFF or month > 12 or day > 31 or hour > 23 or minute > 59:
        return None
    if month == 0 or day == 0:
        return None
    if second > 59:
        second = 0
    microsecond = hundredths * 10_000 if hundredths < 100 else 0
    deviation = raw[9] << 8 | raw[10]
    try:
        if deviation == DEVIATION_UNSPECIFIED:
            dst = raw[11] & STATUS_DST_ACTIVE
            # Zone offsets change at most every quarter hour: remember them per quarter.
            key = (local_zone, year, month, day, hour, minute // 15, dst)
            zone = _LOCAL_OFFSETS.get(key)
            if zone is None:
                zone = _local_offset(
                    local_zone, year, month, day, hour=hour, minute=minute, dst=bool(dst)
                )
                if len(_LOCAL_OFFSETS) > _MAX_LOCAL_OFFSETS:
                    _LOCAL_OFFSETS.clear()
                _LOCAL_OFFSETS[key] = zone
            return datetime(year, month, day, hour, minute, second, microsecond, zone)
        if deviation >= 0x8000:
            deviation -= 0x10000
        if abs(deviation) > _MAX_DEVIATION_MINUTES:
            local = datetime(year, month, day, hour, minute, second, microsecond, local_zone)
            return _with_offset(local, local.utcoffset())
        return datetime(
            year, month, day, hour, minute, second, microsecond, _fixed_offset(-deviation)
        )
    except ValueError:  # e.g. 31 February
        return None
