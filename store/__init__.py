"""store: DuckDB schema, migrations, the ONE ingest path, file ingest, queries, export.

    from logship.store import Store
    st = Store("logship.duckdb")
    src = st.resolve_source("local", head, path="app.log", tz="UTC", mtime=...)
    res = st.ingest(src.source_id, 0, data, final=True, kind="file")
"""

from logship.store.errors import InputError, OutputError, QueryError, SchemaError, StoreError, UnknownSource
from logship.store.ranges import covered_end, merge, subtract
from logship.store.store import INGEST_KINDS, IngestResult, SourceInfo, Store

__all__ = [
    "Store", "SourceInfo", "IngestResult", "INGEST_KINDS",
    "StoreError", "SchemaError", "QueryError", "UnknownSource", "InputError", "OutputError",
    "merge", "subtract", "covered_end",
]
