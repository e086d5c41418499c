"""store/door.py offline: the door to a file nobody holds reads it read-only; JSON columns
come marked; errors are one line; export writes the hive layout from its batches."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logship.store import QueryError, Store, StoreError
from logship.store.door import LocalDoor, open_door
from logship.store.export import export_parquet

SESS = "3f2a9c1e5b7d9e01"
DATA = (
    f'2026-11-27T21:00:00.000+00:00 INFO  sess={SESS} session start version="1.4.2"\n'
    f"2026-11-27T21:00:01.000+00:00 INFO  sess={SESS} metric proc cpu=10% threads=3\n"
    f'2026-11-28T00:00:03.000+00:00 WARN  sess={SESS} event tracker.timeout url="http://t/a"\n'
).encode()


@pytest.fixture
def db(db_path: Path) -> Path:
    with Store(db_path) as st:
        src = st.resolve_source("c1", DATA, path="a.log", log_format="client", tz="UTC")
        st.ingest(src.source_id, 0, DATA, final=True, kind="file")
    return db_path


def test_the_door_to_a_file_nobody_holds_is_the_file(db: Path):
    with open_door(db) as door:
        assert isinstance(door, LocalDoor)
        t = door.query("SELECT name, attrs, ts FROM events ORDER BY ts")
        assert t.schema.field("attrs").type == pa.json_()
        assert t.schema.field("ts").type == pa.timestamp("us", tz="UTC")
        assert t.column("attrs").to_pylist() == ['{"version":"1.4.2"}', '{"url":"http://t/a"}']
        with pytest.raises(QueryError, match="^refused: one statement per query, got 2$"):
            door.query("SELECT 1; SELECT 2")
        with pytest.raises(QueryError, match="^SQL error: Catalog Error: Table with name nope does not exist!"):
            door.query("SELECT * FROM nope")
        # an error after the first batches comes through pyarrow's reader: still one line
        with pytest.raises(QueryError, match="^SQL error: Invalid Input Error: boom$"):
            door.query("SELECT CASE WHEN range = 900000 THEN error('boom') ELSE range END FROM range(1000000)")
        assert door.query("SELECT count(*) AS n FROM metrics").to_pylist() == [{"n": 2}]  # usable after errors


def test_a_missing_database_is_not_created(tmp_path: Path):
    with open_door(tmp_path / "none.duckdb") as door:
        with pytest.raises(StoreError, match="^no database at "):
            door.query("SELECT 1")
    assert list(tmp_path.iterdir()) == []


def test_export_writes_the_hive_layout_and_counts_rows(db: Path, tmp_path: Path):
    seen: list[tuple[str, int]] = []
    with open_door(db) as door:
        counts = export_parquet(door, tmp_path / "out", on_rows=lambda t, n: seen.append((t, n)))
    assert counts == {"metrics": 2, "events": 2, "sessions": 1}
    assert seen == [("metrics", 2), ("events", 2), ("sessions", 1)]
    out = tmp_path / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "events/client_id=c1/date=2026-11-27/part-0.parquet",
        "events/client_id=c1/date=2026-11-28/part-0.parquet",
        "metrics/client_id=c1/date=2026-11-27/part-0.parquet",
        "sessions/client_id=c1/date=2026-11-27/part-0.parquet"]
    f = pq.ParquetFile(out / "events/client_id=c1/date=2026-11-28/part-0.parquet")
    assert f.schema.column(f.schema.names.index("attrs")).logical_type.type == "JSON"
    assert f.read().select(["name", "level"]).to_pylist() == [{"name": "tracker.timeout", "level": "WARN"}]
