"""OTLP/HTTP logs: `POST /v1/logs`, protobuf (`application/x-protobuf`) or JSON
(`application/json`), gzip or not.

Each log record becomes a line of the client's `otlp` intake source: an OTLP/JSON
export holding that record with its resource and scope (`{"resourceLogs": [...]}`;
up to CHUNK records of one resource and scope share a line in a protobuf request),
which the jsonl format reads as it reads the file exporter's lines: `timeUnixNano`
(else `observedTimeUnixNano`, and then the event says `timeSource`), `severityText`
(else `severityNumber`) as the level, `body` as the message; resource and scope
attributes, `traceId`/`spanId` (hex) and `eventName` kept in attrs. Nothing else of the
record is read here: the envelope only.

Answers (the OTLP/HTTP spec): 200 with an `ExportLogsServiceResponse` in the request's
encoding (`partialSuccess.rejectedLogRecords` counts the records stored as rejects);
400 with a `google.rpc.Status` for a payload that cannot be decoded (not retryable);
429 (queue full) or 503 (store failing, stopping) with `Retry-After`, which the SDKs and
the Collector retry. At-least-once: a retried export is stored again.
"""

from __future__ import annotations

import base64
import json
import math
from json.encoder import encode_basestring_ascii
from typing import Any

from aiohttp import web
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (ExportLogsServiceRequest,
                                                                    ExportLogsServiceResponse)
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from ..state import CollectorState
from .offload import render
from .http import BadRequest, Unsupported, client_of, count, load_json, media_type, read_body
from .sink import Busy, append, canonical_json, ndjson_line

__all__ = ["handle_otlp_logs", "render_protobuf", "render_json"]

INTAKE = "otlp"
PROTOBUF = "application/x-protobuf"
_encode = canonical_json
_str = encode_basestring_ascii  # a JSON string, ASCII-escaped, as the canonical lines have it


def _any(v: Any) -> dict[str, Any]:
    """A protobuf AnyValue as OTLP/JSON."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return {"stringValue": v.string_value}
    if kind == "int_value":
        return {"intValue": str(v.int_value)}
    if kind == "bool_value":
        return {"boolValue": v.bool_value}
    if kind == "double_value":
        d = v.double_value
        # proto3 JSON writes the non-finite doubles as strings (JSON text has no NaN)
        return {"doubleValue": d if math.isfinite(d) else ("NaN" if d != d else "Infinity" if d > 0 else "-Infinity")}
    if kind == "array_value":
        return {"arrayValue": {"values": [_any(x) for x in v.array_value.values]}}
    if kind == "kvlist_value":
        return {"kvlistValue": {"values": _kvs(v.kvlist_value.values)}}
    if kind == "bytes_value":
        return {"bytesValue": base64.b64encode(v.bytes_value).decode()}
    return {}


def _kvs(items: Any) -> list[dict[str, Any]]:
    return [{"key": kv.key, "value": _any(kv.value)} for kv in items]


def _any_text(v: Any) -> str:
    """A protobuf AnyValue as OTLP/JSON text: the common kinds written directly (the
    same text as encoding `_any(v)`), the others through `_any`."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return '{"stringValue":' + _str(v.string_value) + "}"
    if kind == "int_value":
        return '{"intValue":"' + str(v.int_value) + '"}'
    if kind == "bool_value":
        return '{"boolValue":true}' if v.bool_value else '{"boolValue":false}'
    return _encode(_any(v))


# KeyValue text by the KeyValue's bytes: an SDK repeats its attributes (code path,
# function, line) in record after record; equal bytes are an equal message
_KV_TEXT: dict[bytes, str] = {}
_KV_TEXT_MAX = 8192
_CACHED_TEXT_MAX = 4096  # longer texts (and their bytes, the key) are not kept: at most ~64 MiB a cache


def _kvs_text(items: Any) -> str:
    """Repeated KeyValue as OTLP/JSON text (`[{"key":..,"value":{..}},..]`): messages,
    or their bytes as sent (a LogRecord's attributes read by _RAW_LOGS; DecodeError
    when they are not a KeyValue)."""
    cache = _KV_TEXT
    parts = []
    for kv in items:
        raw = kv if type(kv) is bytes else kv.SerializeToString()
        text = cache.get(raw)
        if text is None:
            if type(kv) is bytes:
                kv = common_pb2.KeyValue.FromString(raw)
            text = '{"key":' + _str(kv.key) + ',"value":' + _any_text(kv.value) + "}"
            if len(text) <= _CACHED_TEXT_MAX:
                if len(cache) >= _KV_TEXT_MAX:
                    cache.clear()
                cache[raw] = text
        parts.append(text)
    return "[" + ",".join(parts) + "]"


def _record_text(lr: Any) -> str:
    """A protobuf LogRecord as OTLP/JSON text (proto3 JSON: zero values left out), in
    the key order of the OTLP/JSON field list. Each field is read once (a read of a
    protobuf field costs about what writing its text does)."""
    out = []
    if v := lr.time_unix_nano:
        out.append('"timeUnixNano":"' + str(v) + '"')
    if v := lr.observed_time_unix_nano:
        out.append('"observedTimeUnixNano":"' + str(v) + '"')
    if v := lr.severity_number:
        out.append('"severityNumber":' + str(int(v)))
    if v := lr.severity_text:
        out.append('"severityText":' + _str(v))
    if lr.HasField("body"):
        out.append('"body":' + _any_text(lr.body))
    if v := lr.attributes:
        out.append('"attributes":' + _attributes_text(v))
    if v := lr.dropped_attributes_count:
        out.append('"droppedAttributesCount":' + str(int(v)))
    if v := lr.flags:
        out.append('"flags":' + str(int(v)))
    if v := lr.trace_id:
        out.append('"traceId":"' + v.hex() + '"')
    if v := lr.span_id:
        out.append('"spanId":"' + v.hex() + '"')
    if v := lr.event_name:
        out.append('"eventName":' + _str(v))
    return "{" + ",".join(out) + "}"


# a record's whole attributes text by their KeyValues' bytes as sent (_RAW_LOGS): an
# SDK's records from one call site carry the same ones
_ATTRS_TEXT: dict[tuple[bytes, ...], str] = {}


def _attributes_text(items: Any) -> str:
    """A LogRecord's attributes as text: `_kvs_text`, found at once by all their bytes
    when read as bytes (the same text: it is made of each one's text, in order)."""
    if type(items[0]) is not bytes:
        return _kvs_text(items)
    key = tuple(items)
    text = _ATTRS_TEXT.get(key)
    if text is None:
        text = _kvs_text(key)
        if len(text) <= _CACHED_TEXT_MAX:
            if len(_ATTRS_TEXT) >= _KV_TEXT_MAX:
                _ATTRS_TEXT.clear()
            _ATTRS_TEXT[key] = text
    return text


def _scope(s: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if s.name:
        out["name"] = s.name
    if s.version:
        out["version"] = s.version
    if s.attributes:
        out["attributes"] = _kvs(s.attributes)
    return out


# records of one resource and scope a protobuf export line holds (see render_protobuf)
CHUNK = 100


def _lines(resource: dict[str, Any], scope: dict[str, Any], records: list[dict[str, Any]],
           chunk: int = 1) -> list[bytes]:
    """Export lines of `chunk` records each, with their resource and scope."""
    return [ndjson_line({"resourceLogs": [{"resource": resource,
                                           "scopeLogs": [{"scope": scope, "logRecords": records[a:a + chunk]}]}]})
            for a in range(0, len(records), chunk)]


def _raw_logs() -> Any:
    """A message class reading an export as `LogsData` (the same wire format: field 1,
    repeated ResourceLogs) whose LogRecord.attributes are left as bytes, each element
    one KeyValue as sent: its text is then found by those bytes (_KV_TEXT) without
    building a message per attribute and serialising it again (the SDK repeats its
    attributes in every record). Parsing the bytes gives the message the full parse
    gives (a repeated message's elements are each one length-delimited field), so
    the text is the same; a KeyValue that does not parse is found when its text is
    first written, and the request is refused as the full parse refuses it. None
    where this protobuf cannot build the class: the full parse is used."""
    try:
        pool = descriptor_pool.DescriptorPool()
        for mod in (common_pb2, resource_pb2):
            fdp = descriptor_pb2.FileDescriptorProto()
            mod.DESCRIPTOR.CopyToProto(fdp)
            pool.Add(fdp)
        fdp = descriptor_pb2.FileDescriptorProto()
        logs_pb2.DESCRIPTOR.CopyToProto(fdp)
        old, new = fdp.package, "logship.otlp_raw.logs.v1"
        fdp.name, fdp.package = "logship/otlp_raw/logs.proto", new
        for m in fdp.message_type:
            for f in m.field:
                if f.type_name.startswith(f".{old}."):
                    f.type_name = f".{new}.{f.type_name[len(old) + 2:]}"
                if m.name == "LogRecord" and f.name == "attributes":
                    f.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    f.ClearField("type_name")
        pool.Add(fdp)
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{new}.LogsData"))
    except Exception:  # noqa: BLE001 - another protobuf: the full parse, as before
        return None


_RAW_LOGS = _raw_logs()


def _refuse(body: bytes) -> BadRequest:
    """The answer to a body the full parse refuses, in its words."""
    try:
        ExportLogsServiceRequest().ParseFromString(body)
    except (DecodeError, ValueError) as exc:
        return BadRequest(f"body is not an OTLP ExportLogsServiceRequest: {exc}")
    return BadRequest("body is not an OTLP ExportLogsServiceRequest: a log record's attribute does not parse")


def render_protobuf(body: bytes) -> tuple[bytes, int]:
    """An ExportLogsServiceRequest as export lines, and its record count.

    A decoded protobuf record always reads (its times are integers, its non-finite
    doubles strings), so up to CHUNK records of one resource and scope share a line:
    the resource is written and read once per line, not once per record (40% less CPU
    with the SDK's resource). A JSON request's records may not read, so each has its
    own line there: one record, one outcome.

    The lines are written as text (the records' JSON put together from their fields),
    not built as objects and encoded: the same canonical text, a third of the CPU."""
    req = (_RAW_LOGS or ExportLogsServiceRequest)()
    try:
        req.ParseFromString(body)
    except (DecodeError, ValueError):
        raise _refuse(body) from None
    try:
        return _render(req)
    except DecodeError:  # an attribute read as bytes (_RAW_LOGS) is not a KeyValue
        raise _refuse(body) from None


def _render(req: Any) -> tuple[bytes, int]:
    out: list[str] = []
    n = 0
    for rl in req.resource_logs:
        resource = _encode({"attributes": _kvs(rl.resource.attributes)} if rl.resource.attributes else {})
        for sl in rl.scope_logs:
            head = '{"resourceLogs":[{"resource":' + resource + ',"scopeLogs":[{"scope":' + _encode(_scope(sl.scope))
            records = [_record_text(lr) for lr in sl.log_records]
            out += [head + ',"logRecords":[' + ",".join(records[a:a + CHUNK]) + "]}]}]}\n"
                    for a in range(0, len(records), CHUNK)]
            n += len(records)
    return "".join(out).encode("ascii"), n


def render_json(body: bytes) -> tuple[bytes, int]:
    """An OTLP/JSON ExportLogsServiceRequest as export lines, and its record count."""
    doc = load_json(body)
    rls = doc.get("resourceLogs") if isinstance(doc, dict) else None
    if not isinstance(rls, list):
        raise BadRequest("body is not an OTLP/JSON logs request: no resourceLogs array")
    out: list[bytes] = []
    try:
        for rl in rls:
            if not isinstance(rl, dict):
                raise BadRequest("resourceLogs: expected objects")
            resource = rl.get("resource") or {}
            for sl in rl.get("scopeLogs") or ():
                if not isinstance(sl, dict) or not isinstance(sl.get("logRecords") or [], list):
                    raise BadRequest("scopeLogs: expected objects with a logRecords array")
                out += _lines(resource, sl.get("scope") or {}, sl.get("logRecords") or [])
    except ValueError as exc:  # NaN/Infinity
        raise BadRequest(f"body holds a value JSON text cannot: {exc}") from None
    return b"".join(out), len(out)


def _status(proto: bool, code: int, message: str) -> bytes:
    """A google.rpc.Status (code = 1, message = 2) in the request's encoding."""
    if not proto:
        return json.dumps({"code": code, "message": message}).encode()
    msg = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(msg)) + msg


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


# google.rpc.Code values the spec names for these answers
_RPC_CODE = {400: 3, 401: 16, 413: 3, 415: 3, 429: 8, 503: 14}


async def handle_otlp_logs(request: web.Request) -> web.StreamResponse:
    """POST /v1/logs: an OTLP logs export (protobuf or JSON)."""
    state: CollectorState = request.app["state"]
    ctype = media_type(request)
    proto = ctype != "application/json"
    out_type = PROTOBUF if proto else "application/json"
    headers: dict[str, str] = {}
    try:
        if ctype not in (PROTOBUF, "application/json"):
            raise Unsupported(f"Content-Type {ctype!r}: expected {PROTOBUF} or application/json")
        client_id = client_of(state, request, INTAKE)
        body = await read_body(state, request)
        data, n = await render(state, len(body), render_protobuf if proto else render_json, body)
        done = await append(state, client_id, INTAKE, data) if n else None
    except BadRequest as exc:
        count(state, INTAKE, exc.status)
        return web.Response(status=exc.status, body=_status(proto, _RPC_CODE[exc.status], str(exc)),
                            content_type=out_type)
    except Busy as exc:
        status = 503 if exc.store else 429
        count(state, INTAKE, status)
        headers["Retry-After"] = f"{exc.retry_after:g}"
        return web.Response(status=status, body=_status(proto, _RPC_CODE[status], str(exc)), content_type=out_type,
                            headers=headers)
    count(state, INTAKE, 200, done)
    resp = ExportLogsServiceResponse()
    if done is not None and done.rejects:
        resp.partial_success.rejected_log_records = done.rejects
        resp.partial_success.error_message = (f"{done.rejects} of {n} records stored as rejects "
                                              "(see the rejects table)")
    if proto:
        return web.Response(body=resp.SerializeToString(), content_type=PROTOBUF)
    body_json: dict[str, Any] = {}
    if resp.HasField("partial_success"):
        body_json = {"partialSuccess": {"rejectedLogRecords": str(done.rejects if done else 0),
                                        "errorMessage": resp.partial_success.error_message}}
    return web.json_response(body_json)
