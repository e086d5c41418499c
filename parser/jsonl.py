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
        # An OTLP record's resource, scope and attributes are shared between records
        # (see _otlp_records) unless a `key` directive may take something out of them
        # (`key name: resource.service.name`): take_keyed would then change them.
        heads = {k.partition(".")[0] for keys in self.fields.keys.values() for k in keys}
        self.share = not heads & {"resource", "scope", "attributes"}

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
        objs = _otlp_records(obj, self.share) if "resourceLogs" in obj else [(obj, None)]
        if objs is None:
            return "bad_json", "column 1, field resourceLogs: not an OTLP/JSON logs export"
        rows = []
        # a \uD800-\uDFFF escape: maybe a lone surrogate (most lines hold no escape: one search)
        escaped = "\\u" in head and ("\\ud" in head or "\\uD" in head)
        for o, tail in objs:  # all records checked before any is appended: one line, one outcome
            row = self._row(o, cont, tail)
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

    def _row(self, obj: dict[str, Any], cont: list[str] | None, tail: str | None = None) -> tuple[Any, ...]:
        """One object -> (ts, session, level, name, message, attrs), or (code, error).
        `tail`: the text of the keys that end the object's attrs (an OTLP record's
        resource and scope, `"resource":{..},"scope":".."`), encoded once for all the
        records that share them; `obj` holds the others."""
        try:
            ts, level, message, name, session = take_keyed(self.fields, obj)
        except TimestampError as exc:
            return "bad_timestamp", str(exc)
        if cont:
            tail = "\n".join(cont)
            message = tail if message is None else message + "\n" + tail
        try:
            if tail is None:
                attrs = _dumps(obj) if obj else None
            else:  # the text of {**obj, "resource": .., "scope": ..}: the encoder's own concatenation
                attrs = _dumps(obj)[:-1] + "," + tail + "}" if obj else "{" + tail + "}"
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


def _otlp_records(obj: dict[str, Any], share: bool = False) -> list[tuple[dict[str, Any], str | None]] | None:
    """The log records of an OTLP/JSON export, flattened, each with the text that ends
    its attrs or None (see JsonHandler._row); None when it is not an export.

    `share` (no `key` directive reads into resource, scope or attributes): a scope's
    resource and scope are encoded once (`_tail`) for all its records, and a record's
    attributes equal to the previous record's (`_strings_only`) are neither converted
    nor encoded again: their text joins the tail (attributes come last in a record's
    attrs, before resource and scope). Without it, or where a shortcut does not hold
    (a record with keys `resource` or `scope` of its own, a value JSON text cannot
    hold), each record is built whole."""
    rl = obj.get("resourceLogs")
    if not isinstance(rl, list):
        return None
    out: list[tuple[dict[str, Any], str | None]] = []
    last_raw: Any = None  # the last attributes converted by _kv when they may be reused, and their conversion
    last_kv: dict[str, Any] = {}
    last_text: str | None = None  # last_kv encoded, once a record shares it
    joined: tuple[str, str] | None = None  # (a tail, `"attributes":<last_text>` and that tail)
    for res in rl:
        if not isinstance(res, dict):
            return None
        resource = _kv((res.get("resource") or {}).get("attributes"))
        for sl in res.get("scopeLogs") or ():
            if not isinstance(sl, dict):
                return None
            scope = (sl.get("scope") or {}).get("name")
            tail = _tail(resource, scope) if share else None
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
                    if share and attributes == last_raw:
                        if tail is not None and "resource" not in rec and "scope" not in rec:
                            if joined is None or joined[0] is not tail:
                                if last_text is None:
                                    last_text = _dumps(last_kv)  # text only: it cannot fail
                                joined = tail, '"attributes":' + last_text + ("," + tail if tail else "")
                            out.append((rec, joined[1]))
                            continue
                        rec["attributes"] = last_kv
                    else:
                        kv = rec["attributes"] = _kv(attributes)
                        if share and _strings_only(attributes):
                            last_raw, last_kv, last_text, joined = attributes, kv, None, None
                if tail is not None and "resource" not in rec and "scope" not in rec:
                    out.append((rec, tail or None))
                    continue
                if resource:
                    rec["resource"] = resource
                if scope:
                    rec["scope"] = scope
                out.append((rec, None))
    return out


def _tail(resource: dict[str, Any], scope: Any) -> str | None:
    """`"resource":<resource>,"scope":<scope>` as the encoder writes them at the end of
    an object (either left out when it would not be set: empty text, no tail), or None
    when one cannot be encoded (each record then fails on its own, as before)."""
    try:
        parts = []
        if resource:
            parts.append('"resource":' + _dumps(resource))
        if scope:
            parts.append('"scope":' + _dumps(scope))
    except ValueError:
        return None
    return ",".join(parts)


def _strings_only(items: list[Any]) -> bool:
    """Attributes whose every value is one kind holding text (`{"stringValue": ".."}`,
    proto3 JSON's `{"intValue": "3"}`): a list equal to them (==) is then the same JSON
    value, so its conversion is the same. (With numbers it might not be: 1 == 1.0 ==
    True, but they convert and encode differently.)"""
    for it in items:
        if type(it) is not dict or len(it) != 2 or type(it.get("key")) is not str:
            return False
        v = it.get("value")
        if type(v) is not dict or len(v) != 1:
            return False
        for inner in v.values():
            if type(inner) is not str:
                return False
    return True


_NONE = object()
_ZERO = ("0", 0)
