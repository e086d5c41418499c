"""Timestamp reconstruction: every timestamp becomes UTC epoch microseconds (an int).

The zone belongs to the source (`tz`), not to the machine that parses it:
- ISO 8601 with an offset is exact; without one, the source's zone applies (an
  ambiguous wall time in a DST fold takes its first occurrence, fold=0).
- RFC 3164 syslog (`Nov 27 21:09:05`, no year): `SyslogClock` takes the year from the
  file's mtime, rolls it over when the month jumps backwards (Dec -> Jan) inside the
  file, and never yields a time later than mtime + 1 day.
- time of day only (`21:09:05.123`): `TimeOfDayClock` takes the date from an earlier
  line, the file name or (last resort) the mtime, and rolls over at midnight when the
  time goes backwards by more than a tolerance.
- epoch seconds, milliseconds or microseconds: told apart by magnitude.
The clocks keep their state in a small JSON-serialisable dict (ParseResult.context).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "TimestampError",
    "zone",
    "iso_to_us",
    "IsoSeconds",
    "epoch_to_us",
    "clf_to_us",
    "slash_to_us",
    "short_to_us",
    "ctime_to_us",
    "wall_to_us",
    "SyslogClock",
    "TimeOfDayClock",
    "date_from_name",
    "MONTHS",
]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
DAY_US = 86_400_000_000


class TimestampError(ValueError):
    """A timestamp that matched the grammar but is not a real instant (month 13...)."""


@lru_cache(maxsize=64)
def zone(name: str | None) -> tzinfo:
    """The tzinfo for an IANA name ('UTC' and None -> UTC). Raises TimestampError."""
    if name is None or name.upper() in ("UTC", "Z", "ETC/UTC"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimestampError(f"unknown time zone {name!r}") from exc


def _to_us(dt: datetime) -> int:
    return (dt - EPOCH) // _US


def iso_to_us(text: str, tz: tzinfo) -> int:
    """ISO 8601 (any offset; none -> `tz`) -> UTC epoch microseconds."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimestampError(f"bad ISO timestamp {str(text)!r}: {exc}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return _to_us(dt)


_SECONDS: dict[str, int] = {}  # IsoSeconds' table: `YYYY-MM-DDTHH:MM:SS` + offset -> epoch us


class IsoSeconds:
    """`iso_to_us` for a stream of timestamps, with the instant of each whole second
    cached: a log writes many lines per second, and `2026-11-27T21:09:05.123+00:00`
    is the second `2026-11-27T21:09:05+00:00` plus 123,000 us exactly (an explicit
    offset is a fixed one, so nothing depends on the fraction). Only that common shape
    (`T`, three or six ASCII digits after `.`, `Z` or `+hh:mm`) takes the cache; any
    other text, and any error (with its own message), goes through `iso_to_us`."""

    MAX = 4096  # cached seconds; when full, it starts again empty

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        # the cached texts carry their offset, so the zone does not matter: one table
        # per process, warm across parsers
        self._seconds = _SECONDS

    def __call__(self, text: str) -> int:
        n = len(text)
        if n == 29 or n == 24:  # .fff then +hh:mm or Z
            cut = 23
        elif n == 32 or n == 27:  # .ffffff then +hh:mm or Z
            cut = 26
        else:
            return iso_to_us(text, self.tz)
        frac = text[20:cut]
        if text[19] != "." or not (frac.isdigit() and frac.isascii()):
            return iso_to_us(text, self.tz)
        key = text[:19] + text[cut:]
        base = self._seconds.get(key)  # only keys of the shape above are ever stored
        if base is None:
            zone_ = text[cut:]
            if text[10] != "T" or not (zone_ == "Z" or (len(zone_) == 6 and zone_[0] in "+-" and zone_[3] == ":")):
                return iso_to_us(text, self.tz)
            try:
                base = iso_to_us(key, self.tz)
            except TimestampError:
                return iso_to_us(text, self.tz)  # raises with the whole text in its message
            if len(self._seconds) >= self.MAX:
                self._seconds.clear()
            self._seconds[key] = base
        return base + (int(frac) * 1000 if cut == 23 else int(frac))


_WALL_MINUTES: dict[tuple[int, int, int, int, int, tzinfo], int] = {}  # wall_to_us' table
_WALL_MINUTES_MAX = 8192  # minutes cached; when full, it starts again empty


def wall_to_us(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, tz: tzinfo) -> int:
    """A wall-clock time in `tz` -> UTC epoch microseconds (fold=0 in a DST overlap).

    The instant of each wall-clock minute is cached (a log writes many lines a minute;
    building an aware datetime is most of a syslog or access-log line's time): a time
    in a cached minute is its start plus the seconds. A minute is cached only when its
    :00 and :59 are 59 s apart, that is when one offset holds all through it (tzdata's
    transitions are minutes apart or more; one inside a minute, as from a mean solar
    time, leaves that minute to the full path)."""
    if 0 <= s <= 59 and 0 <= us <= 999_999:
        key = (y, mo, d, h, mi, tz)
        base = _WALL_MINUTES.get(key)
        if base is not None:
            return base + s * 1_000_000 + us
        t = _wall_to_us(y, mo, d, h, mi, s, us, tz)  # raises for a bad time, with its own text
        base = _wall_to_us(y, mo, d, h, mi, 0, 0, tz)
        if _wall_to_us(y, mo, d, h, mi, 59, 0, tz) - base == 59_000_000 and t == base + s * 1_000_000 + us:
            if len(_WALL_MINUTES) >= _WALL_MINUTES_MAX:
                _WALL_MINUTES.clear()
            _WALL_MINUTES[key] = base
        return t
    return _wall_to_us(y, mo, d, h, mi, s, us, tz)


def _wall_to_us(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, tz: tzinfo) -> int:
    try:
        return _to_us(datetime(y, mo, d, h, mi, s, us, tzinfo=tz))
    except ValueError as exc:
        raise TimestampError(f"bad date/time {y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}: {exc}") from None


def epoch_to_us(text: str) -> int:
    """Epoch seconds, milliseconds or microseconds (by magnitude of the integer part).

    < 1e11 is seconds (until the year 5138), < 1e14 milliseconds, < 1e17 microseconds,
    else nanoseconds (OpenTelemetry's `timeUnixNano`).
    Exact: the fraction is read as decimal digits, not through a float.
    """
    whole, _, frac = text.partition(".")
    n = int(whole)
    if n < 100_000_000_000:
        scale = 1_000_000
    elif n < 100_000_000_000_000:
        scale = 1_000
    elif n < 100_000_000_000_000_000:
        scale = 1
    else:
        return n // 1_000
    us = n * scale
    if frac and scale > 1:
        digits = len(str(scale)) - 1
        us += int((frac + "0" * digits)[:digits])
    return us


_CLF = re.compile(r"\[?(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\]?")


_CLF_MINUTES: dict[str, int] = {}  # clf_to_us' table: the text without its seconds -> the minute's epoch us
_CLF_MINUTES_MAX = 4096  # when full, it starts again empty


def clf_to_us(text: str) -> int:
    """Apache/nginx `[27/Nov/2026:21:09:05 +0100]` -> UTC epoch microseconds.

    An access log writes many lines a minute: the instant of each minute (the text
    with its seconds left out: its offset is fixed, so a second is 1,000,000 us more)
    is cached, and a line whose seconds are two ASCII digits below 60 is that minute
    plus them, at a sixth of the cost. Only the bracketed shape the regex reads, with
    its fields at fixed places, takes the cache: the rest of the text is the text of
    a minute the full path accepted, so the whole text matches where it did."""
    if len(text) == 28 and text[0] == "[" and text[27] == "]":
        ss = text[19:21]
        if ss.isascii() and ss.isdigit() and ss < "60":
            key = text[:19] + text[21:]
            base = _CLF_MINUTES.get(key)
            if base is not None:
                return base + int(ss) * 1_000_000
            us = _clf_to_us(text)  # raises for a text the regex refuses, with its message
            if len(_CLF_MINUTES) >= _CLF_MINUTES_MAX:
                _CLF_MINUTES.clear()
            _CLF_MINUTES[key] = us - int(ss) * 1_000_000
            return us
    return _clf_to_us(text)


def _clf_to_us(text: str) -> int:
    m = _CLF.fullmatch(text)
    if m is None or m.group(2) not in MONTHS:
        raise TimestampError(f"bad access-log timestamp {text!r}")
    d, mon, y, h, mi, s, sign, oh, om = m.groups()
    offset = timedelta(hours=int(oh), minutes=int(om))
    if offset >= timedelta(hours=24):  # timezone() refuses it with a ValueError of its own
        raise TimestampError(f"bad access-log timestamp {text!r}: offset {sign}{oh}{om} is a day or more")
    tz = timezone(offset if sign == "+" else -offset)
    return wall_to_us(int(y), MONTHS[mon], int(d), int(h), int(mi), int(s), 0, tz)


def _fraction_us(frac: str) -> int:
    return int((frac + "000000")[:6]) if frac else 0


_SLASH = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?")


def slash_to_us(text: str, tz: tzinfo) -> int:
    """Go's log and nginx's error log `2026/11/30 14:00:01[.123456]`, in the source's zone."""
    m = _SLASH.fullmatch(text)
    if m is None:
        raise TimestampError(f"bad timestamp {text!r} (expected YYYY/MM/DD HH:MM:SS)")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    return wall_to_us(y, mo, d, h, mi, s, _fraction_us(m.group(7) or ""), tz)


_SHORT = re.compile(r"(\d\d)/?(\d\d)/?(\d\d) (\d\d):?(\d\d):?(\d\d)(?:[.,](\d{1,9}))?")


def short_to_us(text: str, tz: tzinfo) -> int:
    """log4j's `yy/MM/dd HH:mm:ss` and `yyMMdd HHmmss` (two-digit years are 20yy)."""
    m = _SHORT.fullmatch(text)
    if m is None:
        raise TimestampError(f"bad timestamp {text!r} (expected yy/MM/dd HH:mm:ss or yyMMdd HHmmss)")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    return wall_to_us(2000 + y, mo, d, h, mi, s, _fraction_us(m.group(7) or ""), tz)


_CTIME = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\w{3}) ( \d|\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? (\d{4})")


def ctime_to_us(text: str, tz: tzinfo) -> int:
    """C's ctime() as Apache's error log writes it: `Wed Oct 11 14:32:52[.123456] 2000`."""
    m = _CTIME.fullmatch(text)
    if m is None or m.group(1) not in MONTHS:
        raise TimestampError(f"bad timestamp {text!r} (expected Wed Oct 11 14:32:52 2000)")
    mon, d, h, mi, s, frac, y = m.groups()
    return wall_to_us(int(y), MONTHS[mon], int(d), int(h), int(mi), int(s), _fraction_us(frac or ""), tz)


class SyslogClock:
    """Years for RFC 3164 timestamps (`Nov 27 21:09:05`), which have none.

    The first line takes the year given (`--year`: context {"year": N} without a month),
    else the year of the nearest line above it with a full date (`anchor`), else the year
    of the file's mtime (or of a date in the file name, which wins: copies and archives
    reset mtimes), minus one if that would put the line later than that reference + 1 day. Later lines keep the year, plus one when the month
    jumps back by six or more (Dec -> Jan), minus one for a line that jumps forward by
    six or more (an out-of-order Dec line after Jan) without moving the clock.
    Context: {"year": int, "month": int}.
    """

    def __init__(self, tz: tzinfo, mtime: float | None, context: dict[str, Any] | None,
                 path: str | None = None) -> None:
        self.tz = tz
        ref = mtime if mtime is not None else datetime.now(timezone.utc).timestamp()
        named = date_from_name(path)
        if named is not None:
            # a date in the file name (`messages-20261130`: logrotate's dateext, the day of
            # the rotation) is trusted over the mtime, which a copy or an archive resets
            d = date.fromisoformat(named)
            ref = datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=tz).timestamp()
        self.limit_us = int(ref * 1_000_000) + DAY_US
        self.ref_year = datetime.fromtimestamp(ref, tz).year
        ctx = context or {}
        self.year: int | None = ctx.get("year")
        self.month: int | None = ctx.get("month")

    def context(self) -> dict[str, Any]:
        return {} if self.year is None else {"year": self.year, "month": self.month}

    def anchor(self, us: int) -> None:
        """A line of the same source with a full date (an RFC 3339 stamp among RFC 3164
        ones) sets the year and month the next year-less lines continue from."""
        d = datetime.fromtimestamp(us / 1_000_000, self.tz)
        self.year, self.month = d.year, d.month

    def to_us(self, text: str) -> int:
        mon = MONTHS[text[:3]]
        day = int(text[4:6])
        h, mi, s = int(text[7:9]), int(text[10:12]), int(text[13:15])
        return self.at(mon, day, h, mi, s, 0)

    def month_day_to_us(self, text: str) -> int:
        """Android logcat's `11-30 09:15:02.123` (no year either): as `to_us`."""
        m = _MONTH_DAY.fullmatch(text)
        if m is None:
            raise TimestampError(f"bad timestamp {text!r} (expected MM-DD HH:MM:SS.mmm)")
        mon, day, h, mi, s = (int(g) for g in m.groups()[:5])
        if not 1 <= mon <= 12:
            raise TimestampError(f"bad timestamp {text!r}: month {mon}")
        return self.at(mon, day, h, mi, s, _fraction_us(m.group(6) or ""))

    def at(self, mon: int, day: int, h: int, mi: int, s: int, us: int) -> int:
        """A wall time without a year -> UTC epoch microseconds (the year rule above)."""
        if self.month is None and self.year is not None:  # a given year (`--year`): the first line's
            self.month = mon
        if self.year is None:
            year = self.ref_year
            t = wall_to_us(year, mon, day, h, mi, s, us, self.tz) if not (mon == 2 and day == 29) else None
            if t is None or t > self.limit_us:
                year -= 1
            self.year, self.month = year, mon
        elif mon <= self.month - 6:  # Dec -> Jan: a new year inside the file
            self.year += 1
            self.month = mon
        elif mon >= self.month + 6:  # an out-of-order line from before the New Year
            return wall_to_us(self.year - 1, mon, day, h, mi, s, us, self.tz)
        else:
            self.month = max(self.month, mon)
        return wall_to_us(self.year, mon, day, h, mi, s, us, self.tz)


_MONTH_DAY = re.compile(r"(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?")


_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d\d)-?(\d\d)(?!\d)")


def date_from_name(name: str | None) -> str | None:
    """The first plausible `YYYY-MM-DD` / `YYYYMMDD` in a file name, as ISO text."""
    if not name:
        return None
    for m in _NAME_DATE.finditer(name.replace("\\", "/").rsplit("/", 1)[-1]):
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            continue
    return None


class TimeOfDayClock:
    """Dates for time-of-day-only timestamps (`21:09:05.123`).

    The date comes from an earlier line (`set_date`), else the file name, else the
    file's mtime (in the source's zone). When the time goes backwards by more than
    `tolerance_s` the day rolls over (midnight); smaller steps back are out-of-order
    lines of the same day. Context: {"date": "YYYY-MM-DD", "last_s": seconds of day}.
    """

    def __init__(self, tz: tzinfo, mtime: float | None, context: dict[str, Any] | None,
                 path: str | None = None, tolerance_s: float = 3600.0) -> None:
        self.tz = tz
        self.tolerance_s = tolerance_s
        ctx = context or {}
        start = ctx.get("date") or date_from_name(path)
        if start is None:
            ref = mtime if mtime is not None else datetime.now(timezone.utc).timestamp()
            start = datetime.fromtimestamp(ref, tz).date().isoformat()
        self.day = date.fromisoformat(start)
        self.last_s: float | None = ctx.get("last_s")

    def context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {"date": self.day.isoformat()}
        if self.last_s is not None:
            ctx["last_s"] = self.last_s
        return ctx

    def set_date(self, iso_date: str) -> None:
        """A line that carries a date (a header, a rotation banner) sets the day."""
        self.day = date.fromisoformat(iso_date[:10])
        self.last_s = None

    def to_us(self, text: str) -> int:
        h, mi, s = int(text[0:2]), int(text[3:5]), int(text[6:8])
        frac = text[9:] if len(text) > 8 else ""
        secs = h * 3600 + mi * 60 + s + (int(frac) / 10 ** len(frac) if frac else 0.0)
        if self.last_s is not None and secs < self.last_s - self.tolerance_s:
            self.day += timedelta(days=1)
            self.last_s = secs
        elif self.last_s is None or secs > self.last_s:
            self.last_s = secs
        d = self.day
        return wall_to_us(d.year, d.month, d.day, h, mi, s, _fraction_us(frac), self.tz)
