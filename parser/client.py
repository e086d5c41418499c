"""The client format's transformer (grammars/client.lark names it: `transformer: client`).

The client format needs more than the generic convention: its KIND (the rule that
matched: session, metric or event) decides whether an entry is an event, a session
mark or a group of metric samples. The line is parsed flat (parser/lalr.py: Lark's
LALR tables, no tree) and `ClientHandler.handle` appends the record to the batch's
column lists directly.
"""

from __future__ import annotations

from itertools import count
from datetime import tzinfo
from typing import Any

from lark import Lark
from lark.exceptions import UnexpectedInput

from .batch import ParsedBatch
from .diagnose import describe
from .grammar import GrammarSpec
from .jsontext import compact_encoder
from .compiled import compiled_for, fast_parser, is_built
from .lalr import FlatTransformer
from .timestamps import IsoSeconds, TimestampError
from .values import convert_pair

__all__ = ["ClientHandler", "MAX_CACHED"]

# Entries in each conversion cache of a handler (~250 bytes each: ~16 MiB at most);
# when full, it starts again empty. 20,000 thrashed on bench/gen_client.py's 1,000,000
# lines (38,197 distinct pair texts: 54,495 conversions in 191,546 lines, 28,122 with room)
MAX_CACHED = 65_536

# (type, text, key, value, unit, is_numeric, serial, sample) of one key=value token;
# sample: float(value) of a numeric one (a metric sample's value), None when not numeric
# or when float() raises (an int too large: the entry then takes the path that raises)
Hit = tuple[str, str, str, Any, "str | None", bool, int, "float | None"]

_PAIRS: dict[str, "Hit"] = {}  # pair text -> its conversion (the hit carries its type)
_OBJECTS: dict[tuple[int, ...], str] = {}  # hits' serial numbers -> their JSON object
_SERIAL = count()  # never reused, so a serial names one hit for the life of the process

_dumps = compact_encoder(ensure_ascii=False)  # the stdlib encoder's text, its C encoder built once


class ClientHandler:
    """Turns one client-format entry (head line + continuation lines) into records."""

    transformer_class = FlatTransformer
    timed = True  # every record it appends has its own timestamp (EntryParser._times)

    def __init__(self, spec: GrammarSpec, lark: Lark, tz: tzinfo, mtime: float | None,
                 context: dict[str, Any] | None, path: str | None = None) -> None:
        self._parse = fast_parser(lark)  # compiled regex first, LALR for the rest
        self._lark = lark
        # the compiled line with its key=value repetition as (terminal, text) pairs, once
        # the compiled path is built (`_parse` builds it after WARM_LINES lines); None:
        # every line through `_parse` (a grammar the fast path cannot read)
        self._split: Any = self._split_when_built
        self._split_when_built(None)
        self._tz = tz
        self._iso = IsoSeconds(tz)
        # process-wide (a conversion depends only on the pair's type and text): the
        # pieces of one file each get a new handler, the caches stay warm
        self._pairs = _PAIRS
        self._objects = _OBJECTS
        self._serial = _SERIAL

    def context(self) -> dict[str, Any]:
        return {}

    def _split_when_built(self, head: str | None) -> Any:
        """Until the compiled path is built: None (the line goes through `_parse`); then
        the compiled split takes this method's place."""
        if not is_built(self._lark):
            return None
        compiled = compiled_for(self._lark)[0]
        self._split = compiled.split if compiled is not None else _no_split
        return None if head is None else self._split(head)

    def handle(self, head: str, cont: list[str] | None, batch: ParsedBatch,
               offset: int) -> tuple[str, str] | None:
        """Append the entry's records to `batch`; return (error_code, error) instead.
        The checks come in one order on both paths: the line, its timestamp, a metric's
        continuation lines, its values (in order), then what the records need."""
        split = self._split(head)
        if split is None:
            return self._handle_tokens(head, cont, batch, offset)
        lead, head_types, texts, toks, tail_types, tail = split
        if len(lead) != 1 or len(texts) != 4 or (tail and tail_types != _TAIL):  # not the client's shape
            return self._handle_tokens(head, cont, batch, offset)
        kind = lead[0]
        try:
            ts = self._iso(texts[0])
        except TimestampError as exc:
            return "bad_timestamp", f"column 1, field timestamp: {exc}"
        if kind == "metric" and cont:
            return _continued(cont)
        pairs = self._pairs
        if kind == "metric" and not tail:
            # most lines of a client log, in one pass: every pair's conversion cached
            # (with its sample's float); anything else takes the steps below, from the start
            prefix = texts[3] + "."
            names: list[str] = []
            values: list[float] = []
            units: list[str | None] = []
            labels: list[Hit] | None = None
            for t, w in toks:
                hit = pairs.get(w)
                if hit is None or hit[0] != t:
                    break
                if hit[5]:
                    v = hit[7]
                    if v is None:
                        break
                    names.append(prefix + hit[2])
                    values.append(v)
                    units.append(hit[4])
                elif labels is None:
                    labels = [hit]
                else:
                    labels.append(hit)
            else:
                k = len(names)
                if k:
                    lab = self._json(labels) if labels is not None else None
                    _metric_rows(batch, ts, texts[2][5:], names, values, units, lab, offset)
                    return None
        hits: list[Hit] = []
        for t, w in toks:
            hit = pairs.get(w)
            if hit is None or hit[0] != t:
                try:
                    hit = self._convert((t, w))
                except ValueError:  # the token path names the column
                    return self._handle_tokens(head, cont, batch, offset)
            hits.append(hit)
        if tail or kind != "metric":
            message = tail[0][3:] if tail else None
            if kind == "metric":
                return self._metric(ts, texts[2][5:], texts[3], message, hits, batch, offset)
            return self._event(kind, ts, texts, hits, message, cont, batch, offset)
        # _metric without a message, inline (most lines of a client log): one pass over
        # the hits, each sample's value converted once when its pair was (Hit's sample)
        group = texts[3]
        prefix = group + "."
        names: list[str] = []
        values: list[float] = []
        units: list[str | None] = []
        for h in hits:
            if h[5]:
                v = h[7]
                if v is None:  # float() raises for it: the path that raises it, unchanged
                    return self._metric(ts, texts[2][5:], group, None, hits, batch, offset)
                names.append(prefix + h[2])
                values.append(v)
                units.append(h[4])
        k = len(names)
        if not k:
            return "no_metrics", f"field {group}: a metric entry needs at least one numeric field"
        lab = self._json([h for h in hits if not h[5]]) if k < len(hits) else None
        _metric_rows(batch, ts, texts[2][5:], names, values, units, lab, offset)
        return None

    def _handle_tokens(self, head: str, cont: list[str] | None, batch: ParsedBatch,
                       offset: int) -> tuple[str, str] | None:
        """The entry through its flat tokens: every line the split above leaves, and the
        bad values, whose errors name the token's column."""
        try:
            ch = self._parse(head)
        except UnexpectedInput as exc:
            return describe(exc, head, self._lark)
        kind = ch[0][1]
        try:
            ts = self._iso(ch[1][1])
        except TimestampError as exc:
            return "bad_timestamp", f"column 1, field timestamp: {exc}"
        if kind == "metric" and cont:
            return _continued(cont)
        n = len(ch)
        message = None
        last = ch[-1]
        if last[0] == "MESSAGE_TAIL":
            n -= 1
            message = last[1][3:]
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
        if kind == "metric":
            return self._metric(ts, ch[3][1][5:], ch[4][1], message, hits, batch, offset)
        return self._event(kind, ts, [t[1] for t in ch[1:5]], hits, message, cont, batch, offset)

    def _event(self, kind: str, ts: int, texts: Any, hits: list[Hit], message: str | None,
               cont: list[str] | None, batch: ParsedBatch, offset: int) -> tuple[str, str] | None:
        """The event of an entry whose pairs are converted (`hits`, in order); `texts`:
        the timestamp's, level's, session's and name's."""
        if cont:
            tail = "\n".join(cont)
            message = tail if message is None else message + "\n" + tail
        attrs = self._json(hits) if hits else None
        ev = batch.events
        ev.ts_us.append(ts)
        ev.session_id.append(texts[2][5:])
        ev.level.append(texts[1])
        ev.name.append(("session." + texts[3]) if kind == "session" else texts[3])
        ev.message.append(message)
        ev.attrs.append(attrs)
        ev.byte_offset.append(offset)
        return None

    def _metric(self, ts: int, session: str, group: str, message: str | None, hits: list[Hit],
                batch: ParsedBatch, offset: int) -> tuple[str, str] | None:
        samples = [h for h in hits if h[5]]
        if not samples:
            return "no_metrics", f"field {group}: a metric entry needs at least one numeric field"
        if message is not None:
            d = {h[2]: h[3] for h in hits if not h[5]}
            d["message"] = message
            lab = _dumps(d)
        elif len(samples) < len(hits):
            lab = self._json([h for h in hits if not h[5]])
        else:
            lab = None
        _append_samples(batch, ts, session, group, samples, lab, offset)
        return None

    # -- caches: a log repeats its key=value texts and label sets -------------------
    # A pair's conversion depends only on its terminal type and text; a JSON object
    # of pairs only on their (type, text) sequence, and a hit carries both (and a
    # serial number of its own, the JSON cache's key), so equal keys give the very same
    # text (values are never compared: -0.0 == 0.0, 1 == 1.0). A findall tuple of the
    # pairs' repetition says both the type (which group is not empty) and the text.
    # A failed conversion or dump is never cached: it raises again, as before.

    def _convert(self, tok: Any) -> Hit:
        """(type, text, key, value, unit, is_numeric, serial) of a PAIR token; raises ValueError."""
        key, value, unit, numeric = convert_pair(tok[0], tok[1])
        sample = None
        if numeric:
            try:
                sample = float(value)
            except (OverflowError, ValueError, TypeError):
                pass  # _append_samples raises it again, for the entry that holds it
        hit = (tok[0], tok[1], key, value, unit, numeric, next(self._serial), sample)
        pairs = self._pairs
        if len(pairs) >= MAX_CACHED:
            pairs.clear()
        pairs[tok[1]] = hit
        return hit

    def _json(self, hits: list[Hit]) -> str:
        """The JSON object text of the pairs `hits` (later keys win, as in a dict)."""
        key = tuple([h[6] for h in hits])
        text = self._objects.get(key)
        if text is None:
            text = _dumps({h[2]: h[3] for h in hits})
            objects = self._objects
            if len(objects) >= MAX_CACHED:
                objects.clear()
            objects[key] = text
        return text


_TAIL = ("MESSAGE_TAIL",)


def _no_split(head: str) -> None:
    """The split of a grammar the fast path cannot read: none, every line takes the tokens."""
    return None


def _continued(cont: list[str]) -> tuple[str, str]:
    return ("unexpected_continuation",
            f"continuation line, field message: a metric entry cannot have continuation lines ({len(cont)} found)")


def _append_samples(batch: ParsedBatch, ts: int, session: str, group: str, samples: list[Any],
                    labels: str | None, offset: int) -> None:
    """A metric entry's samples (conversion hits), whole columns at once. float() may
    raise (an int too large): it runs before any append, so a failed entry adds nothing."""
    values = [float(h[3]) for h in samples]
    prefix = group + "."
    _metric_rows(batch, ts, session, [prefix + h[2] for h in samples], values, [h[4] for h in samples], labels,
                 offset)


def _metric_rows(batch: ParsedBatch, ts: int | None, session: str, names: list[str], values: list[float],
                 units: list[str | None], labels: str | None, offset: int) -> None:
    """One metric entry's samples (one row each, sharing its time, session, labels and
    offset) appended to the batch's metric columns (every way the handler adds them)."""
    k = len(names)
    m = batch.metrics
    m.ts_us.extend([ts] * k)
    m.session_id.extend([session] * k)
    m.name.extend(names)
    m.value.extend(values)
    m.unit.extend(units)
    m.labels.extend([labels] * k)
    m.byte_offset.extend([offset] * k)
