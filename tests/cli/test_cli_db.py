"""The database commands end to end through the CLI: ingest, query, sessions, rejects,
reparse (with a user grammar as the 'new grammar'), ingest --replace, export, summary."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from logship import cli

runner = CliRunner()
SESS = "3f2a9c1e5b7d9e01"
SHORT = "5e551011"  # an 8-digit session id: the shipped grammar rejects it, the 'new' one accepts it

LOG = (
    f'2026-11-27T21:00:00.000+00:00 INFO  sess={SESS} session start version="1.4.2"\n'
    f"2026-11-27T21:00:01.000+00:00 INFO  sess={SESS} metric proc cpu=12.5% rss=1KiB\n"
    f"2026-11-27T21:00:02.000+00:00 ERROR sess={SESS} event disk.write_failed errno=28 -- No space\n"
    "    Traceback (most recent call last): ...\n"
    f"2026-11-27T21:00:03.000+00:00 INFO  sess={SHORT} session start\n"
    f"2026-11-27T21:00:04.000+00:00 INFO  sess={SHORT} metric proc cpu=50%\n"
    f"2026-11-27T21:00:05.000+00:00 INFO  sess={SESS} session end exit=3\n"
).encode()


def run(*args: str, input: bytes | None = None):
    return runner.invoke(cli.app, list(args), input=input)


def logship(*args: str) -> subprocess.CompletedProcess:
    """The real console script in its own process (user grammars load process-wide)."""
    exe = Path(sys.executable).with_name("logship")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def logfile(log_dir: Path) -> Path:
    f = log_dir / "app.log"
    f.write_bytes(LOG)
    return f


@pytest.fixture
def new_grammar(tmp_path: Path) -> Path:
    """A user grammar dir whose `client` format also accepts 8-digit session ids."""
    d = tmp_path / "grammars"
    d.mkdir()
    text = (files("logship.grammars") / "client.lark").read_text()
    assert "SESSION_ID: /sess=[0-9a-f]{16}/" in text
    (d / "client.lark").write_text(text.replace("SESSION_ID: /sess=[0-9a-f]{16}/", "SESSION_ID: /sess=[0-9a-f]{8,16}/"))
    return d


def test_ingest_then_query_as_csv(db_path: Path, logfile: Path):
    res = run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    assert res.exit_code == 0, res.output
    assert "ingested 1 file: 7 lines, 5 records, 2 rejects, 0 bytes skipped" in res.output
    res = run("query", "SELECT name, level, message FROM events ORDER BY ts", "--db", str(db_path), "--format", "csv")
    assert res.exit_code == 0
    assert res.stdout == (
        "name,level,message\n"
        "session.start,INFO,\n"
        'disk.write_failed,ERROR,"No space\n    Traceback (most recent call last): ..."\n'
        "session.end,INFO,\n"
    )
    again = run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    assert f"0 lines, 0 records, 0 rejects, {len(LOG)} bytes skipped" in again.output


def test_query_formats_json_and_parquet(db_path: Path, logfile: Path, tmp_path: Path):
    run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    res = run("query", "SELECT name, value, unit FROM metrics ORDER BY name", "--db", str(db_path), "--format", "json")
    assert json.loads(res.stdout) == [{"name": "proc.cpu", "value": 12.5, "unit": "percent"},
                                      {"name": "proc.rss", "value": 1024.0, "unit": "bytes"}]
    no_file = run("query", "SELECT 1", "--db", str(db_path), "--format", "parquet")
    assert no_file.exit_code == 2 and "needs --output" in no_file.output
    out = tmp_path / "m.parquet"
    assert run("query", "SELECT * FROM metrics", "--db", str(db_path), "--format", "parquet", "-o", str(out)).exit_code == 0
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall() == [(2,)]


def test_a_sql_error_prints_one_line_and_fails(db_path: Path, logfile: Path):
    run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    res = run("query", "SELECT * FROM no_such_table", "--db", str(db_path))
    assert res.exit_code == 1
    assert res.output.startswith("error: SQL error: Catalog Error: Table with name no_such_table does not exist")
    assert res.output.count("\n") == 1


def test_ingest_reports_bad_inputs_and_exits_non_zero(db_path: Path, logfile: Path, log_dir: Path):
    (log_dir / "broken.gz").write_bytes(b"\x1f\x8bnot gzip at all")
    res = run("ingest", str(logfile), str(log_dir / "broken.gz"), str(log_dir / "nope.log"), "--db", str(db_path),
              "--tz", "UTC")
    assert res.exit_code == 1
    assert f"error: {log_dir / 'nope.log'}: no such file or directory" in res.output
    assert f"error: {log_dir / 'broken.gz'}: cannot read: BadGzipFile" in res.output
    assert "7 lines" in res.output


def test_ingest_from_stdin_with_a_forced_format(db_path: Path):
    res = run("ingest", "-", "--db", str(db_path), "--tz", "UTC", "--log-format", "client", "--client-id", "pc7",
              input=gzip.compress(LOG))
    assert res.exit_code == 0, res.output
    rows = duckdb.connect(str(db_path), read_only=True).execute(
        "SELECT client_id, log_format, format_hit_rate, path FROM sources").fetchall()
    assert rows == [("pc7", "client", None, "<stdin>")]


def test_sessions_and_rejects_commands(db_path: Path, logfile: Path):
    run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    res = run("sessions", "--db", str(db_path), "--format", "json")
    assert [(s["session_id"], s["end_reason"], s["exit_code"]) for s in json.loads(res.stdout)] == [(SESS, "crashed", 3)]
    res = run("rejects", "--db", str(db_path), "--format", "json")
    rejects = json.loads(res.stdout)
    assert [(r["byte_offset"], r["error_code"]) for r in rejects] == [
        (LOG.index(f"sess={SHORT} session".encode()) - 36, "bad_session"),
        (LOG.index(f"sess={SHORT} metric".encode()) - 36, "bad_session")]
    assert all(r["path"].endswith("app.log") for r in rejects)


def test_reparse_moves_what_a_new_grammar_parses(db_path: Path, logfile: Path, new_grammar: Path):
    run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    unchanged = run("reparse", "--db", str(db_path))
    assert "reparsed 2 rejects of 1 sources: 0 now parse" in unchanged.output
    res = logship("reparse", "--db", str(db_path), "--grammar-dir", str(new_grammar))
    assert res.returncode == 0, res.stderr
    assert "reparsed 2 rejects of 1 sources: 2 now parse (2 records), 0 still rejected" in res.stderr
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM rejects").fetchall() == [(0,)]
    assert con.execute("SELECT session_id, end_reason FROM sessions ORDER BY started_at").fetchall() == [
        (SESS, "crashed"), (SHORT, "open")]
    assert con.execute("SELECT kind, lines, records, rejects FROM ingests ORDER BY id").fetchall() == [
        ("file", 7, 5, 2), ("reparse", 2, 2, 0)]


def test_ingest_replace_reparses_a_source_in_one_transaction(db_path: Path, logfile: Path, new_grammar: Path):
    run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    res = logship("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC", "--replace",
                  "--grammar-dir", str(new_grammar))
    assert res.returncode == 0, res.stderr
    assert "7 lines, 7 records, 0 rejects, 0 bytes skipped" in res.stderr
    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM events), "
                       "(SELECT count(*) FROM rejects)").fetchall() == [(3, 4, 0)]
    assert con.execute("SELECT session_id, end_reason FROM sessions ORDER BY started_at").fetchall() == [
        (SESS, "crashed"), (SHORT, "open")]
    assert con.execute("SELECT start_offset, end_offset FROM source_ranges").fetchall() == [(0, len(LOG))]


def test_export_writes_hive_partitioned_parquet(db_path: Path, logfile: Path, tmp_path: Path):
    run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC", "--client-id", "pc1")
    out = tmp_path / "export"
    res = run("export", "--out", str(out), "--db", str(db_path))
    assert res.exit_code == 0, res.output
    assert (out / "metrics" / "client_id=pc1" / "date=2026-11-27").is_dir()
    got = duckdb.sql(
        f"SELECT client_id, date, count(*) FROM read_parquet('{out}/events/**/*.parquet', hive_partitioning=true) "
        "GROUP BY ALL").fetchall()
    assert [(c, str(d), n) for c, d, n in got] == [("pc1", "2026-11-27", 3)]  # 3 events; the 8-digit session is rejected


def test_summary_prints_the_canned_queries(db_path: Path, logfile: Path):
    run("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    res = run("summary", "--db", str(db_path), "--format", "csv")
    assert res.exit_code == 0, res.output
    assert ("# Sessions per client and how they ended\nclient_id,sessions,clean,crashed,lost,open,stopped,unknown\n"
            "local,1,0,1,0,0,0,0\n") in res.stdout
    assert "disk.write_failed,ERROR,1" in res.stdout


def test_the_console_script_end_to_end(db_path: Path, logfile: Path):
    done = logship("ingest", str(logfile), "--db", str(db_path), "--tz", "UTC")
    assert done.returncode == 0 and "7 lines" in done.stderr, done.stderr
    done = logship("query", "SELECT count(*) AS n FROM metrics", "--db", str(db_path))
    assert done.stdout == "n\n2\n"


def test_ingest_year_dates_a_syslog_file_whose_mtime_and_name_say_nothing(db_path: Path, tmp_path: Path):
    """`--year` gives a new source's first year-less line its year; the New Year rolls on."""
    import os

    log = tmp_path / "messages.old"
    log.write_text("Dec 31 23:59:58 vm CRON[1]: (root) CMD (true)\nJan  1 00:00:01 vm CRON[2]: (root) CMD (true)\n")
    os.utime(log, (1_900_000_000, 1_900_000_000))  # copied in 2030
    done = logship("ingest", str(log), "--db", str(db_path), "--tz", "UTC", "--log-format", "syslog",
                   "--year", "2019")
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(db_path), read_only=True) as con:
        got = con.execute("SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') FROM events ORDER BY ts").fetchall()
    assert got == [("2019-12-31 23:59:58",), ("2020-01-01 00:00:01",)]
