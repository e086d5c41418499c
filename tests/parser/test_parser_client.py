"""The client format through the parser seam: known lines, exact records, named errors,
and a Hypothesis round trip against the one writer (clientlog/writer.py)."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.hypothesis_profiles import examples

from logship.parser import EntryParser, get_format
from logship.clientlog.writer import Duration, Percent, Size, render_entry
from logship.clientlog.writer import DURATION_FACTORS as W_DUR, SIZE_FACTORS as W_SIZE
from logship.parser.values import DURATION_FACTORS, SIZE_FACTORS

SAMPLE = (
    b'2026-11-27T21:09:05.123+00:00 INFO  sess=3f2a9c1e5b7d9e01 session start version="1.4.2" os=linux\n'
    b"2026-11-27T21:09:05.200+00:00 INFO  sess=3f2a9c1e5b7d9e01 metric proc cpu=12.5% rss=210.3MiB threads=17\n"
    b'2026-11-27T21:09:06.010+00:00 WARN  sess=3f2a9c1e5b7d9e01 event tracker.timeout url="http://t.example/a" attempt=3 elapsed=1.5s\n'
    b"2026-11-27T21:09:07.500+00:00 ERROR sess=3f2a9c1e5b7d9e01 event disk.write_failed errno=28 -- No space left on device\n"
    b"    Traceback (most recent call last): ...\n"
    b"2026-11-27T21:19:07.000+00:00 INFO  sess=3f2a9c1e5b7d9e01 session end exit=0\n"
)
T0 = 1795813745_000000  # 2026-11-27T21:09:05Z in microseconds
SID = "3f2a9c1e5b7d9e01"


def parse(data: bytes, tz: str = "UTC", final: bool = True):
    return EntryParser("client", tz=tz, mtime=None).parse(data, 0, final)


def test_unit_tables_agree_with_the_writer():
    assert SIZE_FACTORS == W_SIZE
    assert DURATION_FACTORS == W_DUR


def test_design_sample_gives_exact_records():
    res = parse(SAMPLE)
    assert (res.lines, res.entries, res.end_offset) == (6, 5, len(SAMPLE))
    assert res.context == {}
    m = res.batch.metrics
    assert m.name == ["proc.cpu", "proc.rss", "proc.threads"]
    assert m.value == [12.5, 210.3 * 2**20, 17.0]
    assert m.unit == ["percent", "bytes", None]
    assert m.ts_us == [T0 + 200_000] * 3
    assert m.session_id == [SID] * 3
    assert m.labels == [None] * 3
    assert m.byte_offset == [97] * 3
    e = res.batch.events
    assert e.name == ["session.start", "tracker.timeout", "disk.write_failed", "session.end"]
    assert e.level == ["INFO", "WARN", "ERROR", "INFO"]
    assert e.ts_us == [T0 + 123_000, T0 + 1_010_000, T0 + 2_500_000, T0 + 602_000_000]
    assert [json.loads(a) for a in e.attrs] == [
        {"version": "1.4.2", "os": "linux"},
        {"url": "http://t.example/a", "attempt": 3, "elapsed": 1.5},
        {"errno": 28},
        {"exit": 0},
    ]
    assert e.message == [None, None,
                         "No space left on device\n    Traceback (most recent call last): ...", None]
    assert len(res.batch.rejects) == 0


def test_format_flags():
    fmt = get_format("client")
    assert fmt.context_free is True
    assert fmt.continuation == "indent"
    assert len(fmt.samples) == 5


def test_timestamp_without_offset_takes_the_source_zone():
    line = b"2026-07-01T12:00:00.000 INFO  sess=3f2a9c1e5b7d9e01 event a.b\n"
    berlin = parse(line, tz="Europe/Berlin").batch.events.ts_us[0]
    utc = parse(line, tz="UTC").batch.events.ts_us[0]
    assert utc - berlin == 2 * 3600 * 1_000_000  # CEST is UTC+2


def test_offsets_are_applied():
    line = b"2026-11-27T23:09:05.000+02:00 INFO  sess=3f2a9c1e5b7d9e01 event a.b\n"
    assert parse(line, tz="Asia/Tokyo").batch.events.ts_us == [T0]


def test_units_are_canonical():
    line = (b"2026-11-27T21:09:05.000Z INFO  sess=3f2a9c1e5b7d9e01 metric m a=4.7GB b=750ms c=2m "
            b"d=1h e=512B f=3us g=-3 h=0.25 i=5ns host=web-1 up=true\n")
    m = parse(line).batch.metrics
    assert dict(zip(m.name, m.value)) == {
        "m.a": 4.7e9, "m.b": 0.75, "m.c": 120.0, "m.d": 3600.0, "m.e": 512.0,
        "m.f": 3e-06, "m.g": -3.0, "m.h": 0.25, "m.i": 5e-09}
    assert m.unit == ["bytes", "seconds", "seconds", "seconds", "bytes", "seconds", None, None, "seconds"]
    assert json.loads(m.labels[0]) == {"host": "web-1", "up": True}


@pytest.mark.parametrize("line, code, field", [
    ("2026-13-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 event a", "bad_timestamp", "timestamp"),
    ("2026-11-27 INFO  sess=3f2a9c1e5b7d9e01 event a", "bad_timestamp", "timestamp"),
    ("2026-11-27T21:09:05.123 INF  sess=3f2a9c1e5b7d9e01 event a", "bad_level", "level"),
    ("2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e0 event a", "bad_session", "session"),
    ("2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 happening a", "bad_kind", "kind"),
    ("2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 session begin", "bad_session_mark", "session_mark"),
    ("2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 metric proc cpu=12.5%x", "bad_value", "cpu"),
    ('2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 event a b="unterminated', "bad_value", "b"),
    ('2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 event a b="\\q"', "bad_value", "b"),
    ("2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 event a b=", "bad_value", "b"),
    ('2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 event a s="\\ud800"', "bad_value", "s"),
    ("2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 event a novalue", "bad_field", "key"),
    ("2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 metric proc host=a", "no_metrics", "proc"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_rejects_name_the_field(line, code, field):
    res = parse(line.encode() + b"\n")
    rj = res.batch.rejects
    assert (res.lines, res.entries, len(rj), res.batch.records) == (1, 1, 1, 0)
    assert rj.error_code == [code]
    assert f"field {field}" in rj.error[0]
    assert rj.raw == [line.encode()]
    assert "\n" not in rj.error[0]


def test_metric_with_continuation_lines_is_rejected_not_dropped():
    data = (b"2026-11-27T21:09:05.000Z INFO  sess=3f2a9c1e5b7d9e01 metric proc cpu=1%\n"
            b"  stray\n")
    res = parse(data)
    assert res.batch.rejects.error_code == ["unexpected_continuation"]
    assert res.batch.rejects.raw == [data[:-1]]
    assert (res.lines, res.entries, res.batch.records) == (2, 1, 0)


def test_batch_pickles():
    res = parse(SAMPLE)
    again = pickle.loads(pickle.dumps(res))
    assert again.batch == res.batch
    assert pickle.loads(pickle.dumps(get_format("client"))).name == "client"


# ---- the round trip ---------------------------------------------------------------

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,8}", fullmatch=True)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}(\.[A-Za-z_][A-Za-z0-9_]{0,6}){0,2}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
numbers = st.one_of(st.integers(-10**12, 10**12), finite.filter(lambda x: abs(x) < 1e15))
values = st.one_of(
    st.booleans(),
    st.integers(-10**18, 10**18),
    finite,
    st.text(max_size=20),
    st.builds(Size, numbers.filter(lambda x: abs(x) < 1e9), st.sampled_from(sorted(SIZE_FACTORS))),
    st.builds(Duration, numbers, st.sampled_from(sorted(DURATION_FACTORS))),
    st.builds(Percent, numbers),
)
messages = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                               blacklist_characters="\n\r"), max_size=40))
cont_lines = st.lists(st.builds(lambda ws, t: ws + t, st.sampled_from([" ", "\t", "    "]),
                                st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                               blacklist_characters="\n\r"),
                                        max_size=30)), max_size=3)
zones = st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=45)),
                         timezone(-timedelta(hours=8)), None])
instants = st.integers(0, 4_000_000_000_000).map(lambda ms: ms * 1000)


def canonical(v):
    if isinstance(v, Size):
        return v.bytes, "bytes"
    if isinstance(v, Duration):
        return v.seconds, "seconds"
    if isinstance(v, Percent):
        return float(v.value), "percent"
    return v, None


@st.composite
def entries(draw):
    kind = draw(st.sampled_from(["session", "metric", "event"]))
    name = draw(st.sampled_from(["start", "end"])) if kind == "session" else draw(names)
    fields = draw(st.dictionaries(keys, values, max_size=6))
    if kind == "metric" and not any(isinstance(v, (int, float, Size, Duration, Percent))
                                    and not isinstance(v, bool) for v in fields.values()):
        fields[draw(keys)] = draw(st.integers(0, 100))
    message = draw(messages)
    cont = draw(cont_lines) if kind != "metric" else []
    return dict(us=draw(instants), zone=draw(zones), level=draw(st.sampled_from(
        ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"])), sid=draw(st.from_regex(r"[0-9a-f]{16}", fullmatch=True)),
        kind=kind, name=name, fields=fields, message=message, cont=cont)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries(), min_size=1, max_size=8), st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
def test_round_trip(items, tz):
    text = ""
    for it in items:
        dt = datetime.fromtimestamp(it["us"] / 1e6, timezone.utc)
        if it["zone"] is None:  # written without an offset: the source's zone applies
            dt = dt.astimezone(ZoneInfo(tz)).replace(tzinfo=None, fold=0)
        else:
            dt = dt.astimezone(it["zone"])
        text += render_entry(dt, it["level"], it["sid"], it["kind"], it["name"], it["fields"],
                             it["message"], it["cont"])
        it["dt"] = dt
    data = text.encode("utf-8")
    res = EntryParser("client", tz=tz).parse(data, 0, final=True)
    b = res.batch
    assert len(b.rejects) == 0, b.rejects.error
    assert res.lines == text.count("\n")
    assert res.entries == len(items)
    ev_i = m_i = 0
    for it in items:
        dt = it["dt"]
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=ZoneInfo(tz))
        ts = round(dt.timestamp() * 1000) * 1000
        if it["kind"] == "metric":
            samples = {k: canonical(v) for k, v in it["fields"].items()
                       if isinstance(v, (int, float, Size, Duration, Percent)) and not isinstance(v, bool)}
            labels = {k: v for k, v in it["fields"].items() if k not in samples}
            if it["message"] is not None:
                labels["message"] = it["message"]
            for k, (v, unit) in samples.items():
                row = b.metrics.row(m_i)
                m_i += 1
                assert row["name"] == f"{it['name']}.{k}"
                assert row["value"] == float(v)
                assert row["unit"] == unit
                assert row["ts_us"] == ts
                assert row["session_id"] == it["sid"]
                assert (json.loads(row["labels"]) if row["labels"] else {}) == labels
        else:
            row = b.events.row(ev_i)
            ev_i += 1
            assert row["name"] == (f"session.{it['name']}" if it["kind"] == "session" else it["name"])
            assert row["level"] == it["level"]
            assert row["ts_us"] == ts
            attrs = json.loads(row["attrs"]) if row["attrs"] else {}
            assert attrs == {k: canonical(v)[0] for k, v in it["fields"].items()}
            parts = ([it["message"]] if it["message"] is not None else []) + it["cont"]
            assert row["message"] == ("\n".join(parts) if parts else None)
    assert (m_i, ev_i) == (len(b.metrics), len(b.events))
