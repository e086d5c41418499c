"""POST /v1/query: ad-hoc SQL while collecting, read-only and bounded; POST /v1/export:
one query's rows as a stream of Arrow IPC for `logship export` (the local token only),
through the same runner without the row and time limits.

Read-only (store/readonly.py, the same guard as offline `logship query`): one statement,
a SELECT by DuckDB's own parser, no function with a side effect in its parse tree, run
inside `BEGIN TRANSACTION READ ONLY` on its own cursor; the database has external access
off and its configuration locked (`lock_down`, once at start-up).

Bounded:
- at most `max_concurrent_queries` execute at once, each on its own cursor in its own
  pool thread; the others wait, at most `query_queue_timeout_s`, then get 503;
- `query_time_limit_s` counts from when the query starts executing: then its cursor is
  interrupted, and again every half second until it has stopped (an interrupt that
  lands between two statements is not lost);
- rows: `query_row_limit` (fetchmany(limit + 1) says whether there was more);
- on shutdown every running query is interrupted and every waiting one answered 503.
Queries run concurrently with the writer (DuckDB MVCC: a query sees the last committed
state, and its read-only transaction never conflicts with the writer's commits).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
from aiohttp import web

from logship.store.arrows import json_marked_reader
from logship.store.errors import QueryError
from logship.store.readonly import check_query, read_only_transaction

from .errors import QueryBusy, QueryRefused
from .metrics import Metrics
from .replies import error_exception, error_reply
from .state import CollectorState

__all__ = ["QueryRunner", "QueryLimits", "handle_query", "handle_export", "ARROW_STREAM"]

log = logging.getLogger("logship.collector.query")

ARROW_STREAM = "application/vnd.apache.arrow.stream"
LOCAL_MAX_ROWS = 10_000_000
# an export stream: rows per Arrow batch, and batches encoded ahead of a slow client
STREAM_BATCH_ROWS = 65_536
STREAM_CHUNKS_AHEAD = 4
# after its time limit a query's cursor is interrupted again this often until it stops
REINTERRUPT_S = 0.5


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


@dataclass(frozen=True)
class QueryLimits:
    """The named query limits of the collector config (docs/protocol.md)."""

    row_limit: int = 10_000
    time_limit_s: float = 10.0
    max_concurrent: int = 2
    queue_timeout_s: float = 10.0
    nice: int = 19


def _lower_priority(nice: int) -> None:
    """Make this (query) thread nicer: on Linux a priority set by thread id is per thread."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError as exc:
        log.warning("cannot lower the priority of a query thread: %s", exc)


class _Running:
    """One executing query: its cursor and when its time is up (set by its own thread)."""

    __slots__ = ("cur", "deadline", "done", "stopped")

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self.cur = cur
        self.deadline: float | None = None
        self.done = False
        self.stopped = False  # a stream's client went away


class _Gone(Exception):
    """A stream's client went away or the collector is shutting down."""


_END = object()  # a stream's last item: all chunks were sent


class _Chunks:
    """A file-like sink for pyarrow's IPC writer whose bytes are taken chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


class QueryRunner:
    def __init__(self, con: duckdb.DuckDBPyConnection, limits: QueryLimits, metrics: Metrics | None = None) -> None:
        self.con = con
        self.limits = limits
        self.metrics = metrics or Metrics()
        self.pool = ThreadPoolExecutor(max_workers=limits.max_concurrent, thread_name_prefix="logship-query",
                                       initializer=_lower_priority, initargs=(limits.nice,))
        self._slots: asyncio.Semaphore | None = None
        self._running: set[_Running] = set()
        self._lock = threading.Lock()  # _running and each cursor's creation (the writer shares con)
        self.closing = False

    # --- the parts that run in a pool thread -----------------------------------------

    def _execute(self, q: _Running, sql: str, limit: int, params: Any, arrow: bool) -> dict[str, Any]:
        cur = q.cur
        t0 = time.monotonic()
        try:
            with read_only_transaction(cur):
                q.deadline = time.monotonic() + self.limits.time_limit_s  # the limit runs from here
                if arrow:
                    # a relation streams Arrow batches without the DB-API result's extra copy
                    reader = json_marked_reader(cur.sql(sql, params=params or None), min(limit + 1, 100_000))
                    batches, n = [], 0
                    for b in reader:
                        batches.append(b)
                        n += b.num_rows
                        if n > limit:
                            break
                    table = pa.Table.from_batches(batches, schema=reader.schema).slice(0, limit)
                    sink = pa.BufferOutputStream()
                    with pa.ipc.new_stream(sink, table.schema) as w:
                        w.write_table(table)
                    return {"arrow": sink.getvalue().to_pybytes(), "truncated": n > limit}
                cur.execute(sql, params) if params else cur.execute(sql)
                columns = [d[0] for d in (cur.description or [])]
                types = [str(d[1]) for d in (cur.description or [])]
                rows = cur.fetchmany(limit + 1)
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            # DuckDB's errors while an Arrow reader pulls batches come through pyarrow (OSError)
            if self.closing:
                raise QueryBusy("the collector is shutting down; the query was stopped") from None
            if isinstance(exc, duckdb.InterruptException) or (q.deadline is not None and time.monotonic() >= q.deadline):
                raise QueryRefused(f"query stopped after its time limit of {self.limits.time_limit_s:g} s "
                                   "(query_time_limit_s)") from None
            raise QueryRefused(f"SQL error: {' '.join(str(exc).split())}") from None
        finally:
            q.done = True
            with self._lock:
                self._running.discard(q)
            cur.close()
        return {"columns": columns, "types": types, "rows": [[_jsonable(v) for v in r] for r in rows[:limit]],
                "truncated": len(rows) > limit, "elapsed_s": round(time.monotonic() - t0, 6)}

    # --- the event loop side ---------------------------------------------------------

    def _watch(self, q: _Running, loop: asyncio.AbstractEventLoop) -> None:
        """Interrupt a query past its deadline (and on shutdown), again until it stops."""
        if q.done:
            return
        now = time.monotonic()
        if self.closing or (q.deadline is not None and now >= q.deadline):
            q.cur.interrupt()
            loop.call_later(REINTERRUPT_S, self._watch, q, loop)
        else:
            wait = REINTERRUPT_S if q.deadline is None else max(0.01, q.deadline - now)
            loop.call_later(wait, self._watch, q, loop)

    async def _admit(self, sql: str) -> tuple[duckdb.DuckDBPyConnection, asyncio.Semaphore]:
        """The statement checked (QueryRefused) and a slot of max_concurrent_queries taken
        (QueryBusy after query_queue_timeout_s): its own cursor and the slot to release."""
        if self.closing:
            raise QueryBusy("the collector is shutting down")
        with self._lock:
            cur = self.con.cursor()
        try:
            check_query(cur, sql)
        except QueryError as exc:
            cur.close()
            raise QueryRefused(str(exc)) from None
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limits.max_concurrent)
        slots = self._slots
        self.metrics.queries_queued += 1
        try:
            await asyncio.wait_for(slots.acquire(), self.limits.queue_timeout_s)
        except TimeoutError:
            cur.close()
            raise QueryBusy(f"{self.limits.max_concurrent} queries are running (max_concurrent_queries); this one "
                            f"waited {self.limits.queue_timeout_s:g} s (query_queue_timeout_s)") from None
        finally:
            self.metrics.queries_queued -= 1
        if self.closing:
            slots.release()
            cur.close()
            raise QueryBusy("the collector is shutting down")
        return cur, slots

    def _start(self, cur: duckdb.DuckDBPyConnection, slots: asyncio.Semaphore, work: Any, *args: Any,
               ) -> tuple[_Running, asyncio.Future[Any]]:
        """Run ``work(q, *args)`` in a pool thread; the slot is free when the thread is."""
        q = _Running(cur)
        with self._lock:
            self._running.add(q)
        self.metrics.queries_running += 1
        loop = asyncio.get_running_loop()

        def finished(_: Any) -> None:  # not when the caller gives up
            self.metrics.queries_running -= 1
            slots.release()

        fut = loop.run_in_executor(self.pool, work, q, *args)
        fut.add_done_callback(finished)
        self._watch(q, loop)
        return q, fut

    async def run(self, sql: str, limit: int | None = None, params: Any = None, arrow: bool = False,
                  max_rows: int | None = None) -> dict[str, Any]:
        cur, slots = await self._admit(sql)
        cap = max_rows or self.limits.row_limit
        limit = min(limit or cap, cap)
        q, fut = self._start(cur, slots, self._execute, sql, limit, params, arrow)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            q.cur.interrupt()
            raise

    async def stream(self, sql: str, params: Any = None) -> AsyncIterator[bytes]:
        """One read-only query as the chunks of an Arrow IPC stream (`logship export`).

        The same check, slots, niced pool threads and read-only transaction as `run`,
        without the row limit and the time limit (an export of a big table takes what it
        takes, as it would offline). At most STREAM_CHUNKS_AHEAD chunks wait for the
        client; when the client goes away or the collector shuts down the query stops.
        """
        cur, slots = await self._admit(sql)
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[Any] = asyncio.Queue()
        credit = threading.Semaphore(STREAM_CHUNKS_AHEAD)
        q, fut = self._start(cur, slots, self._produce, sql, params, loop, out, credit)
        try:
            while True:
                item = await out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                credit.release()
                yield item
        finally:
            if not q.done:
                q.stopped = True
                q.cur.interrupt()

    def _produce(self, q: _Running, sql: str, params: Any, loop: asyncio.AbstractEventLoop,
                 out: asyncio.Queue[Any], credit: threading.Semaphore) -> None:
        """Pool thread of `stream`: batches into IPC chunks into ``out``, bounded by ``credit``."""
        cur = q.cur
        sink = _Chunks()

        def put(chunk: bytes) -> None:
            if not chunk:
                return
            while not credit.acquire(timeout=REINTERRUPT_S):
                if q.stopped or self.closing:
                    raise _Gone
            loop.call_soon_threadsafe(out.put_nowait, chunk)

        last: Any = _END
        try:
            with read_only_transaction(cur):
                reader = json_marked_reader(cur.sql(sql, params=params or None), STREAM_BATCH_ROWS)
                with pa.ipc.new_stream(sink, reader.schema) as w:
                    put(sink.take())
                    for batch in reader:
                        if q.stopped or self.closing:
                            raise _Gone
                        w.write_batch(batch)
                        put(sink.take())
                put(sink.take())  # the end-of-stream marker
        except _Gone:
            last = QueryBusy("the collector is shutting down; the export was stopped")
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            # DuckDB's errors while an Arrow reader pulls batches come through pyarrow (OSError)
            if q.stopped or self.closing:  # our own interrupt
                last = QueryBusy("the collector is shutting down; the export was stopped")
            else:
                last = QueryRefused(f"SQL error: {' '.join(str(exc).split())}")
        except Exception as exc:  # noqa: BLE001 - the client must hear of it, not wait forever
            log.exception("export stream failed")
            last = QueryRefused(f"export failed: {' '.join(str(exc).split())}")
        finally:
            q.done = True
            with self._lock:
                self._running.discard(q)
            cur.close()
        if not loop.is_closed():
            loop.call_soon_threadsafe(out.put_nowait, last)  # the last word skips the credit

    async def stop(self, timeout: float = 5.0) -> None:
        """Refuse new queries, interrupt the running ones and wait (bounded) for their threads."""
        self.closing = True
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                running = list(self._running)
            if not running:
                return
            if time.monotonic() >= deadline:
                log.warning("%d queries did not stop within %g s of their interrupt", len(running), timeout)
                return
            for q in running:
                q.cur.interrupt()
            await asyncio.sleep(0.05)

    def close(self) -> None:
        self.closing = True
        self.pool.shutdown(wait=True, cancel_futures=True)


async def _query_body(request: web.Request) -> tuple[str, list | dict | None, dict[str, Any]] | None:
    """(sql, params, body) of a /v1/query or /v1/export JSON body, or None when it is not one."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("sql"), str):
        return None
    params = body.get("params")
    return body["sql"], params if isinstance(params, (list, dict)) else None, body


def _refusal(state: CollectorState, path: str, exc: QueryRefused | QueryBusy) -> web.Response:
    """The answer to a statement the runner refused (400) or had no slot for (503)."""
    if isinstance(exc, QueryBusy):
        state.metrics.http_requests[f"{path} 503"] += 1
        return error_reply(503, "query_busy", str(exc), retry_after=1)
    state.metrics.http_requests[f"{path} 400"] += 1
    return error_reply(400, "query_refused", str(exc))


async def handle_query(request: web.Request) -> web.Response:
    """POST /v1/query {"sql": "...", "limit": N?} with an admin token."""
    state: CollectorState = request.app["state"]
    local = state.require_admin(request)
    parsed = await _query_body(request)
    if parsed is None:
        raise error_exception(web.HTTPBadRequest, "bad_request", 'expected a JSON body {"sql": "SELECT ..."}')
    sql, params, body = parsed
    limit = body.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        limit = None
    arrow = ARROW_STREAM in request.headers.get("Accept", "")
    runner: QueryRunner = request.app["query"]
    try:
        # the local token (same user as the db file) may fetch whole results, like a local query
        out = await runner.run(sql, limit, params, arrow, max_rows=LOCAL_MAX_ROWS if local else None)
    except (QueryRefused, QueryBusy) as exc:
        return _refusal(state, "/v1/query", exc)
    state.metrics.http_requests["/v1/query 200"] += 1
    if arrow:
        return web.Response(body=out["arrow"], content_type=ARROW_STREAM,
                            headers={"Logship-Truncated": "1" if out["truncated"] else "0"})
    return web.json_response(out)


async def handle_export(request: web.Request) -> web.StreamResponse:
    """POST /v1/export {"sql": "SELECT ...", "params": ...} with the local token: the rows
    as one Arrow IPC stream, all of them (`logship export` while the collector runs).

    A failure before the first byte is a JSON error like /v1/query's; a failure after it
    cuts the connection without the chunked body's end, so the client cannot mistake a
    cut stream for a whole one.
    """
    state: CollectorState = request.app["state"]
    if not state.require_admin(request):
        state.metrics.error("forbidden")
        return error_reply(403, "forbidden", "export needs the local token of <db>.collector.json "
                           "(use /v1/query with an admin token)")
    parsed = await _query_body(request)
    if parsed is None:
        return error_reply(400, "bad_request", 'expected a JSON body {"sql": "SELECT ..."}')
    sql, params, _ = parsed
    runner: QueryRunner = request.app["query"]
    chunks = runner.stream(sql, params)
    try:
        first = await anext(chunks)
    except (QueryRefused, QueryBusy) as exc:
        return _refusal(state, "/v1/export", exc)
    state.metrics.http_requests["/v1/export 200"] += 1
    resp = web.StreamResponse(headers={"Content-Type": ARROW_STREAM})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        await resp.write(first)
        async for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
    except ConnectionError:
        log.debug("an export's client went away")  # its query was stopped (stream's finally)
    except (QueryRefused, QueryBusy) as exc:
        log.warning("export stopped after its start: %s", exc)
        if request.transport is not None:
            request.transport.abort()  # no end of the chunked body: the client sees the cut
    finally:
        await chunks.aclose()
    return resp
