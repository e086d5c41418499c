"""Queries and the shared output formats (table, csv, json, parquet)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logship.store import OutputError, QueryError, Store
from logship.console.output import write_rows
from logship.store.query import SUMMARY_QUERIES, run_query, summary

SESS = "3f2a9c1e5b7d9e01"
DATA = (
    f'2026-11-27T21:00:00.000+00:00 INFO  sess={SESS} session start version="1.4.2"\n'
    f"2026-11-27T21:00:01.000+00:00 INFO  sess={SESS} metric proc cpu=10% threads=3\n"
    f"2026-11-27T21:00:02.000+00:00 INFO  sess={SESS} metric proc cpu=30% threads=3\n"
    f'2026-11-27T21:00:03.000+00:00 WARN  sess={SESS} event tracker.timeout url="http://t/a, b"\n'
    "not a log line\n"
    f"2026-11-27T21:00:04.000+00:00 INFO  sess={SESS} session end exit=0\n"
).encode()


@pytest.fixture
def db(db_path: Path) -> Path:
    with Store(db_path) as st:
        src = st.resolve_source("c1", DATA, path="a.log", log_format="client", tz="UTC")
        st.ingest(src.source_id, 0, DATA, final=True, kind="file")
    return db_path


def test_run_query_returns_arrow_rows(db: Path):
    t = run_query(db, "SELECT name, value FROM metrics ORDER BY ts, name")
    assert t.to_pylist() == [
        {"name": "proc.cpu", "value": 10.0}, {"name": "proc.threads", "value": 3.0},
        {"name": "proc.cpu", "value": 30.0}, {"name": "proc.threads", "value": 3.0},
    ]


def test_queries_are_read_only(db: Path):
    with pytest.raises(QueryError, match="read-only"):
        run_query(db, "DELETE FROM metrics")


@pytest.mark.parametrize("sql,message", [
    ("SELEC 1", "syntax error"),
    ("SELECT * FROM nope", "nope"),
], ids=["syntax", "unknown-table"])
def test_a_sql_error_is_one_clear_line(db: Path, sql: str, message: str):
    with pytest.raises(QueryError) as err:
        run_query(db, sql)
    assert str(err.value).startswith("SQL error: ") and message in str(err.value) and "\n" not in str(err.value)


def test_a_missing_database_is_named(tmp_path: Path):
    with pytest.raises(Exception, match="no database at"):
        run_query(tmp_path / "none.duckdb", "SELECT 1")


ROWS = pa.table({"name": ["a,b", "c"], "n": [1, None], "raw": [b"\xff\x00", b"ok"]})


def test_csv_output():
    out = io.StringIO()
    write_rows(ROWS, "csv", stream=out)
    assert out.getvalue() == 'name,n,raw\n"a,b",1,\\xff\x00\nc,,ok\n'


def test_json_output():
    out = io.StringIO()
    write_rows(ROWS, "json", stream=out)
    assert json.loads(out.getvalue()) == [{"name": "a,b", "n": 1, "raw": "\\xff\x00"}, {"name": "c", "n": None, "raw": "ok"}]


def test_table_output_shows_every_value():
    out = io.StringIO()
    write_rows(ROWS, "table", stream=out)
    text = out.getvalue()
    assert all(s in text for s in ("name", "a,b", "c", "1"))


def test_parquet_output_needs_a_file(tmp_path: Path):
    with pytest.raises(OutputError, match="needs --output"):
        write_rows(ROWS, "parquet")
    write_rows(ROWS, "parquet", output=tmp_path / "rows.parquet")
    assert pq.read_table(tmp_path / "rows.parquet").equals(ROWS)


def test_the_default_output_is_csv_when_not_a_terminal():
    out = io.StringIO()
    write_rows(pa.table({"x": [1]}), None, stream=out)
    assert out.getvalue() == "x\n1\n"


def test_the_summary_queries(db: Path):
    got = {title: t.to_pylist() for title, t in summary(db)}
    assert len(got) == len(SUMMARY_QUERIES) + 2  # then what is kept, and the file's size
    sessions, cpu, events, rejects, formats, kept, file = got.values()
    assert {r["table"]: r["rows"] for r in kept} == {"metrics": 4, "events": 3, "rejects": 1, "ingests": 1,
                                                      "sessions": 1}
    assert file[0]["bytes"] > 0
    assert [(r["log_format"], r["future_dated"], r["ts_not_from_line"]) for r in formats] == [("client", 0, 0)]
    assert sessions == [{"client_id": "c1", "sessions": 1, "clean": 1, "crashed": 0, "lost": 0, "open": 0, "stopped": 0, "unknown": 0}]
    assert cpu == [{"client_id": "c1", "session_id": SESS, "cpu_p95": 29.0, "samples": 2}]
    assert events == [{"name": "tracker.timeout", "level": "WARN", "n": 1}]
    assert [r["n"] for r in rejects] == [1]


def test_reparse_pages_through_rejects_and_keeps_what_still_fails(db_path: Path):
    from logship.store.reparse import reparse_rejects

    garbage = b"".join(b"garbage line %d\n" % i for i in range(25))
    with Store(db_path) as st:
        src = st.resolve_source("c1", garbage, path="g.log", log_format="client", tz="UTC")
        st.ingest(src.source_id, 0, garbage, final=True, kind="file")
        got = reparse_rejects(st, page=10)
        assert (got.examined, got.moved, got.still_rejected, got.sources) == (25, 0, 25, 1)
        assert st.con.execute("SELECT count(*) FROM rejects").fetchall() == [(25,)]
