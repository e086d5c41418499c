"""Sessions: an incremental per-(client, session) aggregate, merged on every commit.

Each commit folds its own records into ``session_agg`` (min start, max end, the last end
mark's attrs, first/last timestamps), so a backlog ingested later corrects a session
without scanning the fact tables. The ``sessions`` view (store/schema.py) derives
end_reason. ``rebuild_sessions`` recomputes a client's rows from the fact tables, for
``ingest --replace`` where records disappear.
"""

from __future__ import annotations

import duckdb

import pyarrow as pa

from logship.store.batches import registered

__all__ = ["merge_sessions", "rebuild_sessions"]

_AGGREGATE = """
    SELECT {client} AS client_id, session_id,
        min(ts) FILTER (WHERE name = 'session.start') AS started_at,
        max(ts) FILTER (WHERE name = 'session.end') AS ended_at,
        arg_max(attrs, ts) FILTER (WHERE name = 'session.end') AS end_attrs,
        count(*) FILTER (WHERE name = 'session.end') AS ends,
        min(ts) AS first_ts, max(ts) AS last_seen
    FROM ({records}) r
    WHERE session_id IS NOT NULL
    GROUP BY {group}
"""

_UPSERT = """
    INSERT INTO session_agg BY NAME {select}
    ON CONFLICT (client_id, session_id) DO UPDATE SET
        started_at = least(session_agg.started_at, excluded.started_at),
        end_attrs = CASE
            WHEN excluded.ends > 0 AND (session_agg.ends = 0 OR session_agg.ended_at IS NULL
                 OR excluded.ended_at >= session_agg.ended_at) THEN excluded.end_attrs
            ELSE session_agg.end_attrs END,
        ended_at = greatest(session_agg.ended_at, excluded.ended_at),
        ends = session_agg.ends + excluded.ends,
        first_ts = least(session_agg.first_ts, excluded.first_ts),
        last_seen = greatest(session_agg.last_seen, excluded.last_seen)
"""


def merge_sessions(con: duckdb.DuckDBPyConnection, events: pa.Table, metrics: pa.Table,
                   client_id: str | None = None) -> None:
    """Fold one commit's events and metrics into session_agg, one upsert for every
    client (inside the caller's transaction). The tables carry a client_id column, or
    all their rows are of ``client_id``."""
    if _sessionless(events) and _sessionless(metrics):
        return  # the aggregate keeps only rows with a session: most formats but the client's have none
    if client_id is None:
        records = ("SELECT client_id, session_id, name, ts, attrs FROM _logship_sess_ev "
                   "UNION ALL SELECT client_id, session_id, NULL, ts, NULL FROM _logship_sess_mx")
        select = _AGGREGATE.format(client="client_id", records=records, group="client_id, session_id")
        ev, mx, params = ["client_id", "session_id", "name", "ts", "attrs"], ["client_id", "session_id", "ts"], None
    else:
        records = ("SELECT session_id, name, ts, attrs FROM _logship_sess_ev "
                   "UNION ALL SELECT session_id, NULL, ts, NULL FROM _logship_sess_mx")
        select = _AGGREGATE.format(client="$c::VARCHAR", records=records, group="session_id")
        ev, mx, params = ["session_id", "name", "ts", "attrs"], ["session_id", "ts"], {"c": client_id}
    with registered(con, {"_logship_sess_ev": events.select(ev), "_logship_sess_mx": metrics.select(mx)}):
        con.execute(_UPSERT.format(select=select), params)


def _sessionless(table: pa.Table) -> bool:
    """No row of the table has a session id (Arrow's null count: no scan of the rows)."""
    return table.column("session_id").null_count == table.num_rows


def rebuild_sessions(con: duckdb.DuckDBPyConnection, client_ids: list[str]) -> None:
    """Recompute the session rows of these clients from the fact tables (caller's transaction)."""
    for client_id in sorted(set(client_ids)):
        con.execute("DELETE FROM session_agg WHERE client_id = ?", [client_id])
        records = (
            "SELECT client_id, session_id, name, ts, attrs FROM events WHERE client_id = $c "
            "UNION ALL SELECT client_id, session_id, NULL, ts, NULL FROM metrics WHERE client_id = $c"
        )
        select = _AGGREGATE.format(client="client_id", records=records, group="client_id, session_id")
        con.execute(f"INSERT INTO session_agg BY NAME {select}", {"c": client_id})
