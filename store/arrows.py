"""Arrow results of read-only DuckDB queries, the same offline and through the collector.

DuckDB hands a JSON column (events.attrs, metrics.labels, ...) to Arrow as a plain
string, so a printer could not tell `{"a": 1}` the value from the text. Its own lossless
mode (`arrow_lossless_conversion`) marks JSON but also turns HUGEINT (every `sum()` of
integers) into opaque bytes. So the relation's DuckDB types say which columns are JSON
and those are wrapped, without a copy, in Arrow's canonical `arrow.json` extension type:
`--format json` writes them as values, Parquet files get the JSON logical type, and an
Arrow IPC stream from the collector carries the mark along.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pyarrow as pa

__all__ = ["json_marked_reader", "json_marked_table", "is_json"]

JSON = pa.json_()


def is_json(field: pa.Field) -> bool:
    return isinstance(field.type, pa.JsonType)


def _json_columns(rel: duckdb.DuckDBPyRelation) -> set[int]:
    return {i for i, t in enumerate(rel.types) if str(t) == "JSON"}


def _marked_schema(schema: pa.Schema, cols: set[int]) -> pa.Schema:
    for i in sorted(cols):
        field = schema.field(i)
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            schema = schema.set(i, field.with_type(pa.json_(field.type)))
    return schema


def _mark(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    cols = [pa.ExtensionArray.from_storage(f.type, c) if is_json(f) and not isinstance(c.type, pa.JsonType) else c
            for f, c in zip(schema, batch.columns)]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def json_marked_reader(rel: duckdb.DuckDBPyRelation, batch_rows: int = 100_000) -> pa.RecordBatchReader:
    """The relation's rows as a stream of batches, JSON columns marked."""
    reader = rel.to_arrow_reader(batch_rows)
    cols = _json_columns(rel)
    if not cols:
        return reader
    schema = _marked_schema(reader.schema, cols)

    def batches() -> Iterator[pa.RecordBatch]:
        for b in reader:
            yield _mark(b, schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def json_marked_table(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """The relation's rows as one table, JSON columns marked."""
    return json_marked_reader(rel).read_all()
