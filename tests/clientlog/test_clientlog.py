"""The client-format writer: exact strings for every value type, entries and rotation."""

from __future__ import annotations

import gzip
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from logship.clientlog.writer import (
    DURATION_FACTORS,
    SIZE_FACTORS,
    ClientLogWriter,
    Duration,
    Percent,
    Size,
    render_entry,
    render_number,
    render_string,
    render_timestamp,
    render_value,
)

TS = datetime(2026, 11, 27, 21, 9, 5, 123456, tzinfo=timezone.utc)
SID = "3f2a9c1e5b7d9e01"


@pytest.mark.parametrize(
    "value, text",
    [
        (17, "17"),
        (-3, "-3"),
        (0, "0"),
        (12.5, "12.5"),
        (-0.25, "-0.25"),
        (17.0, "17.0"),
        (1e20, "100000000000000000000.0"),
        (1.5e-7, "0.00000015"),
        (True, "true"),
        (False, "false"),
        ("linux", "linux"),
        ("v1.4", "v1.4"),
        ("a/b:c", "a/b:c"),
        ("_x-y+z@h", "_x-y+z@h"),
        ("http://t.example/a", "http://t.example/a"),
        ("17", '"17"'),
        ("-3", '"-3"'),
        ("1.4.2", '"1.4.2"'),
        ("true", '"true"'),
        ("False", '"False"'),
        ("null", '"null"'),
        ("1.5s", '"1.5s"'),
        ("12%", '"12%"'),
        ("210MiB", '"210MiB"'),
        ("", '""'),
        ("--", '"--"'),
        ("a b", '"a b"'),
        ("a=b", '"a=b"'),
        ('No space "left"', '"No space \\"left\\""'),
        ("C:\\Users\\me", '"C:\\\\Users\\\\me"'),
        ("l1\nl2\tx\ry", '"l1\\nl2\\tx\\ry"'),
        ("bell\x07 del\x7f", '"bell\\u0007 del\\u007f"'),
        ("größe 日本", '"größe 日本"'),
        (Size(210.3, "MiB"), "210.3MiB"),
        (Size(4.7, "GB"), "4.7GB"),
        (Size(512, "B"), "512B"),
        (Size(0, "KiB"), "0KiB"),
        (Duration(750, "ms"), "750ms"),
        (Duration(1.5, "s"), "1.5s"),
        (Duration(2, "m"), "2m"),
        (Duration(1, "h"), "1h"),
        (Duration(20, "us"), "20us"),
        (Duration(3, "ns"), "3ns"),
        (Percent(12.5), "12.5%"),
        (Percent(100), "100%"),
    ],
    ids=repr,
)
def test_render_value(value, text):
    assert render_value(value) == text


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_raise(bad):
    with pytest.raises(ValueError):
        render_number(bad)
    with pytest.raises(ValueError):
        Size(bad, "B")


def test_bad_units_and_types_raise():
    with pytest.raises(ValueError, match="unknown size unit"):
        Size(1, "KIB")
    with pytest.raises(ValueError, match="unknown duration unit"):
        Duration(1, "sec")
    with pytest.raises(ValueError):
        Percent(True)
    with pytest.raises(ValueError):
        render_value(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        render_value([1])  # type: ignore[arg-type]


def test_canonical_values_as_the_parser_computes_them():
    assert Size(210.3, "MiB").bytes == 210.3 * 2**20
    assert Size(4.7, "GB").bytes == 4700000000 and isinstance(Size(4.7, "GB").bytes, int)
    assert Size(512, "B").bytes == 512
    assert Duration(750, "ms").seconds == 0.75
    assert Duration(2, "m").seconds == 120.0
    assert Duration(1, "h").seconds == 3600.0
    assert Duration(20, "us").seconds == 2e-05


def test_human_constructors():
    assert Size.of(220515532) == Size(210.3, "MiB")
    assert Size.of(4.7e9, binary=False) == Size(4.7, "GB")
    assert Size.of(800) == Size(800, "B")
    assert Size.of(3 * 2**30, "MiB", digits=0) == Size(3072, "MiB")
    assert str(Size.of(1024)) == "1KiB"
    assert Duration.of(0.75) == Duration(750, "ms")
    assert Duration.of(1.5) == Duration(1.5, "s")
    assert Duration.of(734.2) == Duration(12.2, "m")
    assert Duration.of(9000) == Duration(2.5, "h")
    assert Duration.of(0.0125, "ms", digits=2) == Duration(12.5, "ms")


def test_render_timestamp():
    assert render_timestamp(TS) == "2026-11-27T21:09:05.123+00:00"
    berlin = timezone(timedelta(hours=1))
    assert render_timestamp(TS.astimezone(berlin)) == "2026-11-27T22:09:05.123+01:00"
    assert render_timestamp(TS.replace(tzinfo=timezone(timedelta(hours=-5, minutes=-30)))) == (
        "2026-11-27T21:09:05.123-05:30"
    )
    assert render_timestamp(TS.replace(tzinfo=None)) == "2026-11-27T21:09:05.123"
    assert render_timestamp(1764277745.5) == "2025-11-27T21:09:05.500+00:00"
    with pytest.raises(ValueError, match="seconds"):
        render_timestamp(TS.replace(tzinfo=timezone(timedelta(seconds=30))))


def test_render_entries_exact():
    assert render_entry(TS, "INFO", SID, "session", "start", {"version": "1.4.2", "os": "linux"}) == (
        '2026-11-27T21:09:05.123+00:00 INFO  sess=3f2a9c1e5b7d9e01 session start version="1.4.2" os=linux\n'
    )
    assert render_entry(
        TS, "INFO", SID, "metric", "proc",
        {"cpu": Percent(12.5), "rss": Size(210.3, "MiB"), "threads": 17},
    ) == "2026-11-27T21:09:05.123+00:00 INFO  sess=3f2a9c1e5b7d9e01 metric proc cpu=12.5% rss=210.3MiB threads=17\n"
    assert render_entry(
        TS, "WARN", SID, "event", "tracker.timeout",
        {"url": "http://t.example/a?x=1", "attempt": 3, "elapsed": Duration(1.5, "s")},
    ) == (
        '2026-11-27T21:09:05.123+00:00 WARN  sess=3f2a9c1e5b7d9e01 event tracker.timeout '
        'url="http://t.example/a?x=1" attempt=3 elapsed=1.5s\n'
    )
    assert render_entry(TS, "INFO", SID, "session", "end", {"exit": 0}) == (
        "2026-11-27T21:09:05.123+00:00 INFO  sess=3f2a9c1e5b7d9e01 session end exit=0\n"
    )


def test_render_entry_with_message_and_traceback():
    text = render_entry(
        TS, "ERROR", SID, "event", "disk.write_failed", {"errno": 28},
        message="No space left on device",
        continuation=["    Traceback (most recent call last):", '      File "io.py", line 3, in write', "\tOSError: 28"],
    )
    assert text == (
        "2026-11-27T21:09:05.123+00:00 ERROR sess=3f2a9c1e5b7d9e01 event disk.write_failed errno=28"
        " -- No space left on device\n"
        "    Traceback (most recent call last):\n"
        '      File "io.py", line 3, in write\n'
        "\tOSError: 28\n"
    )
    assert render_entry(TS, "FATAL", SID, "event", "app.abort") == (
        "2026-11-27T21:09:05.123+00:00 FATAL sess=3f2a9c1e5b7d9e01 event app.abort\n"
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"level": "info"}, "level"),
        ({"level": "WARNING"}, "level"),
        ({"session_id": "3F2A9C1E5B7D9E01"}, "session id"),
        ({"session_id": "3f2a9c"}, "session id"),
        ({"kind": "metrics"}, "kind"),
        ({"kind": "session", "name": "restart"}, "session mark"),
        ({"name": "tracker..timeout"}, "dotted identifier"),
        ({"name": "9lives"}, "dotted identifier"),
        ({"fields": {"bad key": 1}}, "field key"),
        ({"fields": {"1x": 1}}, "field key"),
        ({"message": "two\nlines"}, "one line"),
        ({"message": "cr\r"}, "one line"),
        ({"continuation": ["no indent"]}, "must start with a space"),
        ({"continuation": [" a\nb"]}, "one line"),
        ({"kind": "metric", "name": "proc", "fields": {"cpu": Percent(1)}, "continuation": ["  x"]}, "continuation"),
        ({"kind": "metric", "name": "proc", "fields": {"iface": "eth0", "up": True}}, "numeric field"),
        ({"fields": {"s": "lone \ud800"}}, "surrogate"),
    ],
    ids=lambda x: str(x) if isinstance(x, str) else None,
)
def test_render_entry_rejects_what_the_grammar_cannot_read(kwargs, match):
    args = {"ts": TS, "level": "INFO", "session_id": SID, "kind": "event", "name": "x.y", "fields": {}}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        render_entry(**args)


def test_unit_tables_agree_with_the_parser():
    values = pytest.importorskip("logship.parser.values")
    assert SIZE_FACTORS == values.SIZE_FACTORS
    assert DURATION_FACTORS == values.DURATION_FACTORS
    for v in [Size(210.3, "MiB"), Size(4.7, "GB"), Size(1.25, "TiB"), Size(7, "KB")]:
        assert values.convert("SIZE", str(v)) == (v.bytes, "bytes")
    for d in [Duration(750, "ms"), Duration(1.5, "s"), Duration(2.5, "m"), Duration(12, "us"), Duration(7, "ns")]:
        assert values.convert("DURATION", str(d)) == (d.seconds, "seconds")
    for s in ['No space "left"', "C:\\Users", "l1\nl2\u2028\x00", "日本"]:
        assert values.unquote(render_string(s)) == s


def test_writer_appends_and_rotates(tmp_path: Path):
    log = tmp_path / "c1" / "app.log"
    entry = render_entry(TS, "INFO", SID, "event", "x.y", {"n": 1})  # 72 bytes
    assert len(entry) == 72
    with ClientLogWriter(log, max_bytes=200, backups=3, gzip_rotated=True) as w:
        for _ in range(10):  # two entries per file (144 <= 200 < 216)
            w.write(entry)
        assert w.rotations == 4
        assert w.size == 144
    assert log.read_text() == entry * 2
    assert (tmp_path / "c1" / "app.log.1").read_text() == entry * 2
    for i in (2, 3):
        gz = tmp_path / "c1" / f"app.log.{i}.gz"
        assert gzip.decompress(gz.read_bytes()).decode() == entry * 2
        assert not (tmp_path / "c1" / f"app.log.{i}").exists()
    # backups=3: the 4th rotated file was dropped
    assert sorted(p.name for p in log.parent.iterdir()) == ["app.log", "app.log.1", "app.log.2.gz", "app.log.3.gz"]


def test_writer_gzip_is_deterministic_and_entries_are_never_split(tmp_path: Path):
    big = render_entry(TS, "ERROR", SID, "event", "x.y", continuation=["  " + "t" * 300])
    outs = []
    for run in ("a", "b"):
        log = tmp_path / run / "app.log"
        with ClientLogWriter(log, max_bytes=100, backups=5, gzip_rotated=True, flush_each=False) as w:
            for _ in range(3):
                w.write(big)  # larger than max_bytes: one entry per file, never cut
        outs.append({p.name: p.read_bytes() for p in log.parent.iterdir()})
    assert outs[0] == outs[1]
    assert sorted(outs[0]) == ["app.log", "app.log.1", "app.log.2.gz"]
    assert gzip.decompress(outs[0]["app.log.2.gz"]).decode() == big


def test_writer_without_a_count_cap_keeps_every_rotated_file(tmp_path: Path):
    """backups=None (the watchdog's setting: its retention is the one owner that deletes)."""
    log = tmp_path / "app.log"
    with ClientLogWriter(log, max_bytes=10, backups=None, gzip_rotated=False) as w:
        for i in range(12):
            w.write(f"line {i:03d}\n")
    assert log.read_bytes() == b"line 011\n"
    assert [(tmp_path / f"app.log.{n}").read_bytes() for n in range(1, 12)] == [
        f"line {i:03d}\n".encode() for i in range(10, -1, -1)]


def test_writer_plain_rotation_and_reopen_appends(tmp_path: Path):
    log = tmp_path / "app.log"
    with ClientLogWriter(log, max_bytes=10, backups=2, gzip_rotated=False) as w:
        for line in (b"aaaaaaaa\n", b"bbbbbbbb\n", b"cccccccc\n", b"dddddddd\n"):
            w.write(line)
    assert [log.read_bytes(), (tmp_path / "app.log.1").read_bytes(), (tmp_path / "app.log.2").read_bytes()] == [
        b"dddddddd\n", b"cccccccc\n", b"bbbbbbbb\n",
    ]
    with ClientLogWriter(log, max_bytes=0) as w:  # 0: never rotate; appends to what is there
        assert w.size == 9
        w.write("é\n")
        assert w.size == 12
    assert log.read_bytes() == "dddddddd\né\n".encode()
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write("x\n")


def test_clientlog_is_light():
    """The watchdog imports clientlog on users' desktops: stdlib only (and simulate with it)."""
    import subprocess

    code = (
        "import sys, logship.clientlog.writer, logship.clientlog.simulate\n"
        "heavy = {'duckdb', 'pyarrow', 'lark', 'typer', 'rich'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


# ---- properties (stdlib readers only: the grammar round trip is tests of the parser) ----

from hypothesis import given, strategies as st  # noqa: E402

_BARE_OK = __import__("re").compile(r"[A-Za-z_][A-Za-z0-9_./:@+-]*")


@given(st.text())
def test_any_string_renders_bare_or_as_json_quoted(s: str):
    import json

    text = render_string(s)
    if text.startswith('"'):
        assert json.loads(text) == s
        assert "\n" not in text and "\r" not in text
    else:
        assert text == s and _BARE_OK.fullmatch(s) and s.lower() not in ("true", "false")


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_numbers_round_trip_without_exponent(x):
    text = render_number(x)
    assert "e" not in text.lower()
    assert (float(text) if isinstance(x, float) else int(text)) == x
    assert ("." in text) == isinstance(x, float)


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=40),
    max_bytes=st.integers(min_value=0, max_value=300),
    backups=st.integers(min_value=0, max_value=4),
    gz=st.booleans(),
)
def test_rotation_keeps_whole_entries_in_order(tmp_path_factory, sizes, max_bytes, backups, gz):
    """Whatever the sizes: the kept files, oldest first, are a suffix of what was written,
    made of whole entries; a file exceeds max_bytes only when it holds one entry."""
    d = tmp_path_factory.mktemp("rot")
    log = d / "app.log"
    entries = [(f"{i:04d}" + "x" * n + "\n").encode() for i, n in enumerate(sizes)]
    with ClientLogWriter(log, max_bytes=max_bytes, backups=backups, gzip_rotated=gz, flush_each=False) as w:
        for e in entries:
            w.write(e)
    kept = []
    for i in range(backups, 0, -1):
        for p in (d / f"app.log.{i}.gz", d / f"app.log.{i}"):
            if p.exists():
                data = p.read_bytes()
                assert (data[:2] == b"\x1f\x8b") == (p.suffix == ".gz") == (gz and i >= 2)
                kept.append(gzip.decompress(data) if p.suffix == ".gz" else data)
    kept.append(log.read_bytes())
    assert len(list(d.iterdir())) == len(kept) <= backups + 1
    joined = b"".join(kept)
    assert b"".join(entries).endswith(joined)
    for chunk in kept:
        lines = chunk.splitlines(keepends=True)
        assert all(line in entries for line in lines)
        if max_bytes and len(chunk) > max_bytes:
            assert len(lines) == 1
