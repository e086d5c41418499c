"""Retention on the file (store/prune.py, store/compact.py): what goes, what stays, and
that exactly-once survives a prune (a re-ingest adds nothing; --replace brings it back).
About 10 s for the file (compact's 300,000 rows the longest, ~3 s)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from logship.store import StoreError
from logship.store.compact import compact_db
from logship.store.fileingest import IngestOptions, ingest_paths
from logship.store.prune import file_bytes, parse_cutoff, prune_db

SESS_OLD, SESS_NEW = "0a0a0a0a0a0a0a01", "0b0b0b0b0b0b0b02"
CUT = datetime(2026, 11, 20, tzinfo=UTC)


def client_log(path: Path) -> Path:
    """An old session (Nov 10: 4 events, 2 metric samples, a reject) and a new one (Nov 27)."""
    old = [
        "2026-11-10T08:00:00.000+00:00 INFO  sess=0a0a0a0a0a0a0a01 session start version=\"1.0\"",
        "2026-11-10T08:00:01.000+00:00 INFO  sess=0a0a0a0a0a0a0a01 metric proc cpu=10% threads=3",
        "2026-11-10T08:00:02.000+00:00 WARN  sess=0a0a0a0a0a0a0a01 event net.slow elapsed=1.5s",
        "2026-11-10T08:00:03.000+00:00 INFO  sess=0a0a0a0a0a0a0a01 session end exit=0",
    ]
    new = [
        "2026-11-27T08:00:00.000+00:00 INFO  sess=0b0b0b0b0b0b0b02 session start version=\"1.1\"",
        "2026-11-27T08:00:01.000+00:00 INFO  sess=0b0b0b0b0b0b0b02 metric proc cpu=20% threads=4",
        "2026-11-27T08:00:02.000+00:00 ERROR sess=0b0b0b0b0b0b0b02 event disk.full errno=28",
    ]
    path.write_text("\n".join(old + new) + "\n")
    return path


def counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                for t in ("metrics", "events", "rejects", "ingests", "session_agg", "sources", "source_ranges")}
    finally:
        con.close()


def ingest(db: Path, *paths: Path, replace: bool = False) -> str:
    return ingest_paths(db, [str(p) for p in paths], IngestOptions(tz="UTC", workers=1, replace=replace)).line()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    db = tmp_path / "p.duckdb"
    ingest(db, client_log(tmp_path / "app.log"))
    return db


def test_prune_deletes_old_facts_and_sessions_keeps_sources_and_ranges(db: Path, tmp_path: Path):
    before = counts(db)
    assert before == {"metrics": 4, "events": 5, "rejects": 0, "ingests": 1, "session_agg": 2,
                      "sources": 1, "source_ranges": 1}
    res = prune_db(db, CUT)
    # 2 samples of one metric line, 3 events (start, net.slow, end), the old session
    assert res.rows == {"metrics": 2, "events": 3, "rejects": 0, "ingests": 0, "session_agg": 1}
    after = counts(db)
    assert after == {"metrics": 2, "events": 2, "rejects": 0, "ingests": 1, "session_agg": 1,
                     "sources": 1, "source_ranges": 1}
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT session_id FROM sessions").fetchall() == [(SESS_NEW,)]
    con.close()


def test_reingest_after_prune_adds_nothing_and_replace_brings_it_back(db: Path, tmp_path: Path):
    prune_db(db, CUT)
    line = ingest(db, tmp_path / "app.log")
    assert "0 lines, 0 records" in line
    assert counts(db)["events"] == 2 and counts(db)["metrics"] == 2
    ingest(db, tmp_path / "app.log", replace=True)  # the documented way back
    assert counts(db) | {"ingests": 0} == {"metrics": 4, "events": 5, "rejects": 0, "ingests": 0, "session_agg": 2,
                                           "sources": 1, "source_ranges": 1}


def test_dry_run_reports_what_would_go_and_changes_nothing(db: Path):
    before, size = counts(db), file_bytes(db)
    dry = prune_db(db, CUT, dry_run=True)
    assert dry.rows == {"metrics": 2, "events": 3, "rejects": 0, "ingests": 0, "session_agg": 1}
    assert str(dry.span["events"][0]).startswith("2026-11-10 08:00:00")
    assert dry.line().startswith("would prune 2 metrics, 3 events, 0 rejects, 0 ingests, 1 sessions (older than "
                                 "2026-11-20T00:00:00Z); nothing changed")
    assert counts(db) == before and file_bytes(db) == size
    assert prune_db(db, CUT).rows == dry.rows


def test_export_then_delete_writes_exactly_the_pruned_rows(db: Path, tmp_path: Path):
    con = duckdb.connect(str(db), read_only=True)
    want_events = sorted(con.execute("SELECT name, byte_offset FROM events WHERE ts < ?", [CUT]).fetchall())
    want_metrics = sorted(con.execute("SELECT name, value FROM metrics WHERE ts < ?", [CUT]).fetchall())
    con.close()
    arch = tmp_path / "archive"
    res = prune_db(db, CUT, export_dir=arch)
    assert res.exported == {"metrics": 2, "events": 3, "rejects": 0, "ingests": 0, "sessions": 1}
    q = duckdb.connect()
    got_events = sorted(q.execute(f"SELECT name, byte_offset FROM read_parquet('{arch}/events/**/*.parquet', "
                                  "hive_partitioning=true)").fetchall())
    got_metrics = sorted(q.execute(f"SELECT name, value FROM read_parquet('{arch}/metrics/**/*.parquet', "
                                   "hive_partitioning=true)").fetchall())
    sessions = q.execute(f"SELECT session_id, end_reason, client_id, date FROM read_parquet("
                         f"'{arch}/sessions/**/*.parquet', hive_partitioning=true)").fetchall()
    q.close()
    assert got_events == want_events and got_metrics == want_metrics
    assert [s[:3] + (str(s[3]),) for s in sessions] == [(SESS_OLD, "clean", "local", "2026-11-10")]
    assert sorted(p.relative_to(arch).parts[:3] for p in arch.rglob("*.parquet")) == [
        ("events", "client_id=local", "date=2026-11-10"), ("metrics", "client_id=local", "date=2026-11-10"),
        ("sessions", "client_id=local", "date=2026-11-10")]
    assert not [p for p in arch.iterdir() if p.name.startswith(".")]  # the staging is gone
    # a second prune adds its files next to the first one's; the first ones stay
    prune_db(db, datetime(2026, 11, 28, tzinfo=UTC), export_dir=arch)
    q = duckdb.connect()
    n = q.execute(f"SELECT count(*) FROM read_parquet('{arch}/events/**/*.parquet')").fetchall()[0][0]
    q.close()
    assert n == 5


def test_a_failed_export_deletes_nothing_and_leaves_no_staging(db: Path, tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    before = counts(db)
    with pytest.raises(StoreError):
        prune_db(db, CUT, export_dir=blocker)
    assert counts(db) == before


def test_compact_shrinks_the_file_and_keeps_every_row(tmp_path: Path):
    db = tmp_path / "big.duckdb"
    ingest(db, client_log(tmp_path / "app.log"))
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO events (ts, client_id, name, message, source_id, byte_offset) "
                "SELECT TIMESTAMPTZ '2026-01-01' + INTERVAL (i) SECOND, 'bulk', 'bulk.row', repeat('m', 40) || i, "
                "'bulk', i FROM range(300000) t(i)")
    con.close()
    prune_db(db, datetime(2026, 6, 1, tzinfo=UTC))
    pruned = file_bytes(db)
    before = counts(db)
    res = compact_db(db)
    assert res.bytes_before == pruned and res.bytes_after < pruned // 2
    assert counts(db) == before
    assert "0 lines" in ingest(db, tmp_path / "app.log")  # the ranges came along
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO ingests (kind) VALUES ('x')")  # the sequence goes on from where it was
    ids = [r[0] for r in con.execute("SELECT id FROM ingests ORDER BY id").fetchall()]
    con.close()
    assert ids == [1, 2]


@pytest.mark.parametrize("before,older,want", [
    ("2026-11-01", None, datetime(2026, 11, 1, tzinfo=UTC)),
    ("2026-11-01T12:00:00+02:00", None, datetime(2026, 11, 1, 10, tzinfo=UTC)),
    (None, "30d", datetime(2026, 10, 31, tzinfo=UTC)),
    (None, "12h", datetime(2026, 11, 29, 12, tzinfo=UTC)),
], ids=["date", "offset", "days", "hours"])
def test_cutoff(before, older, want):
    assert parse_cutoff(before, older, now=datetime(2026, 11, 30, tzinfo=UTC)) == want


@pytest.mark.parametrize("before,older", [(None, None), ("2026-11-01", "3d"), ("yesterday", None), (None, "soon"),
                                          (None, "0d")], ids=["none", "both", "bad-date", "bad-duration", "zero"])
def test_cutoff_refused(before, older):
    with pytest.raises(StoreError):
        parse_cutoff(before, older, now=datetime(2026, 11, 30, tzinfo=UTC) - timedelta(0))


def test_an_export_left_staged_by_a_kill_is_finished_by_the_next_prune(db: Path, tmp_path: Path, monkeypatch):
    """A kill between the delete's commit and the move: the next prune moves the files into
    place (none of their rows is stored any more); a staging whose prune rolled back goes."""
    import logship.store.export as export

    arch = tmp_path / "archive"

    def killed(staging: Path, out: Path) -> None:
        raise KeyboardInterrupt  # the process dies after the commit, before the move

    with monkeypatch.context() as m:
        m.setattr(export, "publish_staged", killed)
        with pytest.raises(KeyboardInterrupt):
            prune_db(db, CUT, export_dir=arch)
    assert counts(db)["events"] == 2  # the delete committed
    assert [p.name.startswith(".prune-") for p in arch.iterdir()] == [True]
    res = prune_db(db, CUT, export_dir=arch)
    assert res.total == 0 and res.recovered[0].startswith("moved 6 rows of an earlier prune's export")
    q = duckdb.connect()
    n = q.execute(f"SELECT count(*) FROM read_parquet('{arch}/events/**/*.parquet')").fetchall()[0][0]
    q.close()
    assert n == 3 and not [p for p in arch.iterdir() if p.name.startswith(".")]
    # a staging whose transaction never committed (its rows are all still stored) is removed
    from logship.store.prune import PRUNE_EXPORTS, _Rows
    from logship.store.store import Store

    with Store(db) as st:
        export.stage_parquet(_Rows(st.con), arch / ".prune-20261130T000000000000.partial", PRUNE_EXPORTS,
                             {"cutoff": datetime(2026, 11, 28, tzinfo=UTC)})
    res = prune_db(db, datetime(2026, 11, 28, tzinfo=UTC), export_dir=arch)
    assert res.recovered == ["removed .prune-20261130T000000000000.partial: its prune was rolled back "
                             "(5 rows still stored)"]  # 2 metrics, 2 events, 1 session
    q = duckdb.connect()
    n = q.execute(f"SELECT count(*) FROM read_parquet('{arch}/events/**/*.parquet')").fetchall()[0][0]
    q.close()
    assert n == 5  # each event once: 3 from the first prune, 2 from this one
