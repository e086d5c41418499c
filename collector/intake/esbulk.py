"""Elasticsearch bulk: `POST|PUT /_bulk` and `/{index}/_bulk`, and the handshake a
client needs (`GET /` and `HEAD /` with `X-Elastic-Product: Elasticsearch`).

A bulk body is NDJSON: an action line (`index`, `create`, `delete`, `update`) and, for
`index` and `create`, a source line. Each source object becomes one line of the
client's `esbulk` intake source with its envelope added: `_index` (the action's, else
the path's) and `_id`; the jsonl format reads it (ECS `@timestamp`, `log.level`,
`message` included). `delete` and `update` are answered per item 400: a log store does
not rewrite what it stored.

Exactly-once where the protocol gives an identity: `create` with an `_id` that this
client stored before (in any day's bulk source, or earlier in the same body) is answered
409 (`version_conflict_engine_exception`) and not stored again. The ids stored are read
once per client from the store, then kept in memory. `index`, and `create` without
`_id`, are at-least-once (a resend is stored again). A source that is not a JSON
object is answered 400 (`mapper_parsing_exception`) and not stored; one the format
rejects (e.g. a bad `@timestamp`) is stored as a reject (where logship keeps what it
could not read) and answered 400 (`mapper_parsing_exception`, the reject's code and
reason), its `_id` not counted as stored.

When the queue is full every item is answered 429 (`es_rejected_execution_exception`),
which the clients' bulk helpers retry. Auth: Bearer, Basic (password = token) or
`ApiKey base64(id:token)`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _str
from json.scanner import make_scanner
from typing import Any

from aiohttp import web

from ..state import CollectorState
from .http import BadRequest, client_of, count, read_body
from .offload import render
from .sink import Appended, Busy, append, ndjson_line

__all__ = ["handle_bulk", "handle_root", "parse_bulk", "render_bulk", "Rendered", "add_bulk_routes"]

INTAKE = "esbulk"
PRODUCT = {"X-Elastic-Product": "Elasticsearch"}
log = logging.getLogger("logship.collector.esbulk")
VERSION = "8.17.0"  # what GET / reports: clients and agents of 7.x and 8.x accept it


def _es_json(body: dict[str, Any], status: int = 200, extra: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers={**PRODUCT, **(extra or {})})


def _es_error(status: int, kind: str, reason: str, extra: dict[str, str] | None = None) -> web.Response:
    err = {"type": kind, "reason": reason}
    return _es_json({"error": {"root_cause": [err], **err}, "status": status}, status, extra)


async def handle_root(request: web.Request) -> web.StreamResponse:
    """GET / and HEAD /: the cluster info the Elasticsearch clients check first."""
    return _es_json({"name": "logship", "cluster_name": "logship", "cluster_uuid": "logship-collector",
                     "version": {"number": VERSION, "build_flavor": "default", "build_type": "logship",
                                 "lucene_version": "9.12.0", "minimum_wire_compatibility_version": "7.17.0",
                                 "minimum_index_compatibility_version": "7.0.0"},
                     "tagline": "You Know, for Search"})


class _Item:
    """One action of a bulk body as read (parse_bulk); render_bulk turns them into columns."""

    __slots__ = ("op", "index", "id", "source", "text", "status", "error", "given")

    def __init__(self, op: str, index: str | None, id_: str | None) -> None:
        self.op, self.index, self.id = op, index, id_
        self.given = id_ is not None  # the action named its _id (not one generated here)
        self.source: dict[str, Any] | None = None
        self.text: str | None = None  # the source line as sent, when it may be written as is (_as_sent)
        self.status = 0
        self.error: dict[str, str] | None = None

    def fail(self, status: int, kind: str, reason: str) -> None:
        self.status, self.error = status, {"type": kind, "reason": reason}


_CREATED = (',"status":201,"_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},'
            '"_seq_no":0,"_primary_term":1}}')


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    v = float(text)
    if v in (math.inf, -math.inf):
        raise ValueError(f"{text} is out of range")
    return v


# a source is read by the C scanner: JSON text without NaN, Infinity or numbers past a
# float's range (a source holding them goes the long way, json.loads, and is refused)
_scan = make_scanner(json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite))


def _as_sent(line: bytes) -> tuple[dict[str, Any], str] | None:
    """A source line that can be written as sent: (its object, its text), or None (read
    it the long way). It must be strict UTF-8 text starting with `{` that the C scanner
    reads whole as one object, holding nothing canonical JSON refuses (NaN, Infinity,
    1e400). Written as sent with `_index` and `_id` appended, it reads as the same
    object as `{**source, "_index": .., "_id": ..}` encoded: JSON keeps the first
    place and the last value of a repeated key, as that dict merge does."""
    if line[:1] != b"{" or line[1:2] == b"\x00":  # a BOM or UTF-16/32: json.loads' own detection
        return None
    try:
        text = line.decode("utf-8").rstrip(" \t\r")
        obj, end = _scan(text, 0)
    except (ValueError, StopIteration, RecursionError):
        return None
    if end != len(text) or not isinstance(obj, dict):
        return None
    return obj, text


def _action(line: bytes, n: int, default_index: str | None,
            seen: dict[bytes, tuple[str, str | None, str | None]]) -> tuple[str, str | None, str | None]:
    """An action line's (op, index, id); BadRequest when it is not one. Equal action
    lines (`{"index":{"_index":"app"}}` before every source) are read once a body."""
    got = seen.get(line)
    if got is not None:
        return got
    try:
        action = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"line {n}: the action is not JSON: {exc}") from None
    if not isinstance(action, dict) or len(action) != 1:
        raise BadRequest(f"line {n}: expected an action object with one key (index, create, delete, update)")
    (op, meta), = action.items()
    if op not in ("index", "create", "delete", "update") or not isinstance(meta, dict):
        raise BadRequest(f"line {n}: unknown action {op!r} (index, create, delete, update)")
    index = meta.get("_index", default_index)
    id_ = meta.get("_id")
    got = op, index if isinstance(index, str) else None, None if id_ is None else str(id_)
    seen[line] = got
    return got


def parse_bulk(body: bytes, default_index: str | None) -> list[_Item]:
    """The body's actions with their sources; BadRequest for a body ES refuses whole."""
    lines = [ln for ln in body.split(b"\n") if ln.strip()]
    items: list[_Item] = []
    seen: dict[bytes, tuple[str, str | None, str | None]] = {}
    i = 0
    while i < len(lines):
        op, index, id_ = _action(lines[i], i + 1, default_index, seen)
        item = _Item(op, index, id_)
        items.append(item)
        i += 1
        if op == "delete":
            item.fail(400, "illegal_argument_exception", "delete is not supported: logship keeps what it stored")
            continue
        if i >= len(lines):
            raise BadRequest(f"line {i}: the {op} action has no source line after it")
        src_line = lines[i]
        i += 1
        if op == "update":
            item.fail(400, "illegal_argument_exception", "update is not supported: logship keeps what it stored")
            continue
        if item.index is None:
            item.fail(400, "action_request_validation_exception", "index is missing")
            continue
        sent = _as_sent(src_line)
        if sent is not None:
            item.source, item.text = sent
            continue
        try:
            source = json.loads(src_line)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            item.fail(400, "mapper_parsing_exception", f"failed to parse: {exc}")
            continue
        if not isinstance(source, dict):
            item.fail(400, "mapper_parsing_exception", "the source is not a JSON object")
            continue
        item.source = source
    return items


def render_bulk(body: bytes, default_index: str | None) -> Rendered:
    """parse_bulk, and each item that has a source gets its line (`_line`; an `_id`
    generated where it has none) or the reason it has none (`bad_lines`): all the CPU of
    a bulk body but the `_id` check against the store. A `create` whose `_id` was
    stored before is still answered 409 rather than for its bad source: the check
    comes first (_store).

    A big body is rendered in a parse worker (collector/intake/offload.py), so its
    answer is columns of plain values (Rendered), not an object per item: a worker
    sends 5,000 documents' columns back in 0.4 us a document, their `_Item`s took
    5.5 us (pickled and unpickled, measured), more than rendering them here."""
    items = parse_bulk(body, default_index)
    todo = [it for it in items if it.source is not None]
    fresh_ids = _new_ids(sum(1 for it in todo if it.id is None))
    out = Rendered([it.op for it in items], [it.index for it in items], [], [it.given for it in items], [],
                   [it.status for it in items], {}, {})
    for n, it in enumerate(items):
        if it.error is not None:
            out.errors[n] = (it.error["type"], it.error["reason"])
            out.lines.append(None)
        elif it.source is None:
            out.lines.append(None)
        else:
            if it.id is None:
                it.id = next(fresh_ids)
            try:
                out.lines.append(_line(it))
            except ValueError as exc:
                out.lines.append(None)
                out.bad_lines[n] = f"failed to parse: {exc}"
        out.ids.append(it.id)
    return out


@dataclass(slots=True)
class Rendered:
    """A bulk body's actions, rendered (render_bulk), in columns: one entry per action.

    An action is pending (`status` 0) when it has a source to store: its `lines` entry
    is that line, or None with the reason in `bad_lines` (answered 400 after the id
    check). Every other action is answered already (`status`, `errors`)."""

    ops: list[str]
    indexes: list[str | None]
    ids: list[str | None]
    given: list[bool]  # the action named its _id (not one generated here)
    lines: list[bytes | None]
    status: list[int]
    errors: dict[int, tuple[str, str]]  # action -> (type, reason)
    bad_lines: dict[int, str]

    def fail(self, n: int, status: int, kind: str, reason: str) -> None:
        self.status[n], self.errors[n] = status, (kind, reason)

    def pending(self) -> list[int]:
        """The actions that have a source to store (answered by _store)."""
        return [n for n, st in enumerate(self.status) if st == 0]

    def answers_text(self) -> str:
        """Every action's answer as JSON text, comma-separated (the response's `items`);
        a created one's written from a template with its op and index written once (a
        bulk answer holds one per document)."""
        errors = self.errors
        heads: dict[tuple[str, str], str] = {}
        parts = []
        for n, (op, index, id_, status) in enumerate(zip(self.ops, self.indexes, self.ids, self.status)):
            if status == 201 and index is not None and id_ is not None and n not in errors:
                head = heads.get((op, index))
                if head is None:
                    head = heads[op, index] = '{"' + op + '":{"_index":' + _str(index) + ',"_id":'
                parts.append(head + _str(id_) + _CREATED)
            else:
                parts.append(self.answer_text(n))
        return ",".join(parts)

    def answer_text(self, n: int) -> str:
        """Action n's answer as JSON text."""
        op, index, id_, status = self.ops[n], self.indexes[n], self.ids[n], self.status[n]
        error = self.errors.get(n)
        out: dict[str, Any] = {"_index": index, "_id": id_, "status": status}
        if error is not None:
            out["error"] = {"type": error[0], "reason": error[1], "index": index}
        else:
            out.update({"_version": 1, "result": "created",
                        "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1})
        return json.dumps({op: out})


class _Ids:
    """The `_id`s each client stored through bulk (read from the store once per client)."""

    def __init__(self) -> None:
        self.by_client: dict[str, set[tuple[str, str]]] = {}

    async def of(self, state: CollectorState, client_id: str) -> set[tuple[str, str]]:
        ids = self.by_client.get(client_id)
        if ids is None:
            def read() -> set[tuple[str, str]]:
                rows = state.store.store.con.execute(  # type: ignore[attr-defined]
                    "SELECT DISTINCT attrs->>'_index', attrs->>'_id' FROM events WHERE source_id IN "
                    "(SELECT source_id FROM sources WHERE client_id = $c AND path LIKE 'logship:intake/esbulk?%') "
                    "AND attrs->>'_id' IS NOT NULL", {"c": client_id}).fetchall()
                return {(r[0], r[1]) for r in rows}
            try:
                ids = await state.on_writer(read, flush=False)
            except Exception as exc:  # noqa: BLE001 - a store that cannot answer: retry later
                raise Busy(f"cannot read the stored ids: {exc}", 5.0, store=True) from None
            self.by_client[client_id] = ids
        return ids


def _ids(app: web.Application) -> _Ids:
    return app["esbulk_ids"]  # type: ignore[no-any-return]


def add_bulk_routes(app: web.Application) -> None:
    app["esbulk_ids"] = _Ids()
    app.router.add_get("/", handle_root)
    for path in ("/_bulk", "/{index}/_bulk"):
        app.router.add_post(path, handle_bulk)
        app.router.add_put(path, handle_bulk)


async def handle_bulk(request: web.Request) -> web.StreamResponse:
    """POST|PUT /_bulk, /{index}/_bulk: per-item answers in the bulk response shape."""
    state: CollectorState = request.app["state"]
    t0 = time.monotonic()
    try:
        client_id = client_of(state, request, INTAKE, api_key=True)
        body = await read_body(state, request)
        # a big body in a parse worker, else here with the cyclic GC paused (thousands
        # of items built at once)
        done = await render(state, len(body), render_bulk, body, request.match_info.get("index"))
    except BadRequest as exc:
        count(state, INTAKE, exc.status)
        if exc.status == 401:
            return _es_error(401, "security_exception", str(exc),
                             {"WWW-Authenticate": 'Basic realm="logship", ApiKey'})
        kind = "illegal_argument_exception" if exc.status == 400 else "content_too_long_exception"
        return _es_error(exc.status, kind, str(exc))
    lock = state.lines_locks.setdefault(f"esbulk:{client_id}", asyncio.Lock())
    try:
        async with lock:
            await _store(state, request.app, client_id, done)
        status = 200
    except Busy as exc:
        for n in done.pending():
            done.fail(n, 429, "es_rejected_execution_exception", str(exc))
        status = 429
    count(state, INTAKE, status)
    state.metrics.intake_records[INTAKE] += done.status.count(201)
    took, errors = int((time.monotonic() - t0) * 1000), bool(done.errors)
    body = ('{"took":' + str(took) + ',"errors":' + ("true" if errors else "false") + ',"items":['
            + done.answers_text() + "]}")
    return web.Response(body=body.encode(), content_type="application/json", headers=PRODUCT)


async def _store(state: CollectorState, app: web.Application, client_id: str, done: Rendered) -> None:
    """Commit the pending actions' lines (holding the client's bulk lock); set each answer."""
    todo = done.pending()
    if not todo:
        return
    creates = "create" in done.ops
    if not creates and not done.bad_lines:  # no id to check, every pending action has its line (the common body)
        lines, kept = [done.lines[n] for n in todo], todo  # type: ignore[misc]
    else:
        stored = await _ids(app).of(state, client_id) if creates and any(
            done.ops[n] == "create" and done.given[n] and done.ids[n] for n in todo) else set()
        lines, kept = _checked(done, todo, stored)
    if not lines:
        return
    try:
        appended = await append(state, client_id, INTAKE, b"".join(lines))
    except Busy:
        # some pieces may be committed: the ids are read from the store again next time
        _ids(app).by_client.pop(client_id, None)
        raise
    state.metrics.intake_rejects[INTAKE] += appended.rejects
    for n in kept:
        done.status[n] = 201
    if appended.rejects:
        await _answer_rejects(state, appended, lines, kept, done)
    if client_id in _ids(app).by_client:
        _ids(app).by_client[client_id] |= {(done.indexes[n], done.ids[n]) for n in kept  # type: ignore[misc]
                                           if n not in done.errors}


def _checked(done: Rendered, todo: list[int], stored: set[tuple[str, str]]) -> tuple[list[bytes], list[int]]:
    """The pending actions' lines to store and their actions: a `create` whose `_id` was
    stored before (or earlier in this body) is answered 409, a source without a line 400."""
    ops, indexes, ids, given, bad = done.ops, done.indexes, done.ids, done.given, done.bad_lines
    fresh: set[tuple[str, str]] = set()
    lines: list[bytes] = []
    kept: list[int] = []
    for n in todo:  # rendered (render_bulk): each has its id and its line, or a bad_lines entry
        if ops[n] == "create" and given[n]:
            key = (indexes[n], ids[n])
            if key in stored or key in fresh:
                done.fail(n, 409, "version_conflict_engine_exception",
                          f"[{ids[n]}]: version conflict, document already exists (current version [1])")
                continue
            if n not in bad:
                fresh.add(key)  # type: ignore[arg-type]
        line = done.lines[n]
        if line is None:
            done.fail(n, 400, "mapper_parsing_exception", bad.get(n, "failed to parse"))
            continue
        lines.append(line)
        kept.append(n)
    return lines, kept


def _line(it: _Item) -> bytes:
    """An item's line: its source with `_index` and `_id` added. A source read by
    `_as_sent` is written as sent with the two appended; another is encoded
    (ValueError for what JSON text cannot hold)."""
    assert it.source is not None and it.index is not None and it.id is not None
    if it.text is None:
        return ndjson_line({**it.source, "_index": it.index, "_id": it.id})
    envelope = '"_index":' + _str(it.index) + ',"_id":' + _str(it.id) + "}\n"
    return (it.text[:-1] + "," + envelope if it.source else "{" + envelope).encode()


def _new_ids(n: int) -> Iterator[str]:
    """n generated `_id`s: 20 URL-safe characters of 15 random bytes each, as
    `secrets.token_urlsafe(15)` makes them, from one read of the system's randomness."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(15 * n)).decode("ascii")
    return (raw[k:k + 20] for k in range(0, 20 * n, 20))


async def _answer_rejects(state: CollectorState, appended: Appended, lines: list[bytes], kept: list[int],
                          done: Rendered) -> None:
    """Actions whose line the format stored as a reject are answered 400 with the
    reject's reason: the commit's own rejects (by byte offset in the range just
    appended), read back from the store, not a second parse."""
    at: dict[int, int] = {}
    off = appended.start
    for line, n in zip(lines, kept):
        at[off] = n
        off += len(line)

    def read() -> list[tuple[int, str, str]]:
        return state.store.store.con.execute(  # type: ignore[attr-defined,no-any-return]
            "SELECT byte_offset, error_code, error FROM rejects WHERE source_id = $s AND byte_offset >= $a "
            "AND byte_offset < $b ORDER BY byte_offset", {"s": appended.source_id, "a": appended.start, "b": off}
        ).fetchall()
    try:
        rows = await state.on_writer(read, flush=False)
    except Exception as exc:  # noqa: BLE001 - stored all the same: the items stay 201, the log says why
        log.warning("esbulk: %d rejected documents answered 201: cannot read their rejects: %s", appended.rejects, exc)
        return
    for offset, code, error in rows:
        n = at.get(offset)
        if n is not None and n not in done.errors:
            done.fail(n, 400, "mapper_parsing_exception", f"stored as a reject ({code}): {error}")
