"""`logship export` through the door: while a collector holds the database the rows are
streamed from its POST /v1/export (Arrow IPC, the local token, no row limit); the files
are the same as an export of the same database offline."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logship.store.door import CollectorDoor, open_door
from logship.store.errors import QueryError, RemoteError
from logship.store.export import export_parquet
from logship.store.fileingest import IngestOptions
from tests.collectorkit import ADMIN, REPO, CollectorProc, client_lines, run

SESS = "3f2a9c1e5b7d9e01"
EXTRA = (
    "".join(f"2026-11-27T22:00:0{k}.000+00:00 INFO  sess={SESS} metric proc cpu={k}%\n" for k in range(3))
    + f"2026-11-28T01:00:00.000+00:00 INFO  sess={SESS} event next.day n=1\n"
).encode()


def logship(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "logship", *args, "--db", str(db)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def parquet_files(root: Path) -> dict[str, object]:
    return {str(f.relative_to(root)): pq.read_table(f) for f in sorted(root.rglob("*.parquet"))}


async def export_request(url: str, token: str, sql: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/export", json={"sql": sql}, headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.text()


def test_export_through_the_running_collector_equals_the_offline_export(tmp_path: Path):
    logs = tmp_path / "logs"
    (logs / "desk-1").mkdir(parents=True)
    (logs / "desk-2").mkdir()
    (logs / "desk-1" / "app.log").write_bytes(client_lines(0, 3_000) + EXTRA)
    (logs / "desk-2" / "app.log").write_bytes(client_lines(0, 10))
    with open_door(tmp_path / "coll.duckdb") as door:  # the file, before the collector holds it
        line, errors = door.ingest([str(logs)], IngestOptions(client_id_from_dir=True, tz="UTC"))
    assert errors == [] and "2 files: 3,014 lines, 3,014 records, 0 rejects" in line, line
    with open_door(tmp_path / "coll.duckdb") as door:
        offline_counts = export_parquet(door, tmp_path / "offline")
    assert offline_counts == {"metrics": 3, "events": 3_011, "sessions": 2}
    coll = CollectorProc(tmp_path, config="query_row_limit = 3\n").start()
    try:
        online = logship(coll.db, "export", "--out", str(tmp_path / "online"))
        assert online.returncode == 0, online.stderr
        assert online.stderr.strip() == f"3 metrics, 3,011 events, 2 sessions written to {tmp_path / 'online'}"
        token = json.loads((tmp_path / "coll.duckdb.collector.json").read_text())["token"]
        refused = run(export_request(coll.url, token, "DELETE FROM events"))
        admin = run(export_request(coll.url, ADMIN, "SELECT 1"))
        metrics = run(_get(coll.url + "/metrics"))
        attrs = open_door(coll.db).query("SELECT attrs FROM events WHERE client_id = 'desk-2' ORDER BY byte_offset LIMIT 1")
    finally:
        assert coll.stop() == 0
    assert refused[0] == 400 and json.loads(refused[1])["error"] == {
        "code": "query_refused", "message": "refused: only SELECT is allowed (read-only), got DELETE"}
    assert attrs.schema.field("attrs").type == pa.json_() and attrs.to_pylist() == [{"attrs": '{"n":0}'}]
    assert admin[0] == 403 and json.loads(admin[1])["error"]["code"] == "forbidden"
    assert 'logship_http_requests_total{path="/v1/export",status="200"} 3' in metrics

    got, want = parquet_files(tmp_path / "online"), parquet_files(tmp_path / "offline")
    assert sorted(got) == [
        "events/client_id=desk-1/date=2026-11-27/part-0.parquet",
        "events/client_id=desk-1/date=2026-11-28/part-0.parquet",
        "events/client_id=desk-2/date=2026-11-27/part-0.parquet",
        "metrics/client_id=desk-1/date=2026-11-27/part-0.parquet",
        "sessions/client_id=desk-1/date=2026-11-28/part-0.parquet",
        "sessions/client_id=desk-2/date=2026-11-27/part-0.parquet",
    ]
    assert sorted(want) == sorted(got)
    for name, table in got.items():
        assert table.equals(want[name], check_metadata=True), name
    assert got["events/client_id=desk-1/date=2026-11-27/part-0.parquet"].num_rows == 3_000
    events = got["events/client_id=desk-2/date=2026-11-27/part-0.parquet"]
    assert events.column("attrs").to_pylist()[:2] == ['{"n":0}', '{"n":1}']
    # the JSON columns keep their JSON type in the files
    meta = pq.ParquetFile(tmp_path / "online" / "events/client_id=desk-2/date=2026-11-27/part-0.parquet")
    assert meta.schema.column(meta.schema.names.index("attrs")).logical_type.type == "JSON"


async def _get(url: str) -> str:
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as r:
            return await r.text()


def test_export_stream_stops_when_its_client_goes_away(tmp_path: Path):
    """A client that reads the schema and leaves frees the query slot: the next query runs.
    A stream of several batches (STREAM_BATCH_ROWS = 65,536) arrives whole."""
    coll = CollectorProc(tmp_path, config="max_concurrent_queries = 1\nquery_queue_timeout_s = 5\n").start()
    try:
        token = json.loads((tmp_path / "coll.duckdb.collector.json").read_text())["token"]

        async def go():
            async with aiohttp.ClientSession() as s:
                async with s.post(coll.url + "/v1/export", json={"sql": "SELECT * FROM range(50000000)"},
                                  headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 200 and r.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
                    await r.content.read(1024)
                # gone: the one slot must come free for this query
                async with s.post(coll.url + "/v1/query", json={"sql": "SELECT 7 AS n"},
                                  headers={"Authorization": f"Bearer {token}"}) as q:
                    return q.status, await q.json()

        status, body = run(asyncio.wait_for(go(), 30))
        door = open_door(coll.db)
        assert isinstance(door, CollectorDoor)
        counts = [b.num_rows for b in door.batches("SELECT range AS i FROM range(150000)")]
        total = door.query("SELECT count(*) AS n FROM range(150000)").to_pylist()
        # the same refusals, word for word, as offline (tests/store/test_door.py)
        refusals = []
        for sql in ("SELECT 1; SELECT 2", "SELECT * FROM nope",
                    "SELECT CASE WHEN range = 900000 THEN error('boom') ELSE range END FROM range(1000000)"):
            with pytest.raises(QueryError) as err:
                door.query(sql)
            refusals.append(str(err.value))
    finally:
        assert coll.stop() == 0
    assert status == 200 and body["rows"] == [[7]], body
    assert sum(counts) == 150_000 and len(counts) >= 3 and total == [{"n": 150_000}]
    assert refusals[0] == "refused: one statement per query, got 2"
    assert refusals[1].startswith("SQL error: Catalog Error: Table with name nope does not exist!")
    assert refusals[2] == "SQL error: Invalid Input Error: boom"


def test_an_export_cut_by_shutdown_is_an_error_not_a_short_export(tmp_path: Path):
    """SIGTERM while an export streams: the client's read fails (RemoteError), it never
    ends as if the rows were all there."""
    coll = CollectorProc(tmp_path).start()
    try:
        door = open_door(coll.db)
        assert isinstance(door, CollectorDoor)
        reader = door.batches("SELECT range AS i FROM range(500000000)")
        rows = reader.read_next_batch().num_rows
        coll.proc.send_signal(signal.SIGTERM)
        with pytest.raises(RemoteError, match="^the export stream of the collector at .* was cut off: "):
            for batch in reader:
                rows += batch.num_rows
        assert 0 < rows < 500_000_000
    finally:
        assert coll.stop() == 0
