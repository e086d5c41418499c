"""/v1/stream: one WebSocket session per shipper connection (Protocol v1).

The receive loop never waits on the database: `open` is resolved in a task (on the
writer's thread), data frames are queued with `Writer.submit_nowait` (credit bounds
them), and acks/credit leave through one sender task per connection, coalesced per sid.
So the socket is always read and aiohttp's heartbeat keeps working while the store is
slow; pushback comes from credit alone.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from logship.kernel.fingerprint import HEAD_BYTES
from logship.parser.formats import head_regex_of
from logship.kernel.protocol import (FRAME_HEADER, PROTOCOL_VERSION, FrameError, MessageError, decode_frame,
                              decode_message, encode_message, frame_range_problem)

from .credit import Account
from .state import CollectorState
from .storeport import StoreUnavailable
from .writer import Done, Lane, Work

__all__ = ["StreamSession", "handle_stream", "ERROR_CODES"]

log = logging.getLogger("logship.collector.stream")

# every code an `error` message can carry (docs/protocol.md explains each)
ERROR_CODES = {
    "bad_message": "a text frame that is not a JSON object with a known type, or lacks a field",
    "hello_first": "the first message of a connection must be hello",
    "unsupported_version": "hello.version is not a version this collector speaks",
    "bad_open": "an open with an invalid field (sid, head_b64, path, tz, mtime, log_format)",
    "sid_in_use": "open for a sid that is already open on this connection",
    "bad_frame": "a binary frame that cannot be decoded (short header, unknown flags, bad span, an offset "
                 "out of range)",
    "frame_too_large": "a binary frame whose payload is over max_frame_bytes",
    "unknown_sid": "a data frame or close for a sid that is not open on this connection",
    "credit_exceeded": "a data frame larger than the credit the connection holds (dropped, not acked)",
    "store_failed": "the store could not commit this sid's data (not acked; resend from your last ack)",
}


@dataclass
class _Sid:
    source_id: str
    acked: int = 0
    # the sid's frames in order: cut at a failed commit until the shipper resends
    lane: Lane = field(default_factory=Lane)
    head: re.Pattern[bytes] | None = None  # a `head:` format's entry head (writer.Work.head)


class StreamSession:
    """The state of one connection: its sids, its credit account, its outgoing queue."""

    def __init__(self, state: CollectorState, ws: web.WebSocketResponse, client_id: str) -> None:
        self.state = state
        self.ws = ws
        self.client_id = client_id
        self.sids: dict[int, _Sid] = {}
        self.account: Account | None = None
        self._out: list[str] = []
        self._acks: dict[int, list[int]] = {}  # sid -> [end, credit]
        self._credit = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sender_task: asyncio.Task[None] | None = None

    # --- outgoing ------------------------------------------------------------------

    def send(self, type_: str, **fields: Any) -> None:
        self._out.append(encode_message(type_, **fields))
        self._wake.set()

    def error(self, code: str, message: str, sid: int | None = None) -> None:
        self.state.metrics.error(code)
        if sid is None:
            self.send("error", code=code, message=message)
        else:
            self.send("error", code=code, message=message, sid=sid)

    def _grant(self, n: int) -> None:
        """Credit for a starved connection (from CreditBank.replenish)."""
        self._credit += n
        self._wake.set()

    async def sender(self) -> None:
        while not self._closed or self._out or self._acks or self._credit:
            await self._wake.wait()
            self._wake.clear()
            out, self._out = self._out, []
            # the slow-down factor (a v1 addition): only while the writer queue fills
            slow = self.state.bank.slow_down()
            extra = {"slow_down": slow} if slow > 1 else {}
            for sid, (end, credit) in self._acks.items():
                out.append(encode_message("ack", sid=sid, end=end, credit=credit, **extra))
            self._acks.clear()
            if self._credit:
                out.append(encode_message("credit", credit=self._credit, **extra))
                self._credit = 0
            for text in out:
                if self.ws.closed:
                    return
                await self.ws.send_str(text)

    # --- acks ------------------------------------------------------------------------

    def _on_done(self, sid: int, done: Done) -> None:
        grant = self.state.bank.returned(self.account, done.nbytes) if self.account else 0
        if done.error:
            # not committed: no ack at all (an ack says "committed before end"); the
            # credit of the frame comes back in a `credit` message
            self.error("store_failed", done.error, sid)
            if grant:
                self._credit += grant
                self._wake.set()
            return
        self.state.metrics.acks += 1
        st = self.sids.get(sid)
        if st is not None and st.source_id == done.source_id:
            st.acked = max(st.acked, done.acked_end)
        prev = self._acks.get(sid)
        if prev is None:
            self._acks[sid] = [done.acked_end, grant]
        else:
            prev[0] = max(prev[0], done.acked_end)
            prev[1] += grant
        self._wake.set()

    def _on_flush(self, sid: int, done: Done) -> None:
        self._on_done(sid, done)

    # --- incoming ------------------------------------------------------------------------

    def on_text(self, text: str) -> None:
        try:
            msg = decode_message(text)
        except MessageError as exc:
            self.error("bad_message", str(exc))
            return
        kind = msg["type"]
        if self.account is None and kind != "hello":
            self.error("hello_first", f"expected hello, got {kind}")
            return
        if kind == "hello":
            self._hello(msg)
        elif kind == "open":
            self._spawn(self._open(msg))
        elif kind == "close":
            sid = msg.get("sid")
            if not isinstance(sid, int) or sid not in self.sids:
                self.error("unknown_sid", f"close for sid {sid!r} that is not open", sid if isinstance(sid, int) else None)
            else:
                del self.sids[sid]
        else:
            self.error("bad_message", f"{kind} is sent by the collector, not to it")

    def _hello(self, msg: dict[str, Any]) -> None:
        if self.account is not None:
            self.error("bad_message", "hello sent twice")
            return
        if msg.get("version") != PROTOCOL_VERSION:
            self.error("unsupported_version",
                       f"version {msg.get('version')!r} not supported; this collector speaks {PROTOCOL_VERSION}")
            self._spawn(self.ws.close(code=1002, message=b"unsupported version"))
            return
        self.account, credit = self.state.bank.open(self._grant)
        lim = self.state.config.limits
        self.send("welcome", version=PROTOCOL_VERSION, credit=credit, client_id=self.client_id,
                  max_frame_bytes=lim.max_frame_bytes, max_line_bytes=lim.max_line_bytes,
                  max_truncated_span=lim.max_truncated_span)

    async def _open(self, msg: dict[str, Any]) -> None:
        sid = msg.get("sid")
        if not isinstance(sid, int) or not 0 <= sid < 2**32:
            self.error("bad_open", f"open.sid must be an integer 0..2^32-1, got {sid!r}")
            return
        if sid in self.sids:
            self.error("sid_in_use", f"sid {sid} is already open on this connection", sid)
            return
        try:
            head = base64.b64decode(msg.get("head_b64") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            self.error("bad_open", "open.head_b64 is not valid base64", sid)
            return
        path, tz, log_format, mtime = msg.get("path"), msg.get("tz", "UTC"), msg.get("log_format"), msg.get("mtime")
        problem = (
            "open.head_b64 is empty (a source needs its first bytes)" if not head else
            f"open.head_b64 is over {HEAD_BYTES} bytes" if len(head) > HEAD_BYTES else
            "open.path must be a string" if path is not None and not isinstance(path, str) else
            "open.tz must be a string (an IANA zone)" if not isinstance(tz, str) else
            "open.log_format must be a string" if log_format is not None and not isinstance(log_format, str) else
            "open.mtime must be a number" if mtime is not None and (
                isinstance(mtime, bool) or not isinstance(mtime, (int, float))) else None
        )
        if problem:
            self.error("bad_open", problem, sid)
            return
        self.sids[sid] = _Sid(source_id="")  # reserve: a second open of this sid is refused
        try:
            info = await self.state.resolve(self.client_id, head, path=path, log_format=log_format,
                                            tz=tz, mtime=mtime)
        except StoreUnavailable as exc:
            self.sids.pop(sid, None)
            self.error("store_failed", f"cannot open the source now: {exc}", sid)
            return
        except Exception as exc:  # noqa: BLE001 - bad values (unknown format, zone) go back to the sender
            self.sids.pop(sid, None)
            self.error("bad_open", f"cannot open source: {exc}", sid)
            return
        # a zone other than the stored one: the stored zone wins (warning, /metrics count)
        self.state.kept_zone("stream", info, msg.get("tz"), self.client_id)
        head_re = head_regex_of(info.log_format)
        self.sids[sid] = _Sid(source_id=info.source_id, head=head_re)
        extra = {} if head_re is None else {"head": head_re.pattern.decode("utf-8", "backslashreplace")}
        self.send("opened", sid=sid, ranges=[[s, e] for s, e in info.ranges],
                  source_id=info.source_id, log_format=info.log_format, tz=info.tz, **extra)

    def on_binary(self, data: bytes) -> None:
        m = self.state.metrics
        lim = self.state.config.limits
        if self.account is None:
            self.error("hello_first", "a data frame before hello")
            return
        sid_hint = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        if len(data) > lim.max_frame_bytes + FRAME_HEADER.size:
            self.error("frame_too_large", f"frame of {len(data) - FRAME_HEADER.size} payload bytes is over "
                       f"max_frame_bytes={lim.max_frame_bytes}", sid_hint)
            return
        try:
            frame = decode_frame(data, lim.max_frame_bytes)
        except FrameError as exc:
            self.error("bad_frame", str(exc), sid_hint)
            return
        problem = frame_range_problem(frame, lim)
        if problem is not None:
            self.error("bad_frame", f"{problem}; dropped (not acked)", frame.sid)
            return
        st = self.sids.get(frame.sid)
        if st is None or not st.source_id:
            self.error("unknown_sid", f"data for sid {frame.sid}, which is not open (send open, wait for opened)",
                       frame.sid)
            return
        n = len(frame.payload)
        if not self.state.bank.consume(self.account, n):
            self.error("credit_exceeded", f"frame of {n} bytes with only {self.account.window} bytes of credit; "
                       "dropped (not acked): wait for credit and resend", frame.sid)
            return
        m.frames_received += 1
        m.bytes_received += n
        m.lines_received += frame.payload.count(b"\n") + (1 if frame.truncated else 0)
        sid = frame.sid
        work = Work(st.source_id, frame.start, frame.payload, kind="live", final=frame.final, eof=frame.final,
                    span=frame.span if frame.truncated else None, lane=st.lane, head=st.head,
                    on_done=lambda d, sid=sid: self._on_done(sid, d),
                    on_flush=lambda d, sid=sid: self._on_flush(sid, d))
        self.state.writer.submit_nowait(work)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain_and_close(self, timeout: float = 5.0) -> None:
        """Shutdown: send the acks already due, then close with 1001 (going away)."""
        self._closed = True
        self._wake.set()
        if self.sender_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.sender_task), timeout)
            except (TimeoutError, ConnectionError) as exc:
                log.warning("could not send the last acks to client %s: %r", self.client_id, exc)
        await self.ws.close(code=1001, message=b"collector shutting down")

    async def finish(self) -> None:
        self._closed = True
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()
        if self.account is not None:
            self.state.bank.close(self.account)


async def handle_stream(request: web.Request) -> web.StreamResponse:
    state: CollectorState = request.app["state"]
    client_id = state.require_client(request)
    if state.shutting_down:
        raise web.HTTPServiceUnavailable(text="collector is shutting down")
    lim = state.config.limits
    ws = web.WebSocketResponse(heartbeat=state.config.heartbeat_s,
                               max_msg_size=2 * lim.max_frame_bytes + FRAME_HEADER.size)
    await ws.prepare(request)
    session = StreamSession(state, ws, client_id)
    state.sessions.add(session)
    state.metrics.connections += 1
    state.metrics.connections_total += 1
    sender = session.sender_task = asyncio.get_running_loop().create_task(session.sender())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                session.on_binary(msg.data)
            elif msg.type == WSMsgType.TEXT:
                session.on_text(msg.data)
            elif msg.type == WSMsgType.ERROR:
                log.info("stream of client %s ended: %s", client_id, ws.exception())
                break
    finally:
        await session.finish()
        state.sessions.discard(session)
        state.metrics.connections -= 1
        if not sender.done():
            sender.cancel()
        try:
            await sender
        except (asyncio.CancelledError, ConnectionError):
            pass
    return ws
