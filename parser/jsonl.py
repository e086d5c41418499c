"""JSON lines: one JSON object per line, decoded with the json library (no grammar
rules). The format's .lark file only names the keys (`key timestamp: ts time ...`);
what is left of the object becomes the event's attrs, nested values included.

An OpenTelemetry OTLP/JSON export line (`{"resourceLogs": [...]}`, the file exporter's
and the collector's JSON) holds many log records: each becomes one event, its
`attributes` and its resource's as plain objects, its `body` as the message; a record
without `timeUnixNano` takes `observedTimeUnixNano` and says so (`timeSource`)."""

from __future__ import annotations

import json
from datetime import tzinfo
from json.scanner import make_scanner
from typing import Any

from .batch import ParsedBatch
from .generic import FieldReader, take_keyed
from .grammar import GrammarSpec
from .jsontext import compact_encoder
from .timestamps import TimestampError

__all__ = ["JsonHandler"]

_dumps = compact_encoder(ensure_ascii=False)
_decoder = json.JSONDecoder()
_scan = make_scanner(_decoder)


def _loads(text: str) -> Any:
    """json.loads of one line: the C scanner straight away, the decoder's wrapper (its
    whitespace skipping, its errors) only for a line it does not read whole from its
    first character. The same values and the same errors, a fifth less time."""
    try:
        obj, end = _scan(text, 0)
    except StopIteration:  # leading space, or no JSON value: the decoder says which
        return _decoder.decode(text)
    if end != len(text):  # trailing space, or more after the value
        return _decoder.decode(text)
    return obj


class JsonHandler:
    """One JSON object per entry -> one event."""

    transformer_class = None  # no Lark grammar: the json library parses

    def __init__(self, spec: GrammarSpec, lark: Any, tz: tzinfo, mtime: float | None,
                 context: dict[str, Any] | None, path: str | None = None) -> None:
        self.fields = FieldReader(spec, tz, mtime, context, path)

    def context(self) -> dict[str, Any]:
        return self.fields.context()

    def handle(self, head: str, cont: list[str] | None, batch: ParsedBatch,
               offset: int) -> tuple[str, str] | None:
        try:
            obj = _loads(head)
        except ValueError as exc:  # json.JSONDecodeError carries line/column
            col = getattr(exc, "colno", 0)
            msg = getattr(exc, "msg", str(exc))
            return "bad_json", f"column {col}, field json: {msg}"
        if not isinstance(obj, dict):
            return "bad_json", f"column 1, field json: expected an object, got {type(obj).__name__}"
        objs = _otlp_records(obj) if "resourceLogs" in obj else [obj]
        if objs is None:
            return "bad_json", "column 1, field resourceLogs: not an OTLP/JSON logs export"
        rows = []
        escaped = "\\ud" in head or "\\uD" in head  # a \uD800-\uDFFF escape: maybe a lone surrogate
        for o in objs:  # all records checked before any is appended: one line, one outcome
            row = self._row(o, cont)
            if isinstance(row[0], str):
                return row  # type: ignore[return-value]
            if escaped and (bad := _lone_surrogate(row)) is not None:
                return bad
            rows.append(row)
        ev = batch.events
        f = self.fields
        for ts, session, level, name, message, attrs in rows:
            ev.ts_us.append(ts)
            ev.session_id.append(None if session is None else str(session))
            ev.level.append(level or f.default_level)
            ev.name.append(name or f.event_name)
            ev.message.append(message)
            ev.attrs.append(attrs)
            ev.byte_offset.append(offset)
        return None

    def _row(self, obj: dict[str, Any], cont: list[str] | None) -> tuple[Any, ...]:
        """One object -> (ts, session, level, name, message, attrs), or (code, error)."""
        try:
            ts, level, message, name, session = take_keyed(self.fields, obj)
        except TimestampError as exc:
            return "bad_timestamp", str(exc)
        if cont:
            tail = "\n".join(cont)
            message = tail if message is None else message + "\n" + tail
        try:
            attrs = _dumps(obj) if obj else None
        except ValueError as exc:  # NaN/Infinity, which JSON text cannot hold
            return "bad_value", f"field attrs: {exc}"
        return ts, session, level, name, message, attrs


def _lone_surrogate(row: tuple[Any, ...]) -> tuple[str, str] | None:
    """A bad_value reject when a text of the row holds a lone surrogate: JSON can
    escape one (`"\\ud800"`), text cannot hold it, and the store could not write it."""
    for field, value in zip(("session", "level", "name", "message", "attrs"), row[1:]):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                ch = value[exc.start]
                return "bad_value", f"field {field}: a lone surrogate (\\u{ord(ch):04x}) is not text"
    return None


def _any_value(v: Any) -> Any:
    """An OTLP AnyValue (`{"stringValue": "x"}`, `{"intValue": "3"}`, arrays, kvlists)
    -> a plain JSON value."""
    if not isinstance(v, dict) or len(v) != 1:
        return v
    (kind, inner), = v.items()
    if kind == "stringValue":  # the common kind first
        return inner
    if kind == "intValue":
        try:
            return int(inner)
        except (TypeError, ValueError):
            return inner
    if kind == "arrayValue" and isinstance(inner, dict):
        return [_any_value(x) for x in inner.get("values", ())]
    if kind == "kvlistValue" and isinstance(inner, dict):
        return _kv(inner.get("values", ()))
    if kind.endswith("Value"):
        return inner
    return v


def _kv(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(items, list):
        return out
    for it in items:
        if isinstance(it, dict):
            key = it.get("key")
            if isinstance(key, str):
                v = it.get("value")
                # a string value read here: one call fewer for the common kind
                out[key] = v["stringValue"] if type(v) is dict and len(v) == 1 and "stringValue" in v \
                    else _any_value(v)
    return out


def _otlp_records(obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The log records of an OTLP/JSON export, flattened; None when it is not one."""
    rl = obj.get("resourceLogs")
    if not isinstance(rl, list):
        return None
    out = []
    for res in rl:
        if not isinstance(res, dict):
            return None
        resource = _kv((res.get("resource") or {}).get("attributes"))
        for sl in res.get("scopeLogs") or ():
            if not isinstance(sl, dict):
                return None
            scope = (sl.get("scope") or {}).get("name")
            for lr in sl.get("logRecords") or ():
                if not isinstance(lr, dict):
                    return None
                rec = dict(lr)
                body = rec.pop("body", _NONE)
                attributes = rec.pop("attributes", None)
                if "timeUnixNano" in rec and rec["timeUnixNano"] in _ZERO:  # 0: unknown (the OTLP spec)
                    del rec["timeUnixNano"]
                if "observedTimeUnixNano" in rec and rec["observedTimeUnixNano"] in _ZERO:
                    del rec["observedTimeUnixNano"]
                if "timeUnixNano" not in rec and "observedTimeUnixNano" in rec:
                    # the time the collector saw it stands in: said so in the event's attrs
                    rec["timeSource"] = "observedTimeUnixNano"
                if body is not _NONE:
                    body = _any_value(body)
                    rec["body"] = body if isinstance(body, str) else _dumps(body)
                if attributes:
                    rec["attributes"] = _kv(attributes)
                if resource:
                    rec["resource"] = resource
                if scope:
                    rec["scope"] = scope
                out.append(rec)
    return out


_NONE = object()
_ZERO = ("0", 0)
