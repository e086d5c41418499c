"""A full disk under the collector's database: refused with a clear error, nothing acked
that was not committed, /healthz 503 meanwhile, and everything committed exactly once
when space returns. A real tmpfs (tests/diskkit.py), a real collector process and the
Protocol v1 client of tests/collectorkit.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.collectorkit import TOKENS, CollectorProc, StreamClient, client_lines, run
from tests.diskkit import Filler, tmpfs_or_skip

FAST_RETRY = "store_retry_s = 0.2\nstore_retry_max_s = 1.0\n"


async def healthz(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/healthz") as r:
            return r.status, await r.json(content_type=None)


async def wait_health(url: str, status: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st, body = await healthz(url)
        if st == status:
            return body
        assert time.monotonic() < deadline, f"/healthz stayed {st} {body}, waited for {status}"
        await asyncio.sleep(0.1)


async def post_lines(url: str, data: bytes, offset: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/v1/lines?source=full", data=data,
                          headers={"Authorization": f"Bearer {TOKENS['alpha']}", "Logship-Offset": str(offset)}) as r:
            return r.status, await r.json(content_type=None)


def test_full_disk_under_the_db_refuses_acks_nothing_then_commits_everything_once(tmp_path: Path):
    with tmpfs_or_skip(tmp_path / "dbfs", "16m") as dbdir:
        filler = Filler(dbdir)
        coll = CollectorProc(tmp_path, db=dbdir / "coll.duckdb", config=FAST_RETRY).start()
        first, second = client_lines(0, 1000), client_lines(1000, 6000)
        data = first + second
        lines_body = client_lines(6000, 6500)
        try:
            async def go() -> None:
                async with StreamClient(coll.url, TOKENS["alpha"]) as c:
                    await c.hello()
                    await c.open(1, data)
                    end1 = await c.send(1, 0, first)
                    await c.wait_acked(1, end1)
                    assert (await healthz(coll.url))[0] == 200

                    filler.fill()
                    seen = len(c.messages)
                    await c.send(1, end1, second)
                    await c.wait_for(lambda: any(e["code"] == "store_failed" for e in c.errors))
                    body = await wait_health(coll.url, 503)
                    assert body["status"] == "store_failing", body
                    assert "No space left on device" in body["store"]["error"], body
                    st, res = await post_lines(coll.url, lines_body, 0)
                    assert st == 503 and res["error"]["code"] == "store_failed", (st, res)
                    assert "No space left on device" in res["error"]["message"]
                    # an open meanwhile is not the file's fault: store_failed, not bad_open
                    refused = await c.open(2, b"another file\n")
                    assert refused["type"] == "error" and refused["code"] == "store_failed", refused
                    async with aiohttp.ClientSession() as s:
                        async with s.get(coll.url + "/metrics") as r:
                            assert "logship_store_failing 1\n" in await r.text()
                    # nothing after the failure was acked: no ack message at all since the fill
                    assert [m for m in c.messages[seen:] if m["type"] == "ack"] == []
                    assert c.sids[1].acked == end1
                    err = next(e for e in c.errors if e["code"] == "store_failed")
                    assert err["sid"] == 1 and "No space left on device" in err["message"], err

                    filler.release()
                    await wait_health(coll.url, 200)
                    # resend from the last ack, as docs/protocol.md says
                    end = await c.send(1, c.sids[1].acked, data[c.sids[1].acked:])
                    await c.wait_acked(1, end)
                    st, res = await post_lines(coll.url, lines_body, 0)
                    assert st == 200 and res["committed_end"] == len(lines_body), (st, res)
                    assert (await healthz(coll.url))[0] == 200

            run(go())
        finally:
            filler.release()
            coll.stop()
        assert coll.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(6500, 6500)]
        assert sorted(coll.query("SELECT start_offset, end_offset FROM source_ranges")) == sorted(
            [(0, len(data)), (0, len(lines_body))])
        assert coll.query("SELECT count(*) FROM rejects") == [(0,)]


def test_a_fatal_duckdb_error_invalidates_the_database_and_the_writer_reopens_it(tmp_path: Path):
    """DuckDB invalidates the database when a checkpoint fails on a full disk ("FATAL
    Error ... database has been invalidated"): the writer refuses work, reopens the
    database after its backoff once space is back, and a resend commits exactly once.
    In-process (the real Writer, StoreAdapter and Store): a tiny checkpoint_threshold
    makes the first commit's checkpoint hit the full disk, deterministically."""
    from logship.collector.metrics import Metrics
    from logship.collector.storeport import open_store
    from logship.collector.writer import Lane, Work, Writer
    from logship.kernel.protocol import DEFAULT_LIMITS

    data = client_lines(0, 20000)
    with tmpfs_or_skip(tmp_path / "dbfs", "16m") as dbdir:
        filler = Filler(dbdir)

        async def go() -> None:
            store = open_store(dbdir / "w.duckdb", "256MB", DEFAULT_LIMITS.max_line_bytes)
            writer = Writer(store, DEFAULT_LIMITS, Metrics(), retry_s=0.1, retry_max_s=0.5)
            reopened: list[object] = []
            store.on_reopen.append(reopened.append)
            try:
                info = store.resolve_source("alpha", data[:1024], log_format="client")
                store.store.con.execute("SET checkpoint_threshold = '1KB'")
                writer.start()
                filler.fill(leave=300_000)  # room for the WAL, not for the checkpoint
                lane = Lane()
                half = data.index(b"\n", len(data) // 2) + 1
                first = await writer.submit_wait(Work(info.source_id, 0, data[:half], final=True, keep_tail=False,
                                                      lane=lane))
                assert first.error and "database has been invalidated" not in first.error, first
                assert "FATAL" in first.error and "No space left on device" in first.error, first.error
                assert writer.health.failing and writer.health.needs_reopen
                later = await writer.submit_wait(Work(info.source_id, half, data[half:], final=True,
                                                      keep_tail=False, lane=lane))
                assert later.error, later  # refused: nothing acked while the store is down
                filler.release()
                deadline = time.monotonic() + 30
                while writer.health.failing or writer.health.reopens < 1:
                    assert time.monotonic() < deadline, writer.health.as_json()
                    await asyncio.sleep(0.05)
                assert len(reopened) == 1
                # the lane was cut at 0: its second half alone would leave a hole, refused
                gap = await writer.submit_wait(Work(info.source_id, half, data[half:], final=True,
                                                    keep_tail=False, lane=lane))
                assert gap.error and "failed at offset 0" in gap.error, gap
                # the sender resends from its last ack (0): the lane heals and all is committed
                done = await writer.submit_wait(Work(info.source_id, 0, data, final=True, keep_tail=False, lane=lane))
                assert done.error is None and done.acked_end == len(data), done
                await writer.close()
                rows = store.store.con.execute("SELECT count(*), count(DISTINCT attrs) FROM events").fetchall()
                assert rows == [(20000, 20000)]
                assert store.store.committed_ranges(info.source_id) == [(0, len(data))]
            finally:
                if not writer.closed:
                    await writer.close()
                store.close()

        try:
            run(go())
        finally:
            filler.release()


def test_a_collector_started_on_a_full_disk_serves_and_publishes_itself_once_space_returns(tmp_path: Path):
    """The soak's incident: started (or restarted by a supervisor) while the disk under its
    database is full, the collector exited 1 with a traceback writing <db>.collector.json.
    It must come up, say once that local tools cannot find it yet, and publish the file
    as soon as space returns (then `logship query` goes through it)."""
    with tmpfs_or_skip(tmp_path / "dbfs", "16m") as dbdir:
        db = dbdir / "coll.duckdb"
        CollectorProc(tmp_path, db=db, config=FAST_RETRY).start().stop()   # the database exists
        cfile = dbdir / "coll.duckdb.collector.json"
        filler = Filler(dbdir)
        filler.fill()
        coll = CollectorProc(tmp_path, db=db, config=FAST_RETRY + "publish_retry_s = 0.2\n").start()
        try:
            assert coll.proc.poll() is None
            assert not cfile.exists() and not list(dbdir.glob("*.tmp"))
            log = coll.log.read_text()
            assert log.count("cannot write") == 1 and "No space left on device" in log, log
            filler.release()
            deadline = time.monotonic() + 20
            while not cfile.exists():
                assert time.monotonic() < deadline, "collector.json never written after space returned"
                time.sleep(0.1)
            from logship.store.remote import held_by_collector
            running = held_by_collector(db)
            assert running is not None and running.pid == coll.proc.pid
            assert running.query("SELECT 42 AS answer").to_pylist() == [{"answer": 42}]
        finally:
            assert coll.stop() == 0


def test_a_big_body_that_fills_the_disk_answers_the_store_error_then_commits_the_rest_once(tmp_path: Path):
    """A 7 MiB body goes to the writer in 1 MiB pieces, several in flight at once; the disk
    fills under them. The answer is the first failure (the store's own words, not the
    refusal of the pieces after it), `committed_end` is where the committed pieces end,
    and the rest sent again from there is stored once."""
    with tmpfs_or_skip(tmp_path / "dbfs", "64m") as dbdir:
        filler = Filler(dbdir)
        coll = CollectorProc(tmp_path, db=dbdir / "coll.duckdb", config=FAST_RETRY).start()
        first, big = client_lines(0, 1000), client_lines(1000, 81_000)
        data = first + big
        try:
            async def go() -> None:
                st, res = await post_lines(coll.url, first, 0)
                assert st == 200 and res["committed_end"] == len(first), (st, res)
                filler.fill(leave=2 << 20)
                st, res = await post_lines(coll.url, big, len(first))
                assert st == 503 and res["error"]["code"] == "store_failed", (st, res)
                assert "No space left on device" in res["error"]["message"], res
                committed = res["committed_end"]
                assert len(first) <= committed < len(data), res
                filler.release()
                await wait_health(coll.url, 200)
                st, res = await post_lines(coll.url, data[committed:], committed)
                assert st == 200 and res["committed_end"] == len(data), (st, res)

            run(go())
        finally:
            filler.release()
            coll.stop()
        assert coll.query("SELECT count(*), count(DISTINCT attrs) FROM events") == [(81_000, 81_000)]
        assert coll.query("SELECT start_offset, end_offset FROM source_ranges") == [(0, len(data))]
        assert coll.query("SELECT count(*) FROM rejects") == [(0,)]
