"""Attacks on the read-only query path, through every door a user has.

Each attack is run offline (`logship.store.query.run_query`, what `logship query --db X` calls,
with no collector), against a real collector over `/v1/query`, and through
`run_query` while that collector holds the file (`logship query` forwards there). Each
must be refused with one clear line; afterwards every table's exact row count, the
catalog, the settings and the sequence are what they were, and no file appeared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from logship.store import Store
from logship.store.query import run_query
from tests.collectorkit import ADMIN, CollectorProc, run
from tests.run import logship

SESS = "3f2a9c1e5b7d9e01"
DATA = (
    f'2026-11-27T21:00:00.000+00:00 INFO  sess={SESS} session start version="1.4.2"\n'
    f"2026-11-27T21:00:01.000+00:00 INFO  sess={SESS} metric proc cpu=10% threads=3\n"
    f"2026-11-27T21:00:02.000+00:00 INFO  sess={SESS} metric proc cpu=30% threads=3\n"
    f'2026-11-27T21:00:03.000+00:00 WARN  sess={SESS} event tracker.timeout url="http://t/a"\n'
    "not a log line\n"
    f"2026-11-27T21:00:04.000+00:00 INFO  sess={SESS} session end exit=0\n"
).encode()

TABLES = ("metrics", "events", "rejects", "sources", "source_ranges", "ingests", "session_agg")
# exact row counts of DATA's ingest (4 metrics, 1 event + 2 session events, 1 reject ...)
STATE_SQL = " UNION ALL ".join(f"SELECT '{t}' AS k, count(*)::VARCHAR AS v FROM {t}" for t in TABLES) + (
    " UNION ALL SELECT 'tables', count(*)::VARCHAR FROM duckdb_tables()"
    " UNION ALL SELECT 'views', count(*)::VARCHAR FROM duckdb_views() WHERE NOT internal"
    " UNION ALL SELECT 'sequences', string_agg(sequence_name || '=' || coalesce(last_value, -1), ',')"
    " FROM duckdb_sequences()"
    " UNION ALL SELECT 'macros', count(*)::VARCHAR FROM duckdb_functions() WHERE NOT internal"
    " UNION ALL SELECT 'types', count(*)::VARCHAR FROM duckdb_types() WHERE NOT internal"
    " UNION ALL SELECT 'databases', string_agg(database_name, ',' ORDER BY database_name) FROM duckdb_databases()"
    " UNION ALL SELECT 'external', current_setting('enable_external_access')::VARCHAR"
    " UNION ALL SELECT 'memory_limit', current_setting('memory_limit')::VARCHAR"
    " UNION ALL SELECT 'lock', current_setting('lock_configuration')::VARCHAR"
)

# (id, SQL with {tmp} and {secret}, a word the refusal must name)
ATTACKS: list[tuple[str, str, str]] = [
    ("cte-delete", "WITH x AS (DELETE FROM events RETURNING *) SELECT count(*) FROM x", "read-only"),
    ("cte-delete-ranges", "WITH x AS (DELETE FROM source_ranges RETURNING 1) SELECT count(*) FROM x", "read-only"),
    ("cte-update", "WITH x AS (UPDATE sources SET path = 'x' RETURNING *) SELECT count(*) FROM x", "read-only"),
    ("cte-insert", "WITH x AS (INSERT INTO source_ranges VALUES ('s', 0, 1) RETURNING *) SELECT * FROM x",
     "read-only"),
    ("cte-delete-in-subquery",
     "SELECT (WITH x AS (DELETE FROM metrics RETURNING 1) SELECT count(*) FROM x) AS n", "data-modifying"),
    ("cte-materialized-delete",
     "WITH x AS MATERIALIZED (DELETE FROM rejects RETURNING 1) SELECT count(*) FROM x", "read-only"),
    ("delete", "DELETE FROM events", "only SELECT"),
    ("update", "UPDATE sources SET path = 'x'", "only SELECT"),
    ("insert", "INSERT INTO events (name) VALUES ('x')", "only SELECT"),
    ("insert-or-replace", "INSERT OR REPLACE INTO source_ranges VALUES ('s', 0, 1)", "only SELECT"),
    ("truncate", "TRUNCATE events", "only SELECT"),
    ("copy-to", "COPY events TO '{tmp}/out.csv'", "only SELECT"),
    ("copy-select-to", "COPY (SELECT * FROM events) TO '{tmp}/out.parquet' (FORMAT parquet)", "only SELECT"),
    ("copy-from", "COPY events FROM '{secret}'", "only SELECT"),
    ("export-database", "EXPORT DATABASE '{tmp}/exported'", "only SELECT"),
    ("import-database", "IMPORT DATABASE '{tmp}'", "only SELECT"),
    ("attach", "ATTACH '{tmp}/other.duckdb' AS other", "only SELECT"),
    ("attach-memory", "ATTACH ':memory:' AS mem", "only SELECT"),
    ("detach", "DETACH DATABASE IF EXISTS other", "only SELECT"),
    ("use", "USE system", "only SELECT"),
    ("pragma-checkpoint", "PRAGMA force_checkpoint", "only SELECT"),
    ("pragma-version", "PRAGMA version", "only SELECT"),
    ("set-external-access", "SET enable_external_access = true", "only SELECT"),
    ("set-memory-limit", "SET memory_limit = '64GB'", "only SELECT"),
    ("set-global", "SET GLOBAL threads = 1", "only SELECT"),
    ("set-variable", "SET VARIABLE x = 1", "only SELECT"),
    ("reset-external-access", "RESET enable_external_access", "only SELECT"),
    ("reset-all", "RESET ALL", "syntax error"),
    ("call-checkpoint", "CALL checkpoint()", "only SELECT"),
    ("call-enable-logging", "CALL enable_logging()", "only SELECT"),
    ("install", "INSTALL httpfs", "only SELECT"),
    ("force-install", "FORCE INSTALL httpfs", "only SELECT"),
    ("load", "LOAD httpfs", "only SELECT"),
    ("create-table", "CREATE TABLE t AS SELECT 1 AS x", "only SELECT"),
    ("create-temp-table", "CREATE TEMP TABLE t (x INT)", "only SELECT"),
    ("create-view", "CREATE VIEW v AS SELECT 1", "only SELECT"),
    ("create-macro", "CREATE MACRO m(a) AS a + 1", "only SELECT"),
    ("create-sequence", "CREATE SEQUENCE s2", "only SELECT"),
    ("create-type", "CREATE TYPE mood AS ENUM ('a')", "only SELECT"),
    ("create-secret", "CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')", "only SELECT"),
    ("drop-table", "DROP TABLE events", "only SELECT"),
    ("drop-view", "DROP VIEW sessions", "only SELECT"),
    ("alter-table", "ALTER TABLE events ADD COLUMN x INT", "only SELECT"),
    ("checkpoint", "CHECKPOINT", "only SELECT"),
    ("force-checkpoint", "FORCE CHECKPOINT", "only SELECT"),
    ("vacuum", "VACUUM", "only SELECT"),
    ("analyze", "ANALYZE", "only SELECT"),
    ("begin", "BEGIN TRANSACTION", "only SELECT"),
    ("commit", "COMMIT", "only SELECT"),
    ("rollback", "ROLLBACK", "only SELECT"),
    ("explain-analyze-delete", "EXPLAIN ANALYZE DELETE FROM events", "only SELECT"),
    ("pivot-creates-types", "PIVOT events ON level USING count(*)", "only SELECT"),
    ("two-statements", "SELECT 1; DELETE FROM events", "one statement"),
    ("select-then-drop", "SELECT 42; DROP TABLE events;", "one statement"),
    ("comment-hides-delete", "/* SELECT */ DELETE FROM events -- SELECT", "only SELECT"),
    ("line-comment-then-delete", "-- SELECT 1\nDELETE FROM events", "only SELECT"),
    ("comment-then-second-statement", "SELECT 1 -- harmless\n; DELETE FROM events", "one statement"),
    ("read-csv", "SELECT * FROM read_csv('{secret}')", "disabled"),
    ("read-csv-glob", "SELECT * FROM read_csv('{tmp}/*.csv')", "disabled"),
    ("read-text", "SELECT * FROM read_text('{secret}')", "disabled"),
    ("read-blob", "SELECT * FROM read_blob('{secret}')", "disabled"),
    ("read-parquet", "SELECT * FROM read_parquet('{tmp}/x.parquet')", "disabled"),
    ("read-json", "SELECT * FROM read_json('{secret}')", "disabled"),
    ("sniff-csv", "SELECT * FROM sniff_csv('{secret}')", "disabled"),
    ("glob", "SELECT * FROM glob('{tmp}/*')", "disabled"),
    ("file-as-table", "SELECT * FROM '{secret}'", "disabled"),
    ("file-glob-as-table", "FROM '{tmp}/*.csv'", "disabled"),
    ("nextval", "SELECT nextval('ingests_id')", "nextval"),
    ("nextval-in-lambda", "SELECT list_transform([1, 2], x -> nextval('ingests_id'))", "nextval"),
    ("setval", "SELECT setval('ingests_id', 100)", "setval"),
    ("select-checkpoint", "SELECT * FROM checkpoint()", "checkpoint"),
    ("select-force-checkpoint", "SELECT * FROM force_checkpoint()", "force_checkpoint"),
    ("select-checkpoint-quoted", 'SELECT * FROM "CheckPoint"()', "checkpoint"),
    ("select-enable-logging", "SELECT * FROM enable_logging()", "enable_logging"),
    ("select-truncate-logs", "SELECT * FROM truncate_duckdb_logs()", "truncate_duckdb_logs"),
    ("query-function", "SELECT * FROM query('SELECT * FROM checkpoint()')", "query"),
    ("query-function-delete", "SELECT * FROM query('DELETE FROM events')", "query"),
    ("execute-serialized",
     "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM checkpoint()'))",
     "json_execute_serialized_sql"),
]

PATHS = ("offline", "http", "cli-collector")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """Two copies of one database: one for offline queries, one held by a collector."""
    base = tmp_path_factory.mktemp("attacks")
    dbs: dict[str, Path] = {}
    for name in ("offline", "held"):
        d = base / name
        d.mkdir()
        (d / "secret.csv").write_text("a,b\n1,2\n")
        with Store(d / "q.duckdb") as st:
            src = st.resolve_source("c1", DATA, path="a.log", log_format="client", tz="UTC")
            st.ingest(src.source_id, 0, DATA, final=True, kind="file")
            st.con.execute("CHECKPOINT")
        dbs[name] = d / "q.duckdb"
    coll = CollectorProc(dbs["held"].parent, db=dbs["held"]).start()
    try:
        yield dbs, coll
    finally:
        coll.stop()


async def _post(url: str, sql: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/query", json={"sql": sql},
                          headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            return r.status, await r.json(content_type=None)


def _state(path: str, db: Path, coll: CollectorProc) -> dict[str, str]:
    if path == "offline":
        rows = run_query(db, STATE_SQL).to_pylist()
    else:
        status, body = run(_post(coll.url, STATE_SQL))
        assert status == 200, body
        rows = [dict(zip(body["columns"], r)) for r in body["rows"]]
    return {r["k"]: r["v"] for r in rows}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} - {"collector.log"}


def _attempt(path: str, sql: str, db: Path, coll: CollectorProc) -> str:
    """The refusal's one line (fails the test if the query was answered)."""
    if path == "http":
        status, body = run(_post(coll.url, sql))
        assert status == 400, (status, body)
        assert body["error"]["code"] == "query_refused"
        return body["error"]["message"]
    with pytest.raises(Exception) as err:
        run_query(db, sql)
    assert type(err.value).__name__ in ("QueryError", "RemoteError"), repr(err.value)
    return str(err.value)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name,sql,why", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_is_refused_and_changes_nothing(world, path: str, name: str, sql: str, why: str):
    dbs, coll = world
    db = dbs["offline"] if path == "offline" else dbs["held"]
    root = db.parent
    sql = sql.format(tmp=root, secret=root / "secret.csv")
    before, files = _state(path, db, coll), _files(root)
    assert before["events"] == "3" and before["metrics"] == "4" and before["external"] == "false"
    message = _attempt(path, sql, db, coll)
    assert "\n" not in message and why in message, message
    assert _state(path, db, coll) == before
    assert _files(root) == files
    assert coll.proc is not None and coll.proc.poll() is None, "the collector must keep running"


@pytest.mark.parametrize("held", [False, True], ids=["offline", "collector"])
def test_cli_query_refuses_a_delete_in_a_cte(world, held: bool):
    """`logship query` itself, as a user runs it: exit 1, one line on stderr, nothing deleted."""
    dbs, coll = world
    db = dbs["held"] if held else dbs["offline"]
    sql = "WITH x AS (DELETE FROM events RETURNING *) SELECT count(*) FROM x"
    r = logship("query", "--db", db, sql, "--format", "json", timeout=120)
    assert r.returncode == 1 and "read-only" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    ok = logship("query", "--db", db, "SELECT count(*) AS n FROM events", "--format", "json", timeout=120)
    assert ok.returncode == 0 and json.loads(ok.stdout) == [{"n": 3}], ok.stderr


@pytest.mark.parametrize("path", PATHS)
def test_reads_still_work(world, path: str):
    """Plain SELECTs (CTEs, parameters, the sessions view, DESCRIBE) answer as before."""
    dbs, coll = world
    db = dbs["offline"] if path == "offline" else dbs["held"]
    sql = ("WITH m AS (SELECT name, value FROM metrics) SELECT name, sum(value) AS s FROM m "
           "GROUP BY name ORDER BY name")
    want = [{"name": "proc.cpu", "s": 40.0}, {"name": "proc.threads", "s": 6.0}]
    if path == "http":
        status, body = run(_post(coll.url, sql))
        assert status == 200, body
        assert [dict(zip(body["columns"], r)) for r in body["rows"]] == want
    else:
        assert run_query(db, sql).to_pylist() == want
        assert run_query(db, "SELECT count(*) AS n FROM sessions WHERE client_id = $c",
                         {"c": "c1"}).to_pylist() == [{"n": 1}]
        assert "name" in run_query(db, "DESCRIBE events").column("column_name").to_pylist()
    assert os.path.exists(db)
