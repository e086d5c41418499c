"""Stanzas: an entry is a block of `Key: value` lines (apt's history.log).

apt writes one stanza per run: `Start-Date:`, `Commandline:`, `Requested-By:`,
`Install:`/`Upgrade:`/`Remove:`/`Purge:`, `Error:`, `End-Date:`, a blank line before
each. The format's grammar reads a stanza's first line and its `head:` says which line opens
one (lines that do not join the stanza above); the `key` directives say which keys hold the time, message and level, as
for JSON lines (parser/generic.py `take_keyed`); every other key is an attribute, under
its own name. A line of the block that is not `Key: value`, or a key seen twice (two
stanzas run together after a lost head line), makes the entry a `bad_field` reject
naming it: a stanza is read whole or not at all, never with another's fields.
"""

from __future__ import annotations

import json
import re
from datetime import tzinfo
from typing import Any

from lark import Lark
from lark.exceptions import UnexpectedInput

from .batch import ParsedBatch
from .diagnose import describe
from .generic import FieldReader, take_keyed
from .grammar import GrammarSpec
from .compiled import fast_parser
from .lalr import FlatTransformer
from .timestamps import TimestampError

__all__ = ["StanzaHandler"]

_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*):(?: (.*))?")


class StanzaHandler:
    """One stanza -> one event."""

    # the grammar reads the stanza's first line (its head); the `Key: value` lines are read here
    transformer_class = FlatTransformer

    def __init__(self, spec: GrammarSpec, lark: Lark, tz: tzinfo, mtime: float | None,
                 context: dict[str, Any] | None, path: str | None = None) -> None:
        self._parse_head = fast_parser(lark)  # compiled regex first, LALR for the rest
        self._lark = lark
        self.fields = FieldReader(spec, tz, mtime, context, path)
        self._time_keys = set(self.fields.keys.get("timestamp", ()))

    def context(self) -> dict[str, Any]:
        return self.fields.context()

    def handle(self, head: str, cont: list[str] | None, batch: ParsedBatch,
               offset: int) -> tuple[str, str] | None:
        try:
            self._parse_head(head)  # the first line as the grammar says a stanza opens
        except UnexpectedInput as exc:
            return describe(exc, head, self._lark)
        obj: dict[str, Any] = {}
        for n, line in enumerate([head, *(cont or ())]):
            if not line.strip():
                continue  # the blank line that separates stanzas
            m = _FIELD.fullmatch(line)
            if m is None:
                where = "the stanza's first line" if n == 0 else f"line {n + 1} of the stanza"
                return "bad_field", f"{where}: expected 'Key: value', got {line[:60]!r}"
            key, value = m.group(1), (m.group(2) or "").strip()
            if key in obj:  # two stanzas run together (a lost head line): not one entry's fields
                return "bad_field", f"line {n + 1} of the stanza: key {key!r} again (a stanza holds each key once)"
            if key in self._time_keys:
                value = " ".join(value.split())  # apt pads its dates: `2026-05-20  16:27:19`
            obj[key] = value
        try:
            ts, level, message, name, session = take_keyed(self.fields, obj)
        except TimestampError as exc:
            return "bad_timestamp", str(exc)
        ev = batch.events
        f = self.fields
        ev.ts_us.append(ts)
        ev.session_id.append(None if session is None else str(session))
        ev.level.append(level or f.default_level)
        ev.name.append(name or f.event_name)
        ev.message.append(message)
        ev.attrs.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if obj else None)
        ev.byte_offset.append(offset)
        return None
