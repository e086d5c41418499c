"""Loki push: `POST /loki/api/v1/push`, JSON (`application/json`, gzip or not) or
snappy-compressed protobuf (`application/x-protobuf`, Loki's `PushRequest`).

Each entry becomes one line of the client's `loki` intake source: `timestamp` (the
entry's time as RFC 3339 UTC text with its nanoseconds), `message` (the log line, as sent), `labels` (its
stream's labels) and `metadata` (its structured metadata, when any); the jsonl format
reads them (a stream's `level`, `severity` or `detected_level` label is the level:
`labels.level` and the like in its conventions).
The legacy JSON shape (`labels` as a string, `entries` of `ts`/`line`) that older
clients send is read too.

Answers as Loki does: 204 on success; 400 with a text reason for a payload that cannot
be read; 429 (queue full) or 503 (store failing, stopping) with `Retry-After`, which
Promtail, Alloy and the Loki clients retry. At-least-once: a retried push is stored again.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from json.encoder import encode_basestring_ascii as _str
from typing import Any

import cramjam
from aiohttp import web
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from ..state import CollectorState
from .http import BadRequest, Unsupported, client_of, count, load_json, media_type, read_body
from .sink import Busy, append, canonical_json

__all__ = ["handle_push", "render_json", "render_protobuf", "parse_labels", "PushRequest"]

INTAKE = "loki"


def _push_request_class() -> Any:
    """Loki's push.proto (PushRequest, StreamAdapter, EntryAdapter, LabelPairAdapter) built
    from its field numbers; Timestamp as its own message with google.protobuf's fields."""
    f = descriptor_pb2.FileDescriptorProto(name="logship_loki_push.proto", package="logship.loki", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def msg(name: str, *fields: tuple[str, int, int, int, str | None]) -> None:
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = type_name

    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    msg("Timestamp", ("seconds", 1, T.TYPE_INT64, opt, None), ("nanos", 2, T.TYPE_INT32, opt, None))
    msg("LabelPairAdapter", ("name", 1, T.TYPE_STRING, opt, None), ("value", 2, T.TYPE_STRING, opt, None))
    msg("EntryAdapter", ("timestamp", 1, T.TYPE_MESSAGE, opt, ".logship.loki.Timestamp"),
        ("line", 2, T.TYPE_STRING, opt, None),
        ("structuredMetadata", 3, T.TYPE_MESSAGE, rep, ".logship.loki.LabelPairAdapter"))
    msg("StreamAdapter", ("labels", 1, T.TYPE_STRING, opt, None),
        ("entries", 2, T.TYPE_MESSAGE, rep, ".logship.loki.EntryAdapter"), ("hash", 3, T.TYPE_UINT64, opt, None))
    msg("PushRequest", ("streams", 1, T.TYPE_MESSAGE, rep, ".logship.loki.StreamAdapter"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logship.loki.PushRequest"))


PushRequest = _push_request_class()

# one `name="value"` of a Prometheus label set; values are Go-quoted strings
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_labels(text: str) -> dict[str, str]:
    """`{job="api", level="error"}` -> {"job": "api", "level": "error"}; BadRequest else."""
    s = text.strip()
    if not (s.startswith("{") and s.endswith("}")):
        raise BadRequest(f"labels {text[:200]!r}: expected {{name=\"value\", ...}}")
    body, out, pos = s[1:-1].strip(), {}, 0
    while pos < len(body):
        m = _LABEL.match(body, pos)
        if m is None:
            raise BadRequest(f"labels {text[:200]!r}: cannot read at column {pos + 2}")
        try:
            out[m.group(1)] = json.loads('"' + m.group(2) + '"')
        except ValueError:
            raise BadRequest(f"labels {text[:200]!r}: bad escape in the value of {m.group(1)}") from None
        pos = m.end()
    return out


# RFC 3339 text of whole seconds: a push's entries mostly share a few seconds
_SECONDS: dict[int, str] = {}


def _iso(ns: int) -> str:
    """Nanoseconds since the epoch as RFC 3339 UTC text with nine decimals: the unit
    written out (an epoch number's unit is guessed from its size by the format)."""
    secs, nanos = divmod(ns, 1_000_000_000)
    text = _SECONDS.get(secs)
    if text is None:
        try:
            day = dt.datetime.fromtimestamp(secs, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise BadRequest(f"timestamp {ns}: out of range") from None
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[secs] = f"{day:%Y-%m-%dT%H:%M:%S}."
    return f"{text}{nanos:09d}Z"


def _line(ns: int, line: str, labels: str, metadata: dict[str, str] | None) -> str:
    """One entry's line as text: `{"timestamp", "message", "labels", "metadata"}`,
    the same as encoding that object; `labels` is the stream's labels' text (encoded
    once a stream). ValueError for metadata JSON text cannot hold (NaN)."""
    text = '{"timestamp":"' + _iso(ns) + '","message":' + _str(line) + ',"labels":' + labels
    return text + (',"metadata":' + canonical_json(metadata) + "}\n" if metadata else "}\n")


def _ns(value: Any) -> int:
    """A JSON entry's time: nanoseconds as a string (or number)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise BadRequest(f"timestamp {value!r}: expected nanoseconds since the epoch as a string")


def _rfc3339_ns(value: Any) -> int:
    """A legacy entry's `ts` (RFC 3339) as nanoseconds."""
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"ts {value!r}: expected an RFC 3339 time") from None
    if t.tzinfo is None:
        raise BadRequest(f"ts {value!r}: expected an RFC 3339 time with its offset")
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def render_json(body: bytes) -> tuple[bytes, int]:
    """A JSON push as entry lines, and the entry count."""
    doc = load_json(body)
    streams = doc.get("streams") if isinstance(doc, dict) else None
    if not isinstance(streams, list):
        raise BadRequest("body has no streams array")
    out: list[str] = []
    for i, st in enumerate(streams):
        if not isinstance(st, dict):
            raise BadRequest(f"streams[{i}]: expected an object")
        if "stream" in st or "values" in st:
            labels = st.get("stream") or {}
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise BadRequest(f"streams[{i}].stream: expected an object of string labels")
            labels_text = canonical_json(labels)
            for j, v in enumerate(st.get("values") or ()):
                if not isinstance(v, list) or len(v) not in (2, 3) or not isinstance(v[1], str) \
                        or (len(v) == 3 and not isinstance(v[2], dict)):
                    raise BadRequest(f"streams[{i}].values[{j}]: expected [\"<ns>\", \"<line>\"(, {{metadata}})]")
                try:
                    out.append(_line(_ns(v[0]), v[1], labels_text, v[2] if len(v) == 3 else None))
                except ValueError as exc:  # NaN/Infinity in the metadata
                    raise BadRequest(f"streams[{i}].values[{j}]: a value JSON text cannot hold: {exc}") from None
        else:  # legacy: {"labels": "{...}", "entries": [{"ts": "RFC 3339", "line": "..."}]}
            labels_text = canonical_json(parse_labels(str(st.get("labels", "{}"))))
            for j, e in enumerate(st.get("entries") or ()):
                if not isinstance(e, dict) or not isinstance(e.get("line"), str):
                    raise BadRequest(f"streams[{i}].entries[{j}]: expected {{\"ts\", \"line\"}}")
                out.append(_line(_rfc3339_ns(e.get("ts")), e["line"], labels_text, None))
    return "".join(out).encode("ascii"), len(out)


def render_protobuf(body: bytes) -> tuple[bytes, int]:
    """A snappy-compressed PushRequest as entry lines, and the entry count."""
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # noqa: BLE001 - cramjam raises its own DecompressionError
        raise BadRequest(f"body is not snappy-compressed (block format): {exc}") from None
    req = PushRequest()
    try:
        req.ParseFromString(raw)
    except (DecodeError, ValueError) as exc:
        raise BadRequest(f"body is not a Loki PushRequest: {exc}") from None
    out: list[str] = []
    for st in req.streams:
        labels = canonical_json(parse_labels(st.labels))
        for e in st.entries:
            ts = e.timestamp
            meta = {p.name: p.value for p in e.structuredMetadata} if e.structuredMetadata else None
            out.append(_line(ts.seconds * 1_000_000_000 + ts.nanos, e.line, labels, meta))
    return "".join(out).encode("ascii"), len(out)


async def handle_push(request: web.Request) -> web.StreamResponse:
    """POST /loki/api/v1/push."""
    state: CollectorState = request.app["state"]
    ctype = media_type(request)
    try:
        client_id = client_of(state, request, INTAKE)
        if ctype not in ("application/json", "application/x-protobuf", ""):
            raise Unsupported(f"Content-Type {ctype!r}: expected application/json or application/x-protobuf")
        body = await read_body(state, request)
        data, n = render_json(body) if ctype == "application/json" else render_protobuf(body)
        done = await append(state, client_id, INTAKE, data) if n else None
    except BadRequest as exc:
        count(state, INTAKE, exc.status)
        return web.Response(status=exc.status, text=str(exc) + "\n")
    except Busy as exc:
        status = 503 if exc.store else 429
        count(state, INTAKE, status)
        return web.Response(status=status, text=str(exc) + "\n", headers={"Retry-After": f"{exc.retry_after:g}"})
    count(state, INTAKE, 204, done)
    return web.Response(status=204)
