"""Time arithmetic in integer epoch milliseconds, UTC calendar months
(docs/scoring-rules.md sections 3, 9).

A *month index* is ``year * 12 + (month - 1)``; it orders months and makes "M-12" a
subtraction. Times are parsed by hand because generic decoders round sub-millisecond
digits or accept a space separator, which the rules forbid.
"""

from __future__ import annotations

import calendar
import functools
import re

from scoring.errors import InvalidTime

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "InvalidTime",
    "days_in_month",
    "format_day",
    "format_period",
    "format_time_ms",
    "format_time_of_day",
    "latest_closed_month",
    "month_of",
    "month_start_ms",
    "parse_period",
    "parse_time_ms",
]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

_RFC3339 = re.compile(  # ASCII: \d must not match other scripts' digits
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,
)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y = year - (1 if month <= 2 else 0)
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    z = days + 719_468
    era = (z if z >= 0 else z - 146_096) // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def parse_time_ms(text: str) -> int:
    """Parse an RFC 3339 time to UTC epoch ms, truncating digits below the millisecond."""
    match = _RFC3339.match(text)
    if match is None:
        raise InvalidTime("time must be RFC 3339, e.g. 2026-01-31T23:59:59Z")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    if not 1 <= month <= 12:
        raise InvalidTime("month out of range")
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise InvalidTime("day out of range")
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidTime("hour, minute or second out of range")
    fraction = match.group(7) or ""
    millis = int((fraction + "000")[:3])
    offset_ms = 0
    if match.group(8) is None:
        off_h, off_m = int(match.group(10)), int(match.group(11))
        if off_h > 23 or off_m > 59:
            raise InvalidTime("offset out of range")
        offset_ms = (off_h * 60 + off_m) * 60_000
        if match.group(9) == "-":
            offset_ms = -offset_ms
    local_ms = (
        _days_from_civil(year, month, day) * DAY_MS
        + ((hour * 60 + minute) * 60 + second) * 1000
        + millis
    )
    return local_ms - offset_ms


def format_time_ms(time_ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS[.mmm]Z``, the fraction only when non-zero (section 9)."""
    days, ms_of_day = divmod(time_ms, DAY_MS)
    return format_day(days) + format_time_of_day(ms_of_day)


def format_day(days: int) -> str:
    """``YYYY-MM-DDT`` of a day since 1970-01-01: the first part of :func:`format_time_ms`."""
    year, month, day = _civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}T"


def format_time_of_day(ms_of_day: int) -> str:
    """``HH:MM:SS[.mmm]Z``: the second part of :func:`format_time_ms`."""
    seconds, millis = divmod(ms_of_day, 1000)
    hh, rem = divmod(seconds, 3600)
    mm, ss = divmod(rem, 60)
    if millis:
        return f"{hh:02d}:{mm:02d}:{ss:02d}.{millis:03d}Z"
    return f"{hh:02d}:{mm:02d}:{ss:02d}Z"


def month_of(time_ms: int) -> int:
    """Month index of the UTC calendar month containing ``time_ms``."""
    return _month_of_day(time_ms // DAY_MS)


@functools.lru_cache(maxsize=1 << 14)
def _month_of_day(day: int) -> int:
    """Memoised: a pass asks for the month of the same few days again and again."""
    year, month, _ = _civil_from_days(day)
    return year * 12 + month - 1


def month_start_ms(month: int) -> int:
    """First instant of a month index."""
    year, month0 = divmod(month, 12)
    return _days_from_civil(year, month0 + 1, 1) * DAY_MS


def days_in_month(month: int) -> int:
    year, month0 = divmod(month, 12)
    return calendar.monthrange(year, month0 + 1)[1]


def format_period(month: int) -> str:
    """``YYYY-MM`` of a month index."""
    year, month0 = divmod(month, 12)
    return f"{year:04d}-{month0 + 1:02d}"


def parse_period(text: str) -> int:
    """Month index of ``YYYY-MM``."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text, re.ASCII)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InvalidTime("period must be YYYY-MM")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def latest_closed_month(watermark_ms: int, grace_ms: int) -> int:
    """The latest month M with watermark >= start(M+1) + grace (section 3)."""
    month = month_of(watermark_ms - grace_ms)
    # month_of(w - g) = M+1 exactly when start(M+1) <= w - g, so M+1 closes month M.
    return month - 1
