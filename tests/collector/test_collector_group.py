"""Store.ingest_items (the collector's group commit) against Store.ingest: same
rows, ranges, sessions and results, for many sources and several calls per source."""

from __future__ import annotations

from pathlib import Path

from logship.store import Store
from logship.store import Item
from tests.collectorkit import client_line

TABLES = {
    "events": "SELECT ts, client_id, session_id, level, name, message, attrs::VARCHAR, source_id, byte_offset "
              "FROM events ORDER BY source_id, byte_offset",
    "metrics": "SELECT ts, client_id, session_id, name, value, unit, labels::VARCHAR, source_id, byte_offset "
               "FROM metrics ORDER BY source_id, byte_offset, name",
    "rejects": "SELECT source_id, byte_offset, raw, error_code FROM rejects ORDER BY source_id, byte_offset",
    "ranges": "SELECT * FROM source_ranges ORDER BY source_id, start_offset",
    "sessions": "SELECT * FROM session_agg ORDER BY client_id, session_id",
    "ingests": "SELECT kind, source_id, start_offset, end_offset, lines, records, rejects FROM ingests "
               "ORDER BY source_id, start_offset",
}


def _source_bytes(k: int) -> bytes:
    sess = f"{k:016x}"
    out = [f"2026-11-27T21:00:00.000+00:00 INFO  sess={sess} session start version=\"1.0\" os=linux\n".encode()]
    out += [client_line(i, sess=sess) for i in range(k * 10, k * 10 + 30)]
    out.append(f"2026-11-27T21:00:09.000+00:00 INFO  sess={sess} metric proc cpu=12.5% rss=210.3MiB\n".encode())
    out.append(b"garbage line \xff\n")
    out.append(f"2026-11-27T21:00:10.000+00:00 INFO  sess={sess} session end exit=0\n".encode())
    return b"".join(out)


def _calls(st: Store) -> list[Item]:
    calls = []
    for k in range(12):
        data = _source_bytes(k)
        src = st.resolve_source(f"client{k % 4}", data, path=f"/l/{k}.log", log_format="client", tz="UTC")
        third = data.find(b"\n", len(data) // 3) + 1
        calls.append(Item(src.source_id, third, data[third:], final=(k % 2 == 0)))  # later part first
        calls.append(Item(src.source_id, 0, data[:third], final=False))
        calls.append(Item(src.source_id, 0, data, final=True))  # a resend: subtracted
    calls.append(Item(calls[0].source_id, 10**6, b"x" * 100, final=True, span=5000))  # a TRUNCATED line
    return calls


def _dump(path: Path) -> dict[str, list]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return {k: con.execute(q).fetchall() for k, q in TABLES.items()}
    finally:
        con.close()


def test_group_commit_equals_one_ingest_per_call(tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with Store(a) as st:
        calls = _calls(st)
        seq = [st.ingest(c.source_id, c.start, c.data, final=c.final, kind=c.kind, span=c.span) for c in calls]
    with Store(b) as st:
        calls_b = _calls(st)
        grouped = st.ingest_items(calls_b)
        assert st.source(calls_b[0].source_id).ranges == seq[-1].ranges  # the cache is current
    assert [(r.committed_end, r.lines, r.records, r.rejects, r.ranges) for r in grouped] == \
           [(r.committed_end, r.lines, r.records, r.rejects, r.ranges) for r in seq]
    da, db = _dump(a), _dump(b)
    assert len(da["events"]) == 12 * 32 and len(da["rejects"]) == 13
    for k in TABLES:
        assert da[k] == db[k], k


def test_group_commit_many_sources_is_one_transaction_and_fast(tmp_path):
    import time

    with Store(tmp_path / "g.duckdb") as st:
        calls = []
        for k in range(300):
            data = b"".join(client_line(i, sess=f"{k:016x}") for i in range(10))
            src = st.resolve_source(f"c{k}", data, path="x", log_format="client", tz="UTC")
            calls.append(Item(src.source_id, 0, data, final=True))
        st.ingest_items(calls[:1])  # warm the parser
        t0 = time.perf_counter()
        res = st.ingest_items(calls[1:])
        took = time.perf_counter() - t0
        assert sum(r.lines for r in res) == 2990
        assert st.con.execute("SELECT count(*) FROM events").fetchone() == (3000,)
    assert took < 3.0, f"300 small sources took {took:.2f} s"
