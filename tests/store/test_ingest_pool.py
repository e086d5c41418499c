"""The collector's group commit with parse workers (Store.ingest_items(..., pool=),
store/commit.py ``Commit.ingest_all``): the same rows, ranges and results as the writer
thread parsing alone, for a batch mixing context-free and context formats, big and small
items, receive times and future dates; the overlap guard; a dead worker loses nothing.

One ParsePool of 2 workers is shared by the module (forked before any test opens DuckDB
in this process's fixtures; ~0.1 s); the tests take about 4 s together.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from logship.store import Store
from logship.store.commit import POOL_MIN_BYTES
from logship.store.item import Item
from logship.store.pool import ParsePool

ROOT = Path(__file__).resolve().parents[2]
MTIME = 1_795_000_000.0  # 2026-11-18: syslog's year; the backlog's future-date reference
RECEIVED = 1_795_813_800.0

FACTS = {
    "metrics": "SELECT source_id, byte_offset, ts, ts_source, session_id, name, value, unit, labels::VARCHAR "
               "FROM metrics",
    "events": "SELECT source_id, byte_offset, ts, ts_source, session_id, level, name, message, attrs::VARCHAR "
              "FROM events",
    "rejects": "SELECT source_id, byte_offset, raw, error_code, error FROM rejects",
    "sessions": "SELECT session_id, started_at, ended_at, end_attrs::VARCHAR, ends, first_ts, last_seen "
                "FROM session_agg",
    "ranges": "SELECT source_id, start_offset, end_offset FROM source_ranges",
    "sources": "SELECT source_id, log_format, context::VARCHAR, future_dated FROM sources",
}


def _repeat(sample: str, nbytes: int, extra: bytes = b"") -> bytes:
    """The sample (whole lines) repeated to at least ``nbytes``, with ``extra`` lines mixed in."""
    one = (ROOT / "samples" / sample).read_bytes() + extra
    return one * (nbytes // len(one) + 1)


CLIENT = _repeat("client.log", 5 * POOL_MIN_BYTES, b"not a client line\n"
                 b"2099-01-01T00:00:00.000+00:00 INFO  sess=3f2a9c1e5b7d9e01 event far.future n=1\n")
JSONL = _repeat("app.jsonl", 3 * POOL_MIN_BYTES, b'{"level":"info","msg":"no time: the receive time stands in"}\n'
                b'{"ts":"2099-01-01T00:00:00Z","level":"info","msg":"future"}\n{broken\n')
SYSLOG = _repeat("syslog.log", 2 * POOL_MIN_BYTES)
SMALL = CLIENT[:CLIENT.rfind(b"\n", 0, 40_000) + 1]


def _big(items: list[Item]) -> int:
    return sum(1 for i in items if len(i.data) >= POOL_MIN_BYTES)


def _cut(sid: str, data: bytes, size: int, **kw: Any) -> list[Item]:
    """``data`` as items of about ``size`` bytes, each ending at a line end."""
    out, off = [], 0
    while off < len(data):
        end = len(data) if off + size >= len(data) else data.rfind(b"\n", off, off + size) + 1
        out.append(Item(sid, off, data[off:end], **kw))
        off = end
    return out


# the items a pool parses in _batch: client and jsonl ones of POOL_MIN_BYTES or more
BIG = _big(_cut("x", CLIENT, POOL_MIN_BYTES + 5000)) + _big(_cut("x", JSONL, POOL_MIN_BYTES + 100))


class Spy:
    """A pool that counts what is submitted (and may kill a worker on the first submit)."""

    def __init__(self, pool: Any, kill_first: bool = False) -> None:
        self.pool = pool
        self.broken = False
        self.submitted = 0
        self.groups: list[int] = []  # pieces in each submit_many call
        self.kill_first = kill_first

    def submit(self, *args: Any) -> Future:
        f = self.pool.submit(*args)
        self.submitted += 1
        if self.kill_first and self.submitted == 1:
            os.kill(self.pool.pids()[0], signal.SIGKILL)
        return f

    def submit_many(self, jobs: list) -> Future:
        self.groups.append(len(jobs))
        return self.pool.submit_many(jobs)


@pytest.fixture(scope="module")
def pool():
    with ParsePool(2) as p:
        yield p


def _sources(st: Store) -> dict[str, str]:
    return {
        "client": st.resolve_source("c1", CLIENT, path="/var/log/app.log", tz="UTC", mtime=MTIME).source_id,
        "jsonl": st.resolve_source("c1", JSONL, path="/var/log/app.jsonl", tz="UTC", mtime=MTIME).source_id,
        "syslog": st.resolve_source("c2", SYSLOG, path="/var/log/syslog", tz="Europe/Berlin",
                                    mtime=MTIME).source_id,
        "small": st.resolve_source("c2", SMALL[1000:], path="/var/log/small.log", tz="UTC",
                                   mtime=MTIME).source_id,
    }


def _batch(sids: dict[str, str]) -> list[Item]:
    """One writer batch: big client items (live), big jsonl items with a receive time
    (backlog), big syslog items (a context format: the writer's thread), small client
    items (below POOL_MIN_BYTES: the writer's thread), interleaved."""
    client = _cut(sids["client"], CLIENT, POOL_MIN_BYTES + 5000, kind="live")
    jsonl = _cut(sids["jsonl"], JSONL, POOL_MIN_BYTES + 100, kind="backlog", received_at=RECEIVED)
    syslog = _cut(sids["syslog"], SYSLOG, POOL_MIN_BYTES + 100, kind="backlog")
    small = _cut(sids["small"], SMALL, 4_000, kind="live")
    items: list[Item] = []
    for i in range(max(map(len, (client, jsonl, syslog, small)))):
        for part in (client, small, syslog, jsonl):
            if i < len(part):
                items.append(part[i])
    return items


def _commit(db: Path, pool: Any, items_of: Any = _batch) -> tuple[list, dict[str, list]]:
    with Store(db) as st:
        sids = _sources(st)
        results = st.ingest_items(items_of(sids), {}, pool=pool)
        dump = {t: st.con.execute(f"{q} ORDER BY ALL").fetchall() for t, q in FACTS.items()}
    dump["future"] = {name: n for name, sid in sids.items() for s, _, _, n in dump["sources"] if s == sid}
    return results, dump


def _same(a: tuple[list, dict[str, list]], b: tuple[list, dict[str, list]]) -> None:
    assert a[0] == b[0]
    for table in FACTS:
        assert a[1][table] == b[1][table], table


def test_a_batch_with_workers_stores_what_the_writer_thread_does(tmp_path: Path, pool: ParsePool):
    spy = Spy(pool)
    alone = _commit(tmp_path / "alone.duckdb", None)
    with_pool = _commit(tmp_path / "pool.duckdb", spy)
    _same(alone, with_pool)
    # the big client and jsonl items went to the workers; syslog (context) and small items did not
    assert spy.submitted == BIG == 7
    results, dump = with_pool
    assert sum(r.lines for r in results) == sum(d.count(b"\n") for d in (CLIENT, JSONL, SYSLOG, SMALL))
    # received time stood in, future dates counted against now (live) and the mtime (backlog)
    assert sum(1 for r in dump["events"] if r[3] == "received") == JSONL.count(b"no time: the receive")
    assert dump["future"] == {"client": CLIENT.count(b"far.future"), "jsonl": JSONL.count(b'"2099-'),
                              "syslog": 0, "small": SMALL.count(b"far.future")}


def test_an_item_overlapping_one_still_in_the_pool_waits_for_its_add(tmp_path: Path, pool: ParsePool):
    """B overlaps A (a resend): planned before A is added it would store A's tail twice."""
    data = CLIENT[:4 * POOL_MIN_BYTES]
    data = data[:data.rfind(b"\n") + 1]
    a_end = data.rfind(b"\n", 0, 3 * POOL_MIN_BYTES) + 1
    b_start = data.rfind(b"\n", 0, POOL_MIN_BYTES) + 1

    def items_of(sids: dict[str, str]) -> list[Item]:
        sid = sids["client"]
        return [Item(sid, 0, data[:a_end]), Item(sid, b_start, data[b_start:])]

    spy = Spy(pool)
    alone = _commit(tmp_path / "alone.duckdb", None, items_of)
    with_pool = _commit(tmp_path / "pool.duckdb", spy, items_of)
    _same(alone, with_pool)
    assert spy.submitted == 2
    results, dump = with_pool
    assert [r.skipped_bytes for r in results] == [0, a_end - b_start]
    assert sum(r.lines for r in results) == data.count(b"\n")
    offsets = [r[1] for r in dump["events"]] + [r[1] for r in dump["metrics"]] + [r[1] for r in dump["rejects"]]
    assert len(set(offsets)) == data.count(b"\n") - data.count(b"\n ")  # continuation lines join their entry
    assert [(s, e) for _, s, e in dump["ranges"]] == [(0, len(data))]


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path, pool: ParsePool, caplog):
    """A worker SIGKILLed right after the first submit: its items parse in this thread,
    the pool is broken for good (live() == 0), one error line says so."""
    alone = _commit(tmp_path / "alone.duckdb", None)
    own = ParsePool(2)
    try:
        spy = Spy(own, kill_first=True)
        with caplog.at_level(logging.ERROR, logger="logship.store.commit"):
            with_pool = _commit(tmp_path / "pool.duckdb", spy)
            deadline = time.monotonic() + 10
            while own.live() and time.monotonic() < deadline:  # the executor notices the death
                time.sleep(0.02)
            again = _commit(tmp_path / "again.duckdb", spy)  # a broken pool: this thread parses
        _same(alone, with_pool)
        _same(alone, again)
        assert spy.broken and own.live() == 0
        died = [r for r in caplog.records if "parse worker died" in r.getMessage()]
        assert len(died) == 1, [r.getMessage() for r in caplog.records]
    finally:
        own.close()


class BrokenPool:
    """Every future fails as if its worker died (or, ``at_submit``, submit says so)."""

    def __init__(self, at_submit: bool) -> None:
        self.broken = False
        self.at_submit = at_submit
        self.submitted = 0
        self.groups = 0

    def submit(self, *args: Any) -> Future:
        self.submitted += 1
        if self.at_submit:
            raise BrokenProcessPool("a child process terminated abruptly")
        f: Future = Future()
        f.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        return f

    def submit_many(self, jobs: list) -> Future:
        self.groups += 1
        if self.at_submit:
            raise BrokenProcessPool("a child process terminated abruptly")
        f: Future = Future()
        f.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        return f


@pytest.mark.parametrize("at_submit", [False, True])
def test_a_broken_pool_at_submit_or_at_result_loses_nothing(tmp_path: Path, at_submit: bool):
    alone = _commit(tmp_path / "alone.duckdb", None)
    broken = BrokenPool(at_submit)
    _same(alone, _commit(tmp_path / "pool.duckdb", broken))
    # a submit that fails stops submitting; failed futures show at the add, after all submits
    assert broken.broken and broken.submitted == (1 if at_submit else BIG)


def test_the_worker_gets_the_receive_time_and_the_reference(pool: ParsePool):
    from logship.store.parsing import ParseSpec

    spec = ParseSpec("jsonl", "UTC", MTIME, None)
    data = b'{"level":"info","msg":"no time"}\n{"ts":"2026-11-27T21:09:05Z","level":"info","msg":"x"}\n'
    # the receive time stands in for the missing time and is the future-date reference
    piece = pool.submit(spec, data, 0, True, RECEIVED, None).result()
    assert (piece.records, piece.rejects, piece.future) == (2, 0, 0)
    # no receive time: a reject; the reference is the mtime (9 days before the line's date)
    piece = pool.submit(spec, data, 0, True, None, None).result()
    assert (piece.records, piece.rejects, piece.future) == (1, 1, 1)
    # a given reference (the collector's now for live items) wins over the mtime
    piece = pool.submit(spec, data, 0, True, None, RECEIVED).result()
    assert (piece.records, piece.rejects, piece.future) == (1, 1, 0)


def test_a_group_of_small_pieces_comes_back_as_one_arrow_batch(pool: ParsePool):
    """A worker builds ONE Arrow batch for a group call; each piece keeps its rows in it,
    in order (a piece without rows has an empty span)."""
    from logship.store.batches import RowsOf
    from logship.store.parsing import ParseSpec

    spec = ParseSpec("jsonl", "UTC", MTIME, None)
    datas = [b'{"ts":"2026-11-17T21:09:05Z","level":"info","msg":"a"}\n{broken\n',
             b"",
             b'{"ts":"2026-11-17T21:09:06Z","level":"info","msg":"b"}\n{"ts":"2026-11-17T21:09:07Z","msg":"c"}\n']
    pieces = pool.submit_many([(spec, d, 0, True, None, None) for d in datas]).result()
    assert all(isinstance(p.batch, RowsOf) for p in pieces)
    assert len({id(p.batch.group) for p in pieces}) == 1  # pickled once, shared
    assert [(p.batch.events, p.batch.rejects) for p in pieces] == [((0, 1), (0, 1)), ((1, 1), (1, 1)),
                                                                    ((1, 3), (1, 1))]
    assert [(p.records, p.rejects) for p in pieces] == [(1, 1), (0, 0), (2, 0)]
    assert pieces[0].batch.group.events.column("message").to_pylist() == ["a", "b", "c"]


@pytest.mark.parametrize("at_submit", [False, True])
def test_file_ingest_with_a_pool_whose_worker_died_loses_nothing(tmp_path: Path, at_submit: bool):
    """`logship ingest` through a collector (its pool): a dead worker's items parse here."""
    from logship.store.fileingest import IngestOptions, ingest_paths

    log = tmp_path / "app.log"
    log.write_bytes(CLIENT * 2)
    with Store(tmp_path / "x.duckdb") as st:
        broken = BrokenPool(at_submit)
        summary = ingest_paths(st, [str(log)], IngestOptions(tz="UTC", parse_chunk_bytes=POOL_MIN_BYTES), pool=broken)
        assert summary.ok and broken.broken and summary.total("lines") == (CLIENT * 2).count(b"\n")
        with Store(tmp_path / "y.duckdb") as alone:
            ingest_paths(alone, [str(log)], IngestOptions(tz="UTC", workers=1))
            for table in ("metrics", "events", "rejects"):
                q = f"{FACTS[table]} ORDER BY ALL"
                assert st.con.execute(q).fetchall() == alone.con.execute(q).fetchall(), table


BIG_ITEMS = {  # format: (sample, zone); one item of ~1.1 MiB each, cut into ~256 KiB pieces for the workers
    "client": ("client.log", "UTC"),   # continuation: indent
    "python": ("python.log", "UTC"),   # head: LEVEL (tracebacks continue an entry)
    "golog": ("golog.log", "Asia/Tokyo"),  # no continuation lines
}


def test_a_big_item_is_cut_at_entry_heads_so_every_worker_parses(tmp_path: Path, pool: ParsePool):
    from logship.store.commit import POOL_CHUNK_BYTES

    datas = {fmt: _repeat(sample, 1100 << 10) for fmt, (sample, _) in BIG_ITEMS.items()}

    def commit(db: Path, p: Any) -> tuple[list, dict[str, list]]:
        with Store(db) as st:
            items = []
            for fmt, (_, tz) in BIG_ITEMS.items():
                sid = st.resolve_source("c", datas[fmt], path=f"/{fmt}.log", tz=tz, mtime=MTIME,
                                        log_format=fmt).source_id
                items.append(Item(sid, 0, datas[fmt], fmt != "client", "live", received_at=RECEIVED))
            results = st.ingest_items(items, {}, pool=p)
            return results, {t: st.con.execute(f"{q} ORDER BY ALL").fetchall() for t, q in FACTS.items()}

    spy = Spy(pool)
    alone, with_pool = commit(tmp_path / "alone.duckdb", None), commit(tmp_path / "pool.duckdb", spy)
    _same(alone, with_pool)
    assert spy.submitted == sum(len(d) // POOL_CHUNK_BYTES for d in datas.values()) == 12
    # the client item is not final: its last entry (one line) waits, in both ways
    last = datas["client"].rstrip(b"\n").rfind(b"\n") + 1
    assert [r.committed_end for r in with_pool[0]] == [last, len(datas["python"]), len(datas["golog"])]
    assert sum(r.lines for r in with_pool[0]) == sum(d.count(b"\n") for d in datas.values()) - 1


def test_entry_cuts_fall_only_before_an_entry_head():
    from logship.parser import get_format
    from logship.store.commit import entry_cuts

    for fmt, (sample, _) in BIG_ITEMS.items():
        f = get_format(fmt)
        data = _repeat(sample, 200 << 10)
        cuts = entry_cuts(data, 16 << 10, f.continuation == "indent", f.head_regex())
        assert len(cuts) >= len(data) // (32 << 10), fmt
        assert cuts == sorted(set(cuts)) and len(data) - cuts[-1] >= 16 << 10
        for c in cuts:
            line = data[c:data.index(b"\n", c)]
            assert data[c - 1:c] == b"\n" and line and line[:1] not in (b" ", b"\t"), (fmt, line)
            assert f.head_regex() is None or f.head_regex().match(line), (fmt, line)
    assert entry_cuts(b"a\n" * 100, 100, False) == []  # not over twice the size: whole
    assert entry_cuts(b"a\n" + b" x\n" * 200, 100, True) == []  # one entry: no head to cut before


def _fleet(n: int, lines: int) -> Any:
    """A fleet's batch: one small live item (``lines`` client lines) from each of ``n`` sources."""
    def items_of(sids: dict[str, str], st: Store) -> list[Item]:
        out = []
        for k in range(n):
            sid = st.resolve_source(f"f{k}", CLIENT, path=f"/var/log/f{k}.log", tz="UTC", mtime=MTIME,
                                   log_format="client").source_id
            out.append(Item(sid, 0, _frame(k, lines), True, "live"))
        return out
    return items_of


def _frame(k: int, lines: int) -> bytes:
    return b"".join(CLIENT.splitlines(keepends=True)[k:k + lines])


def _commit_fleet(db: Path, pool: Any, n: int, lines: int) -> tuple[list, dict[str, list]]:
    with Store(db) as st:
        results = st.ingest_items(_fleet(n, lines)({}, st), {}, pool=pool)
        dump = {t: st.con.execute(f"{q} ORDER BY ALL").fetchall() for t, q in FACTS.items()}
    return results, dump


def test_small_items_of_a_fleet_go_to_the_workers_in_groups(tmp_path: Path, pool: ParsePool):
    """Many sources' small live frames: grouped into worker calls of about POOL_CHUNK_BYTES
    (one pickled list of pieces each way), the same rows as the writer thread alone; a
    batch with fewer than POOL_MIN_BYTES of them parses in this thread."""
    from logship.store.commit import POOL_CHUNK_BYTES

    spy = Spy(pool)
    alone = _commit_fleet(tmp_path / "alone.duckdb", None, 120, 50)
    grouped = _commit_fleet(tmp_path / "pool.duckdb", spy, 120, 50)
    _same(alone, grouped)
    size = sum(len(_frame(k, 50)) for k in range(120))
    assert spy.submitted == 0 and sum(spy.groups) == 120
    assert len(spy.groups) == -(-size // POOL_CHUNK_BYTES) or len(spy.groups) == size // POOL_CHUNK_BYTES + 1
    assert sum(r.lines for r in grouped[0]) == 6000 and size > 2 * POOL_CHUNK_BYTES
    few = Spy(pool)
    _same(_commit_fleet(tmp_path / "few-alone.duckdb", None, 20, 10),
          _commit_fleet(tmp_path / "few-pool.duckdb", few, 20, 10))
    assert few.submitted == 0 and few.groups == []


def test_a_group_whose_worker_died_loses_nothing(tmp_path: Path):
    alone = _commit_fleet(tmp_path / "alone.duckdb", None, 120, 50)
    broken = BrokenPool(at_submit=False)
    _same(alone, _commit_fleet(tmp_path / "pool.duckdb", broken, 120, 50))
    # failed futures show at the add, after all three groups (~660 KB of 256 KiB) were sent
    assert broken.broken and (broken.submitted, broken.groups) == (0, 3)
