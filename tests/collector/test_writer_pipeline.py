"""The writer pipelines its batches (collector/writer.py ``_step``): a batch is planned
and handed to the parse workers while the batch before it waits for its write, and its
dones go out only after its own write. A real Store, real parse workers and the Writer
driven directly on a loop; a failed write is injected around the real store (the only
way to make DuckDB fail at that exact commit).

Every test asserts exact stored rows: pipelined or not, failed or not, each line is
stored once and nothing is acked before it is written."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from logship.collector.metrics import Metrics
from logship.collector.storeport import StoreAdapter
from logship.collector.writer import Done, Lane, Work, Writer
from logship.kernel.protocol import DEFAULT_LIMITS
from logship.store.pool import ParsePool
from logship.store.store import Store
from tests.collectorkit import client_lines

SOURCES = 4
LINES = 3000   # per source
FRAMES = 6     # per source
# small batches: every queued batch is staged while the one before it waits for its write
LIMITS = replace(DEFAULT_LIMITS, max_batch_bytes=96 << 10)


class FailingWrite(StoreAdapter):
    """The real store; its ``fail_at``-th write (1-based) raises before DuckDB commits."""

    def __init__(self, store: Store, pool: Any, fail_at: int, error: Exception) -> None:
        super().__init__(store, pool=pool)
        self.writes = 0
        self.fail_at = fail_at
        self.error = error

    def write(self, commit: Any) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            commit.cancel()
            with self._failing():  # as a DuckDB error there is met: a disk error is StoreUnavailable
                raise self.error
        super().write(commit)


def _sources(store: Store) -> list[str]:
    return [store.resolve_source(f"c{k}", f"pipeline source {k}\n".encode(), path=f"/var/log/p{k}.log",
                                 log_format="client").source_id for k in range(SOURCES)]


def _frames() -> list[list[tuple[int, bytes]]]:
    """Each source's frames (start offset, bytes) of LINES client lines."""
    out = []
    for k in range(SOURCES):
        data = client_lines(k * 100_000, k * 100_000 + LINES)
        step = len(data) // FRAMES
        cuts = [0]
        for f in range(1, FRAMES):
            cuts.append(data.index(b"\n", f * step) + 1)
        cuts.append(len(data))
        out.append([(a, data[a:b]) for a, b in zip(cuts, cuts[1:])])
    return out


async def _send_all(writer: Writer, sids: list[str], frames: list[list[tuple[int, bytes]]],
                    lanes: list[Lane]) -> list[Done]:
    """Queue every frame at once (interleaved by source) and wait for all their dones."""
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[Done]] = []
    for f in range(FRAMES):
        for k, sid in enumerate(sids):
            start, data = frames[k][f]
            fut: asyncio.Future[Done] = loop.create_future()
            futures.append(fut)
            writer.submit_nowait(Work(sid, start, data, final=f == FRAMES - 1, keep_tail=True, lane=lanes[k],
                                      on_done=lambda d, fut=fut: fut.done() or fut.set_result(d)))
    return list(await asyncio.gather(*futures))


async def _resend(writer: Writer, sids: list[str], frames: list[list[tuple[int, bytes]]], lanes: list[Lane],
                  acked: dict[str, int]) -> list[Done]:
    """Each source's frames from its last ack on, as its shipper resends them."""
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[Done]] = []
    for k, sid in enumerate(sids):
        for f, (start, data) in enumerate(frames[k]):
            if start + len(data) <= acked[sid]:
                continue
            fut: asyncio.Future[Done] = loop.create_future()
            futures.append(fut)
            writer.submit_nowait(Work(sid, start, data, final=f == FRAMES - 1, lane=lanes[k],
                                      on_done=lambda d, fut=fut: fut.done() or fut.set_result(d)))
    return list(await asyncio.gather(*futures))


def _stored(store: Store, sid: str) -> tuple[int, int, list[tuple[int, int]]]:
    n, distinct = store.con.execute("SELECT count(*), count(DISTINCT byte_offset) FROM events WHERE source_id = ?",
                                    [sid]).fetchone()
    return n, distinct, store.committed_ranges(sid)


def _run(tmp_path: Path, adapter_of: Any) -> tuple[list[Done], list[Done] | None, Metrics, Store, list[str], Any]:
    """Send every frame once; then resend, from its last ack, each source whose frames
    were refused (what a shipper does); return the dones of both rounds."""
    with ParsePool(2) as pool:
        store = Store(tmp_path / "p.duckdb")
        sids = _sources(store)
        adapter = adapter_of(store, pool)
        metrics = Metrics()
        frames = _frames()

        async def go() -> tuple[list[Done], list[Done] | None]:
            writer = Writer(adapter, LIMITS, metrics, retry_s=0.05, retry_max_s=0.2)
            writer.start()
            lanes = [Lane() for _ in sids]
            first = await _send_all(writer, sids, frames, lanes)
            again = None
            dones = first
            for _ in range(20):  # resend from each source's last ack until all is acked
                acked = {sid: max([0] + [d.acked_end for d in dones if d.source_id == sid and not d.error])
                         for sid in sids}
                if not any(d.error for d in dones):
                    break
                while writer.health.failing:  # a shipper waits out the refusal's retry time
                    await asyncio.sleep(0.02)
                dones = await _resend(writer, sids, frames, lanes, acked)
                again = (again or []) + dones
            await writer.close()
            return first, again

        first, again = asyncio.run(go())
        return first, again, metrics, store, sids, adapter


def test_queued_batches_are_parsed_while_the_one_before_is_written_and_stored_once(tmp_path: Path) -> None:
    first, again, metrics, store, sids, _ = _run(tmp_path, lambda st, pool: StoreAdapter(st, pool=pool))
    try:
        assert again is None and not [d for d in first if d.error]
        assert metrics.commits >= 4
        # every batch after the first is staged while the one before waits for its write
        assert metrics.commits_pipelined == metrics.commits - 1
        for k, sid in enumerate(sids):
            total = len(client_lines(k * 100_000, k * 100_000 + LINES))
            assert _stored(store, sid) == (LINES, LINES, [(0, total)])
        assert metrics.lines_stored == SOURCES * LINES
        # acks move forward per source (a frame's last entry waits for the next frame,
        # which may continue it) and the final frame's done acks the whole source
        for k, sid in enumerate(sids):
            acks = [d.acked_end for d in first if d.source_id == sid]
            assert acks == sorted(acks) and acks[-1] == len(client_lines(k * 100_000, k * 100_000 + LINES))
    finally:
        store.close()


@pytest.mark.parametrize("error", [RuntimeError("injected: a value DuckDB refuses"),
                                   OSError(28, "No space left on device")], ids=["bug", "disk-full"])
def test_a_failed_write_of_a_pipelined_batch_acks_nothing_of_it_or_of_the_next_and_a_resend_stores_once(
        tmp_path: Path, error: Exception) -> None:
    first, again, metrics, store, sids, adapter = _run(
        tmp_path, lambda st, pool: FailingWrite(st, pool, fail_at=2, error=error))
    try:
        failed = [d for d in first if d.error]
        # the second write failed: its batch is refused, and so is the batch staged after it
        # (planned on what the failed one added)
        assert [d for d in failed if str(error) in (d.error or "")]
        assert [d for d in failed if "the commit before it failed" in (d.error or "")]
        # nothing refused was acked beyond what earlier, written batches committed
        for d in failed:
            assert d.acked_end <= d.start
        assert again is not None and not [d for d in again[-len(sids) * FRAMES:] if d.error]
        for k, sid in enumerate(sids):
            n, distinct, ranges = _stored(store, sid)
            total = len(client_lines(k * 100_000, k * 100_000 + LINES))
            assert (n, distinct, ranges) == (LINES, LINES, [(0, total)])
        if isinstance(error, RuntimeError):
            assert adapter.writes >= 3  # the careful commits after it write too
    finally:
        store.close()


def test_a_written_batch_is_acked_before_the_next_batch_is_added(tmp_path: Path) -> None:
    """The step that writes batch A goes on to add batch B (its parse) and write it: A's
    senders hear of A as soon as it is written, not when B is done. With a commit delay
    of 0.5 s before each write, A's ack arrives while B is not written yet (the records
    stored then are A's alone); both are stored once."""
    store = Store(tmp_path / "w.duckdb")
    sids = _sources(store)[:2]
    lines = [client_lines(0, 400), client_lines(1000, 1400)]
    limits = replace(DEFAULT_LIMITS, max_batch_bytes=len(lines[0]))  # one work a batch

    async def go() -> list[tuple[str, int]]:
        writer = Writer(StoreAdapter(store), limits, Metrics(), commit_delay_s=0.5)
        writer.start()
        loop = asyncio.get_running_loop()
        seen: list[tuple[str, int]] = []  # (source, records stored when its ack came)
        futures = []
        for sid, data in zip(sids, lines):
            fut: asyncio.Future[Done] = loop.create_future()
            futures.append(fut)
            writer.submit_nowait(Work(sid, 0, data, final=True, keep_tail=False, on_done=lambda d, fut=fut: (
                seen.append((d.source_id, writer.metrics.records_stored)), fut.set_result(d))))
        dones = await asyncio.gather(*futures)
        assert [d.error for d in dones] == [None, None]
        assert writer.metrics.commits_pipelined == 1  # B was staged while A waited for its write
        await writer.close()
        return seen

    try:
        seen = asyncio.run(go())
        assert seen == [(sids[0], 400), (sids[1], 800)]
        for sid, data in zip(sids, lines):
            assert _stored(store, sid) == (400, 400, [(0, len(data))])
    finally:
        store.close()
