"""`logship ingest` as a function (store.fileingest.ingest_paths): real files, real DuckDB."""

from __future__ import annotations

import dataclasses

import gzip
import io
import os
import random
from pathlib import Path

import pytest

from logship.kernel.fingerprint import source_id
from logship.kernel.protocol import Limits
from logship.store import Store
from logship.store.fileingest import IngestOptions, ingest_paths

SESS = "3f2a9c1e5b7d9e01"


def lines(n: int, start: int = 0, sess: str = SESS) -> bytes:
    """n client-format lines: a metric entry (3 samples), then an event (1 record), alternating."""
    out = []
    for i in range(start, start + n):
        ts = f"2026-11-27T21:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}+00:00"
        if i % 2 == 0:
            out.append(f"{ts} INFO  sess={sess} metric proc cpu={i % 100}.5% rss={i}KiB threads={i % 7}\n")
        else:
            out.append(f'{ts} WARN  sess={sess} event tracker.timeout url="http://t.example/{i}" attempt={i}\n')
    return "".join(out).encode()


def records_of(n: int, start: int = 0) -> int:
    return sum(3 if i % 2 == 0 else 1 for i in range(start, start + n))


OPTS = IngestOptions(tz="UTC")


def table_counts(db: Path) -> dict[str, int]:
    with Store(db, read_only=True) as st:
        row = st.con.execute(
            "SELECT (SELECT count(*) FROM metrics), (SELECT count(DISTINCT (source_id, byte_offset)) FROM metrics), "
            "(SELECT count(*) FROM events), (SELECT count(*) FROM rejects), (SELECT count(*) FROM sources)"
        ).fetchall()[0]
    return dict(zip(["metrics", "metric_entries", "events", "rejects", "sources"], row))


def test_the_same_file_twice_adds_nothing(db_path: Path, log_dir: Path):
    f = log_dir / "app.log"
    f.write_bytes(lines(100))
    first = ingest_paths(db_path, [str(f)], OPTS)
    assert (first.total("lines"), first.total("records"), first.total("rejects")) == (100, records_of(100), 0)
    second = ingest_paths(db_path, [str(f)], OPTS)
    assert (second.total("lines"), second.total("records"), second.total("skipped_bytes")) == (0, 0, f.stat().st_size)
    assert table_counts(db_path) == {"metrics": 150, "metric_entries": 50, "events": 50, "rejects": 0, "sources": 1}


def test_a_plain_file_then_its_gzipped_archive_adds_nothing(db_path: Path, log_dir: Path):
    data = lines(300)
    (log_dir / "app.log").write_bytes(data)
    (log_dir / "archive.1").write_bytes(gzip.compress(data))  # gzip is known by its magic, not its name
    ingest_paths(db_path, [str(log_dir / "app.log")], OPTS)
    again = ingest_paths(db_path, [str(log_dir / "archive.1")], OPTS)
    assert (again.total("lines"), again.total("skipped_bytes"), again.files[0].source_id) == (
        0, len(data), source_id("local", data[:1024]))
    assert table_counts(db_path)["sources"] == 1


def test_an_archive_first_then_the_grown_file_adds_only_its_new_lines(db_path: Path, log_dir: Path):
    (log_dir / "app.log.1.gz").write_bytes(gzip.compress(lines(50)))
    ingest_paths(db_path, [str(log_dir / "app.log.1.gz")], OPTS)
    (log_dir / "app.log").write_bytes(lines(80))
    grown = ingest_paths(db_path, [str(log_dir / "app.log")], OPTS)
    assert (grown.total("lines"), grown.total("records"), grown.total("skipped_bytes")) == (
        30, records_of(30, 50), len(lines(50)))


def test_a_file_that_grew_adds_only_the_new_lines(db_path: Path, log_dir: Path):
    f = log_dir / "app.log"
    f.write_bytes(lines(40))
    ingest_paths(db_path, [str(f)], OPTS)
    with open(f, "ab") as out:
        out.write(lines(7, start=40))
    grown = ingest_paths(db_path, [str(f)], OPTS)
    assert (grown.total("lines"), grown.total("records")) == (7, records_of(7, 40))
    assert table_counts(db_path)["events"] == 20 + 3


def test_a_short_file_that_grows_keeps_its_source_id(db_path: Path, log_dir: Path):
    f = log_dir / "app.log"
    f.write_bytes(lines(2))  # far below the 1024-byte head
    first = ingest_paths(db_path, [str(f)], OPTS)
    f.write_bytes(lines(60))
    grown = ingest_paths(db_path, [str(f)], OPTS)
    assert grown.files[0].source_id == first.files[0].source_id == source_id("local", lines(2))
    assert grown.total("lines") == 58
    with Store(db_path, read_only=True) as st:
        assert st.con.execute("SELECT octet_length(head) FROM sources").fetchall() == [(1024,)]
        assert st.committed_ranges(first.files[0].source_id) == [(0, len(lines(60)))]


@pytest.mark.parametrize("content,n_lines", [
    (b"", 0),
    (lines(3).rstrip(b"\n"), 3),                                     # no final newline: the last line counts
    (b"\xff\xfe\x80 not utf-8\n" + lines(2) + b"caf\xe9\n", 4),      # invalid UTF-8
    (random.Random(7).randbytes(200_000), None),                     # random bytes
    (lines(2) + b"A" * (10 << 20) + b"\n" + lines(2, start=2), 5),   # a 10 MB line
    (lines(2) + b"B" * (3 << 20), 3),                                # a long line without a newline at EOF
], ids=["empty", "no-final-newline", "invalid-utf8", "random-bytes", "10MB-line", "long-last-line"])
def test_bad_input_never_crashes_and_every_line_is_accounted_for(db_path: Path, log_dir: Path, content, n_lines):
    f = log_dir / "odd.log"
    f.write_bytes(content)
    opts = OPTS
    if n_lines is None:  # random bytes: no format is detected (ingest refuses it); read as client
        n_lines = content.count(b"\n") + (0 if content.endswith(b"\n") else 1)
        opts = dataclasses.replace(OPTS, log_format="client")
    summary = ingest_paths(db_path, [str(f)], opts)
    assert summary.ok, summary.errors
    rep = summary.files[0]
    got = table_counts(db_path) if content else {"metrics": 0, "metric_entries": 0, "events": 0, "rejects": 0}
    assert rep.lines == n_lines
    assert rep.entries == got["metric_entries"] + got["events"] + got["rejects"]
    assert rep.records == got["metrics"] + got["events"] and rep.rejects == got["rejects"]
    if content:
        with Store(db_path, read_only=True) as st:
            assert st.committed_ranges(rep.source_id) == [(0, len(content))]


def test_a_10MB_line_is_one_line_too_long_reject_holding_max_line_bytes(db_path: Path, log_dir: Path):
    f = log_dir / "long.log"
    f.write_bytes(lines(2) + b"A" * (10 << 20) + b"\n" + lines(2, start=2))
    limits = Limits(max_line_bytes=1 << 20)
    summary = ingest_paths(db_path, [str(f)], IngestOptions(tz="UTC", limits=limits))
    assert (summary.total("lines"), summary.total("records"), summary.total("rejects")) == (5, 8, 1)
    with Store(db_path, read_only=True) as st:
        assert st.con.execute("SELECT byte_offset, octet_length(raw), error_code FROM rejects").fetchall() == [
            (len(lines(2)), 1 << 20, "line_too_long")]


def test_max_batch_bytes_bounds_each_commit(db_path: Path, log_dir: Path):
    f = log_dir / "app.log"
    f.write_bytes(lines(2000))
    limits = Limits(max_batch_bytes=32 << 10)
    summary = ingest_paths(db_path, [str(f)], IngestOptions(tz="UTC", limits=limits, workers=1))
    assert summary.total("lines") == 2000
    with Store(db_path, read_only=True) as st:
        rows = st.con.execute("SELECT count(*), max(end_offset - start_offset) FROM ingests").fetchall()[0]
    n_commits, biggest = rows
    assert biggest <= 32 << 10  # each commit ends at the last entry boundary within the limit
    assert n_commits >= f.stat().st_size / (32 << 10)


def test_directories_globs_and_client_ids_from_folders(db_path: Path, tmp_path: Path):
    root = tmp_path / "fleet"
    for client, n in (("alice", 10), ("bob", 20)):
        (root / client / "old").mkdir(parents=True)
        (root / client / "app.log").write_bytes(lines(n, sess=f"{client[:1] * 16}"))
        (root / client / "old" / "app.log.1.gz").write_bytes(gzip.compress(lines(4, sess="0123456789abcdef")))
    summary = ingest_paths(db_path, [str(root)], IngestOptions(tz="UTC", client_id_from_dir=True))
    assert summary.ok and len(summary.files) == 4
    with Store(db_path, read_only=True) as st:
        assert st.con.execute("SELECT client_id, count(*) FROM events GROUP BY 1 ORDER BY 1").fetchall() == [
            ("alice", 5 + 2), ("bob", 10 + 2)]
    globbed = ingest_paths(db_path, [str(root / "*" / "*.log")], IngestOptions(tz="UTC"))
    assert [f.client_id for f in globbed.files] == ["local", "local"]  # other client id: other sources
    assert globbed.total("lines") == 30


def test_stdin_plain_and_gzipped(db_path: Path):
    data = lines(30)
    first = ingest_paths(db_path, ["-"], OPTS, stdin=io.BytesIO(data))
    assert first.total("lines") == 30 and first.files[0].source_id == source_id("local", data[:1024])
    again = ingest_paths(db_path, ["-"], OPTS, stdin=io.BytesIO(gzip.compress(data)))
    assert again.total("lines") == 0 and again.total("skipped_bytes") == len(data)


def test_unreadable_inputs_are_one_line_each_and_the_others_go_on(db_path: Path, log_dir: Path):
    (log_dir / "bad.gz").write_bytes(b"\x1f\x8b" + b"this is not deflate data" * 10)
    (log_dir / "good.log").write_bytes(lines(10))
    summary = ingest_paths(db_path, [str(log_dir / "bad.gz"), str(log_dir / "missing.log"), str(log_dir / "good.log")],
                           OPTS)
    assert summary.total("lines") == 10
    assert len(summary.errors) == 2
    assert summary.errors[0].startswith(f"{log_dir / 'missing.log'}: no such file")
    assert summary.errors[1].startswith(f"{log_dir / 'bad.gz'}: cannot read: BadGzipFile")
    assert all("\n" not in e for e in summary.errors)


def test_a_truncated_gzip_keeps_its_intact_start(db_path: Path, log_dir: Path):
    data = lines(20000)
    packed = gzip.compress(data)
    (log_dir / "cut.gz").write_bytes(packed[: len(packed) // 2])
    summary = ingest_paths(db_path, [str(log_dir / "cut.gz")], OPTS)
    assert len(summary.errors) == 1 and "cut.gz: truncated or corrupt at byte " in summary.errors[0]
    kept = summary.total("lines")
    assert 0 < kept < 20000 and summary.total("rejects") == 0  # no cut-off line became a reject
    (log_dir / "full.log").write_bytes(data)
    rest = ingest_paths(db_path, [str(log_dir / "full.log")], OPTS)
    assert rest.total("lines") == 20000 - kept
    assert table_counts(db_path)["events"] == 10000


def test_parallel_parsing_gives_the_same_rows_as_one_process(tmp_path: Path, log_dir: Path):
    f = log_dir / "app.log"
    f.write_bytes(lines(6000) + b"garbage line\n" + b"  orphan? no, a continuation of garbage\n" + lines(10, 6000))
    serial, parallel = tmp_path / "serial.duckdb", tmp_path / "parallel.duckdb"
    ingest_paths(serial, [str(f)], IngestOptions(tz="UTC", workers=1))
    par = ingest_paths(parallel, [str(f)], IngestOptions(tz="UTC", workers=2, parallel_min_bytes=0,
                                                         parse_chunk_bytes=64 << 10, commit_bytes=256 << 10,
                                                         limits=Limits(max_batch_bytes=128 << 10)))
    assert par.total("lines") == 6012 and par.total("rejects") == 1
    query = ("SELECT 'm', ts, name, value::VARCHAR, byte_offset::VARCHAR FROM metrics UNION ALL "
             "SELECT 'e', ts, name, attrs::VARCHAR, byte_offset::VARCHAR FROM events UNION ALL "
             "SELECT 'r', NULL, error_code, error, byte_offset::VARCHAR FROM rejects ORDER BY ALL")
    with Store(serial, read_only=True) as a, Store(parallel, read_only=True) as b:
        assert a.con.execute(query).fetchall() == b.con.execute(query).fetchall()
        # 64 KiB parse chunks (under max_batch_bytes 128 KiB), committed four by four
        # (commit_bytes 256 KiB)
        sizes = b.con.execute("SELECT end_offset - start_offset FROM ingests").fetchall()
        assert len(sizes) == -(-f.stat().st_size // (256 << 10)) and max(s for s, in sizes) <= 256 << 10


def test_the_zone_and_mtime_are_stored_on_the_source(db_path: Path, log_dir: Path):
    f = log_dir / "app.log"
    f.write_bytes(b"2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 session start\n")
    os.utime(f, (1_764_277_745, 1_764_277_745))
    ingest_paths(db_path, [str(f)], IngestOptions(tz="Europe/Berlin", log_format="client"))
    with Store(db_path, read_only=True) as st:
        assert st.con.execute("SELECT tz, epoch(mtime), log_format FROM sources").fetchall() == [
            ("Europe/Berlin", 1_764_277_745.0, "client")]
        # no offset in the line: the source's zone applies (21:09 in Berlin is 20:09 UTC)
        assert st.con.execute("SELECT strftime(ts, '%H:%M:%S') FROM events").fetchall() == [("20:09:05",)]


def test_the_rich_progress_bar_follows_the_ingest(db_path: Path, log_dir: Path):
    from logship.console.progress import RichProgress

    (log_dir / "a.log").write_bytes(lines(10))
    (log_dir / "b.log.gz").write_bytes(gzip.compress(lines(10, start=10, sess="0123456789abcdef")))
    shown = io.StringIO()
    bar = RichProgress(None, shown)
    summary = ingest_paths(db_path, [str(log_dir)], OPTS, progress=bar)
    assert summary.total("lines") == 20
    assert (bar.lines, bar.rejects) == (20, 0)


POOL = IngestOptions(tz="UTC", workers=2, parallel_min_bytes=0, parse_chunk_bytes=16 << 10)


def test_a_file_and_its_archive_in_one_pooled_call_add_each_line_once(db_path: Path, log_dir: Path):
    data = lines(3000)
    (log_dir / "app.log").write_bytes(data)
    (log_dir / "app.log.1.gz").write_bytes(gzip.compress(data + lines(10, start=3000)))
    summary = ingest_paths(db_path, [str(log_dir / "app.log"), str(log_dir / "app.log.1.gz")], POOL)
    first, second = summary.files
    assert first.source_id == second.source_id
    assert (first.lines, second.lines, second.skipped_bytes) == (3000, 10, len(data))
    assert table_counts(db_path)["events"] == 1505


def test_many_small_files_share_the_pool_and_match_one_process(tmp_path: Path):
    root = tmp_path / "fleet"
    for c in range(6):
        for k in range(3):
            (root / f"pc{c}").mkdir(parents=True, exist_ok=True)
            (root / f"pc{c}" / f"app.{k}.log").write_bytes(lines(400, start=1000 * k, sess=f"{c:x}{k:x}" * 8))
    serial, pooled = tmp_path / "serial.duckdb", tmp_path / "pooled.duckdb"
    a = ingest_paths(serial, [str(root)], IngestOptions(tz="UTC", workers=1, client_id_from_dir=True))
    b = ingest_paths(pooled, [str(root)], IngestOptions(tz="UTC", workers=2, parallel_min_bytes=0,
                                                        parse_chunk_bytes=16 << 10, client_id_from_dir=True))
    assert [(f.name, f.lines, f.records) for f in a.files] == [(f.name, f.lines, f.records) for f in b.files]
    assert b.total("lines") == 18 * 400
    query = "SELECT client_id, session_id, started_at, last_seen, end_reason FROM sessions ORDER BY ALL"
    with Store(serial, read_only=True) as x, Store(pooled, read_only=True) as y:
        assert x.con.execute(query).fetchall() == y.con.execute(query).fetchall()
        assert y.con.execute("SELECT count(*) FROM metrics").fetchall() == [(18 * 600,)]


def test_the_database_itself_is_never_ingested(tmp_path: Path):
    (tmp_path / "app.log").write_bytes(lines(4))
    db = tmp_path / "logship.duckdb"
    ingest_paths(db, [str(tmp_path)], OPTS)
    again = ingest_paths(db, [str(tmp_path)], OPTS)
    assert [Path(f.name).name for f in again.files] == ["app.log"]


@pytest.mark.parametrize("fmt", ["access", "logfmt", "syslog", "jsonl"])
def test_a_long_garbage_line_is_one_quick_reject_in_every_format(db_path: Path, log_dir: Path, fmt: str):
    f = log_dir / "junk.log"
    f.write_bytes(b"A" * 500_000 + b"\n")
    summary = ingest_paths(db_path, [str(f)], IngestOptions(tz="UTC", log_format=fmt, workers=1))
    assert (summary.total("lines"), summary.total("records"), summary.total("rejects")) == (1, 0, 1)
    assert summary.elapsed < 20
