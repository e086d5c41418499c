"""JSON lines: one JSON object per line, decoded with the json library (no grammar
rules). The format's .lark file only names the keys (`key timestamp: ts time ...`);
what is left of the object becomes the event's attrs, nested values included."""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

from .batch import ParsedBatch
from .generic import FieldReader, take_keyed
from .grammar import GrammarSpec
from .timestamps import TimestampError

__all__ = ["JsonHandler"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_loads = json.JSONDecoder().decode


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
        f = self.fields
        try:
            ts, level, message, name, session = take_keyed(f, obj)
        except TimestampError as exc:
            return "bad_timestamp", str(exc)
        if cont:
            tail = "\n".join(cont)
            message = tail if message is None else message + "\n" + tail
        try:
            attrs = _dumps(obj) if obj else None
        except ValueError as exc:  # NaN/Infinity, which JSON text cannot hold
            return "bad_value", f"field attrs: {exc}"
        ev = batch.events
        ev.ts_us.append(ts)
        ev.session_id.append(None if session is None else str(session))
        ev.level.append(level or f.default_level)
        ev.name.append(name or f.event_name)
        ev.message.append(message)
        ev.attrs.append(attrs)
        ev.byte_offset.append(offset)
        return None
