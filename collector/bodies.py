"""HTTP bodies into the writer: /v1/backlog and /v1/lines.

Bodies are streamed, never read whole. A worker thread reads the body as a blocking
file (each read asks the event loop for the next bytes), gunzips it when
Content-Encoding says so, and cuts it with store's own splitter (iter_segments: entry
boundaries, about max_batch_bytes each; a line longer than max_line_bytes keeps its
first bytes and becomes one `line_too_long` reject covering its span). Each segment is
committed through the writer before the next is read, so TCP pushes back on the sender.

A /v1/lines body of a source with a detected format is judged on its start first
(collector/fit.py) and may go to a sibling source; a body that ends mid-line keeps that
line out unless the request says it is final (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import io
import re
import time
import concurrent.futures
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from aiohttp import StreamReader, web

from logship.kernel.fingerprint import HEAD_BYTES
from logship.kernel.gunzip import GunzipReader
from logship.kernel.protocol import MAX_OFFSET
from logship.parser.formats import head_regex_of
from logship.parser.detect import DETECT_LINES
from logship.store.item import Item
from logship.store.segments import ReadFailure, iter_segments
from logship.store.store import MTIME_MAX, MTIME_MIN

from .fit import SAMPLE_BYTES, UNKNOWN, Verdict, judge, sibling_name
from .metrics import Metrics
from .replies import error_exception, error_reply
from .state import CollectorState, same_zone
from .storeport import StoreUnavailable
from .writer import Done, Lane, Work

# first bytes of a line that may continue the entry above (store/segments.py's rule)
_CONTINUES = (b" ", b"\t", b"\r")

# a body is cut into pieces of about this size (entry boundaries) for the writer
BODY_PIECE_BYTES = 1 << 20

__all__ = ["handle_backlog", "handle_lines", "BodyError", "ingest_body", "ingest_stream_blocking", "BodyResult",
           "lines_head"]



class BodyError(Exception):
    """The body broke off or is corrupt (truncated gzip, connection lost): what came
    before the damage is committed, and the answer says how far."""

    def __init__(self, code: str, message: str, result: "BodyResult") -> None:
        super().__init__(message)
        self.code = code
        self.result = result


@dataclass
class BodyResult:
    source_id: str
    start: int
    committed_end: int
    lines: int = 0
    records: int = 0
    rejects: int = 0
    ranges: list[tuple[int, int]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"source_id": self.source_id, "start": self.start, "committed_end": self.committed_end,
                "lines": self.lines, "records": self.records, "rejects": self.rejects,
                "ranges": [[s, e] for s, e in self.ranges]}


def _unavailable(exc: StoreUnavailable) -> web.HTTPException:
    """503 store_failed: the store cannot commit now; nothing of the body was read."""
    return error_exception(web.HTTPServiceUnavailable, "store_failed", str(exc), retry_after=5)


_DIGITS = re.compile(r"[0-9]{1,19}")
_SECONDS = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,9})?")  # epoch seconds (float() also takes '١٢', '1_0', 'nan')


def offset_value(text: str | None, name: str) -> int:
    """A byte offset from the network: ASCII digits only, at most MAX_OFFSET (2^63-1).

    (str.isdigit() and int() accept other digits and signs, spaces and underscores.)"""
    if text is None or not _DIGITS.fullmatch(text) or int(text) > MAX_OFFSET:
        raise error_exception(web.HTTPBadRequest, "bad_request",
                          f"{name} must be a byte offset: ASCII digits, 0..2^63-1 (got {text!r})")
    return int(text)


def _check_body_end(request: web.Request, start: int, name: str) -> None:
    """An uncompressed body whose declared length runs past MAX_OFFSET is refused unread."""
    if request.content_length is not None and start + request.content_length > MAX_OFFSET \
            and request.headers.get("Content-Encoding", "identity").strip().lower() in ("identity", ""):
        raise error_exception(web.HTTPBadRequest, "bad_request",
                          f"{name} + body length = {start + request.content_length} is over the largest "
                          "offset 2^63-1")


class _BodyReader(io.RawIOBase):
    """The request body as a blocking file, for a worker thread: each read asks the
    event loop for the next bytes of aiohttp's stream (so nothing is read ahead).
    `abort()` (collector shutdown) ends a waiting read: the body counts as broken off."""

    def __init__(self, content: StreamReader, loop: asyncio.AbstractEventLoop, metrics: Metrics) -> None:
        self.content = content
        self.loop = loop
        self.metrics = metrics
        self.aborted = False
        self._pending: concurrent.futures.Future[bytes] | None = None

    def readable(self) -> bool:
        return True

    def abort(self) -> None:
        self.aborted = True
        if self._pending is not None:
            self._pending.cancel()

    def readinto(self, b: Any) -> int:
        if self.aborted:
            raise OSError("the body broke off: the collector is shutting down")
        self._pending = asyncio.run_coroutine_threadsafe(self.content.read(len(b)), self.loop)
        try:
            data = self._pending.result()
        except (ConnectionError, asyncio.CancelledError, concurrent.futures.CancelledError,
                aiohttp.ClientError) as exc:
            why = "the collector is shutting down" if self.aborted else repr(exc)
            raise OSError(f"the body broke off: {why}") from None
        finally:
            self._pending = None
        self.metrics.bytes_received += len(data)
        self.metrics.lines_received += data.count(b"\n")
        b[:len(data)] = data
        return len(data)


class _Prefixed(io.RawIOBase):
    """A body stream after its start was read to judge it: the bytes read first, then the
    rest; a read error met while reading the start is raised where it happened."""

    def __init__(self, prefix: bytes, rest: Any, error: BaseException | None, eof: bool) -> None:
        self.prefix = memoryview(prefix)
        self.rest = rest
        self.error = error
        self.eof = eof

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.prefix:
            n = min(len(b), len(self.prefix))
            b[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        if self.error is not None:
            raise self.error
        if self.eof:
            return 0
        data = self.rest.read(len(b))
        if not data:
            self.eof = True
            return 0
        b[:len(data)] = data
        return len(data)


@dataclass
class _Body:
    """A request body being read: aiohttp's stream as a blocking file (`raw`, aborted at
    shutdown) and what a body thread reads (`stream`: gunzipped, after any judged start)."""

    raw: _BodyReader
    gz: bool
    stream: Any


def _open_body(state: CollectorState, request: web.Request) -> _Body:
    """The request's body, registered for abort at shutdown (the caller discards it from
    state.body_readers when done); 415 for an encoding we cannot read."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", ""):
        raise error_exception(web.HTTPUnsupportedMediaType, "bad_encoding",
                          f"Content-Encoding {encoding!r} not supported (identity or gzip)")
    if state.shutting_down:
        raise error_exception(web.HTTPServiceUnavailable, "shutting_down", "the collector is stopping; retry later")
    raw = _BodyReader(request.content, asyncio.get_running_loop(), state.metrics)
    gz = encoding in ("gzip", "x-gzip")
    state.body_readers.add(raw)
    return _Body(raw, gz, GunzipReader(raw) if gz else raw)


def _judge_body(body: _Body, log_format: str, tz: str, mtime: float | None) -> Verdict:
    """In a body thread: read the body's start (the sample detection reads: up to
    SAMPLE_BYTES or DETECT_LINES lines) and judge it against the source's format
    (collector/fit.py). Nothing is lost: `body.stream` then starts with those bytes."""
    buf = bytearray()
    error: BaseException | None = None
    eof = False
    lines = 0
    try:
        while len(buf) < SAMPLE_BYTES and lines <= DETECT_LINES:
            block = body.stream.read(SAMPLE_BYTES - len(buf))
            if not block:
                eof = True
                break
            lines += block.count(b"\n")
            buf += block
    except (OSError, EOFError, ValueError) as exc:  # broken gzip, a body that broke off: raised later
        error = exc
    data = bytes(buf)
    body.stream = _Prefixed(data, body.stream, error, eof)
    return judge(data, eof and error is None, log_format, tz, mtime)


def ingest_stream_blocking(state: CollectorState, loop: asyncio.AbstractEventLoop, source_id: str, start: int,
                           stream: Any, gz: bool, kind: str, final_at_end: bool, newline_ends: bool,
                           head: re.Pattern[bytes] | None = None) -> BodyResult:
    """In a worker thread: cut the body into segments (store's splitter: entry boundaries,
    over-long lines as `span` segments) and commit each through the writer, in order.

    Public: the one body path, used by ingest_body and by the intakes (collector/intake/
    sink.py), which feed it the lines they render. `stream` is any blocking binary file."""
    lim = state.config.limits
    res = BodyResult(source_id, start, start)
    failure = ReadFailure()

    inflight: deque[concurrent.futures.Future[Done]] = deque()
    inflight_bytes = 0
    lane = Lane()  # a failed piece cuts the body: later pieces are not committed after it
    # /v1/lines bodies (kind live) are lines as they happen: when they came stands in for an
    # entry without a time (ts_source 'received'); backlog bodies are the client's own files
    received_at = time.time() if kind == "live" else None
    last = False  # set before the body's last piece is committed

    def settle(done: Done) -> None:
        if done.error:
            raise BodyError("store_failed", done.error, res)
        res.lines += done.lines
        res.records += done.records
        res.rejects += done.rejects
        res.ranges = done.ranges or res.ranges
        if done.acked_end >= res.committed_end:
            res.committed_end = done.acked_end

    def commit(seg: Item, final: bool) -> None:
        # pieces of BODY_PIECE_BYTES, up to max_batch_bytes of them in flight: the writer
        # commits them together (one transaction per max_batch_bytes) and stages the next
        # ones while it writes (its pipeline); the body's end waits for all of them (below).
        # `final` says the piece's last entry is complete, as nearly every piece's is: it
        # is no reason to wait (waiting on it made every piece its own transaction)
        nonlocal inflight_bytes
        if seg.end > MAX_OFFSET:
            raise BodyError("bad_request", f"the body runs past the largest offset 2^63-1 (at {seg.end}); "
                            "what came before is committed", res)
        work = Work(source_id, seg.start, seg.data, kind=kind, final=final, span=seg.span, keep_tail=False,
                    lane=lane, received_at=received_at, eof=final and final_at_end and last, head=head)
        inflight.append(asyncio.run_coroutine_threadsafe(state.writer.submit_wait(work), loop))
        inflight_bytes += len(seg.data)
        while inflight and inflight_bytes > lim.max_batch_bytes:
            done = inflight.popleft().result()
            inflight_bytes -= done.nbytes
            settle(done)

    prev: Item | None = None
    first_error: BodyError | None = None
    try:
        for seg in iter_segments(stream, min(BODY_PIECE_BYTES, lim.max_batch_bytes), lim.max_line_bytes,
                                 failure=failure, start=start, source_id=source_id, kind=kind, head=head):
            if prev is not None:
                commit(prev, prev.final)
            prev = seg
        if prev is not None:
            last = True
            # the body's last entry is complete at the end of the file (final), when it is
            # an over-long line, or (/v1/lines: newline_ends) when the body ends with a
            # newline. A body that ends mid-line keeps that line out (not stored, not
            # acked) until its rest comes, so a cut value is never stored as a wrong one;
            # the entry before it is complete when the cut line starts an entry (its first
            # byte is here: not a continuation).
            if failure.error is not None:
                commit(prev, False)
            elif final_at_end or prev.span is not None:
                commit(prev, prev.final)
            elif prev.data.endswith(b"\n"):
                commit(prev, prev.final and newline_ends)
            elif (cut := prev.data.rfind(b"\n") + 1) > 0:
                commit(replace(prev, data=prev.data[:cut]), prev.final and prev.data[cut:cut + 1] not in _CONTINUES)
    except BodyError as exc:
        first_error = exc
    finally:
        # every piece in flight answered (what they committed counts); the first failure is
        # the body's answer (the pieces after it are refused: a failed piece cuts the body)
        while inflight:
            try:
                settle(inflight.popleft().result())
            except BodyError as exc:
                first_error = first_error or exc
    if first_error is not None:
        raise first_error
    if failure.error is not None:
        code = "truncated_gzip" if isinstance(failure.error, EOFError) else (
            "bad_gzip" if gz and not str(failure.error).startswith("the body broke off") else "body_incomplete")
        raise BodyError(code, f"body ended early: {failure.error}; what came before is committed", res)
    return res


async def ingest_body(state: CollectorState, request: web.Request, source_id: str, start: int,
                      kind: str, final_at_end: bool, *, newline_ends: bool = False,
                      body: _Body | None = None, log_format: str | None = None) -> BodyResult:
    """Stream one request body of one source, starting at `start`, through the writer.

    final_at_end: the body's end ends its last entry. newline_ends: so does a body that
    ends with a newline (/v1/lines); one that ends mid-line keeps that line out."""
    if body is None:
        body = _open_body(state, request)
    elif state.shutting_down:
        raise error_exception(web.HTTPServiceUnavailable, "shutting_down", "the collector is stopping; retry later")
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(state.body_pool, ingest_stream_blocking, state, loop, source_id, start,
                                          body.stream, body.gz, kind, final_at_end, newline_ends,
                                          head_regex_of(log_format))
    finally:
        state.body_readers.discard(body.raw)


def _header(request: web.Request, name: str) -> str | None:
    v = request.headers.get(name)
    return v if v else None


async def handle_backlog(request: web.Request) -> web.StreamResponse:
    """POST /v1/backlog?start=N[&sid=S][&final=1]: old bytes of one source (after consent).

    The source is named without a stream: `X-Logship-Head` (base64 of its first bytes,
    as in `open`), with `X-Logship-Path`, `X-Logship-Tz`, `X-Logship-Log-Format`,
    `X-Logship-Mtime` as in `open`.
    """
    state: CollectorState = request.app["state"]
    client_id = state.require_client(request)
    q = request.query
    start = offset_value(q.get("start"), "start")
    _check_body_end(request, start, "start")
    try:
        head = base64.b64decode(request.headers.get("X-Logship-Head", ""), validate=True)
    except (binascii.Error, ValueError):
        raise error_exception(web.HTTPBadRequest, "bad_head", "X-Logship-Head is not valid base64") from None
    if not head or len(head) > HEAD_BYTES:
        raise error_exception(web.HTTPBadRequest, "bad_head",
                          f"X-Logship-Head must hold the source's first 1..{HEAD_BYTES} bytes (base64)")
    mtime_s = _header(request, "X-Logship-Mtime")
    mtime = float(mtime_s) if mtime_s is not None and _SECONDS.fullmatch(mtime_s) else None
    if mtime_s is not None and (mtime is None or not MTIME_MIN <= mtime <= MTIME_MAX):
        raise error_exception(web.HTTPBadRequest, "bad_request",
                          f"X-Logship-Mtime must be epoch seconds in ASCII digits, years 1..9999 (got {mtime_s!r})")
    sent_tz = _header(request, "X-Logship-Tz")
    try:
        info = await state.resolve(client_id, head, path=_header(request, "X-Logship-Path"),
                                   log_format=_header(request, "X-Logship-Log-Format"),
                                   tz=sent_tz or state.config.http_tz, mtime=mtime)
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None
    except Exception as exc:  # noqa: BLE001 - e.g. an unknown log format or zone: the caller's input
        raise error_exception(web.HTTPBadRequest, "bad_source", f"cannot resolve source: {exc}") from None
    # a zone other than the stored one: the stored zone wins (warning, /metrics count)
    state.kept_zone("backlog", info, sent_tz, client_id)
    return await _answer(state, request, info.source_id, start, "backlog", _flag(q.get("final")),
                         log_format=info.log_format, sid=q.get("sid"), tz=info.tz)


def _flag(value: str | None) -> bool:
    return value in ("1", "true")


async def _answer(state: CollectorState, request: web.Request, source_id: str, start: int, kind: str,
                  final: bool, body: _Body | None = None, newline_ends: bool = False,
                  log_format: str | None = None, **extra: object) -> web.Response:
    path = request.path
    try:
        res = await ingest_body(state, request, source_id, start, kind, final, newline_ends=newline_ends,
                                body=body, log_format=log_format)
    except BodyError as exc:
        # what came before the damage is committed; say how far. A store that could not
        # commit is the collector's condition, not the request's: 503, retry later
        status = 503 if exc.code == "store_failed" else 400
        state.metrics.http_requests[f"{path} {status}"] += 1
        state.metrics.error(exc.code)
        return error_reply(status, exc.code, str(exc), retry_after=5 if status == 503 else None,
                           **exc.result.as_json(), **extra)
    state.metrics.http_requests[f"{path} 200"] += 1
    state.metrics.acks += 1
    return web.json_response({**res.as_json(), **extra})


_SOURCE_NAME = re.compile(r"[A-Za-z0-9_.:@+-]{1,200}")


def lines_head(name: str) -> bytes:
    """The synthetic head naming a /v1/lines source. It ends in a newline, so no name's
    head is a prefix of another's (heads that extend each other are one source)."""
    return f"logship:/v1/lines?source={name}\n".encode()


async def _resolve_lines(state: CollectorState, client_id: str, name: str, log_format: str | None, tz: str,
                         rate: float | None = None) -> Any:
    try:
        return await state.resolve(client_id, lines_head(name), path=f"/v1/lines?source={name}",
                                   log_format=log_format, tz=tz, format_hit_rate=rate)
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None
    except Exception as exc:  # noqa: BLE001 - e.g. an unknown log format or zone: the caller's input
        raise error_exception(web.HTTPBadRequest, "bad_source", f"cannot resolve source: {exc}") from None


def _detected(info: Any) -> bool:
    """A source whose format was detected, not declared: the store keeps a hit rate only
    for a detected format (a declared one has none)."""
    return info.log_format is not None and info.format_hit_rate is not None


async def handle_lines(request: web.Request) -> web.StreamResponse:
    """POST /v1/lines[?source=NAME][&log_format=F][&tz=Z][&final=1]: newline-delimited text or NDJSON.

    A body of a source with a detected format that does not fit it goes to a sibling
    source (collector/fit.py); a declared format other than the source's, to the
    sibling of that format; a zone other than the source's is refused (400)."""
    state: CollectorState = request.app["state"]
    client_id = state.require_client(request)
    q = request.query
    name = q.get("source") or f"lines-{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"
    if not _SOURCE_NAME.fullmatch(name):  # not match: its `$` also matches before a final newline
        raise error_exception(web.HTTPBadRequest, "bad_request",
                          "source= must be 1-200 characters of letters, digits and _.:@+-")
    log_format = q.get("log_format")
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if log_format is None and ctype in ("application/x-ndjson", "application/jsonl", "application/json-lines"):
        log_format = "jsonl"
    offset_s = request.headers.get("Logship-Offset")
    offset = offset_value(offset_s, "Logship-Offset") if offset_s is not None else None
    if offset is not None:
        _check_body_end(request, offset, "Logship-Offset")
    sent_tz = q.get("tz")
    info = await _resolve_lines(state, client_id, name, log_format, sent_tz or state.config.http_tz)
    if sent_tz is not None and not same_zone(sent_tz, info.tz):
        # what the source holds was read in its zone: a body in another would mix them
        state.metrics.error("tz_mismatch")
        raise error_exception(web.HTTPBadRequest, "tz_mismatch",
                              f"tz {sent_tz} is not the zone of source {name}, {info.tz}: a source keeps its "
                              f"zone (send tz={info.tz} or no tz, or name another source)")
    body = _open_body(state, request)
    try:
        target = name
        if log_format is not None and info.log_format not in (None, log_format):
            # declared, and the source holds another format: the sibling of the declared one
            target = sibling_name(name, log_format)
            info = await _resolve_lines(state, client_id, target, log_format, info.tz)
        elif log_format is None and _detected(info):
            verdict = await asyncio.get_running_loop().run_in_executor(
                state.body_pool, _judge_body, body, info.log_format, info.tz, info.mtime)
            if verdict.move_to is not None:
                target = sibling_name(name, verdict.move_to)
                # `unknown`: created without a format, so the store's own detection stores it as
                # it stores any undetectable source (and may tell its format later)
                fmt = None if verdict.move_to == UNKNOWN else verdict.move_to
                info = await _resolve_lines(state, client_id, target, fmt, info.tz,
                                            rate=None if fmt is None else verdict.moved_rate)
                state.metrics.bodies_moved[verdict.move_to] += 1
        if target != name and not target.endswith("." + UNKNOWN) \
                and info.log_format not in (None, sibling_format(target, name)):
            raise error_exception(web.HTTPBadRequest, "bad_source",
                                  f"source {target} holds format {info.log_format}, not "
                                  f"{sibling_format(target, name)}: name another source")
        lock = state.lines_locks.setdefault(info.source_id, asyncio.Lock())
        async with lock:
            if offset is not None:
                start = offset  # also in a sibling: a resend of the body lands there again, and is subtracted
            else:
                # at-least-once: append after everything committed (requests of a source are serialised)
                try:
                    start = await state.on_writer(lambda: state.store.source(info.source_id).end, flush=False)
                except StoreUnavailable as exc:
                    raise _unavailable(exc) from None
            # a client that tracks offsets resends a cut line from committed_end: the body's
            # end ends its last line only with final=1. Without an offset each body is a
            # batch of whole lines (syslog-ng's http() ends one without a newline): its end
            # ends its last line, or that line would be lost
            final = _flag(q.get("final")) or offset is None
            return await _answer(state, request, info.source_id, start, "live", final, body=body,
                                 newline_ends=True, log_format=info.log_format, source=target, tz=info.tz)
    finally:
        state.body_readers.discard(body.raw)


def sibling_format(target: str, name: str) -> str:
    """The format a sibling source's name says it holds (`<name>.<format>`)."""
    return target[len(name) + 1:]
