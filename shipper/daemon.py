"""The shipper daemon: tail files, stream complete lines, checkpoint acked ranges.

One asyncio loop, three tasks:

- *housekeeping*: drains discovery events (watchdog + slow poll), runs the tailer's
  refresh/scan, mirrors sources into the state, applies approvals, deletes old fully
  acked rotated files when configured, and writes state.json and status.json at most
  once a second. It runs whether or not the collector is reachable.
- *connection*: connects to /v1/stream with exponential backoff and jitter (never gives
  up), says hello, opens every source, and sends frames while it holds credit: never
  more in flight than granted, and nothing read ahead of what it sends. Offsets advance
  only on the collector's acks; ``opened{ranges}`` replaces the local ranges.
- *backlog*: uploads approved backlog segments through POST /v1/backlog, gzip-compressed,
  in pieces cut at line boundaries.

Memory stays flat however far behind the shipper is: in-flight frames are not kept (a
reconnect re-reads from the acked offset), and the state holds only ranges.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp

from logship.shipper.ask import RETRY_AFTER_FAILURE_S, Question, run_ask
from logship.shipper.backlog import Approvals, read_approvals, split_backlog
from logship.shipper.client import CollectorRefused, ConnectionLost, StreamClient, post_backlog
from logship.shipper.config import ConfigError, ShipperConfig
from logship.shipper.discovery import Discovery
from logship.shipper.heads import compile_head, head_line_at_or_after
from logship.kernel.zones import local_zone
from logship.kernel.protocol import DataFrame, read_slow_down
from logship.shipper.state import ShipperState, SourceState, add_range, covered, first_gap
from logship.shipper.status import StatusWriter
from logship.shipper.tail import Reader, Source, Tailer

__all__ = ["Shipper", "run_shipper", "exec_daemon", "main", "check_connection"]

log = logging.getLogger("logship.shipper")

_BACKLOG_BLOCK = 256 << 10
_FORGET_DONE_AFTER_S = 7 * 86400   # completed sources with no file left are forgotten after a week


@dataclass
class _Open:
    """A source opened on the current connection."""

    sid: int
    src: Source
    st: SourceState
    opened: bool = False
    send_from: int = 0        # next offset to send
    final_end: int | None = None  # end offset of the FINAL frame, once sent
    collector_id: str = ""


@dataclass
class _Conn:
    client: StreamClient
    credit: int
    by_sid: dict[int, _Open] = field(default_factory=dict)
    by_src: dict[int, _Open] = field(default_factory=dict)   # id(Source) -> _Open
    next_sid: int = 1


# a lower slow-down factor from the collector takes effect after this long without a higher one
SLOW_DOWN_HOLD_S = 3.0


class Shipper:
    """The daemon. ``await Shipper(cfg, token).run()`` until ``stop()``."""

    def __init__(self, cfg: ShipperConfig, token: str) -> None:
        self.cfg = cfg
        self.token = token
        self.tz = cfg.tz or local_zone()
        self.tailer = Tailer(
            cfg.paths, cfg.client_id, max_line_bytes=cfg.max_line_bytes,
            head_settle_s=cfg.head_settle, rotate_wait_s=cfg.rotate_wait,
        )
        self.state = ShipperState(cfg.state_dir, cfg.client_id, min_interval_s=cfg.checkpoint_interval)
        self.status = StatusWriter(cfg.state_dir, cfg.status_interval)
        self.conn: _Conn | None = None
        self.conn_state = "connecting"
        self.conn_since = time.time()
        self.last_error = ""
        self.reconnects = 0
        self.approvals = Approvals()
        self._approvals_mtime: float | None = None
        self._kick = asyncio.Event()       # something to send (data, credit, opened)
        self._wake = asyncio.Event()       # discovery events for housekeeping
        self._stop = asyncio.Event()
        self._backlog_kick = asyncio.Event()
        self._caught_up_at: dict[str, float] = {}
        self._unreadable_backlogs: set[str] = set()
        self._discovery: Discovery | None = None
        self.slow_down = 1.0               # the collector's slow-down factor, held (status.json)
        self.slow_down_at: float | None = None   # when it took this value
        self._slow_latest = 1.0            # the factor of the last ack/credit message
        self._slow_seen = 0.0              # when the held factor was last confirmed
        self._ask_task: asyncio.Task[None] | None = None   # the ask_command running now
        self._asked: tuple[frozenset[str], float, str] | None = None   # (ids, when, answer)

    # -- lifecycle -------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        self._wake.set()
        self._backlog_kick.set()

    async def run(self) -> None:
        self.state.load()
        for st in self.state.sources.values():
            self.tailer.add_known(st.key, st.head, st.origin, done=st.final_acked)
        self._scan()
        loop = asyncio.get_running_loop()
        self._discovery = Discovery(self.cfg.paths, loop, self._wake)
        self._discovery.start()
        self._discovery.update_watches(self.tailer.last_paths)
        log.info("shipping %s to %s as %s (state in %s)", ", ".join(self.cfg.paths), self.cfg.collector,
                 self.cfg.client_id, self.cfg.state_dir)
        async with aiohttp.ClientSession() as http:
            tasks = [
                loop.create_task(self._housekeeping(), name="housekeeping"),
                loop.create_task(self._connection_loop(http), name="connection"),
                loop.create_task(self._backlog_loop(http), name="backlog"),
            ]
            stopper = loop.create_task(self._stop.wait())
            done, _ = await asyncio.wait(tasks + [stopper], return_when=asyncio.FIRST_COMPLETED)
            if self._ask_task is not None:
                tasks.append(self._ask_task)
            for t in tasks + [stopper]:
                t.cancel()
            for t in tasks + [stopper]:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for t in done:
                if t is not stopper and not t.cancelled() and t.exception() is not None:
                    self._shutdown()
                    raise t.exception()  # type: ignore[misc]
            if self.conn is not None:
                with contextlib.suppress(Exception):
                    await self.conn.client.close()
        self._shutdown()

    def _shutdown(self) -> None:
        if self._discovery is not None:
            self._discovery.stop()
            self._discovery = None
        self.conn_state = "stopped"
        self.state.maybe_save(force=True)
        self._write_status(force=True)
        self.tailer.close()

    def _write_status(self, *, force: bool = False) -> None:
        """status.json, saying why state.json cannot be written when it cannot (a full disk)."""
        doc = self._status_doc()
        doc["state_error"] = self.state.save_error
        self.status.maybe_write(doc, force=force)

    # -- housekeeping ----------------------------------------------------------------
    def _scan(self) -> None:
        for note in self.tailer.scan():
            log.info("%s", note)
        self._sync_sources()

    def _sync_sources(self) -> None:
        now = time.time()
        for src in self.tailer.sources:
            if not src.ready:
                continue
            st = self.state.get(src.key)
            if st is None:
                st = SourceState(key=src.key, head=src.head, origin=src.origin)
                self.state.put(st)
            if src.head != st.head and len(src.head) > len(st.head):
                st.head = src.head
                self.state.mark_dirty()
            path = src.reader.path if src.reader else (sorted(src.paths)[0] if src.paths else st.path)
            if path != st.path:
                st.path = path
                self.state.mark_dirty()
            if src.missed_bytes != st.missed_bytes:
                st.missed_bytes = src.missed_bytes
                self.state.mark_dirty()
            if src.reader is not None:
                before = len(st.history)
                st.note_size(src.size(), now)
                if len(st.history) != before:
                    self.state.mark_dirty()
        self._kick.set()

    def _housekeeping_timeout(self) -> float:
        return min(self.cfg.read_interval, self.cfg.poll_interval)

    def _busy(self) -> bool:
        """Sources waiting for time to pass (head to settle, rotated file to go quiet)."""
        return any(
            (not s.ready and s.reader is not None) or (s.rotated and not s.done and s.reader is not None)
            for s in self.tailer.sources
        )

    async def _housekeeping(self) -> None:
        assert self._discovery is not None
        last_scan = last_prune = time.monotonic()
        self._prune()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._housekeeping_timeout())
            if self._stop.is_set():
                return  # (3.11's wait_for can swallow a cancel that races the event)
            self._wake.clear()
            scan = self._discovery.drain()
            now_m = time.monotonic()
            if (scan or now_m - last_scan >= self.cfg.poll_interval
                    or (now_m - last_scan >= 1.0 and self._busy()) or self.tailer.refresh()):
                self._scan()
                self._discovery.update_watches(self.tailer.last_paths)
                last_scan = now_m
            self._kick.set()
            self._check_approvals()
            self._maybe_ask()
            self._retention()
            if now_m - last_prune > 3600:
                self._prune()
                last_prune = now_m
            self.state.maybe_save()   # a full disk: logged, retried next tick, never raised
            if self.status.due():
                self._write_status()

    def _check_approvals(self) -> None:
        path = self.cfg.state_dir / "approvals.json"
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != self._approvals_mtime:
            self._approvals_mtime = mtime
            self.approvals = read_approvals(self.cfg.state_dir)
        now = time.time()
        for st in self.state.sources.values():
            for seg in st.backlogs:
                if seg.status == "pending" and self.approvals.covers(seg):
                    seg.status, seg.approved_at = "approved", now
                    self.state.mark_dirty()
                    log.info("backlog %s approved", seg.id)
                    self._backlog_kick.set()

    def _pending_question(self) -> Question | None:
        ids, nbytes, paths, oldest = set(), 0, set(), []
        for st in self.state.sources.values():
            for b in st.backlogs:
                if b.status == "pending":
                    ids.add(b.id)
                    nbytes += (b.end - b.start) - covered(st.ranges, b.start, b.end)
                    paths.add(st.path or st.origin)
                    if b.oldest is not None:
                        oldest.append(b.oldest)
        return Question(frozenset(ids), nbytes, len(paths), min(oldest, default=None)) if ids else None

    def _maybe_ask(self) -> None:
        """Run ask_command when backlog waits and the user was not asked about it lately."""
        if self.cfg.backlog != "ask" or not self.cfg.ask_command or self._ask_task is not None:
            return
        q = self._pending_question()
        if q is None:
            return
        if self._asked is not None:
            ids, at, answer = self._asked
            wait = RETRY_AFTER_FAILURE_S if answer == "failed" else self.cfg.ask_interval
            if q.ids <= ids and time.time() - at < wait:
                return   # asked about all of it lately: no nagging
        self._ask_task = asyncio.get_running_loop().create_task(self._ask(q), name="ask")

    async def _ask(self, q: Question) -> None:
        try:
            answer = await run_ask(self.cfg.ask_command, q, self.cfg.ask_timeout)
        finally:
            self._ask_task = None
        self._asked = (q.ids, time.time(), {True: "yes", False: "no", None: "failed"}[answer])
        if answer:
            now = time.time()
            for st in self.state.sources.values():
                for seg in st.backlogs:
                    if seg.status == "pending" and seg.id in q.ids:
                        seg.status, seg.approved_at = "approved", now
                        log.info("backlog %s approved (ask_command)", seg.id)
            self.state.mark_dirty()
            self._backlog_kick.set()
        self._wake.set()

    def _prune(self) -> None:
        """Forget sources completed long ago whose files are gone, so the state stays small.

        Should an archive of one turn up later, the collector's ranges cover it: nothing is
        sent twice.
        """
        cutoff = time.time() - _FORGET_DONE_AFTER_S
        for src in list(self.tailer.sources):
            st = self.state.get(src.key) if src.ready else None
            if st is not None and st.final_acked and st.done_at is not None and st.done_at < cutoff \
                    and not src.paths and src.reader is None \
                    and not any(b.status in ("pending", "approved") for b in st.backlogs):
                self.state.drop(st.key)
                self.tailer.forget(src)

    def _retention(self) -> None:
        keep = self.cfg.delete_acked_after
        if keep <= 0:
            return
        now = time.time()
        for src in self.tailer.sources:
            st = self.state.get(src.key) if src.ready else None
            if st is None or not st.final_acked or st.done_at is None or now - st.done_at < keep:
                continue
            if any(b.status in ("pending", "approved") for b in st.backlogs):
                continue
            for p in sorted(src.paths):
                if p == src.origin and os.path.exists(p) and not _same_head(p, src.head):
                    continue
                try:
                    os.unlink(p)
                    log.info("%s: deleted (fully acked %.0f s ago; delete_acked_after)", p, now - st.done_at)
                except OSError as exc:
                    log.warning("%s: cannot delete: %s", p, exc)
            src.paths.clear()

    # -- connection ------------------------------------------------------------------
    async def _connection_loop(self, http: aiohttp.ClientSession) -> None:
        backoff = self.cfg.reconnect_min
        while not self._stop.is_set():
            self.conn_state = "connecting"
            started = time.monotonic()
            try:
                await self._session(http)
            except CollectorRefused as exc:
                self.last_error = str(exc)
                log.error("%s (retrying)", exc)
            except ConnectionLost as exc:
                self.last_error = str(exc)
                log.warning("connection: %s", exc)
            finally:
                self._drop_connection()
            if self._stop.is_set():
                return
            if time.monotonic() - started > 10 * self.cfg.reconnect_min:
                backoff = self.cfg.reconnect_min   # it was up for a while: start over
            delay = backoff * (0.5 + random.random() / 2)
            backoff = min(backoff * 2, self.cfg.reconnect_max)
            self.reconnects += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _drop_connection(self) -> None:
        if self.conn_state != "down":
            self.conn_since = time.time()
        self.conn_state = "down"
        self.conn = None

    async def _session(self, http: aiohttp.ClientSession) -> None:
        client = await StreamClient.connect(http, self.cfg.stream_url(), self.token,
                                            timeout=self.cfg.connect_timeout, heartbeat=self.cfg.heartbeat)
        self.conn = conn = _Conn(client, client.credit)
        self.conn_state, self.conn_since, self.last_error = "connected", time.time(), ""
        log.info("connected to %s (credit %d)", self.cfg.collector, conn.credit)
        theirs = client.welcome.get("client_id")
        if theirs and theirs != self.cfg.client_id:
            log.warning("the collector maps this token to client %r but client_id is %r: source ids "
                        "will not match `logship ingest --client-id %s` of the same files", theirs,
                        self.cfg.client_id, theirs)
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._receive(conn))
        sender = loop.create_task(self._send(conn))
        try:
            done, _ = await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()
        finally:
            for t in (reader, sender):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionLost):
                    await t
            await client.close()

    async def _receive(self, conn: _Conn) -> None:
        async for msg in conn.client.messages():
            kind = msg["type"]
            if kind == "opened":
                self._on_opened(conn, msg)
            elif kind == "ack":
                self._note_slow_down(msg)
                self._on_ack(conn, msg)
            elif kind == "credit":
                self._note_slow_down(msg)
                conn.credit += int(msg.get("credit", 0))
            elif kind == "error":
                self._on_error(conn, msg)
            self._kick.set()

    def _note_slow_down(self, msg: dict[str, Any]) -> None:
        """The collector's slow-down factor (absent: 1), for the watchdog to read in status.json.

        Acks alternate as the writer queue fills and drains; a raise takes effect at once,
        a lower factor only after SLOW_DOWN_HOLD_S without a higher one, so that readers
        see one change each way instead of a flutter."""
        factor, now = read_slow_down(msg), time.time()
        self._slow_latest = factor
        if factor >= self.slow_down:
            if factor > self.slow_down:
                log.info("collector slow-down factor %g (was %g)", factor, self.slow_down)
                self.slow_down, self.slow_down_at = factor, now
            self._slow_seen = now
        else:
            self._held_slow_down(now)

    def _held_slow_down(self, now: float) -> float:
        if self._slow_latest < self.slow_down and now - self._slow_seen >= SLOW_DOWN_HOLD_S:
            log.info("collector slow-down factor %g (was %g)", self._slow_latest, self.slow_down)
            self.slow_down, self.slow_down_at, self._slow_seen = self._slow_latest, now, now
        return self.slow_down

    def _on_opened(self, conn: _Conn, msg: dict[str, Any]) -> None:
        op = conn.by_sid.get(int(msg.get("sid", -1)))
        if op is None:
            return
        st, src = op.st, op.src
        ranges: list[list[int]] = []
        for s, e in msg.get("ranges", []):
            ranges = add_range(ranges, int(s), int(e))
        st.ranges = ranges  # the collector wins over the local state
        op.collector_id = str(msg.get("source_id", ""))
        if src.reader is not None:
            self.tailer.observe(src)   # the size now: appends since the last tick are behind too
            split_backlog(
                st, src.size(), src.reader.mtime, now=time.time(), policy=self.cfg.backlog,
                backlog_after=self.cfg.backlog_after, backlog_bytes=self.cfg.backlog_bytes,
                line_end_after=self._cut_finder(src.reader, compile_head(msg.get("head"))),
            )
        op.send_from = first_gap(st.ranges, st.live_from)
        op.opened = True
        self.state.mark_dirty()
        if any(b.status == "approved" for b in st.backlogs):
            self._backlog_kick.set()

    def _cut_finder(self, reader: Reader, head: re.Pattern[bytes] | None) -> Callable[[int], int | None]:
        """Where a backlog/live cut after `off` may fall: just past the next newline, and in a
        format with entry heads (`opened.head`) at the next line that starts an entry."""
        def cut_after(off: int) -> int | None:
            nl = reader.find_newline(off)
            if nl is None:
                return None
            if head is None:
                return nl + 1
            at_head = head_line_at_or_after(reader, nl + 1, head, self.cfg.max_line_bytes)
            return nl + 1 if at_head is None else at_head
        return cut_after

    def _on_ack(self, conn: _Conn, msg: dict[str, Any]) -> None:
        op = conn.by_sid.get(int(msg.get("sid", -1)))
        conn.credit += int(msg.get("credit", 0))
        if op is None:
            return
        end = int(msg.get("end", 0))
        st = op.st
        base = first_gap(st.ranges, st.live_from)
        if end > base:
            st.ranges = add_range(st.ranges, base, end)
            self.state.mark_dirty()
        if op.final_end is not None and first_gap(st.ranges, st.live_from) >= op.final_end:
            st.final_acked = True
            st.done_at = time.time()
            self.tailer.finish(op.src)
            self.state.mark_dirty()
            del conn.by_sid[op.sid]
            conn.by_src.pop(id(op.src), None)
            asyncio.get_running_loop().create_task(self._send_close(conn, op.sid))
            log.info("%s: complete (FINAL acked at %d)", st.path, op.final_end)

    async def _send_close(self, conn: _Conn, sid: int) -> None:
        with contextlib.suppress(ConnectionLost):
            await conn.client.send("close", sid=sid)

    def _on_error(self, conn: _Conn, msg: dict[str, Any]) -> None:
        code, text, sid = msg.get("code"), msg.get("message"), msg.get("sid")
        log.warning("collector error %s%s: %s", code, f" (sid {sid})" if sid is not None else "", text)
        if sid is None:
            if code in ("shutting_down", "unsupported_version", "hello_first"):
                raise ConnectionLost(f"collector: {code}: {text}")
            return
        op = conn.by_sid.get(int(sid))
        if op is None:
            return
        if code == "bad_open":
            # e.g. an unknown declared format: leave the source out of this connection
            conn.by_sid.pop(op.sid, None)
            self.last_error = f"{op.st.path}: {text}"
            return
        # store_failed / credit_exceeded: resend from the acked offset after a reconnect
        raise ConnectionLost(f"collector: {code} for sid {sid}: {text}")

    async def _send(self, conn: _Conn) -> None:
        while True:
            self._kick.clear()
            await self._open_new(conn)
            progressed = True
            while progressed and conn.credit > 0:
                progressed = False
                for op in list(conn.by_sid.values()):
                    if not op.opened or op.final_end is not None or conn.credit <= 0:
                        continue
                    if op.src.done:
                        continue
                    chunk = self.tailer.read(op.src, op.send_from,
                                             min(conn.credit, self.cfg.max_frame_bytes))
                    if chunk is None and op.src.blocked_on:
                        if conn.credit >= op.src.blocked_on:
                            # one line longer than a frame (<= max_line_bytes): a frame of its own
                            chunk = self.tailer.read(op.src, op.send_from, op.src.blocked_on)
                        else:
                            # longer than the credit we hold: in pieces, or the window deadlocks
                            chunk = self.tailer.read_piece(op.src, op.send_from,
                                                           min(conn.credit, self.cfg.max_frame_bytes))
                    if chunk is None:
                        continue
                    if chunk.span == 0 and not chunk.final:
                        continue
                    await conn.client.send_frame(DataFrame(op.sid, chunk.start, chunk.payload, chunk.flags,
                                                           chunk.span))
                    conn.credit -= len(chunk.payload)
                    op.send_from = chunk.end
                    if chunk.final:
                        op.final_end = chunk.end
                    progressed = True
            await self._kick.wait()
            if self._stop.is_set():
                return

    async def _open_new(self, conn: _Conn) -> None:
        for src in self.tailer.sources:
            if not src.ready or src.done or id(src) in conn.by_src:
                continue
            if src.reader is None and not src.ended:
                continue
            st = self.state.get(src.key)
            if st is None or st.final_acked:
                continue
            op = _Open(conn.next_sid, src, st)
            conn.next_sid += 1
            conn.by_sid[op.sid] = op
            conn.by_src[id(src)] = op
            mtime = src.reader.mtime if src.reader is not None else time.time()
            await conn.client.send_open(op.sid, st.head, st.path or src.origin, self.cfg.log_format,
                                        self.tz, mtime)

    # -- backlog ---------------------------------------------------------------------
    async def _backlog_loop(self, http: aiohttp.ClientSession) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._backlog_kick.wait(), 5.0)
            if self._stop.is_set():
                return
            self._backlog_kick.clear()
            if self.conn is None:
                continue
            for st in list(self.state.sources.values()):
                for seg in st.backlogs:
                    if seg.status != "approved":
                        continue
                    src = self.tailer.by_key(st.key)
                    if src is None:
                        continue
                    # a file shipped to its FINAL has no live reader: open it again (the
                    # consent may come long after the live tail was acked and the reader closed)
                    reader = src.reader or self.tailer.open_at_rest(src)
                    if reader is None:
                        self._note_unreadable(seg.id, st.path or src.origin)
                        continue
                    try:
                        await self._upload_segment(http, st, reader, seg)
                    except (ConnectionLost, CollectorRefused) as exc:
                        self.last_error = f"backlog {seg.id}: {exc}"
                        log.warning("backlog %s: %s (will retry)", seg.id, exc)
                        break
                    finally:
                        if reader is not src.reader:
                            reader.close()

    def _note_unreadable(self, seg_id: str, path: str) -> None:
        """Once per segment: its file is gone (deleted by hand?); it stays listed as approved."""
        if seg_id in self._unreadable_backlogs:
            return
        self._unreadable_backlogs.add(seg_id)
        self.last_error = f"backlog {seg_id}: {path} is no longer readable under the shipped paths"
        log.error("%s; its bytes stay counted in the backlog status", self.last_error)

    async def _upload_segment(self, http: aiohttp.ClientSession, st: SourceState, reader: Reader,
                              seg: Any) -> None:
        url = self.cfg.http_url("/v1/backlog")
        while True:
            start = first_gap(st.ranges, seg.start)
            if start >= seg.end:
                seg.status = "done"
                self.state.mark_dirty()
                log.info("backlog %s: done", seg.id)
                return
            gap_end = min([seg.end] + [s for s, _ in st.ranges if s > start])
            end = gap_end
            if end - start > self.cfg.backlog_request_bytes:
                nl = reader.find_newline(start + self.cfg.backlog_request_bytes - 1)
                if nl is not None and nl + 1 < gap_end:
                    end = nl + 1
            answer = await post_backlog(
                http, url, self.token, source_key=st.key, head=st.head, start=start,
                body=self._read_range(reader, start, end), timeout=self.cfg.connect_timeout,
                final=end == gap_end, path=st.path, tz=self.tz, log_format=self.cfg.log_format,
            )
            ranges: list[list[int]] = []
            for s, e in answer.get("ranges", []):
                ranges = add_range(ranges, int(s), int(e))
            committed_end = int(answer.get("committed_end", start))
            if committed_end > start:
                ranges = add_range(ranges, start, committed_end)
            if not ranges or covered(ranges, start, end) == 0:
                raise ConnectionLost(f"the collector committed nothing of [{start}, {end})")
            st.ranges = ranges
            self.state.mark_dirty()

    async def _read_range(self, reader: Reader, start: int, end: int) -> AsyncIterator[bytes]:
        pos = start
        while pos < end:
            block = reader.pread(pos, min(_BACKLOG_BLOCK, end - pos))
            if not block:
                return
            pos += len(block)
            yield block
            await asyncio.sleep(0)

    # -- status ----------------------------------------------------------------------
    def _status_doc(self) -> dict[str, Any]:
        now = time.time()
        files = []
        conn = self.conn
        for src in self.tailer.sources:
            if not src.ready or src.done or (src.reader is None and not src.ended):
                continue
            st = self.state.get(src.key)
            if st is None:
                continue
            size = src.size()
            acked = st.acked
            lag = max(0, size - acked)
            if lag == 0:
                self._caught_up_at[src.key] = now
            caught = self._caught_up_at.get(src.key, src.first_seen)
            op = conn.by_src.get(id(src)) if conn else None
            files.append({
                "path": st.path or src.origin, "source_id": src.key, "sid": op.sid if op else None,
                "size": size, "acked": acked, "lag_bytes": lag,
                "lag_seconds": 0.0 if lag == 0 else round(now - caught, 1),
                "missed_bytes": src.missed_bytes, "final": src.rotated,
            })
        segs = []
        for st in self.state.sources.values():
            for b in st.backlogs:
                if b.status in ("pending", "approved"):
                    left = (b.end - b.start) - covered(st.ranges, b.start, b.end)
                    segs.append({"id": b.id, "path": st.path or st.origin, "bytes": left,
                                 "oldest": b.oldest, "status": b.status, "start": b.start, "end": b.end})
        pending = [s for s in segs if s["status"] == "pending"]
        consent = ("needed" if pending else
                   "given" if any(s["status"] == "approved" for s in segs) else "none_needed")
        return {
            "pid": os.getpid(), "client_id": self.cfg.client_id, "collector": self.cfg.collector,
            "state_dir": str(self.cfg.state_dir),
            "connection": {"state": self.conn_state, "since": self.conn_since, "last_error": self.last_error,
                           "reconnects": self.reconnects},
            "files": files,
            "backlog": {
                "policy": self.cfg.backlog,
                "pending_files": len({s["path"] for s in pending}),
                "pending_bytes": sum(s["bytes"] for s in pending),
                # consented to but not yet stored by the collector (sent as soon as it answers)
                "approved_bytes": sum(s["bytes"] for s in segs if s["status"] == "approved"),
                "oldest": min((s["oldest"] for s in pending if s["oldest"] is not None), default=None),
                "segments": segs,
            },
            "consent": consent,
            # the last ask_command answer: yes, no or failed, and when (null: never asked)
            "ask": ({"asking": self._ask_task is not None, "answer": self._asked[2], "at": self._asked[1]}
                    if self._asked else {"asking": self._ask_task is not None, "answer": None, "at": None}),
            # the collector asks producers to measure less (docs/protocol.md); 1: it does not
            "slow_down": self._held_slow_down(now), "slow_down_since": self.slow_down_at,
            # sources committed to their end (FINAL acked): safe to delete, by content id
            "acked_sources": sorted(st.key for st in self.state.sources.values() if st.final_acked),
            "missed_bytes_total": sum(s.missed_bytes for s in self.tailer.sources),
            # files shorter than 1 KiB still growing: named (and shipped) after head_settle
            "unsettled_files": sum(1 for s in self.tailer.sources if not s.ready and s.reader is not None),
            "state_load_error": self.state.load_error,
        }


def _same_head(path: str, head: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(head)) == head
    except OSError:
        return False


async def check_connection(cfg: ShipperConfig, token: str) -> str:
    """`logship ship --check`: hello/welcome against the collector; one line describing it."""
    async with aiohttp.ClientSession() as http:
        client = await StreamClient.connect(http, cfg.stream_url(), token, timeout=cfg.connect_timeout,
                                            heartbeat=cfg.heartbeat)
        try:
            w = client.welcome
            theirs = w.get("client_id")
            if theirs and cfg.client_id and theirs != cfg.client_id:
                # The daemon only warns (it ships either way); a check is asked to find this.
                raise ConfigError(f"client id {cfg.client_id!r} is not the token's: {cfg.collector} maps the "
                                  f"token to client {theirs!r} (use --client-id {theirs})")
            return (f"ok: {cfg.collector} speaks protocol v{w.get('version')}, client id "
                    f"{w.get('client_id', '?')}, credit {client.credit}")
        finally:
            await client.close()


def exec_daemon(cfg: ShipperConfig) -> None:
    """Replace this process (same pid) with a lean ``python -P -m logship.shipper.daemon``.

    The CLI framework (typer imports pydantic when it runs a command) would otherwise stay
    in the daemon's memory for its whole life; the daemon needs none of it. The token is
    not passed: the new image reads it from token_file or LOGSHIP_TOKEN as usual.
    """
    doc = {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
           for k, v in dataclasses.asdict(cfg).items()}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-P", "-m", "logship.shipper.daemon", "--config-json", json.dumps(doc)])


def main(argv: list[str] | None = None) -> None:
    """Entry of ``python -P -m logship.shipper.daemon --config-json JSON`` (what ``logship ship`` execs)."""
    import argparse

    from logship.shipper.config import load_config, read_token
    from logship.kernel.errors import LogshipError

    ap = argparse.ArgumentParser(prog="python -P -m logship.shipper.daemon")
    ap.add_argument("--config-json", required=True)
    args = ap.parse_args(argv)
    try:
        cfg = load_config(None, **json.loads(args.config_json))
        token = read_token(cfg)
    except LogshipError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("watchdog").setLevel(logging.WARNING)
    run_shipper(cfg, token)


def run_shipper(cfg: ShipperConfig, token: str) -> None:
    """Run until SIGINT/SIGTERM (the CLI's entry point)."""
    import signal

    async def main() -> None:
        shipper = Shipper(cfg, token)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
                loop.add_signal_handler(sig, shipper.stop)
        await shipper.run()

    asyncio.run(main())


if __name__ == "__main__":
    main()
