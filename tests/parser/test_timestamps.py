"""Timestamp reconstruction with known answers: ISO offsets, the source's zone, DST in a
named zone, syslog years (New Year's Eve, mtime + 1 day, out-of-order lines), time of
day with the date from the file name or an earlier line, epoch by magnitude, and the
context that carries a source across parse calls."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logship.parser import EntryParser, FormatRegistry
from logship.parser.timestamps import (IsoSeconds, SyslogClock, TimeOfDayClock, TimestampError, date_from_name,
                                       epoch_to_us, iso_to_us, zone)
from tests.hypothesis_profiles import examples


def us(iso: str) -> int:
    """Known answer: an aware ISO instant -> epoch microseconds."""
    dt = datetime.fromisoformat(iso)
    assert dt.tzinfo is not None
    return round(dt.timestamp() * 1_000_000)


def mtime(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


BERLIN = zone("Europe/Berlin")


@pytest.mark.parametrize("text, tz, want", [
    ("2026-11-27T21:09:05.123+00:00", "UTC", "2026-11-27T21:09:05.123+00:00"),
    ("2026-11-27T21:09:05.123Z", "Europe/Berlin", "2026-11-27T21:09:05.123+00:00"),
    ("2026-11-28T02:54:05.123+05:45", "UTC", "2026-11-27T21:09:05.123+00:00"),
    ("2026-11-27T13:09:05.123-0800", "UTC", "2026-11-27T21:09:05.123+00:00"),
    ("2026-11-27 22:09:05,123", "Europe/Berlin", "2026-11-27T21:09:05.123+00:00"),  # no zone: CET
    ("2026-07-01T12:00:00", "Europe/Berlin", "2026-07-01T10:00:00+00:00"),  # no zone: CEST
    ("2026-11-27T21:09:05.123456789+00:00", "UTC", "2026-11-27T21:09:05.123456+00:00"),
])
def test_iso_any_offset_and_source_zone(text, tz, want):
    assert iso_to_us(text, zone(tz)) == us(want)


def test_dst_change_in_a_named_zone():
    # Europe/Berlin springs forward at 2026-03-29 02:00 CET -> 03:00 CEST
    before = iso_to_us("2026-03-29T01:59:59", BERLIN)
    after = iso_to_us("2026-03-29T03:00:00", BERLIN)
    assert before == us("2026-03-29T00:59:59+00:00")
    assert after - before == 1_000_000
    # falls back at 2026-10-25 03:00 CEST -> 02:00 CET: an ambiguous wall time takes its first occurrence
    assert iso_to_us("2026-10-25T02:30:00", BERLIN) == us("2026-10-25T00:30:00+00:00")
    assert iso_to_us("2026-10-25T03:30:00", BERLIN) == us("2026-10-25T02:30:00+00:00")


def test_syslog_lines_across_a_dst_change():
    clock = SyslogClock(BERLIN, mtime("2026-03-30T00:00:00+00:00"), None)
    a = clock.to_us("Mar 29 01:59:59")
    b = clock.to_us("Mar 29 03:00:00")
    assert (a, b - a) == (us("2026-03-29T00:59:59+00:00"), 1_000_000)


def test_syslog_new_years_eve_rolls_over():
    clock = SyslogClock(zone("UTC"), mtime("2027-01-01T00:10:00+00:00"), None)
    assert clock.to_us("Dec 31 23:59:58") == us("2026-12-31T23:59:58+00:00")
    assert clock.to_us("Jan  1 00:00:01") == us("2027-01-01T00:00:01+00:00")
    assert clock.context() == {"year": 2027, "month": 1}


def test_syslog_never_later_than_mtime_plus_a_day():
    # `Dec 10` in a file written in November is last year's
    clock = SyslogClock(zone("UTC"), mtime("2026-11-27T12:00:00+00:00"), None)
    assert clock.to_us("Dec 10 08:00:00") == us("2025-12-10T08:00:00+00:00")
    # ... but a line of tomorrow (clock skew) stays this year
    clock = SyslogClock(zone("UTC"), mtime("2026-11-27T12:00:00+00:00"), None)
    assert clock.to_us("Nov 28 06:00:00") == us("2026-11-28T06:00:00+00:00")


def test_syslog_out_of_order_lines_around_new_year():
    clock = SyslogClock(zone("UTC"), mtime("2027-01-01T01:00:00+00:00"), None)
    assert clock.to_us("Jan  1 00:00:01") == us("2027-01-01T00:00:01+00:00")
    assert clock.to_us("Dec 31 23:59:59") == us("2026-12-31T23:59:59+00:00")  # late line from last year
    assert clock.to_us("Jan  1 00:00:02") == us("2027-01-01T00:00:02+00:00")  # the clock stayed in 2027
    # a small step back inside a year is just out of order
    clock = SyslogClock(zone("UTC"), mtime("2026-05-01T00:00:00+00:00"), None)
    assert clock.to_us("Apr  1 00:00:01") == us("2026-04-01T00:00:01+00:00")
    assert clock.to_us("Mar 31 23:59:59") == us("2026-03-31T23:59:59+00:00")


def test_syslog_bad_day_is_an_error():
    with pytest.raises(TimestampError):
        SyslogClock(zone("UTC"), mtime("2026-11-27T12:00:00+00:00"), None).to_us("Nov 31 00:00:00")


def test_syslog_year_survives_across_parse_calls():
    """The context of one call, given to a new parser, continues the year (a resumed
    stream after New Year, whose file mtime alone would not tell)."""
    first = b"Dec 31 23:59:59 web-01 app: last of the year\n"
    second = b"Jan  1 00:00:01 web-01 app: first of the next\n"
    m = mtime("2026-12-31T23:59:59+00:00")
    r1 = EntryParser("syslog", tz="UTC", mtime=m).parse(first, 0, final=False)
    assert r1.end_offset == len(first)  # no continuation lines: a complete line is a whole entry
    assert r1.context == {"year": 2026, "month": 12}
    r2 = EntryParser("syslog", tz="UTC", mtime=m, context=r1.context).parse(second, len(first), final=True)
    assert r2.batch.events.ts_us == [us("2027-01-01T00:00:01+00:00")]
    assert r2.context == {"year": 2027, "month": 1}
    assert EntryParser("syslog").format.context_free is False


@pytest.mark.parametrize("text, want", [
    ("1795813745", "2026-11-27T21:09:05+00:00"),
    ("1795813745.5", "2026-11-27T21:09:05.5+00:00"),
    ("1795813745123", "2026-11-27T21:09:05.123+00:00"),
    ("1795813745123456", "2026-11-27T21:09:05.123456+00:00"),
    ("946684800", "2000-01-01T00:00:00+00:00"),
])
def test_epoch_by_magnitude(text, want):
    assert epoch_to_us(text) == us(want)


def test_date_from_file_name():
    assert date_from_name("/var/log/app-2026-11-27.log") == "2026-11-27"
    assert date_from_name("app.20261127.log.gz") == "2026-11-27"
    assert date_from_name("app-2026-13-45.log") is None
    assert date_from_name("app.log") is None


def test_time_of_day_midnight_rollover_and_out_of_order():
    clock = TimeOfDayClock(zone("UTC"), None, None, path="logs/app-2026-12-31.log")
    assert clock.to_us("23:59:59.500") == us("2026-12-31T23:59:59.5+00:00")
    assert clock.to_us("23:59:58") == us("2026-12-31T23:59:58+00:00")  # out of order, same day
    assert clock.to_us("00:00:00.250") == us("2027-01-01T00:00:00.25+00:00")  # midnight
    assert clock.context() == {"date": "2027-01-01", "last_s": 0.25}
    again = TimeOfDayClock(zone("UTC"), None, clock.context(), path="logs/app-2026-12-31.log")
    assert again.to_us("00:00:01") == us("2027-01-01T00:00:01+00:00")


TOD_GRAMMAR = """\
// format: tod
// description: time-of-day lines with date banners
// continuation: indent
// context_free: false
// sample: 21:09:05.123 INFO started
// sample: === 2026-11-28 ===
%import common (TIME_OF_DAY, LEVEL, ISO_DATE, REST, SP)
start: TIME_OF_DAY LEVEL REST? | _BANNER ISO_DATE _BANNER
_BANNER: "==="
%ignore SP
"""


def test_time_of_day_format_with_date_banner_and_file_name(tmp_path: Path):
    (tmp_path / "tod.lark").write_text(TOD_GRAMMAR)
    reg = FormatRegistry([tmp_path])
    data = (b"23:59:59.900 INFO before midnight\n"
            b"00:00:00.100 WARN after midnight\n"
            b"=== 2027-03-28 ===\n"
            b"01:59:59 INFO before the change\n"
            b"03:00:00 INFO after the change\n")
    res = EntryParser("tod", tz="Europe/Berlin", path="/logs/app-2026-12-31.log", registry=reg).parse(data)
    e = res.batch.events
    assert len(res.batch.rejects) == 0
    assert e.ts_us == [us("2026-12-31T22:59:59.9+00:00"), us("2026-12-31T23:00:00.1+00:00"), us("2027-03-27T23:00:00+00:00"),
                       us("2027-03-28T00:59:59+00:00"), us("2027-03-28T01:00:00+00:00")]
    assert e.level == ["INFO", "WARN", None, "INFO", "INFO"]
    assert e.message[0] == "before midnight"
    assert res.context == {"date": "2027-03-28", "last_s": 10800.0}


def test_time_of_day_without_any_date_uses_the_mtime(tmp_path: Path):
    (tmp_path / "tod.lark").write_text(TOD_GRAMMAR)
    reg = FormatRegistry([tmp_path])
    res = EntryParser("tod", tz="UTC", mtime=mtime("2026-11-27T23:00:00+00:00"), registry=reg).parse(
        b"21:09:05.123 INFO x\n")
    assert res.batch.events.ts_us == [us("2026-11-27T21:09:05.123+00:00")]


def test_unknown_zone_is_an_error():
    with pytest.raises(TimestampError):
        zone("Mars/Olympus_Mons")


def test_timestamps_are_utc_instants_whatever_the_machine_zone(monkeypatch):
    import time
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert iso_to_us("2026-11-27T21:09:05", zone("UTC")) == us("2026-11-27T21:09:05+00:00")
        clock = SyslogClock(zone("UTC"), mtime("2026-11-27T23:00:00+00:00"), None)
        assert clock.to_us("Nov 27 21:09:05") == us("2026-11-27T21:09:05+00:00")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_now_is_used_without_mtime():
    clock = SyslogClock(zone("UTC"), None, None)
    assert clock.context() == {}
    year = datetime.now(timezone.utc).year
    got = clock.to_us("Jan  1 00:00:00")
    assert got in (us(f"{year}-01-01T00:00:00+00:00"), us(f"{year - 1}-01-01T00:00:00+00:00"))


@settings(max_examples=examples(300), deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)),
       st.sampled_from(["+00:00", "Z", "-05:30", "+14:00", "+0100", "", "+24:00", "+00:60"]),
       st.sampled_from([".%f", ".{ms}", ",{ms}", "", ".{ms}1", ".{ms}x", ".١٢٣"]),
       st.sampled_from(["T", " ", "t"]), st.sampled_from(["UTC", "Europe/Berlin"]))
def test_iso_seconds_cache_equals_iso_to_us(dt, offset, frac, sep, tz):
    """The per-second cache (the client handler's) gives exactly iso_to_us's instant or
    its error, for the shapes it caches and the ones it must hand on, twice over (warm)."""
    ms = f"{dt.microsecond // 1000:03d}"
    text = dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S{frac.replace('{ms}', ms) if '%' not in frac else frac}") + offset
    cache = IsoSeconds(zone(tz))
    for _ in range(2):
        try:
            want = iso_to_us(text, zone(tz))
        except TimestampError as exc:
            with pytest.raises(TimestampError) as got:
                cache(text)
            assert str(got.value) == str(exc)
        else:
            assert cache(text) == want, text


@settings(max_examples=examples(300), deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.sampled_from(["{S}", "60", "99", "5", "5x", "١٢", "-1", "07"]),
       st.sampled_from(["+0000", "-0530", "+1400", "+2400", "+0060", "0000", "+00:0"]),
       st.sampled_from(["{Mon}", "Foo", "nov", "Nov"]),
       st.sampled_from(["[{}]", "{}", "[{}", "{}]", "[{} ]"]))
def test_clf_minute_cache_equals_the_full_path(dt, second, offset, month, frame):
    """clf_to_us's per-minute cache gives exactly the uncached path's instant or its
    error: after a good text of the same minute has filled it, for seconds that are
    not two ASCII digits below 60, other offsets, months and brackets."""
    from logship.parser import timestamps as T

    def clf(sec: str) -> str:
        body = (f"{dt.day:02d}/{month.replace('{Mon}', dt.strftime('%b'))}/{dt.year:04d}:"
                f"{dt.hour:02d}:{dt.minute:02d}:{sec} {offset}")
        return frame.replace("{}", body)

    warm = clf(f"{dt.second:02d}")
    text = clf(second.replace("{S}", f"{dt.second:02d}"))
    T._CLF_MINUTES.clear()
    for _ in range(2):  # cold, then with the minute of `warm` cached (when it is good)
        try:
            want = T._clf_to_us(text)
        except TimestampError as exc:
            with pytest.raises(TimestampError) as got:
                T.clf_to_us(text)
            assert str(got.value) == str(exc)
        else:
            assert T.clf_to_us(text) == want, text
        try:
            T.clf_to_us(warm)
        except TimestampError:
            pass


def test_clf_minute_cache_known_answers():
    """Known instants through the cache: the minute cached, then its other seconds."""
    from logship.parser.timestamps import clf_to_us

    assert clf_to_us("[27/Nov/2026:21:09:05 +0100]") == us("2026-11-27T21:09:05+01:00")
    assert clf_to_us("[27/Nov/2026:21:09:59 +0100]") == us("2026-11-27T21:09:59+01:00")
    assert clf_to_us("[27/Nov/2026:21:09:00 +0100]") == us("2026-11-27T21:09:00+01:00")
    assert clf_to_us("[27/Nov/2026:21:09:00 -0100]") == us("2026-11-27T21:09:00-01:00")
    with pytest.raises(TimestampError, match="bad date/time"):
        clf_to_us("[27/Nov/2026:21:09:60 +0100]")


@settings(max_examples=examples(300), deadline=None)
@given(st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(2100, 1, 1)),
       st.sampled_from(["UTC", "Europe/Berlin", "Europe/Amsterdam", "Australia/Lord_Howe", "America/St_Johns",
                        "Pacific/Chatham", "Asia/Kolkata", "Africa/Monrovia", "Europe/Dublin"]),
       st.integers(0, 59), st.integers(0, 999_999), st.booleans())
def test_wall_minute_cache_equals_the_full_path(dt, tz, second, micro, near_transition):
    """wall_to_us's per-minute cache gives exactly the uncached instant, cold and warm,
    in zones with DST, half-hour and 45-minute offsets, and mean solar times whose
    changes fall inside a minute (Amsterdam 1937: +0:19:32 -> +0:20, Monrovia, Dublin)."""
    from logship.parser import timestamps as T

    z = zone(tz)
    if near_transition:  # a minute around one of the zone's changes of offset
        probe = dt.replace(tzinfo=timezone.utc)
        utc_offsets = {(probe + k * (datetime(2000, 1, 1, 0, 30) - datetime(2000, 1, 1))).astimezone(z).utcoffset()
                       for k in range(3)}
        if len(utc_offsets) == 1:
            dt = datetime(1937, 6, 30, 23, 40) if tz == "Europe/Amsterdam" else dt
    args = (dt.year, dt.month, dt.day, dt.hour, dt.minute)
    T._WALL_MINUTES.clear()
    want = T._wall_to_us(*args, second, micro, z)
    assert T.wall_to_us(*args, second, micro, z) == want  # cold: fills the minute when it may
    assert T.wall_to_us(*args, second, micro, z) == want  # warm
    for s in (0, 59, (second + 31) % 60):  # other seconds of the same minute, warm
        assert T.wall_to_us(*args, s, 0, z) == T._wall_to_us(*args, s, 0, z), (args, s)


def test_wall_minute_cache_over_a_change_inside_a_minute():
    """Amsterdam, 1937-07-01: local mean time +0:19:32 became +0:20 at 00:00 local;
    each second of the minutes around it (where wall times are missing or repeat) is
    the instant the uncached path gives."""
    from logship.parser import timestamps as T

    z = zone("Europe/Amsterdam")
    T._WALL_MINUTES.clear()
    for day, hour, minute in ((30, 23, 59), (1, 0, 0), (1, 0, 19), (1, 0, 20)):
        month = 6 if day == 30 else 7
        for s in list(range(60)) * 2:
            assert T.wall_to_us(1937, month, day, hour, minute, s, 0, z) == \
                T._wall_to_us(1937, month, day, hour, minute, s, 0, z), (day, hour, minute, s)
