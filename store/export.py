"""`logship export`: hive-partitioned Parquet (client_id=.../date=...) for metrics, events
and sessions, which DuckDB, Spark, Trino or ClickHouse read as one data set."""

from __future__ import annotations

from pathlib import Path

import duckdb

from logship.store.errors import OutputError
from logship.store.store import Store

__all__ = ["EXPORTS", "export_parquet"]

# table -> the SELECT whose rows are written; `date` is the UTC day of the row.
EXPORTS: dict[str, str] = {
    "metrics": "SELECT *, strftime(ts, '%Y-%m-%d') AS date FROM metrics",
    "events": "SELECT *, strftime(ts, '%Y-%m-%d') AS date FROM events",
    "sessions": "SELECT *, strftime(coalesce(started_at, last_seen), '%Y-%m-%d') AS date FROM sessions",
}


def export_parquet(db: str | Path, out: str | Path) -> dict[str, int]:
    """Write OUT/<table>/client_id=X/date=YYYY-MM-DD/*.parquet; returns rows per table.

    Each table's directory is replaced as a whole, so an export is a consistent snapshot.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out}: {exc}") from None
    counts: dict[str, int] = {}
    with Store(db, read_only=True) as st:
        for table, select in EXPORTS.items():
            target = str(out / table).replace("'", "''")
            try:
                counts[table] = st.con.execute(f"SELECT count(*) FROM ({select})").fetchall()[0][0]
                st.con.execute(
                    f"COPY ({select}) TO '{target}' "
                    "(FORMAT parquet, PARTITION_BY (client_id, date), OVERWRITE true)"
                ).fetchall()
            except duckdb.Error as exc:
                raise OutputError(f"export of {table} to {target} failed: {' '.join(str(exc).split())}") from None
    return counts
