"""The one commit path, differentially: every shipped format's sample, with a zone that
is not UTC and a max_line_bytes small enough to cut some lines, goes into the store
through

(a) file ingest (store.fileingest.ingest_paths), in-process and with a parse pool,
(b) the collector: /v1/backlog bodies into a real `logship collect` (its writer's
    group commit), and the group commit in-process (Store.ingest_items with every
    format's items in one list),
(c) reparse: ingested with a format that rejects every line, then the right format
    set and store.reparse.reparse_rejects run,

and the fact tables must be the same row for row (ordered by byte offset), the counts
`logship check` reports (parser.check.check_file with the same limits) equal to the
stored ones.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from pathlib import Path

import aiohttp
import duckdb

from logship.kernel.protocol import Limits
from logship.parser.check import check_file
from logship.store import Store
from logship.store.fileingest import IngestOptions, ingest_paths
from logship.store.reparse import reparse_rejects
from logship.store.segments import iter_segments
from tests.collectorkit import TOKENS, CollectorProc

ROOT = Path(__file__).resolve().parents[2]
TZ = "America/New_York"
MAX_LINE = 140  # cuts a few lines of every sample (their lines are 17..244 bytes)
MTIME = 1_795_000_000  # 2026-11-18: fixes the year of formats without one
SAMPLES = {"client": "client.log", "syslog5424": "syslog5424.log", "syslog": "syslog.log", "access": "access.log",
           "jsonl": "app.jsonl", "logfmt": "logfmt.log"}
# a format that rejects every line of the sample, with the same continuation rule (for (c))
WRONG = {"client": None, "syslog5424": "jsonl", "syslog": "jsonl", "access": "jsonl", "jsonl": "access",
         "logfmt": "jsonl"}

FACTS = {
    # a time that stood in (ts_source 'received': the receive time) differs by way in; the line's own does not
    "metrics": "SELECT byte_offset, CASE WHEN ts_source = 'line' THEN ts END, ts_source, session_id, name, value, "
               "unit, labels::VARCHAR FROM metrics",
    "events": "SELECT byte_offset, CASE WHEN ts_source = 'line' THEN ts END, ts_source, session_id, level, name, "
              "message, attrs::VARCHAR FROM events",
    "rejects": "SELECT byte_offset, raw, error_code, error FROM rejects",
    "sessions": "SELECT session_id, started_at, ended_at, end_attrs::VARCHAR, ends, first_ts, last_seen "
                "FROM session_agg",
}


def test_every_shipped_format_is_the_same_through_every_way_in(tmp_path: Path):
    from logship.parser.formats import get_format

    assert sorted(SAMPLES) == sorted(n for n in SAMPLES if get_format(n))
    logs = tmp_path / "logs"
    logs.mkdir()
    files: dict[str, Path] = {}
    for fmt, name in SAMPLES.items():
        files[fmt] = logs / name
        shutil.copyfile(ROOT / "samples" / name, files[fmt])
        os.utime(files[fmt], (MTIME, MTIME))
    limits = Limits(max_line_bytes=MAX_LINE)

    # (a) file ingest, one process and a parse pool (context-free formats use it)
    ways: dict[str, dict[str, dict[str, list]]] = {}
    for label, workers in (("file", 1), ("file-pool", 2)):
        db = tmp_path / f"{label}.duckdb"
        summary = ingest_paths(db, [str(p) for p in files.values()],
                               IngestOptions(tz=TZ, limits=limits, workers=workers, parallel_min_bytes=0,
                                             parse_chunk_bytes=512))
        assert summary.ok, summary.errors
        ways[label] = _dump(db, files)
        if label == "file":
            reports = {f.name: f for f in summary.files}

    # (b) the collector's group commit: real /v1/backlog bodies, and in-process
    ways["collector"] = _through_collector(tmp_path, files)
    ways["group"] = _group_in_process(tmp_path / "group.duckdb", files)

    # (c) reparse after a wrong format
    ways["reparse"] = _through_reparse(tmp_path / "reparse.duckdb", files, limits)

    base = ways["file"]
    for fmt, path in files.items():
        got = base[fmt]
        assert got["log_format"] == [(fmt,)], fmt
        assert any(r[2] == "line_too_long" for r in got["rejects"]), f"{fmt}: no line was cut"
        assert got["metrics"] or got["events"], fmt
        for label, way in ways.items():
            for table in ("metrics", "events", "sessions", "log_format"):
                assert way[fmt][table] == got[table], f"{fmt} {table}: {label} differs from file ingest"
            rejects = got["rejects"] if label != "reparse" else [r[:2] for r in got["rejects"]]
            theirs = way[fmt]["rejects"] if label != "reparse" else [r[:2] for r in way[fmt]["rejects"]]
            assert theirs == rejects, f"{fmt} rejects: {label} differs from file ingest"
        # `logship check` with the same zone and limit counts what was stored
        chk = check_file(path, tz=TZ, max_line_bytes=MAX_LINE)
        assert chk.log_format == fmt
        report = reports[str(path)]
        assert (chk.lines, chk.records, chk.rejects) == (
            report.lines, len(got["metrics"]) + len(got["events"]), len(got["rejects"])), fmt


def _dump(db: Path, files: dict[str, Path], by: str = "path") -> dict[str, dict[str, list]]:
    """Per format: its source's rows of every fact table, ordered by byte offset."""
    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    try:
        out: dict[str, dict[str, list]] = {}
        for fmt, path in files.items():
            key = str(path) if by == "path" else _head(path)
            sid = con.execute(f"SELECT source_id FROM sources WHERE {'path = ?' if by == 'path' else 'head = ?'}",
                              [key]).fetchall()[0][0]
            client = con.execute("SELECT client_id FROM sources WHERE source_id = ?", [sid]).fetchall()[0][0]
            rows = {t: con.execute(f"{q} WHERE {'client_id' if t == 'sessions' else 'source_id'} = ? ORDER BY ALL",
                                   [client if t == "sessions" else sid]).fetchall() for t, q in FACTS.items()}
            rows["log_format"] = con.execute("SELECT log_format FROM sources WHERE source_id = ?", [sid]).fetchall()
            out[fmt] = rows
        return out
    finally:
        con.close()


def _head(path: Path) -> bytes:
    return path.read_bytes()[:1024]


def _through_collector(tmp_path: Path, files: dict[str, Path]) -> dict[str, dict[str, list]]:
    (tmp_path / "coll").mkdir()
    coll = CollectorProc(tmp_path / "coll", config=f"[limits]\nmax_line_bytes = {MAX_LINE}\n").start()
    try:
        async def send() -> None:
            async with aiohttp.ClientSession() as s:
                for fmt, path in files.items():
                    data = path.read_bytes()
                    headers = {"Authorization": f"Bearer {TOKENS['alpha']}",
                               "X-Logship-Head": base64.b64encode(data[:1024]).decode(),
                               "X-Logship-Path": str(path), "X-Logship-Tz": TZ, "X-Logship-Mtime": str(MTIME)}
                    async with s.post(coll.url + "/v1/backlog?start=0&final=1", data=data, headers=headers) as r:
                        body = await r.json(content_type=None)
                        assert r.status == 200 and body["committed_end"] == len(data), body

        asyncio.run(send())
    finally:
        assert coll.stop() == 0
    return _dump(coll.db, files)


def _group_in_process(db: Path, files: dict[str, Path]) -> dict[str, dict[str, list]]:
    import io

    with Store(db, max_line_bytes=MAX_LINE) as st:
        items = []
        for fmt, path in files.items():
            data = path.read_bytes()
            src = st.resolve_source("local", data, path=str(path), tz=TZ, mtime=MTIME)
            # small items, as a collector's writer gets them from many connections
            items += list(iter_segments(io.BytesIO(data), 300, MAX_LINE, indent=fmt == "client",
                                        source_id=src.source_id, kind="live"))
        parsers: dict = {}
        results = st.ingest_items(items, parsers)
        assert all(r.committed_end > 0 for r in results)
    return _dump(db, files)


def _through_reparse(db: Path, files: dict[str, Path], limits: Limits) -> dict[str, dict[str, list]]:
    with Store(db, max_line_bytes=MAX_LINE) as st:
        for fmt, path in files.items():
            wrong = WRONG[fmt]
            # no other format splits entries like client (continuation lines): it goes in right
            summary = ingest_paths(st, [str(path)], IngestOptions(tz=TZ, limits=limits, workers=1, log_format=wrong))
            assert summary.ok, summary.errors
            assert wrong is None or summary.total("records") == 0, f"{wrong} parses some of {path.name}"
        for fmt, path in files.items():
            sid = st.con.execute("SELECT source_id FROM sources WHERE path = ?", [str(path)]).fetchall()[0][0]
            st.set_format(sid, fmt, None)
            st.con.execute("UPDATE sources SET context = NULL WHERE source_id = ?", [sid])
            st.remember(sid, st.committed_ranges(sid), None)
        reparse_rejects(st)
    return _dump(db, files)


def test_a_cut_line_first_does_not_fix_the_format_and_the_limit_reaches_the_parser(tmp_path: Path):
    line = b'2026-11-27T21:09:05.200+00:00 INFO  sess=3f2a9c1e5b7d9e01 metric proc cpu=12.5% rss=210.3MiB\n'
    long = b"x" * 300 + b"\n"
    with Store(tmp_path / "s.duckdb", max_line_bytes=len(line) + 10) as st:
        src = st.resolve_source("c", long[:100] + line, path="a.log", tz=TZ)
        first = st.ingest(src.source_id, 0, long[:len(line) + 10], final=True, span=len(long))
        assert (first.rejects, st.source(src.source_id).log_format) == (1, None)  # no format from a cut line
        # a line over the store's limit inside an item: the parser holds the same limit
        data = line + b"y" * (len(line) + 11) + b"\n" + line
        res = st.ingest(src.source_id, len(long), data, final=True)
        assert st.source(src.source_id).log_format == "client"
        assert (res.lines, res.records, res.rejects) == (3, 4, 1)
        assert st.con.execute("SELECT byte_offset, octet_length(raw), error FROM rejects ORDER BY 1").fetchall() == [
            (0, len(line) + 10, f"line at byte 0 is 301 bytes long, over max_line_bytes={len(line) + 10}; "
                                f"its first {len(line) + 10} bytes are kept"),
            (len(long) + len(line), len(line) + 10,
             f"line at byte {len(long) + len(line)} is {len(line) + 12} bytes long, over "
             f"max_line_bytes={len(line) + 10}; its first {len(line) + 10} bytes are kept")]
