"""ParsedBatch column lists -> Arrow tables -> one INSERT ... SELECT per table.

Bulk loading through Arrow is ~300x faster than executemany (measured on this project's machines). The tables
carry no client_id/source_id columns: those are constants of a commit, added in SQL.
Arrow tables pickle as buffers, so pool workers build them and the writer only inserts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

__all__ = ["ArrowBatch", "to_arrow", "concat", "insert_arrow", "insert_batch", "EMPTY"]

_TS = pa.timestamp("us", tz="UTC")

_METRICS = pa.schema([
    ("ts", _TS), ("session_id", pa.string()), ("name", pa.string()), ("value", pa.float64()),
    ("unit", pa.string()), ("labels", pa.string()), ("byte_offset", pa.int64()),
])
_EVENTS = pa.schema([
    ("ts", _TS), ("session_id", pa.string()), ("level", pa.string()), ("name", pa.string()),
    ("message", pa.string()), ("attrs", pa.string()), ("byte_offset", pa.int64()),
])
_REJECTS = pa.schema([
    ("byte_offset", pa.int64()), ("raw", pa.binary()), ("error_code", pa.string()), ("error", pa.string()),
])


@dataclass(frozen=True)
class ArrowBatch:
    """The records of one parse, as three Arrow tables."""

    metrics: pa.Table
    events: pa.Table
    rejects: pa.Table

    @property
    def records(self) -> int:
        return self.metrics.num_rows + self.events.num_rows

    @property
    def n_rejects(self) -> int:
        return self.rejects.num_rows


def _columns(batch: Any, part: str) -> dict[str, list]:
    cols = getattr(batch, part)
    return cols if isinstance(cols, dict) else vars(cols)


def _table(cols: dict[str, list], schema: pa.Schema, rename: dict[str, str]) -> pa.Table:
    arrays = []
    for field in schema:
        values = cols[rename.get(field.name, field.name)]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def to_arrow(batch: Any) -> ArrowBatch:
    """Build Arrow tables from a parser.ParsedBatch (its ``ts_us`` become UTC timestamps)."""
    return ArrowBatch(
        metrics=_table(_columns(batch, "metrics"), _METRICS, {"ts": "ts_us"}),
        events=_table(_columns(batch, "events"), _EVENTS, {"ts": "ts_us"}),
        rejects=_table(_columns(batch, "rejects"), _REJECTS, {}),
    )


EMPTY = ArrowBatch(_METRICS.empty_table(), _EVENTS.empty_table(), _REJECTS.empty_table())


def concat(batches: list[ArrowBatch]) -> ArrowBatch:
    if not batches:
        return EMPTY
    if len(batches) == 1:
        return batches[0]
    return ArrowBatch(
        metrics=pa.concat_tables([b.metrics for b in batches]),
        events=pa.concat_tables([b.events for b in batches]),
        rejects=pa.concat_tables([b.rejects for b in batches]),
    )


def insert_arrow(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, sql: str,
                 params: dict[str, str] | None = None) -> None:
    """Run ``sql`` with ``table`` registered as ``name`` (inside the caller's transaction).

    The one way Arrow rows reach DuckDB here (file ingest and the collector's group
    commits); an empty table costs nothing.
    """
    if not table.num_rows:
        return
    con.register(name, table)
    try:
        con.execute(sql, params) if params else con.execute(sql)
    finally:
        con.unregister(name)


def insert_batch(con: duckdb.DuckDBPyConnection, client_id: str, source_id: str, batch: ArrowBatch) -> None:
    """Insert one source's batch; client and source ids are constants of the statement."""
    ids = {"c": client_id, "s": source_id}
    insert_arrow(con, "_logship_metrics", batch.metrics,
                 "INSERT INTO metrics SELECT ts, $c, session_id, name, value, unit, labels, $s, byte_offset "
                 "FROM _logship_metrics", ids)
    insert_arrow(con, "_logship_events", batch.events,
                 "INSERT INTO events SELECT ts, $c, session_id, level, name, message, attrs, $s, byte_offset "
                 "FROM _logship_events", ids)
    insert_arrow(con, "_logship_rejects", batch.rejects,
                 "INSERT INTO rejects SELECT now(), $s, byte_offset, raw, error_code, error FROM _logship_rejects",
                 {"s": source_id})
