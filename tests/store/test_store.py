"""The store seam: schema, source identity, the ONE ingest path and its transaction."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from logship.kernel.fingerprint import source_id
from logship.store import SchemaError, Store, StoreError
from logship.store.schema import SCHEMA_VERSION

SESS = "3f2a9c1e5b7d9e01"


def entry(sec: int, what: str, level: str = "INFO", sess: str = SESS) -> bytes:
    """One client-format line at 2026-11-27T21:00:<sec>Z."""
    return f"2026-11-27T21:00:{sec:02d}.000+00:00 {level:<5} sess={sess} {what}\n".encode()


LINES = [
    entry(0, 'session start version="1.4.2"'),
    entry(1, "metric proc cpu=12.5% rss=210.3MiB threads=17"),
    entry(2, 'event tracker.timeout url="http://t.example/a" elapsed=1.5s', level="WARN"),
    entry(3, "event disk.write_failed errno=28 -- No space left", level="ERROR"),
    entry(4, "metric proc cpu=50% threads=18"),
    entry(5, "session end exit=0"),
]
DATA = b"".join(LINES)


def counts(st: Store) -> tuple[int, int, int]:
    return tuple(st.con.execute(  # type: ignore[return-value]
        "SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM events), (SELECT count(*) FROM rejects)"
    ).fetchall()[0])


@pytest.fixture
def st(db_path: Path):
    with Store(db_path) as store:
        yield store


def new_source(st: Store, data: bytes = DATA, client: str = "local"):
    return st.resolve_source(client, data[:1024], path="app.log", log_format="client", tz="UTC", mtime=1_764_277_745.0)


def test_schema_is_created_once_and_connections_are_utc(db_path: Path):
    with Store(db_path) as st:
        names = {r[0] for r in st.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"metrics", "events", "rejects", "sources", "source_ranges", "ingests", "sessions",
                "schema_version"} <= names
        assert st.con.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
    with Store(db_path) as st:  # reopening migrates nothing
        assert st.con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall() == [
            (v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_a_newer_schema_is_refused(db_path: Path):
    Store(db_path).close()
    con = duckdb.connect(str(db_path))
    con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(SchemaError, match="newer than this logship"):
        Store(db_path)


def test_source_id_is_the_shared_fingerprint(st: Store):
    src = new_source(st)
    assert src.source_id == source_id("local", DATA[:1024])
    assert (src.log_format, src.tz, src.mtime, src.ranges) == ("client", "UTC", 1_764_277_745.0, [])
    assert new_source(st).source_id == src.source_id
    assert new_source(st, client="other").source_id != src.source_id


def test_a_short_head_that_grows_keeps_its_source(st: Store):
    short = st.resolve_source("local", LINES[0], path="app.log", tz="UTC")
    grown = st.resolve_source("local", DATA, path="app.log", tz="UTC")
    assert grown.source_id == short.source_id == source_id("local", LINES[0])
    assert grown.head == DATA  # the stored head was extended
    again = st.resolve_source("local", LINES[0] + LINES[1], tz="UTC")  # a shorter prefix matches too
    assert again.source_id == short.source_id
    other = st.resolve_source("local", LINES[1], tz="UTC")  # not a prefix: a new source
    assert other.source_id != short.source_id


def test_an_empty_head_has_no_identity(st: Store):
    with pytest.raises(StoreError, match="no bytes"):
        st.resolve_source("local", b"", path="empty.log")


def test_ingest_commits_records_ranges_sessions_and_an_ingests_row(st: Store):
    src = new_source(st)
    res = st.ingest(src.source_id, 0, DATA, final=True, kind="file")
    assert (res.lines, res.entries, res.records, res.rejects) == (6, 6, 9, 0)
    assert res.committed_end == len(DATA) and res.ranges == [(0, len(DATA))]
    assert counts(st) == (5, 4, 0)
    assert st.committed_ranges(src.source_id) == [(0, len(DATA))]
    assert st.con.execute("SELECT kind, start_offset, end_offset, lines, records, rejects FROM ingests").fetchall() == [
        ("file", 0, len(DATA), 6, 9, 0)]
    assert st.con.execute("SELECT session_id, end_reason FROM sessions").fetchall() == [(SESS, "clean")]
    offsets = st.con.execute("SELECT DISTINCT byte_offset FROM metrics ORDER BY 1").fetchall()
    assert offsets == [(len(LINES[0]),), (sum(map(len, LINES[:4])),)]


def test_the_same_bytes_twice_add_nothing(st: Store):
    src = new_source(st)
    st.ingest(src.source_id, 0, DATA, final=True)
    res = st.ingest(src.source_id, 0, DATA, final=True)
    assert (res.lines, res.records, res.skipped_bytes, res.committed_end) == (0, 0, len(DATA), len(DATA))
    assert counts(st) == (5, 4, 0)
    assert st.con.execute("SELECT count(*) FROM ingests").fetchall() == [(1,)]


def test_two_ranges_out_of_order_then_an_overlapping_resend(st: Store):
    src = new_source(st)
    cut = sum(map(len, LINES[:3]))
    second = st.ingest(src.source_id, cut, DATA[cut:], final=True)
    assert second.committed_end == len(DATA) and second.ranges == [(cut, len(DATA))]
    first = st.ingest(src.source_id, 0, DATA[:cut], final=True)
    assert first.ranges == [(0, len(DATA))]
    assert first.committed_end == cut  # acks never claim beyond what was received
    resend = st.ingest(src.source_id, 0, DATA, final=True)
    assert resend.records == 0 and resend.skipped_bytes == len(DATA)
    assert counts(st) == (5, 4, 0)


def test_a_gap_is_filled_later_by_exactly_the_missing_lines(st: Store):
    src = new_source(st)
    a, b = len(LINES[0]), sum(map(len, LINES[:2]))
    st.ingest(src.source_id, 0, DATA[:a], final=True)
    st.ingest(src.source_id, b, DATA[b:], final=True)
    assert st.committed_ranges(src.source_id) == [(0, a), (b, len(DATA))]
    res = st.ingest(src.source_id, 0, DATA, final=True)  # e.g. the file's archive
    assert (res.lines, res.records, res.skipped_bytes) == (1, 3, len(DATA) - (b - a))
    assert counts(st) == (5, 4, 0)


def test_an_unfinished_entry_is_not_committed_until_it_is_complete(st: Store):
    src = new_source(st)
    data = LINES[0] + LINES[3]  # the error event may still get continuation lines
    res = st.ingest(src.source_id, 0, data, final=False)
    assert res.committed_end == len(LINES[0]) and res.lines == 1
    more = data + b"    Traceback (most recent call last): ...\n"
    res = st.ingest(src.source_id, 0, more, final=True)
    assert res.lines == 2 and res.committed_end == len(more)
    assert st.con.execute("SELECT message FROM events WHERE name = 'disk.write_failed'").fetchall() == [
        ("No space left\n    Traceback (most recent call last): ...",)]


def test_a_truncated_line_is_one_line_too_long_reject_over_its_whole_span(st: Store):
    src = new_source(st)
    st.ingest(src.source_id, 0, LINES[0], final=True)
    span = 5_000_000
    res = st.ingest(src.source_id, len(LINES[0]), b"x" * 1000, span=span)
    assert (res.rejects, res.committed_end) == (1, len(LINES[0]) + span)
    assert st.con.execute("SELECT byte_offset, octet_length(raw), error_code FROM rejects").fetchall() == [
        (len(LINES[0]), 1000, "line_too_long")]
    again = st.ingest(src.source_id, len(LINES[0]), b"x" * 1000, span=span)
    assert again.rejects == 0


def test_a_failed_commit_rolls_back_everything(st: Store):
    src = new_source(st)
    st.con.execute("ALTER TABLE ingests RENAME TO ingests_away")  # the last write of the commit fails
    with pytest.raises(duckdb.CatalogException):
        st.ingest(src.source_id, 0, DATA, final=True)
    assert counts(st) == (0, 0, 0)
    assert st.committed_ranges(src.source_id) == []
    assert st.con.execute("SELECT count(*) FROM session_agg").fetchall() == [(0,)]
    st.con.execute("ALTER TABLE ingests_away RENAME TO ingests")
    assert st.ingest(src.source_id, 0, DATA, final=True).records == 9
    assert counts(st) == (5, 4, 0)


def test_the_format_is_detected_on_first_data_and_kept(st: Store):
    src = st.resolve_source("c1", DATA[:1024], path="x.log", tz="UTC")
    assert src.log_format is None
    st.ingest(src.source_id, 0, DATA, final=True)
    assert st.con.execute("SELECT log_format, format_hit_rate FROM sources").fetchall() == [("client", 1.0)]


def test_an_unknown_kind_is_refused(st: Store):
    src = new_source(st)
    with pytest.raises(StoreError, match="unknown ingest kind"):
        st.ingest(src.source_id, 0, DATA, final=True, kind="bogus")
    assert counts(st) == (0, 0, 0)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st_  # noqa: E402
from tests.hypothesis_profiles import examples

_BOUNDS = [0] + [sum(map(len, LINES[:i + 1])) for i in range(len(LINES))]


@settings(max_examples=examples(20), deadline=None)
@given(st_.lists(st_.tuples(st_.sampled_from(_BOUNDS), st_.sampled_from(_BOUNDS)), min_size=1, max_size=8))
def test_any_order_of_overlapping_resends_stores_each_entry_once(pieces):
    """Ranges at entry boundaries, ingested in any order and overlap, then the whole:
    the tables hold exactly what one ingest of the whole gives."""
    with Store(":memory:") as st:
        src = new_source(st)
        for a, b in pieces:
            start, end = min(a, b), max(a, b)
            if end > start:
                st.ingest(src.source_id, start, DATA[start:end], final=True)
        st.ingest(src.source_id, 0, DATA, final=True)
        assert counts(st) == (5, 4, 0)
        assert st.committed_ranges(src.source_id) == [(0, len(DATA))]
        assert st.con.execute("SELECT count(DISTINCT byte_offset) FROM events").fetchall() == [(4,)]
