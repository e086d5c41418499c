"""A backlog/live cut in a multi-line format falls between entries, not inside a traceback.

A file of Python logging entries with tracebacks, larger than `backlog_bytes`, is found
by a shipper under `backlog = "ask"`: the live tail streams at once, the rest waits for
consent. The plain line boundary after the cut lies inside a traceback (the file is
built so). Without `opened.head` the live stream began with the traceback's remaining
lines, which the collector stored as an `orphan_continuation` reject and the entry
lost its end; with it the cut moves to the next entry's head.
"""

from __future__ import annotations

from pathlib import Path

from tests.run import logship, wait_for
from tests.shipkit import Collector, ShipperProc

BACKLOG_BYTES = 20_000
HEAD_LINE = "2026-11-30 14:00:01,123 ERROR job {n:05d} failed\n"
TRACE = ('Traceback (most recent call last):\n  File "/srv/app/jobs.py", line 42, in run\n'
         "ValueError: job {n:05d}\n")


def entry(n: int) -> str:
    return HEAD_LINE.format(n=n) + TRACE.format(n=n)


def build_log(path: Path, entries: int) -> int:
    """`entries` entries and a last one padded so that the byte BACKLOG_BYTES before the
    end lies inside a traceback's first line (its next line boundary is no head)."""
    size_one = len(entry(0).encode())
    head_len = len(HEAD_LINE.format(n=0).encode())
    body = "".join(entry(n) for n in range(entries))
    last = "2026-11-30 14:00:02,000 INFO done {pad}\n"
    base = len(body.encode()) + len(last.format(pad="").encode())
    # (size - BACKLOG_BYTES) mod size_one == head_len + 5: five bytes into "Traceback ..."
    pad = (head_len + 5 - (base - BACKLOG_BYTES)) % size_one
    text = body + last.format(pad="x" * pad)
    path.write_text(text)
    cut = len(text.encode()) - BACKLOG_BYTES
    assert text.encode()[cut - 5: cut + 4] == b"Traceback"[:9]
    return entries + 1


def test_live_tail_of_a_backlogged_traceback_file_starts_at_an_entry_head(tmp_path, collector):
    logs = tmp_path / "logs"
    logs.mkdir()
    total = build_log(logs / "app.log", 400)
    ship = ShipperProc(tmp_path, [str(logs / "app.log")], collector.url, backlog="ask",
                       backlog_bytes=BACKLOG_BYTES, log_format="python_asctime").start()
    coll = collector
    try:
        wait_for(lambda: ship.status().get("consent") == "needed", what="consent needed")
        ship.wait_caught_up()
        ship.stop()
        coll.stop()
        rejects = coll.query("SELECT error_code, count(*) FROM rejects GROUP BY ALL")
        assert rejects == [], rejects  # old code: [('orphan_continuation', 1)]
        live = coll.query("SELECT count(*), count(*) FILTER (WHERE message LIKE '%ValueError: job%') FROM events")
        n_live = live[0][0]
        assert 0 < n_live < total and live[0][1] == n_live - 1  # every live ERROR entry whole; "done" has none
        coll = Collector(coll.tmp, port=coll.port).start()
        ship.start()
        approved = logship("backlog", "approve", "--all", "--state-dir", str(ship.state))
        assert approved.returncode == 0, approved.stderr
        wait_for(lambda: ship.status().get("consent") == "none_needed", timeout=30, what="backlog sent")
        ship.wait_caught_up(live=(logs / "app.log",))
    finally:
        ship.stop()
        coll.stop()
    assert coll.query("SELECT count(*) FROM rejects") == [(0,)]
    rows = coll.query("SELECT count(*), count(DISTINCT message), "
                      "count(*) FILTER (WHERE message LIKE '%Traceback%ValueError: job%') FROM events")
    assert rows == [(total, total, total - 1)]


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def pread(self, offset: int, n: int) -> bytes:
        return self.data[offset: offset + n]


def test_head_line_search_stops_at_a_head_the_end_or_the_limit() -> None:
    from logship.shipper.heads import compile_head, head_line_at_or_after

    head = compile_head(r"\d{4}-\d\d-\d\d ")
    data = b"  at x\n  at y\n2026-11-30 INFO a\n  at z\n2026-11-30 partial"
    assert head_line_at_or_after(_Bytes(data), 0, head, 1 << 20) == data.index(b"2026")
    assert head_line_at_or_after(_Bytes(data), data.index(b"  at z"), head, 1 << 20) == data.rindex(b"2026")
    tail = b"  at x\n  at unfinished"
    assert head_line_at_or_after(_Bytes(tail), 0, head, 1 << 20) == 7  # the unfinished line's start
    long = b"  at x\n" * 100 + b"2026-11-30 INFO b\n"
    assert head_line_at_or_after(_Bytes(long), 0, head, 300) is None  # past the limit: plain boundary
    assert compile_head("(") is None and compile_head(3) is None and compile_head(None) is None
