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
from .compiled import fast_parser
from .lalr import FlatTransformer, Tok
from .timestamps import TimestampError, iso_to_us
from .values import convert_pair

__all__ = ["ClientHandler", "MAX_CACHED"]

# Entries in each conversion cache of a handler (~250 bytes each); when full, it starts
# again empty.
MAX_CACHED = 20_000

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class ClientHandler:
    """Turns one client-format entry (head line + continuation lines) into records."""

    transformer_class = FlatTransformer

    def __init__(self, spec: GrammarSpec, lark: Lark, tz: tzinfo, mtime: float | None,
                 context: dict[str, Any] | None, path: str | None = None) -> None:
        self._parse = fast_parser(lark)  # compiled regex first, LALR for the rest
        self._lark = lark
        self._tz = tz
        self._pairs: dict[str, tuple[str, str, str, Any, str | None, bool]] = {}
        self._objects: dict[tuple[Any, ...], str] = {}

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
        attrs: str | None = None
        if n > 5:
            pairs = self._pairs
            hits = []
            for i in range(5, n):
                tok = ch[i]
                hit = pairs.get(tok[1])
                if hit is None or hit[0] != tok[0]:
                    try:
                        hit = self._convert(tok)
                    except ValueError as exc:
                        return "bad_value", f"column {tok[2]}, field {tok[1].partition('=')[0]}: {exc}"
                hits.append(hit)
            attrs = self._json(tuple(hits))
        ev = batch.events
        ev.ts_us.append(ts)
        ev.session_id.append(session)
        ev.level.append(level)
        ev.name.append(("session." + name) if kind == "session" else name)
        ev.message.append(message)
        ev.attrs.append(attrs)
        ev.byte_offset.append(offset)
        return None

    def _metric(self, ch: list[Tok], n: int, ts: int, session: str, group: str,
                message: str | None, batch: ParsedBatch, offset: int) -> tuple[str, str] | None:
        pairs = self._pairs
        samples = []
        labels = []
        for i in range(5, n):
            tok = ch[i]
            hit = pairs.get(tok[1])
            if hit is None or hit[0] != tok[0]:
                try:
                    hit = self._convert(tok)
                except ValueError as exc:
                    return "bad_value", f"column {tok[2]}, field {tok[1].partition('=')[0]}: {exc}"
            if hit[5]:
                samples.append(hit)
            else:
                labels.append(hit)
        if message is not None:
            d = {h[2]: h[3] for h in labels}
            d["message"] = message
            lab = _dumps(d)
        elif labels:
            lab = self._json(tuple(labels))
        else:
            lab = None
        if not samples:
            return "no_metrics", f"field {group}: a metric entry needs at least one numeric field"
        m = batch.metrics
        prefix = group + "."
        for hit in samples:
            m.ts_us.append(ts)
            m.session_id.append(session)
            m.name.append(prefix + hit[2])
            m.value.append(float(hit[3]))
            m.unit.append(hit[4])
            m.labels.append(lab)
            m.byte_offset.append(offset)
        return None

    # -- caches: a log repeats its key=value texts and label sets -------------------
    # A pair's conversion depends only on its terminal type and text; a JSON object
    # of pairs only on their (type, text) sequence, and a hit carries both, so equal
    # keys give the very same text (values are never compared: -0.0 == 0.0, 1 == 1.0).
    # A failed conversion or dump is never cached: it raises again, as before.

    def _convert(self, tok: Tok) -> tuple[str, str, str, Any, str | None, bool]:
        """(type, text, key, value, unit, is_numeric) of a PAIR token; raises ValueError."""
        key, value, unit, numeric = convert_pair(tok[0], tok[1])
        hit = (tok[0], tok[1], key, value, unit, numeric)
        pairs = self._pairs
        if len(pairs) >= MAX_CACHED:
            pairs.clear()
        pairs[tok[1]] = hit
        return hit

    def _json(self, hits: tuple[tuple[str, str, str, Any, str | None, bool], ...]) -> str:
        """The JSON object text of the pairs `hits` (later keys win, as in a dict)."""
        text = self._objects.get(hits)
        if text is None:
            text = _dumps({h[2]: h[3] for h in hits})
            objects = self._objects
            if len(objects) >= MAX_CACHED:
                objects.clear()
            objects[hits] = text
        return text
