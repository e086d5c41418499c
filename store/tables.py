"""The fact tables (metrics, events, rejects), written down once.

Each column says its DuckDB type, its Arrow type and where its value comes from: the
parser's column batch (parser/batch.py, ``ts`` is the parser's ``ts_us``), the commit
(``client_id``, ``source_id``) or the clock (``received_at``). From this one spec come
the CREATE TABLE and ALTER TABLE statements of each schema version (store/schema.py), the Arrow schemas
the parse step builds (store/batches.py) and the ``INSERT INTO t BY NAME SELECT ...``
of the writer (store/commit.py): a column added here reaches all three.
tests/store/test_tables.py checks the spec against the parser's columns and against
a database migrated from an older logship.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["Column", "FactTable", "FACT_TABLES", "METRICS", "EVENTS", "REJECTS"]

_TS = pa.timestamp("us", tz="UTC")

PARSED, IDS, CLOCK = "parsed", "ids", "clock"


@dataclass(frozen=True)
class Column:
    name: str
    sql: str
    arrow: pa.DataType
    origin: str = PARSED  # PARSED (from the parser), IDS (client/source of the commit), CLOCK (now())
    parser_name: str | None = None  # the parser batch's name when it differs (ts_us)
    since: int = 1  # the schema version that added the column (store/schema.py); later ones go last
    default: str | None = None  # the value of rows written before ``since`` (the migration's DEFAULT)


@dataclass(frozen=True)
class FactTable:
    name: str
    columns: tuple[Column, ...]

    @property
    def parsed(self) -> tuple[Column, ...]:
        """The columns the parse step fills, in table order."""
        return tuple(c for c in self.columns if c.origin == PARSED)

    @property
    def ids(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.origin == IDS)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of a parsed batch of this table (no id or clock columns)."""
        return pa.schema([(c.name, c.arrow) for c in self.parsed])

    def create_sql(self, version: int = 1) -> str:
        """The CREATE TABLE of schema ``version`` (the columns added by then)."""
        cols = ", ".join(f"{c.name} {c.sql}" for c in self.columns if c.since <= version)
        return f"CREATE TABLE {self.name} ({cols})"

    def add_columns_sql(self, version: int) -> list[str]:
        """The ALTER TABLEs of the migration to ``version``: the columns it adds, at the end."""
        return [f"ALTER TABLE {self.name} ADD COLUMN {c.name} {c.sql}"
                + (f" DEFAULT {c.default}" if c.default is not None else "")
                for c in self.columns if c.since == version]

    def insert_sql(self, relation: str, constant_ids: bool = False) -> str:
        """Insert every row of ``relation`` (parsed + id columns) by name; clock columns are now().

        ``constant_ids``: ``relation`` has no id columns; every row gets the ids passed
        as parameters ``$client_id``, ``$source_id`` (a commit of one source)."""
        def value(c: Column) -> str:
            if c.origin == CLOCK:
                return f"now() AS {c.name}"
            if c.origin == IDS and constant_ids:
                return f"${c.name}::{c.sql} AS {c.name}"
            return c.name

        return f"INSERT INTO {self.name} BY NAME SELECT {', '.join(value(c) for c in self.columns)} FROM {relation}"


def _ts() -> Column:
    return Column("ts", "TIMESTAMPTZ", _TS, parser_name="ts_us")


def _ts_source() -> Column:
    """Where ``ts`` came from: line, received or previous (docs/storage.md); v2."""
    return Column("ts_source", "VARCHAR", pa.string(), since=2, default="'line'")


METRICS = FactTable("metrics", (
    _ts(), Column("client_id", "VARCHAR", pa.string(), IDS), Column("session_id", "VARCHAR", pa.string()),
    Column("name", "VARCHAR", pa.string()), Column("value", "DOUBLE", pa.float64()),
    Column("unit", "VARCHAR", pa.string()), Column("labels", "JSON", pa.string()),
    Column("source_id", "VARCHAR", pa.string(), IDS), Column("byte_offset", "BIGINT", pa.int64()),
    _ts_source(),
))
EVENTS = FactTable("events", (
    _ts(), Column("client_id", "VARCHAR", pa.string(), IDS), Column("session_id", "VARCHAR", pa.string()),
    Column("level", "VARCHAR", pa.string()), Column("name", "VARCHAR", pa.string()),
    Column("message", "VARCHAR", pa.string()), Column("attrs", "JSON", pa.string()),
    Column("source_id", "VARCHAR", pa.string(), IDS), Column("byte_offset", "BIGINT", pa.int64()),
    _ts_source(),
))
REJECTS = FactTable("rejects", (
    Column("received_at", "TIMESTAMPTZ", _TS, CLOCK), Column("source_id", "VARCHAR", pa.string(), IDS),
    Column("byte_offset", "BIGINT", pa.int64()), Column("raw", "BLOB", pa.binary()),
    Column("error_code", "VARCHAR", pa.string()), Column("error", "VARCHAR", pa.string()),
))

FACT_TABLES: tuple[FactTable, ...] = (METRICS, EVENTS, REJECTS)
