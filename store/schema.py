"""The DuckDB schema as ordered migrations, recorded in ``schema_version``.

Fact tables (metrics, events, rejects) have no keys: one odd row must never fail a
group commit; exactly-once comes from ``source_ranges``. ``session_agg`` holds one row
per (client, session) merged on each commit (min/max), so the ``sessions`` view never
scans the fact tables.
"""

from __future__ import annotations

import duckdb

from logship.store.errors import SchemaError
from logship.store.tables import EVENTS, METRICS, REJECTS

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "schema_version"]

_V1 = [
    # the fact tables come from the one spec (store/tables.py): the columns of v1
    METRICS.create_sql(1), EVENTS.create_sql(1), REJECTS.create_sql(1),
    """CREATE TABLE sources (
        source_id VARCHAR, client_id VARCHAR, head BLOB, path VARCHAR, log_format VARCHAR,
        tz VARCHAR, mtime TIMESTAMPTZ, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,
        context JSON, format_hit_rate DOUBLE)""",
    "CREATE TABLE source_ranges (source_id VARCHAR, start_offset BIGINT, end_offset BIGINT)",
    "CREATE SEQUENCE ingests_id START 1",
    """CREATE TABLE ingests (
        id BIGINT DEFAULT nextval('ingests_id'), "at" TIMESTAMPTZ, kind VARCHAR, source_id VARCHAR,
        start_offset BIGINT, end_offset BIGINT, lines BIGINT, records BIGINT, rejects BIGINT)""",
    # One row per (client, session): merged on every commit, rebuilt by --replace.
    """CREATE TABLE session_agg (
        client_id VARCHAR, session_id VARCHAR, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ,
        end_attrs JSON, ends BIGINT, first_ts TIMESTAMPTZ, last_seen TIMESTAMPTZ,
        PRIMARY KEY (client_id, session_id))""",
    # end_reason (docs/storage.md): clean (end, exit 0 or none, no signal), crashed (end with
    # non-zero exit or a signal), lost (no end and a later session of the client), open.
    """CREATE VIEW sessions AS
    SELECT client_id, session_id, started_at, ended_at,
        CASE
            WHEN ends > 0 AND coalesce(TRY_CAST(json_extract_string(end_attrs, '$.exit') AS BIGINT), 0) = 0
                 AND json_extract_string(end_attrs, '$.signal') IS NULL THEN 'clean'
            WHEN ends > 0 THEN 'crashed'
            WHEN coalesce(started_at, first_ts)
                 < max(coalesce(started_at, first_ts)) OVER (PARTITION BY client_id) THEN 'lost'
            ELSE 'open'
        END AS end_reason,
        last_seen,
        TRY_CAST(json_extract_string(end_attrs, '$.exit') AS BIGINT) AS exit_code,
        json_extract_string(end_attrs, '$.signal') AS signal
    FROM session_agg""",
]

# v2 (issue 10): where each row's time came from (``ts_source``: line, received,
# previous; rows written before read as `line`), and each source's count of entries
# dated more than Limits.future_tolerance_s past their receive time (or file mtime).
_V2 = [
    *METRICS.add_columns_sql(2), *EVENTS.add_columns_sql(2), *REJECTS.add_columns_sql(2),
    "ALTER TABLE sources ADD COLUMN future_dated BIGINT DEFAULT 0",
]

# v3 (issue 12, the watchdog): two more end reasons, read from the end mark. `stopped`:
# the mark says reason=stopped (the watchdog forwarded a stop signal, or the machine
# was shutting down), whatever the exit; `unknown`: the mark says exit=unknown (a
# process watched with --pid, whose exit status cannot be read). Checked before
# clean/crashed: such a session is neither.
_V3 = [
    """CREATE OR REPLACE VIEW sessions AS
    SELECT client_id, session_id, started_at, ended_at,
        CASE
            WHEN ends > 0 AND json_extract_string(end_attrs, '$.reason') = 'stopped' THEN 'stopped'
            WHEN ends > 0 AND json_extract_string(end_attrs, '$.exit') = 'unknown'
                 AND json_extract_string(end_attrs, '$.signal') IS NULL THEN 'unknown'
            WHEN ends > 0 AND coalesce(TRY_CAST(json_extract_string(end_attrs, '$.exit') AS BIGINT), 0) = 0
                 AND json_extract_string(end_attrs, '$.signal') IS NULL THEN 'clean'
            WHEN ends > 0 THEN 'crashed'
            WHEN coalesce(started_at, first_ts)
                 < max(coalesce(started_at, first_ts)) OVER (PARTITION BY client_id) THEN 'lost'
            ELSE 'open'
        END AS end_reason,
        last_seen,
        TRY_CAST(json_extract_string(end_attrs, '$.exit') AS BIGINT) AS exit_code,
        json_extract_string(end_attrs, '$.signal') AS signal
    FROM session_agg""",
]

# Ordered steps; a new schema change appends a step, never edits an old one.
MIGRATIONS: list[list[str]] = [_V1, _V2, _V3]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The version recorded in the file (0 for a fresh file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    # fetchall, never fetchone: DuckDB 2.0 keeps a half-fetched result pending on the connection
    row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
    return int(row[0] or 0)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema to SCHEMA_VERSION, one transaction per step; returns the version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {current} is newer than this logship ({SCHEMA_VERSION}); upgrade logship"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        con.begin()
        try:
            for statement in MIGRATIONS[version - 1]:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
            con.commit()
        except duckdb.Error:
            con.rollback()
            raise
    return SCHEMA_VERSION
