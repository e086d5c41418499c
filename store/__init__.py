"""store: DuckDB schema, migrations, the one commit path, file ingest, queries, export.

    from logship.store import Store
    st = Store("logship.duckdb")
    src = st.resolve_source("local", head, path="app.log", tz="UTC", mtime=...)
    res = st.ingest(src.source_id, 0, data, final=True, kind="file")
    # or many items of many sources in one transaction (the collector's group commit):
    results = st.ingest_items([Item(src.source_id, 0, data, final=True, kind="live")])
"""

from logship.store.errors import InputError, OutputError, QueryError, SchemaError, StoreError, UnknownSource
from logship.store.ranges import covered_end, merge, subtract
from logship.store.store import INGEST_KINDS, IngestResult, Item, SourceInfo, Store

__all__ = [
    "Store", "SourceInfo", "IngestResult", "INGEST_KINDS", "Item",
    "StoreError", "SchemaError", "QueryError", "UnknownSource", "InputError", "OutputError",
    "merge", "subtract", "covered_end",
]
