"""The database commands' conventions: every listed --format works (json values, ndjson),
summary's json is one document, one statement per query, a failed command creates
nothing, choices are validated; usage errors exit 2, data/runtime errors exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logship import cli

runner = CliRunner()
SESS = "3f2a9c1e5b7d9e01"
LOG = (
    f'2026-11-27T21:00:00.000+00:00 INFO  sess={SESS} session start version="1.4.2"\n'
    f"2026-11-27T21:00:01.000+00:00 INFO  sess={SESS} metric proc cpu=12.5%\n"
    f"2026-11-27T21:00:02.000+00:00 ERROR sess={SESS} event disk.write_failed errno=28 path=\"/a b\" -- No space\n"
    f"2026-11-27T21:00:05.000+00:00 INFO  sess={SESS} session end exit=3\n"
).encode()


def run(*args: str):
    return runner.invoke(cli.app, list(args))


@pytest.fixture
def db(db_path: Path, log_dir: Path) -> Path:
    (log_dir / "app.log").write_bytes(LOG)
    res = run("ingest", str(log_dir / "app.log"), "--db", str(db_path), "--tz", "UTC", "--client-id", "pc1")
    assert res.exit_code == 0, res.output
    return db_path


def test_json_writes_json_columns_as_values(db: Path):
    res = run("query", "SELECT name, attrs FROM events WHERE name = 'disk.write_failed'", "--db", str(db),
              "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"name": "disk.write_failed", "attrs": {"errno": 28, "path": "/a b"}}]


def test_ndjson_is_one_object_a_line(db: Path):
    res = run("query", "SELECT name, labels, value FROM metrics", "--db", str(db), "--format", "ndjson")
    assert res.exit_code == 0, res.output
    assert res.stdout == '{"name": "proc.cpu", "labels": null, "value": 12.5}\n'
    res = run("sessions", "--db", str(db), "--format", "ndjson")
    assert [json.loads(line)["end_reason"] for line in res.stdout.splitlines()] == ["crashed"]


def test_summary_json_is_one_document_and_ndjson_one_table_a_line(db: Path):
    res = run("summary", "--db", str(db), "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [t["title"] for t in doc] == [
        "Sessions per client and how they ended", "CPU p95 per session (metric proc.cpu, percent; top 10)",
        "Top events", "Rejects by error", "Sources by format, with times not from the line and future-dated entries",
        "Data kept: rows, oldest and newest per table", "Database file"]
    assert doc[0]["rows"] == [{"client_id": "pc1", "sessions": 1, "clean": 0, "crashed": 1, "lost": 0, "open": 0, "stopped": 0, "unknown": 0}]
    assert doc[2]["rows"] == [{"name": "disk.write_failed", "level": "ERROR", "n": 1}]
    assert doc[3]["rows"] == []
    assert doc[4]["rows"] == [{"log_format": "client", "sources": 1, "future_dated": 0, "ts_not_from_line": 0}]
    kept = {r["table"]: r["rows"] for r in doc[5]["rows"]}
    assert kept == {"metrics": kept["metrics"], "events": kept["events"], "rejects": 0, "ingests": 1, "sessions": 1}
    assert doc[6]["rows"][0]["bytes"] == db.stat().st_size + (db.with_name(db.name + ".wal").stat().st_size
                                                               if db.with_name(db.name + ".wal").exists() else 0)
    lines = run("summary", "--db", str(db), "--format", "ndjson").stdout.splitlines()
    assert [json.loads(line) for line in lines] == doc


def test_summary_offers_no_parquet(db: Path):
    res = run("summary", "--db", str(db), "--format", "parquet")
    assert res.exit_code == 2 and "'parquet' is not one of" in res.output


def test_one_statement_per_query_locally(db: Path):
    res = run("query", "SELECT 1; SELECT 2", "--db", str(db))
    assert res.exit_code == 1
    assert res.output == "error: refused: one statement per query, got 2\n"


def test_end_reason_is_a_choice(db: Path):
    res = run("sessions", "--db", str(db), "--end-reason", "bogus")
    assert res.exit_code == 2 and "'bogus' is not one of 'clean', 'crashed', 'lost', 'open', 'stopped', 'unknown'" in res.output
    res = run("sessions", "--db", str(db), "--end-reason", "crashed", "--format", "csv")
    assert res.exit_code == 0 and res.stdout.splitlines()[1].startswith(f"pc1,{SESS},")
    assert run("sessions", "--db", str(db), "--end-reason", "clean", "--format", "csv").stdout.count("\n") == 1


def test_failed_commands_create_nothing(tmp_path: Path):
    db = tmp_path / "none.duckdb"
    res = run("ingest", str(tmp_path / "missing.log"), "--db", str(db))
    assert res.exit_code == 1
    assert res.output.splitlines()[0] == f"error: {tmp_path / 'missing.log'}: no such file or directory"
    for args in (["query", "SELECT 1"], ["sessions"], ["summary"], ["reparse"], ["export", "--out", str(tmp_path / "x")]):
        res = run(*args, "--db", str(db))
        assert res.exit_code == 1, (args, res.output)
        assert res.output == f"error: no database at {db} (ingest something first)\n", args
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_export_replaces_the_earlier_export_as_a_whole(db: Path, tmp_path: Path):
    out = tmp_path / "export"
    (out / "events" / "client_id=gone").mkdir(parents=True)
    res = run("export", "--out", str(out), "--db", str(db))
    assert res.exit_code == 0, res.output
    assert res.output == f"1 metrics, 3 events, 1 sessions written to {out}\n"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet")) == [
        "events/client_id=pc1/date=2026-11-27/part-0.parquet",
        "metrics/client_id=pc1/date=2026-11-27/part-0.parquet",
        "sessions/client_id=pc1/date=2026-11-27/part-0.parquet"]
    assert sorted(p.name for p in out.iterdir()) == ["events", "metrics", "sessions"]
