"""The client format's transformer (grammars/client.lark names it: `transformer: client`).

The client format needs more than the generic convention: its KIND (the rule that
matched: session, metric or event) decides whether an entry is an event, a session
mark or a group of metric samples. The line is parsed flat (parser/lalr.py: Lark's
LALR tables, no tree) and `ClientHandler.handle` appends the record to the batch's
column lists directly.
"""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

from lark import Lark
from lark.exceptions import UnexpectedInput

from .batch import ParsedBatch
from .diagnose import describe
from .grammar import GrammarSpec
from .lalr import FastLALR, FlatTransformer, Tok
from .timestamps import TimestampError, iso_to_us
from .values import convert_pair

__all__ = ["ClientHandler"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class ClientHandler:
    """Turns one client-format entry (head line + continuation lines) into records."""

    transformer_class = FlatTransformer

    def __init__(self, spec: GrammarSpec, lark: Lark, tz: tzinfo, mtime: float | None,
                 context: dict[str, Any] | None, path: str | None = None) -> None:
        self._parse = FastLALR.of(lark).parse
        self._lark = lark
        self._tz = tz

    def context(self) -> dict[str, Any]:
        return {}

    def handle(self, head: str, cont: list[str] | None, batch: ParsedBatch,
               offset: int) -> tuple[str, str] | None:
        """Append the entry's records to `batch`; return (error_code, error) instead."""
        try:
            ch = self._parse(head)
        except UnexpectedInput as exc:
            return describe(exc, head, self._lark)
        kind = ch[0][1]
        try:
            ts = iso_to_us(ch[1][1], self._tz)
        except TimestampError as exc:
            return "bad_timestamp", f"column 1, field timestamp: {exc}"
        level = ch[2][1]
        session = ch[3][1][5:]
        name = ch[4][1]
        n = len(ch)
        message = None
        last = ch[-1]
        if last[0] == "MESSAGE_TAIL":
            n -= 1
            message = last[1][3:]
        if cont:
            tail = "\n".join(cont)
            message = tail if message is None else message + "\n" + tail
        if kind == "metric":
            if cont:
                return ("unexpected_continuation",
                        f"continuation line, field message: a metric entry cannot have continuation lines "
                        f"({len(cont)} found)")
            return self._metric(ch, n, ts, session, name, message, batch, offset)
        attrs: dict[str, Any] = {}
        for i in range(5, n):
            tok = ch[i]
            try:
                key, value, _, _ = convert_pair(tok[0], tok[1])
            except ValueError as exc:
                return "bad_value", f"column {tok[2]}, field {tok[1].partition('=')[0]}: {exc}"
            attrs[key] = value
        ev = batch.events
        ev.ts_us.append(ts)
        ev.session_id.append(session)
        ev.level.append(level)
        ev.name.append(("session." + name) if kind == "session" else name)
        ev.message.append(message)
        ev.attrs.append(_dumps(attrs) if attrs else None)
        ev.byte_offset.append(offset)
        return None

    def _metric(self, ch: list[Tok], n: int, ts: int, session: str, group: str,
                message: str | None, batch: ParsedBatch, offset: int) -> tuple[str, str] | None:
        samples: list[tuple[str, Any, str | None]] = []
        labels: dict[str, Any] = {}
        for i in range(5, n):
            tok = ch[i]
            try:
                key, value, unit, numeric = convert_pair(tok[0], tok[1])
            except ValueError as exc:
                return "bad_value", f"column {tok[2]}, field {tok[1].partition('=')[0]}: {exc}"
            if numeric:
                samples.append((key, value, unit))
            else:
                labels[key] = value
        if message is not None:
            labels["message"] = message
        if not samples:
            return "no_metrics", f"field {group}: a metric entry needs at least one numeric field"
        lab = _dumps(labels) if labels else None
        m = batch.metrics
        prefix = group + "."
        for key, value, unit in samples:
            m.ts_us.append(ts)
            m.session_id.append(session)
            m.name.append(prefix + key)
            m.value.append(float(value))
            m.unit.append(unit)
            m.labels.append(lab)
            m.byte_offset.append(offset)
        return None
