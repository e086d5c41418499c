"""Ad-hoc SQL and the named canned queries (`logship query`, `sessions`, `rejects`, `summary`).

Each entry point takes the database path or an open door (store/door.py), which decides
once whether the file is read here or through the running collector that holds it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from logship.store.door import Door, open_door

__all__ = ["run_query", "sessions_query", "rejects_query", "SUMMARY_QUERIES", "KEPT_QUERY", "summary", "file_table"]


def run_query(db: str | Path | Door, sql: str, params: list | dict | None = None) -> pa.Table:
    """Run one SELECT read-only and return its rows as Arrow.

    Offline the file is opened read-only with external access off and the configuration
    locked, and the statement runs inside a read-only transaction after the one-SELECT
    check (store/readonly.py). A statement DuckDB rejects becomes QueryError with
    DuckDB's message on one line. While `logship collect` holds the file, the query runs
    there, behind the same guard and with the same messages.
    """
    if isinstance(db, Door):
        return db.query(sql, params)
    with open_door(db) as door:
        return door.query(sql, params)


def sessions_query(db: str | Path | Door, client_id: str | None = None, end_reason: str | None = None,
                   limit: int = 1000) -> pa.Table:
    """Sessions, newest first, optionally of one client or one end reason."""
    return run_query(
        db,
        "SELECT client_id, session_id, started_at, ended_at, end_reason, last_seen, exit_code, signal "
        "FROM sessions WHERE ($c IS NULL OR client_id = $c) AND ($r IS NULL OR end_reason = $r) "
        "ORDER BY coalesce(started_at, last_seen) DESC NULLS LAST, client_id, session_id LIMIT $n",
        {"c": client_id, "r": end_reason, "n": limit},
    )


def rejects_query(db: str | Path | Door, error_code: str | None = None, limit: int = 100) -> pa.Table:
    """Rejects in source order, with where they came from."""
    return run_query(
        db,
        "SELECT r.received_at, s.path, r.byte_offset, r.error_code, r.error, r.raw, r.source_id "
        "FROM rejects r LEFT JOIN sources s USING (source_id) "
        "WHERE ($e IS NULL OR r.error_code = $e) ORDER BY s.path, r.byte_offset LIMIT $n",
        {"e": error_code, "n": limit},
    )


# The demo's summary: (title, SQL). Plain SQL so that users can copy them.
SUMMARY_QUERIES: list[tuple[str, str]] = [
    ("Sessions per client and how they ended", """
        SELECT client_id, count(*) AS sessions,
            count(*) FILTER (WHERE end_reason = 'clean') AS clean,
            count(*) FILTER (WHERE end_reason = 'crashed') AS crashed,
            count(*) FILTER (WHERE end_reason = 'lost') AS lost,
            count(*) FILTER (WHERE end_reason = 'open') AS open,
            count(*) FILTER (WHERE end_reason = 'stopped') AS stopped,
            count(*) FILTER (WHERE end_reason = 'unknown') AS unknown
        FROM sessions GROUP BY client_id ORDER BY client_id"""),
    ("CPU p95 per session (metric proc.cpu, percent; top 10)", """
        SELECT client_id, session_id, round(quantile_cont(value, 0.95), 1) AS cpu_p95,
            count(*) AS samples
        FROM metrics WHERE name = 'proc.cpu'
        GROUP BY client_id, session_id ORDER BY cpu_p95 DESC, client_id, session_id LIMIT 10"""),
    ("Top events", """
        SELECT name, level, count(*) AS n
        FROM events WHERE name NOT IN ('session.start', 'session.end')
        GROUP BY name, level ORDER BY n DESC, name, level LIMIT 10"""),
    ("Rejects by error", """
        SELECT error_code, count(*) AS n FROM rejects GROUP BY error_code ORDER BY n DESC, error_code"""),
    # docs/storage.md: sources read as `unknown`, times that did not come from the line,
    # entries dated past their receive time (file mtime) + Limits.future_tolerance_s
    ("Sources by format, with times not from the line and future-dated entries", """
        SELECT s.log_format, count(*) AS sources, sum(coalesce(s.future_dated, 0))::BIGINT AS future_dated,
            coalesce(sum(t.stood_in), 0)::BIGINT AS ts_not_from_line
        FROM sources s LEFT JOIN (
            SELECT source_id, count(*) AS stood_in FROM events WHERE ts_source <> 'line' GROUP BY source_id
        ) t USING (source_id)
        GROUP BY s.log_format ORDER BY sources DESC, s.log_format"""),
]


# What the database keeps (docs/storage.md, retention): rows, oldest and newest per table.
KEPT_QUERY = """
    SELECT 'metrics' AS "table", count(*) AS "rows", min(ts) AS oldest, max(ts) AS newest FROM metrics
    UNION ALL SELECT 'events', count(*), min(ts), max(ts) FROM events
    UNION ALL SELECT 'rejects', count(*), min(received_at), max(received_at) FROM rejects
    UNION ALL SELECT 'ingests', count(*), min("at"), max("at") FROM ingests
    UNION ALL SELECT 'sessions', count(*), min(first_ts), max(last_seen) FROM session_agg"""


def file_table(db: Path) -> pa.Table:
    """The database file's size (with its write-ahead log): one row."""
    from logship.store.prune import file_bytes

    n = file_bytes(db)
    return pa.table({"file": [str(db)], "bytes": pa.array([n], pa.int64()), "mib": [round(n / 2**20, 1)]})


def summary(db: str | Path | Door) -> list[tuple[str, pa.Table]]:
    """Every canned summary query with its title, then what the database keeps and its
    file size (through one door)."""
    if isinstance(db, Door):
        return ([(title, db.query(sql)) for title, sql in SUMMARY_QUERIES]
                + [("Data kept: rows, oldest and newest per table", db.query(KEPT_QUERY)),
                   ("Database file", file_table(db.db))])
    with open_door(db) as door:
        return summary(door)
