"""The one writer: a byte-bounded queue in front of the only DuckDB connection.

Connections never touch the database. They hand `Work` (raw bytes of one source at an
offset) to `Writer.submit*`; the writer coroutine takes as much as fits in
max_batch_bytes, runs the batch in its own thread (parsing and DuckDB inserts release
the GIL, so the event loop keeps reading sockets), and reports a `Done` per work item
after the commit, which is when acks may be sent.

Multi-line entries and partial lines: the store commits only up to the start of an
unfinished entry (IngestResult.committed_end). What lies beyond stays here, in a
pending segment per source, until more bytes of that source arrive, the source ends
(FINAL), or multiline_flush_s passes without new bytes. Pending bytes are never acked,
so a collector that dies loses nothing: the shipper resends from its last ack.

A failed commit is never acked (Done.error). When the store itself cannot commit (disk
full, I/O error, invalidated database: StoreUnavailable) the writer refuses all work at
once until a backoff has passed, then reopens the database if needed and probes the disk
(StoreHealth). Each sender's ordered stream of works (a Lane: a stream sid, an HTTP
body) is cut at its first failure: later works of that lane would leave a hole before
them, so they are refused too until the sender resends from where it failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from logship.kernel.protocol import Limits

from logship.store.item import Item
from logship.store.segments import iter_segments

from .health import PROBE_BYTES, StoreHealth
from .metrics import Metrics
from .storeport import StorePort, StoreUnavailable

__all__ = ["Work", "Done", "Writer", "Lane"]

log = logging.getLogger("logship.collector.writer")

# one Item parses at most about this much (a group commit holds many):
# parsed records are Python objects, so this bounds the writer's transient memory
PARSE_PIECE_BYTES = 1 << 20


@dataclass(slots=True)
class Done:
    """What happened to one work item (or a flush of a pending tail): sent back on the loop."""

    source_id: str
    start: int
    end: int                # end of the work's byte span
    acked_end: int          # bytes of the span before this offset are committed
    nbytes: int             # payload bytes the work held (credit to return)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    lines: int = 0
    records: int = 0
    rejects: int = 0
    error: str | None = None


DoneCallback = Callable[[Done], None]


class Lane:
    """One sender's works of one source, in offset order (a stream sid, an HTTP body).

    `broken_at`: the lane's first uncommitted offset after a failed commit. Committing a
    later work of the lane would leave a hole before it (and, mid-line, store half a
    line), so such works are refused until one starts at or before `broken_at`."""

    __slots__ = ("broken_at", "__weakref__")

    def __init__(self) -> None:
        self.broken_at: int | None = None

    def cut(self, offset: int) -> None:
        self.broken_at = offset if self.broken_at is None else min(self.broken_at, offset)

    def admits(self, start: int) -> bool:
        """May a work starting at `start` be committed? (A resend from the cut heals it.)"""
        if self.broken_at is None:
            return True
        if start <= self.broken_at:
            self.broken_at = None
            return True
        return False


@dataclass(slots=True)
class Work:
    """Raw bytes of one source at an offset, from a stream frame or an HTTP body chunk.

    `span` is set for a TRUNCATED line: the payload holds its start, the line covers
    `span` bytes of the source (it becomes one `line_too_long` reject).
    """

    source_id: str
    start: int
    data: bytes
    kind: str = "live"
    final: bool = False
    span: int | None = None
    on_done: DoneCallback | None = None
    # called later when a pending tail of this source is flushed on its own
    on_flush: DoneCallback | None = None
    # stream frames keep an unfinished tail pending here; HTTP bodies carry their own
    keep_tail: bool = True
    lane: Lane | None = None
    # /v1/lines bodies: when they came, standing in for entries without a time (Item.received_at)
    received_at: float | None = None
    # the source's stream ends here (a FINAL frame, a final body): Item.eof
    eof: bool = False
    # a `head:` format's entry-head pattern: pieces are cut only before a head line
    head: re.Pattern[bytes] | None = None

    @property
    def end(self) -> int:
        return self.start + (self.span if self.span is not None else len(self.data))


@dataclass(slots=True)
class _Segment:
    """Uncommitted bytes of a source: contiguous, starting at a line boundary."""

    start: int
    data: bytearray
    final: bool
    touched: float
    kind: str
    on_flush: DoneCallback | None
    keep_tail: bool = True
    lane: Lane | None = None
    received_at: float | None = None
    eof: bool = False
    head: re.Pattern[bytes] | None = None

    @classmethod
    def of(cls, work: Work, now: float) -> _Segment:
        """A new segment holding one work's bytes and what travels with them."""
        return cls(work.start, bytearray(work.data), work.final, now, work.kind,
                   work.on_flush if work.keep_tail else None, work.keep_tail, work.lane,
                   work.received_at, work.eof, work.head)

    @property
    def end(self) -> int:
        return self.start + len(self.data)


@dataclass(slots=True)
class _Staged:
    """A batch between its staging and its write (``Writer._step``)."""

    batch: list[Work]
    t0: float
    work_seg: list[_Segment | None]
    refused: dict[int, str]
    touched: dict[int, tuple[str, _Segment]]
    # where each touched segment started before this batch: a failed write answers from there
    starts: dict[int, int]
    frontier: dict[int, int] = field(default_factory=dict)
    calls: list[Item] = field(default_factory=list)
    units: list[tuple[str, _Segment | None, bool]] = field(default_factory=list)  # (source, segment, last piece)
    commit: Any = None  # the store's staged commit; None: committed the careful way
    unavailable: StoreUnavailable | None = None
    pipelined: bool = False  # staged while the batch before it waited for its write
    dones: list[tuple[DoneCallback | None, Done]] = field(default_factory=list)
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # lines, records, rejects, future


# after a write that failed for a reason other than the store (a bug, a value DuckDB
# refuses), this many commits go the careful way: item by item when the group fails
CAREFUL_COMMITS = 3


class Writer:
    """Owns the queue, the pending tails and the thread that owns the store."""

    def __init__(self, store: StorePort, limits: Limits, metrics: Metrics,
                 commit_delay_s: float = 0.0, retry_s: float = 0.5, retry_max_s: float = 10.0) -> None:
        self.store = store
        self.health = StoreHealth(retry_s=retry_s, retry_max_s=retry_max_s)
        metrics.store_health = self.health   # /metrics reads the health, no copy to keep in step
        self._unavailable: StoreUnavailable | None = None  # set by _commit (writer thread)
        self.limits = limits
        self.metrics = metrics
        self.commit_delay_s = commit_delay_s
        self._queue: deque[Work] = deque()
        self.queued_bytes = 0
        self._pending: dict[str, list[_Segment]] = {}
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._closing = False
        self._exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logship-writer")
        # writer thread only: the batch added and waiting for its write, the commits left
        # to go the careful way; dones made in that thread wait in _out for the loop
        self._ready: _Staged | None = None
        self._careful = 0
        self._flush_error: StoreUnavailable | None = None  # why the last _flush_ready failed (a store outage)
        self._out: deque[tuple[DoneCallback | None, Done]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start()
        self.space_listeners: list[Callable[[], None]] = []

    # --- producers (event loop) -------------------------------------------------

    @property
    def full(self) -> bool:
        return self.queued_bytes >= self.limits.queue_bytes

    def submit_nowait(self, work: Work) -> None:
        """Queue a stream frame. Never waits: credit already bounds what streams send."""
        if self._closing:
            raise RuntimeError("writer is shutting down")
        n = len(work.data)
        self._queue.append(work)
        self.queued_bytes += n
        self.metrics.queue_bytes = self.queued_bytes
        if self.full:
            self._space.clear()
        self._wakeup.set()

    async def submit(self, work: Work) -> None:
        """Queue an HTTP body chunk, waiting while the queue is full (TCP pushes back)."""
        while self.full and self._queue:
            self._space.clear()
            await self._space.wait()
        self.submit_nowait(work)

    async def submit_wait(self, work: Work) -> Done:
        """Queue and wait for the commit."""
        fut: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        work.on_done = lambda d: fut.done() or fut.set_result(d)
        await self.submit(work)
        return await fut

    async def run_in_thread(self, fn: Callable[..., Any], *args: Any, flush: bool = True) -> Any:
        """Run fn on the writer's thread, between batches (resolving sources, remote ingest).

        ``flush``: the batch added and waiting for its write (``_step``) is written
        first, so that fn sees and changes the store as committed (jobs: ingest, prune).
        A read of a source that the caller alone appends to (it holds the source's lock
        until its commit is answered) may go before it: ``flush=False``.

        While the store cannot commit this raises StoreUnavailable at once (only the
        writer loop tries the store again, after its backoff)."""
        if self.health.failing:
            raise StoreUnavailable(self._refusal())

        def after_the_batch_waiting() -> Any:
            if flush and not self._flush_ready():
                raise self._flush_error or RuntimeError("the commit before this one failed; try again")
            return fn(*args)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._exec, after_the_batch_waiting)
        except StoreUnavailable as exc:
            self._store_failed(exc)
            raise
        finally:
            self._deliver_out()

    def _refusal(self) -> str:
        left = max(0.0, self.health.retry_at - time.monotonic())
        return f"{self.health.error} (not committed; next try in {left:.1f} s: resend from your last ack)"

    def _store_failed(self, exc: StoreUnavailable) -> None:
        was = self.health.failing
        self.health.failed(str(exc), exc.fatal)
        if not was:
            log.error("the store cannot commit; refusing work until it can: %s", exc)
        self._wakeup.set()

    # --- the writer loop -------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="logship-writer")

    @property
    def closed(self) -> bool:
        return self._closing and (self._task is None or self._task.done())

    async def close(self) -> None:
        """Commit what is queued (and deliver its acks), then stop the thread."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None and not self._task.done():
            await self._task
        self._exec.shutdown(wait=True)

    def _next_deadline(self) -> float | None:
        if self.health.failing:
            return self.health.retry_at  # pending tails wait too; the next try is the deadline
        touched = [seg.touched for segs in self._pending.values() for seg in segs]
        return min(touched) + self.limits.multiline_flush_s if touched else None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue and self._ready is None:
                if self._closing:
                    break
                deadline = self._next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                self._wakeup.clear()
                if timeout is None or timeout > 0:
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), timeout)
                    except TimeoutError:
                        pass
            if self.health.failing and self._ready is not None:
                # (a job or a read met the outage) the batch waiting is answered first
                await self._in_thread([], self._flush_ready)
            if self.health.due():
                await loop.run_in_executor(self._exec, self._recover)
                if not self.health.failing:
                    log.warning("the store commits again (%d reopen(s) so far)", self.health.reopens)
            batch = self._take_batch()
            if self.health.failing:
                self._deliver(self._refuse(batch, self._refusal()))
                continue
            if not batch and not self._due_segments(time.monotonic()):
                if self._ready is not None:  # nothing more came: write the batch waiting
                    await self._in_thread(batch, self._flush_ready)
                continue
            await self._in_thread(batch, self._step, batch)
        # shutdown: everything queued is committed and acked; unfinished entries stay
        # pending and unacked (the shipper resends them to the next collector)

    async def _in_thread(self, batch: list[Work], fn: Callable[..., Any], *args: Any) -> None:
        """Run a step of the writer thread; deliver the dones it made (``batch``: the
        works to refuse if the step fails with a bug)."""
        self._unavailable = None
        try:
            await asyncio.get_running_loop().run_in_executor(self._exec, fn, *args)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop all commits: fail this batch
            log.exception("group commit failed")
            self._out.extend(self._refuse(batch, f"{type(exc).__name__}: {exc}"))
        if self._unavailable is not None:
            self._store_failed(self._unavailable)
        self._deliver_out(always=True)

    def _deliver_out(self, always: bool = False) -> None:
        """Deliver the dones the writer thread made (on the loop)."""
        dones = []
        while self._out:
            dones.append(self._out.popleft())
        if dones or always:
            self._deliver(dones)

    def _take_batch(self) -> list[Work]:
        batch: list[Work] = []
        size = 0
        while self._queue:
            n = len(self._queue[0].data)
            if batch and size + n > self.limits.max_batch_bytes:
                break
            batch.append(self._queue.popleft())
            size += n
        self.queued_bytes -= size
        self.metrics.queue_bytes = self.queued_bytes
        if not self.full:
            self._space.set()
        return batch

    def _refuse(self, batch: list[Work], error: str) -> list[tuple[DoneCallback | None, Done]]:
        """Fail works without trying the store: nothing acked, each lane cut at its work."""
        out: list[tuple[DoneCallback | None, Done]] = []
        for w in batch:
            if w.lane is not None:
                w.lane.cut(w.start)
                # the lane's unacked tail that this work continues goes too: flushed on its
                # own later it would end an entry the refused work may continue
                for seg in list(self._pending.get(w.source_id, [])):
                    if seg.lane is w.lane and seg.end >= w.start:
                        w.lane.cut(seg.start)
                        self._drop(w.source_id, seg)
            out.append((w.on_done, Done(w.source_id, w.start, w.end, w.start, len(w.data), error=error)))
        return out

    def _recover(self) -> None:
        """In the writer thread, when a failing store is due for a try: reopen it if a
        fatal error invalidated it, then probe the disk under it."""
        try:
            if self.health.needs_reopen:
                self.store.reopen()
                self.health.needs_reopen = False
                self.health.reopens += 1
            self.store.probe(PROBE_BYTES)
        except StoreUnavailable as exc:
            self.health.failed(str(exc), exc.fatal)
            log.warning("the store still cannot commit (try %d): %s", self.health.failures, exc)
            return
        self.health.recovered(committed=False)

    def _due_segments(self, now: float) -> bool:
        deadline = self._next_deadline()
        return deadline is not None and deadline <= now

    def _deliver(self, dones: list[tuple[DoneCallback | None, Done]]) -> None:
        for cb, done in dones:
            if cb is None:
                continue
            try:
                cb(done)
            except Exception:  # a callback of a closed connection must not stop the writer
                log.exception("done callback for source %s failed", done.source_id)
        for listener in list(self.space_listeners):
            listener()

    # --- inside the writer thread ------------------------------------------------

    def _step(self, batch: list[Work]) -> None:
        """One batch, pipelined with the one before it (writer thread).

        The batch is staged (merged into pending segments, planned, its context-free
        items handed to the parse workers) BEFORE the previous batch, added and waiting
        in ``_ready``, is written: the workers parse this batch while DuckDB writes that
        one. Then this batch is added and waits in its turn; it is written at once when
        nothing else is queued. Its dones go out only after its write."""
        staged = self._stage(batch)
        if self._ready is not None and not self._flush_ready():
            # the batch before failed to commit: this one was planned on what it added
            if staged.commit is not None:
                staged.commit.cancel()
            self.store.forget_parsers()
            self._out.extend(self._refuse(batch, "not committed: the commit before it failed; "
                                                 "resend from your last ack"))
            return
        self._finish(staged)
        if not self._queue:
            self._flush_ready()

    def _stage(self, batch: list[Work]) -> _Staged:
        """Merge the batch into pending segments and cut what can be committed into
        items; plan them on the batch waiting to be written (``_ready``) and start their
        parse, unless this batch must be committed the careful way (``_finish``)."""
        t0 = time.monotonic()
        now = time.monotonic()
        touched: dict[int, tuple[str, _Segment]] = {}
        work_seg: list[_Segment | None] = []
        truncated: list[Work] = []
        refused: dict[int, str] = {}  # index in batch -> why (its lane was cut before it)
        for i, work in enumerate(batch):
            if work.lane is not None and not work.lane.admits(work.start):
                refused[i] = (f"not committed: an earlier commit of this sid failed at offset {work.lane.broken_at}; "
                              "resend from your last ack")
                work_seg.append(None)
                continue
            if work.span is not None:
                # a line too long ends whatever entry was before it
                for seg in self._pending.get(work.source_id, []):
                    if seg.end == work.start:
                        seg.final = True
                        touched[id(seg)] = (work.source_id, seg)
                work_seg.append(None)
                truncated.append(work)
                continue
            seg = self._merge(work, now)
            touched[id(seg)] = (work.source_id, seg)
            work_seg.append(seg)
        for src, segs in self._pending.items():
            for seg in segs:
                if now - seg.touched >= self.limits.multiline_flush_s:
                    seg.final = True  # no new lines for a while: the entry is complete
                    touched.setdefault(id(seg), (src, seg))

        staged = _Staged(batch, t0, work_seg, refused, touched, {id(seg): seg.start for _, seg in touched.values()})
        frontier, calls, units = staged.frontier, staged.calls, staged.units
        for src, seg in touched.values():
            data = bytes(seg.data)
            if not seg.final:
                if len(data) > self.limits.max_batch_bytes + self.limits.max_line_bytes:
                    seg.final = True  # an entry that never ends: commit it rather than hold it forever
                else:
                    data = data[:data.rfind(b"\n") + 1]  # partial last line waits for its rest
            if not data:
                if not seg.data:
                    frontier[id(seg)] = seg.start
                    self._drop(src, seg)  # nothing held (an empty FINAL frame, say)
                continue
            # parse in pieces cut at entry boundaries (bounded memory), all in this one
            # transaction; only the last piece may end in an unfinished entry
            if len(data) <= min(PARSE_PIECE_BYTES, self.limits.max_line_bytes):
                pieces = [Item(src, seg.start, data, seg.final, seg.kind)]  # no line in it can be over-long
            else:
                pieces = list(iter_segments(io.BytesIO(data), PARSE_PIECE_BYTES, self.limits.max_line_bytes,
                                            start=seg.start, source_id=src, kind=seg.kind, head=seg.head))
                if not seg.final:  # only the last piece may end in an unfinished entry
                    pieces[-1] = replace(pieces[-1], final=False)
            if seg.received_at is not None or seg.eof:
                last = len(pieces) - 1
                pieces = [replace(p, received_at=seg.received_at, eof=seg.eof and seg.final and i == last)
                          for i, p in enumerate(pieces)]
            for i, p in enumerate(pieces):
                calls.append(p)
                units.append((src, seg, i == len(pieces) - 1))
        for work in truncated:
            calls.append(Item(work.source_id, work.start, work.data, True, work.kind, work.span))
            units.append((work.source_id, None, True))
        if calls and not self._careful:
            base = self._ready.commit if self._ready is not None else None
            try:
                staged.commit = self.store.stage(calls, base)
                staged.pipelined = base is not None and staged.commit is not None
            except StoreUnavailable as exc:
                self._unavailable = exc
                staged.unavailable = exc
            except Exception as exc:  # noqa: BLE001 - committed the careful way, which isolates it
                log.warning("staging a commit of %d items failed (%s); committing them one by one", len(calls), exc)
        return staged

    def _finish(self, staged: _Staged) -> None:
        """Add the staged batch (its workers' results, in order) and say for every work
        how far its bytes will be committed: it waits in ``_ready`` for its write. A batch
        not staged (careful, or after a failure) is committed here the careful way
        (StorePort.ingest_many: isolated item by item if the group fails) and answered."""
        calls = staged.calls
        if staged.commit is not None:
            try:
                results = self.store.finish(staged.commit)
            except StoreUnavailable as exc:
                self._unavailable = exc  # _run marks the store as failing
                self._answered(staged, [exc] * len(calls))
                return
            except Exception as exc:  # noqa: BLE001 - nothing was written: commit it the careful way
                log.warning("a staged commit of %d items failed (%s); committing them one by one", len(calls), exc)
            else:
                self._answer(staged, results)
                self._ready = staged
                return
        if staged.unavailable is not None:
            self._answered(staged, [staged.unavailable] * len(calls))
        else:
            self._answered(staged, self._commit_carefully(calls))

    def _commit_carefully(self, calls: list[Item]) -> list[Any]:
        """The items committed now, in one group or item by item (StorePort.ingest_many)."""
        if not calls:
            return []
        if self._careful:
            self._careful -= 1
        try:
            results = self.store.ingest_many(calls)
        except StoreUnavailable as exc:
            self._unavailable = exc  # _run marks the store as failing
            return [exc] * len(calls)
        if self._unavailable is None:
            self.health.recovered()
        return results

    def _answered(self, staged: _Staged, results: list[Any]) -> None:
        """A batch committed (or refused) without waiting in ``_ready``: its dones go out."""
        self._answer(staged, results)
        self._count(staged)
        self._out.extend(staged.dones)

    def _answer(self, staged: _Staged, results: list[Any]) -> None:
        """Move the pending segments on by the results and build every work's Done."""
        batch, units, work_seg, touched, frontier = (staged.batch, staged.units, staged.work_seg, staged.touched,
                                                     staged.frontier)
        errors: dict[str, str] = {}
        ranges: dict[str, list[tuple[int, int]]] = {}
        stats: dict[int, list[int]] = {}
        failed: set[int] = set()
        counts = staged.counts
        for (src, seg, last), res in zip(units, results):
            if isinstance(res, BaseException):
                errors[src] = f"{type(res).__name__}: {res}"
                if self._unavailable is None:  # a store outage is logged once, by _run
                    log.error("ingest of source %s failed: %s", src, errors[src])
                if seg is not None:
                    failed.add(id(seg))
            else:
                ranges[src] = list(res.ranges)
                counts[0] += res.lines
                counts[1] += res.records
                counts[2] += res.rejects
                counts[3] += res.future
                if seg is not None:
                    acc = stats.setdefault(id(seg), [0, 0, 0])
                    acc[0] += res.lines
                    acc[1] += res.records
                    acc[2] += res.rejects
            if seg is None or not last:
                continue
            if id(seg) in failed:
                frontier[id(seg)] = seg.start
                self._drop(src, seg)  # unacked: the sender resends it
                continue
            committed_to = seg.end if seg.final else max(seg.start, min(res.committed_end, seg.end))
            del seg.data[:committed_to - seg.start]
            seg.start = committed_to
            frontier[id(seg)] = seg.start
            if seg.final or not seg.data or not seg.keep_tail:
                self._drop(src, seg)

        dones = staged.dones
        refused = staged.refused
        last_of_seg = {id(seg): i for i, seg in enumerate(work_seg) if seg is not None}
        for i, (work, seg) in enumerate(zip(batch, work_seg)):
            if i in refused:
                dones.append((work.on_done, Done(work.source_id, work.start, work.end, work.start, len(work.data),
                                                 error=refused[i])))
                continue
            err = errors.get(work.source_id)
            if seg is None:
                acked = work.start if err else work.end
            else:
                acked = min(work.end, frontier.get(id(seg), seg.start))
            done = Done(work.source_id, work.start, work.end, acked, len(work.data),
                        ranges.get(work.source_id, []), error=err)
            acc = stats.get(id(seg)) if seg is not None and last_of_seg.get(id(seg)) == i else None
            if seg is None and not err:
                done.lines, done.rejects = 1, 1
            if acc is not None:
                done.lines, done.records, done.rejects = acc
            if err and work.lane is not None:
                work.lane.cut(acked)  # nothing of this lane after `acked` may be committed before a resend
            dones.append((work.on_done, done))
        # a pending tail flushed on its own: tell the last sender of that source
        in_batch = {id(seg) for seg in work_seg if seg is not None}
        for src, seg in touched.values():
            if id(seg) not in in_batch and seg.on_flush is not None:
                end = frontier.get(id(seg), seg.start)
                if errors.get(src) and seg.lane is not None:
                    seg.lane.cut(end)
                dones.append((seg.on_flush, Done(src, end, end, end, 0, ranges.get(src, []),
                                                 error=errors.get(src))))

    def _count(self, staged: _Staged) -> None:
        """A written batch's lines, records, rejects and future dates in /metrics."""
        lines, records, rejects, future = staged.counts
        m = self.metrics
        m.lines_stored += lines
        m.records_stored += records
        m.rejects += rejects
        m.future_dated += future
        m.commits_pipelined += staged.pipelined
        m.observe_commit(time.monotonic() - staged.t0)

    def _flush_ready(self) -> bool:
        """Write the batch waiting in ``_ready`` (writer thread); its dones go out. False
        when the write failed: the batch is answered as not committed."""
        staged, self._ready = self._ready, None
        self._flush_error = None
        if staged is None:
            return True
        if self.commit_delay_s:
            time.sleep(self.commit_delay_s)
        try:
            self.store.write(staged.commit)
        except StoreUnavailable as exc:
            self._unavailable = self._flush_error = exc  # _run marks the store as failing
            self._fail(staged, f"{type(exc).__name__}: {exc}")
            return False
        except Exception as exc:  # noqa: BLE001 - answered as not committed; the resend goes the careful way
            log.error("group commit of %d items failed (%s); the next commits go item by item",
                      len(staged.calls), exc)
            self._careful = CAREFUL_COMMITS
            self._fail(staged, f"{type(exc).__name__}: {exc}")
            return False
        self.health.recovered()
        self._count(staged)
        self._out.extend(staged.dones)
        self._hand_over()
        return True

    def _fail(self, staged: _Staged, error: str) -> None:
        """A staged batch whose write failed: nothing of it is acked. Its pending segments
        moved on when it was added; they go (the senders resend from their last ack) and
        every lane is cut where its segment started before this batch."""
        dones: list[tuple[DoneCallback | None, Done]] = []
        for work, seg in zip(staged.batch, staged.work_seg):
            acked = work.start if seg is None else min(work.end, staged.starts.get(id(seg), work.start))
            if work.lane is not None:
                work.lane.cut(acked)
            dones.append((work.on_done, Done(work.source_id, work.start, work.end, acked, len(work.data), error=error)))
        in_batch = {id(seg) for seg in staged.work_seg if seg is not None}
        for src, seg in staged.touched.values():
            start = staged.starts[id(seg)]
            if seg.lane is not None:
                seg.lane.cut(start)
            self._drop(src, seg)
            if id(seg) not in in_batch and seg.on_flush is not None:
                dones.append((seg.on_flush, Done(src, start, start, start, 0, error=error)))
        self._out.extend(dones)

    def _hand_over(self) -> None:
        """(writer thread) A written batch's dones go to the loop now, not when the step
        ends: the step that writes one batch goes on to add the next (its parse: ~0.1 s
        for a few MiB), and the first batch's senders would wait for that too. (A failed
        batch's dones wait for the step's end: the loop marks the store as failing first,
        so that no sender hears of the failure before the writer refuses work.)"""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile: nobody left to tell
                self._loop.call_soon_threadsafe(self._deliver_out)

    def _drop(self, src: str, seg: _Segment) -> None:
        segs = self._pending.get(src)
        if segs and seg in segs:
            segs.remove(seg)
            if not segs:
                del self._pending[src]

    def _merge(self, work: Work, now: float) -> _Segment:
        """Join the work to the pending segment it touches or overlaps (same bytes: same offsets)."""
        if not work.keep_tail:
            # an HTTP body piece: cut at entry boundaries by its reader, committed on its own
            return _Segment.of(work, now)
        segs = self._pending.setdefault(work.source_id, [])
        ws, we, data = work.start, work.end, work.data
        hit = [s for s in segs if s.start <= we and ws <= s.end]
        if not hit:
            seg = _Segment.of(work, now)
            segs.append(seg)
            segs.sort(key=lambda s: s.start)
            return seg
        seg = hit[0]
        for other in hit[1:]:
            self._union(seg, other.start, bytes(other.data))
            seg.final |= other.final
            segs.remove(other)
        self._union(seg, ws, data)
        seg.final |= work.final
        seg.eof |= work.eof
        seg.touched = now
        seg.kind = work.kind
        seg.keep_tail = work.keep_tail
        if work.on_flush is not None:
            seg.on_flush = work.on_flush
        if work.lane is not None:
            seg.lane = work.lane
        return seg

    @staticmethod
    def _union(seg: _Segment, ws: int, data: bytes) -> None:
        s, e, we = seg.start, seg.end, ws + len(data)
        if ws <= s:
            tail = seg.data[we - s:] if e > we else b""
            seg.data = bytearray(data) + tail
            seg.start = ws
        elif we > e:
            seg.data += data[e - ws:]
