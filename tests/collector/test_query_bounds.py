"""Bounded queries on a real collector: the time limit from the start of execution, the
queue's own bound, the number running at once, the writer going on meanwhile, and a
SIGTERM that is not held up by runaway queries."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from tests.collectorkit import ADMIN, TOKENS, CollectorProc, client_lines, run

RUNAWAY = "SELECT count(*) FROM range(100000000) a, range(100000) b"


async def _query(url: str, sql: str, timeout: float = 60.0) -> tuple[int, dict[str, Any], float]:
    t0 = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
        async with s.post(url + "/v1/query", json={"sql": sql},
                          headers={"Authorization": f"Bearer {ADMIN}"}) as r:
            return r.status, await r.json(content_type=None), time.monotonic() - t0


async def _metric(url: str, name: str) -> int:
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/metrics") as r:
            text = await r.text()
    for line in text.splitlines():
        if line.startswith(f"logship_{name} "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no metric {name}")


async def _until(pred: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_a_query_that_waited_for_a_worker_still_gets_its_time_limit(tmp_path):
    """Three runaway queries with two workers: the third starts late and is stopped too."""
    coll = CollectorProc(tmp_path, config="query_time_limit_s = 1.0\n").start()

    async def go():
        runaways = await asyncio.gather(*(_query(coll.url, RUNAWAY, timeout=20) for _ in range(3)))
        after = await _query(coll.url, "SELECT 42 AS x", timeout=10)
        return runaways, after

    try:
        runaways, after = run(go())
    finally:
        coll.stop()
    for status, body, _ in runaways:
        assert status == 400 and "time limit of 1 s" in body["error"]["message"], body
    took = sorted(t for _, _, t in runaways)
    # two ran at once and stopped after ~1 s; the third waited for them, then ran its own 1 s
    assert took[1] < 4.0 and 1.5 < took[2] < 8.0, took
    assert after[0] == 200 and after[1]["rows"] == [[42]]


def test_a_query_waiting_too_long_for_a_slot_is_answered_503(tmp_path):
    coll = CollectorProc(tmp_path, config="max_concurrent_queries = 1\nquery_time_limit_s = 4.0\n"
                                          "query_queue_timeout_s = 0.5\n").start()

    async def go():
        slow = asyncio.ensure_future(_query(coll.url, RUNAWAY, timeout=30))
        await _until(lambda: _running(coll.url))
        queued = await _query(coll.url, "SELECT 1", timeout=10)
        return await slow, queued

    try:
        slow, queued = run(go())
    finally:
        coll.stop()
    status, body, took = queued
    assert status == 503 and body["error"]["code"] == "query_busy", body
    assert "query_queue_timeout_s" in body["error"]["message"] and "max_concurrent_queries" in body["error"]["message"]
    assert 0.4 < took < 3.0, took
    assert slow[0] == 400 and "time limit of 4 s" in slow[1]["error"]["message"]


async def _running(url: str) -> bool:
    return await _metric(url, "queries_running") >= 1


def test_at_most_max_concurrent_queries_run_and_the_writer_keeps_committing(tmp_path):
    coll = CollectorProc(tmp_path, config="max_concurrent_queries = 2\nquery_time_limit_s = 20.0\n"
                                          "query_queue_timeout_s = 30.0\n").start()
    n_posts, per_post = 20, 500

    async def go():
        runaways = [asyncio.ensure_future(_query(coll.url, RUNAWAY, timeout=60)) for _ in range(4)]
        await _until(lambda: _two_running_two_queued(coll.url))
        answers = []
        async with aiohttp.ClientSession() as s:
            for i in range(n_posts):
                t0 = time.monotonic()
                async with s.post(coll.url + "/v1/lines?source=busy", data=client_lines(i * per_post,
                                                                                           (i + 1) * per_post),
                                  headers={"Authorization": f"Bearer {TOKENS['alpha']}"}) as r:
                    answers.append((r.status, (await r.json())["lines"], time.monotonic() - t0))
        running, queued = await _metric(coll.url, "queries_running"), await _metric(coll.url, "queries_queued")
        for f in runaways:
            f.cancel()
        await asyncio.gather(*runaways, return_exceptions=True)
        return answers, running, queued

    try:
        answers, running, queued = run(go())
        rc = coll.stop()
    finally:
        coll.stop()
    assert (running, queued) == (2, 2)
    assert [(st, n) for st, n, _ in answers] == [(200, per_post)] * n_posts
    assert max(t for _, _, t in answers) < 5.0, [t for _, _, t in answers]
    assert rc == 0
    assert coll.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(n_posts * per_post,) * 2]


async def _two_running_two_queued(url: str) -> bool:
    return (await _metric(url, "queries_running"), await _metric(url, "queries_queued")) == (2, 2)


def test_sigterm_stops_the_collector_within_10s_while_runaway_queries_run(tmp_path):
    coll = CollectorProc(tmp_path, config="query_time_limit_s = 300.0\n").start()
    proc = psutil.Process(coll.pid)

    async def busy() -> bool:
        return sum(proc.cpu_times()[:2]) > cpu0 + 1.0  # the queries are executing, not just sent

    async def go():
        runaways = [asyncio.ensure_future(_query(coll.url, RUNAWAY, timeout=60)) for _ in range(6)]
        await _until(busy, timeout=30)
        t0 = time.monotonic()
        coll.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.get_running_loop().run_in_executor(None, coll.proc.wait, 30)
        took = time.monotonic() - t0
        answers = await asyncio.gather(*runaways, return_exceptions=True)
        return rc, took, answers

    cpu0 = sum(proc.cpu_times()[:2])
    try:
        rc, took, answers = run(go())
    finally:
        coll.stop()
    assert rc == 0 and took <= 10.0, (rc, took)
    statuses = [a[0] if isinstance(a, tuple) else type(a).__name__ for a in answers]
    assert statuses.count(503) >= 2, statuses  # the running ones were stopped and answered


def _nice_of_threads(pid: int) -> dict[int, int]:
    """Each thread's niceness by thread id (/proc/PID/task/TID/stat, field 19)."""
    out: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        out[int(task.name)] = int(stat[stat.rindex(")") + 2:].split()[16])
    return out


def test_queries_run_on_niced_threads_and_the_database_on_one_duckdb_thread(tmp_path):
    coll = CollectorProc(tmp_path, config="query_time_limit_s = 3.0\nquery_nice = 12\n").start()
    pid = coll.pid

    async def go():
        threads = await _query(coll.url, "SELECT current_setting('threads') AS t")
        slow = asyncio.ensure_future(_query(coll.url, RUNAWAY, timeout=30))
        await _until(lambda: _running(coll.url))
        nices = _nice_of_threads(pid)
        await slow
        return threads, nices

    try:
        threads, nices = run(go())
    finally:
        coll.stop()
    assert threads[0] == 200 and threads[1]["rows"] == [[1]], threads
    # the query pool's threads (one per query run so far, at most max_concurrent_queries)
    # are niced; every other thread (the event loop, the writer, DuckDB's) is not
    assert sorted(nices.values()).count(12) in (1, 2) and set(nices.values()) == {0, 12}, nices
    assert nices[pid] == 0


def test_a_reopened_database_is_locked_down_and_queries_follow_it(tmp_path):
    """The writer reopens the database after a fatal DuckDB error: the new connection gets
    the same settings and lock, and the query runner uses it (in-process, real parts)."""
    import pytest

    from logship.collector.config import load_config
    from logship.collector.errors import QueryRefused
    from logship.collector.metrics import Metrics
    from logship.collector.server import open_queries
    from logship.collector.storeport import open_store

    (tmp_path / "tokens.txt").write_text("alpha tok-alpha-1234567890\n")
    cfg = load_config(None, token_file=tmp_path / "tokens.txt", db=tmp_path / "r.duckdb")
    store = open_store(cfg.db, cfg.limits.memory_limit, cfg.limits.max_line_bytes)
    query = open_queries(store, cfg, Metrics())
    settings = ("SELECT current_setting('lock_configuration') AS l, current_setting('enable_external_access') AS e, "
                "current_setting('threads') AS t, current_setting('allocator_background_threads') AS b")

    async def go() -> dict[str, Any]:
        with pytest.raises(QueryRefused, match="read-only"):
            await query.run("WITH x AS (DELETE FROM sources RETURNING 1) SELECT count(*) FROM x")
        return await query.run(settings)

    try:
        first = query.con
        store.reopen()
        assert query.con is store.store.con and query.con is not first
        out = asyncio.run(go())
    finally:
        query.close()
        store.close()
    assert out["rows"] == [[True, False, 1, True]]
