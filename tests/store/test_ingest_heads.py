"""File ingest of a `head:` format (multi-line entries by start pattern): the parallel
segments are cut only before a head line, so a traceback is never split from its entry
and a pooled ingest stores exactly what one process stores."""

from __future__ import annotations

from pathlib import Path

from logship.store import Store
from logship.store.fileingest import IngestOptions, ingest_paths

TRACE = ("Traceback (most recent call last):\n  File \"/srv/app/jobs.py\", line 73, in run\n"
         "    result = step()\n\nKeyError: 'missing'\n")


def python_log(n: int) -> bytes:
    out = []
    for i in range(n):
        out.append(f"2026-11-30 14:{(i // 60) % 60:02d}:{i % 60:02d},{i % 1000:03d} - app.jobs - "
                   f"{'ERROR' if i % 3 == 0 else 'INFO'} - job {i} done\n")
        if i % 3 == 0:
            out.append(TRACE)
    return "".join(out).encode()


def test_pooled_ingest_keeps_tracebacks_with_their_entries(tmp_path: Path):
    log = tmp_path / "logs" / "worker.log"
    log.parent.mkdir()
    log.write_bytes(python_log(1500))
    query = "SELECT byte_offset, ts, level, message, attrs FROM events ORDER BY byte_offset"
    got = []
    for name, opts in [("serial", IngestOptions(tz="UTC", workers=1)),
                       ("pooled", IngestOptions(tz="UTC", workers=2, parallel_min_bytes=0,
                                                parse_chunk_bytes=4 << 10))]:
        db = tmp_path / f"{name}.duckdb"
        summary = ingest_paths(db, [str(log)], opts)
        (f,) = summary.files
        assert (f.log_format, f.lines, f.records) == ("python_asctime", 1500 + 500 * 5, 1500)
        with Store(db, read_only=True) as st:
            assert st.con.execute("SELECT count(*) FROM rejects").fetchall() == [(0,)]
            rows = st.con.execute(query).fetchall()
        got.append(rows)
    assert got[0] == got[1] and len(got[0]) == 1500
    assert got[0][0][3] == "job 0 done\n" + TRACE.rstrip("\n")
    assert got[0][1][3] == "job 1 done"
