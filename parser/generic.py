"""The generic transformer: a format grammar's terminal NAMES say what each token is
(grammars/README.md), so a user writes one .lark file and no Python.

A line is parsed flat (parser/lalr.py) and its tokens are read left to right:
timestamps (ISO_TIMESTAMP, SYSLOG_TIMESTAMP, CLF_TIMESTAMP, TIME_OF_DAY, EPOCH,
ISO_DATE), LEVEL and PRI, SESSION_ID, NAME/EVENT, MESSAGE/MESSAGE_TAIL/REST, PAIR_*
key=value pairs (typed), FLAG, SCOPE, SYSLOG_TAG, HTTP_REQUEST, ATTR_x / NUM_x /
METRIC_x fields. Each entry yields one event (name from NAME/EVENT or the `event`
directive) plus one metric sample per METRIC_x field.
"""

from __future__ import annotations

import json
import re
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from lark import Lark
from lark.exceptions import UnexpectedInput

from .batch import ParsedBatch
from .diagnose import describe
from .grammar import GrammarSpec
from .jsontext import compact_encoder
from .compiled import fast_parser
from .lalr import RULE, FlatTransformer
from .levels import normalize_level, numeric_level, syslog_severity_level
from .timestamps import (SyslogClock, TimeOfDayClock, TimestampError, clf_to_us, ctime_to_us,
                         epoch_to_us, iso_to_us, short_to_us, slash_to_us)
from .values import DURATION_FACTORS, SIZE_FACTORS, base_type, convert, convert_pair, loose_unquote, pair_cache

__all__ = ["GenericHandler", "FieldReader", "take_keyed", "timestamp_from_value"]

_dumps = compact_encoder(ensure_ascii=False)  # the stdlib encoder's text, its C encoder built once
_TAG = re.compile(r"(?P<app>.*?)(?:\[(?P<pid>\d+)\])?:?")
_REQUEST = re.compile(r"(?P<method>\S+) (?P<path>.*?)(?: (?P<protocol>[A-Z]+/[0-9.]+))?")
_NUMBER_UNIT = re.compile(r"(-?\d+(?:\.\d+)?)([A-Za-z%]*)")
_EPOCH_TEXT = re.compile(r"\d{9,19}(?:\.\d+)?")


def timestamp_from_value(value: Any, tz: tzinfo) -> int:
    """A timestamp held in a key=value or JSON field: ISO text, or epoch s/ms/us (number
    or digits). Raises TimestampError."""
    if type(value) is str:  # the common kind first (the same answer as the checks below)
        return _timestamp_text(value, tz)
    if isinstance(value, bool) or value is None:
        raise TimestampError(f"{value!r} is not a timestamp")
    if isinstance(value, (int, float)):
        try:
            text = format(Decimal(repr(value)), "f")
        except InvalidOperation:
            raise TimestampError(f"{value!r} is not a timestamp") from None
        if text.startswith("-"):
            raise TimestampError(f"negative epoch {value!r}")
        return epoch_to_us(text)
    if not isinstance(value, str):
        raise TimestampError(f"{type(value).__name__} is not a timestamp")
    return _timestamp_text(value, tz)


def _timestamp_text(value: str, tz: tzinfo) -> int:
    s = value.strip()
    if 9 <= len(s) <= 19 and s.isascii() and s.isdigit():  # OTLP's `timeUnixNano`: no regex
        return epoch_to_us(s)
    if s[4:5] != "-" and _EPOCH_TEXT.fullmatch(s):  # ISO text (`2026-`) is not epoch digits
        return epoch_to_us(s)
    return iso_to_us(s, tz)


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


class FieldReader:
    """The conversions of the convention, shared by the generic and JSON handlers: the
    parse context (syslog years, time-of-day dates) and the `key`/`unit` directives."""

    def __init__(self, spec: GrammarSpec, tz: tzinfo, mtime: float | None,
                 context: dict[str, Any] | None, path: str | None) -> None:
        opts = spec.options
        self.tz = tz
        self.mtime = mtime
        self.path = path
        self._context = dict(context or {})
        self._syslog: SyslogClock | None = None
        self._dated_us: int | None = None  # the last full-date stamp read (anchors a later syslog clock)
        self._tod: TimeOfDayClock | None = None
        self.event_name = opts.get("event") or spec.name
        self.metric_prefix = opts.get("metric_prefix") or self.event_name
        self.default_level = normalize_level(opts.get("level")) if opts.get("level") else None
        self.level_map = dict(p.split("=", 1) for p in opts.get("level_map", "").split() if "=" in p)
        self.level_map = {k.upper(): v.upper() for k, v in self.level_map.items()}
        self.keys = {f: opts[f"key {f}"].split() for f in ("timestamp", "level", "message", "name", "session")
                     if f"key {f}" in opts}
        self.units = {k[5:]: v for k, v in opts.items() if k.startswith("unit ")}
        # per set of top-level keys: the `key` directives' keys that can match in it
        self._candidates: dict[tuple[str, ...], tuple[tuple[tuple[str, ...], ...], tuple[str | None, ...] | None]] = {}
        # a level field's text value read (by its key): a source writes a handful
        self.levels: dict[tuple[str, str], str | None] = {}

    def keyed(self, attrs: dict[str, Any]) -> tuple[tuple[tuple[str, ...], ...], tuple[str | None, ...] | None]:
        """For each of take_keyed's fields, its keys (in directive order) that can be
        present in `attrs`: a plain key that is one of its keys, a dotted key that is
        one or whose first part is. take_keyed only removes keys, so no other key can
        match: the same answer as trying them all, computed once per set of keys (JSON
        lines of one source mostly share theirs) instead of ~30 lookups per record.
        And the plan (`_plan`): the key each field takes, when the keys alone say it."""
        sig = tuple(attrs)
        got = self._candidates.get(sig)
        if got is None:
            present = set(sig)
            cands = tuple(tuple(k for k in self.keys.get(field, ())
                                if k in present or ("." in k and k.partition(".")[0] in present))
                          for field in _KEYED)
            got = cands, _plan(cands, present)
            if len(self._candidates) >= 4096:  # sources whose every record has other keys
                self._candidates.clear()
            self._candidates[sig] = got
        return got

    # -- clocks ----------------------------------------------------------------------
    @property
    def syslog(self) -> SyslogClock:
        if self._syslog is None:
            self._syslog = SyslogClock(self.tz, self.mtime, self._context, self.path)
            if self._dated_us is not None:  # a dated line came first: its year, not the mtime's
                self._syslog.anchor(self._dated_us)
        return self._syslog

    @property
    def tod(self) -> TimeOfDayClock:
        if self._tod is None:
            self._tod = TimeOfDayClock(self.tz, self.mtime, self._context, self.path)
        return self._tod

    def context(self) -> dict[str, Any]:
        ctx = dict(self._context)
        if self._syslog is not None:
            ctx.update(self._syslog.context())
        if self._tod is not None:
            ctx.update(self._tod.context())
        return ctx

    def timestamp(self, kind: str, text: str) -> int:
        if kind == "ISO_TIMESTAMP":
            us = iso_to_us(text, self.tz)
            self._dated_us = us
            if self._syslog is not None:
                self._syslog.anchor(us)
            return us
        if kind == "SYSLOG_TIMESTAMP":
            return self.syslog.to_us(text)
        if kind == "CLF_TIMESTAMP":
            return clf_to_us(text)
        if kind == "TIME_OF_DAY":
            return self.tod.to_us(text)
        if kind == "EPOCH":
            return epoch_to_us(text)
        if kind == "SLASH_TIMESTAMP":
            return slash_to_us(text, self.tz)
        if kind == "SHORT_TIMESTAMP":
            return short_to_us(text, self.tz)
        if kind == "CTIME_TIMESTAMP":
            return ctime_to_us(text, self.tz)
        if kind == "MONTH_DAY_TIMESTAMP":
            return self.syslog.month_day_to_us(text)
        raise TimestampError(f"unknown timestamp terminal {kind}")

    def level(self, word: str | None) -> str | None:
        return normalize_level(word, self.level_map)

    def metric_value(self, name: str, text: str) -> tuple[float, str | None]:
        """A METRIC_x field: a typed value (`1.5s`, `12MiB`, `80%`) or a number whose unit
        comes from the `unit x: seconds` directive."""
        m = _NUMBER_UNIT.fullmatch(text)
        if m is None:
            raise ValueError(f"{text!r} is not a number")
        num, suffix = m.groups()
        if not suffix:
            return float(num), self.units.get(name)
        if suffix in SIZE_FACTORS:
            v, unit = convert("SIZE", text)
        elif suffix in DURATION_FACTORS:
            v, unit = convert("DURATION", text)
        elif suffix == "%":
            v, unit = convert("PERCENT", text)
        else:
            raise ValueError(f"{text!r} has an unknown unit {suffix!r}")
        return float(v), unit


class GenericHandler:
    """One entry of a convention-driven grammar -> one event (+ METRIC_ samples)."""

    transformer_class = FlatTransformer

    def __init__(self, spec: GrammarSpec, lark: Lark, tz: tzinfo, mtime: float | None,
                 context: dict[str, Any] | None, path: str | None = None) -> None:
        self._parse = fast_parser(lark)  # compiled regex first, LALR for the rest
        self._lark = lark
        self.fields = FieldReader(spec, tz, mtime, context, path)
        self._kinds: dict[str, tuple[int, str, dict[str, Any] | None]] = {}

    def context(self) -> dict[str, Any]:
        return self.fields.context()

    def handle(self, head: str, cont: list[str] | None, batch: ParsedBatch,
               offset: int) -> tuple[str, str] | None:
        try:
            toks = self._parse(head)
        except UnexpectedInput as exc:
            return describe(exc, head, self._lark)
        f = self.fields
        ts: int | None = None
        level = f.default_level
        name = f.event_name
        message: str | None = None
        session: str | None = None
        attrs: dict[str, Any] = {}
        samples: list[tuple[str, float, str | None]] = []
        scope = ""
        kinds = self._kinds
        for tok in toks:
            kind = kinds.get(tok[0])
            if kind is None:
                kind = kinds[tok[0]] = _classify(tok[0])
            code, arg, known = kind
            v = tok[1]
            try:
                # the branches in the order of how often a token takes them
                if code == _PAIR:
                    got = known.get(v)  # convert_pair's own cache, looked up in place
                    if got is None:
                        got = convert_pair(arg, v)
                    attrs[scope + got[0]] = got[1]
                elif code == _ATTR:
                    if "=" in v:
                        v = _unnamed(v, arg)
                    if v[:1] == '"' or "\\" in v:  # else loose_unquote gives it back as it is
                        v = loose_unquote(v)
                    attrs[arg] = None if v == "-" else v
                elif code == _TS:
                    ts = f.timestamp(arg, v)
                elif code == _MSG:
                    message = v[3:] if arg == "MESSAGE_TAIL" else v
                    if message[:1] == "\ufeff":  # RFC 5424 marks UTF-8 messages with a BOM
                        message = message[1:]
                elif code == _NUM:
                    if "=" in v:
                        v = _unnamed(v, arg)
                    attrs[arg] = None if v == "-" else _number(v)
                elif code == _LEVEL:
                    level = f.level(v)
                elif code == _PRI:
                    got = known.get(v)
                    if got is None:
                        got = _pri(known, v)
                    level, attrs["facility"], attrs["severity"] = got
                elif code == _SCOPE:
                    scope = v + "."
                elif code == _METRIC:
                    if "=" in v:
                        v = _unnamed(v, arg)
                    if v != "-":
                        value, unit = f.metric_value(arg, v)
                        samples.append((arg, value, unit))
                elif code == _SPECIAL:
                    if arg == "ISO_DATE":
                        f.tod.set_date(v)
                        if ts is None:  # a date banner: its line is dated at the day's start
                            ts = iso_to_us(v + "T00:00:00", f.tz)
                    elif arg == "SYSLOG_TAG":
                        m = _TAG.fullmatch(v)
                        attrs["app"] = m.group("app") if m else v
                        if m and m.group("pid"):
                            attrs["pid"] = int(m.group("pid"))
                    elif arg == "HTTP_REQUEST":
                        m = _REQUEST.fullmatch(loose_unquote(v))
                        if m:
                            attrs.update(method=m.group("method"), path=m.group("path"),
                                         protocol=m.group("protocol"))
                        else:
                            attrs["request"] = loose_unquote(v)
                    elif arg in ("NAME", "EVENT"):
                        name = v
                    elif arg == "SESSION_ID":
                        session = v.rpartition("=")[2]
                    elif arg == "FLAG":
                        attrs[scope + v] = True
                elif code == _OTHER:  # a terminal the convention does not name: keep it
                    attrs[arg] = v
            except (ValueError, TimestampError) as exc:
                t = base_type(tok[0])
                if code == _PAIR:
                    code_, field = "bad_value", v.partition("=")[0]
                else:
                    field = _FIELD.get(t) or t.split("_", 1)[-1].lower()
                    code_ = "bad_timestamp" if field == "timestamp" else f"bad_{field}"
                return code_, f"column {tok[2]}, field {field}: {exc}"
        if f.keys:
            try:
                k_ts, k_level, k_message, k_name, k_session = take_keyed(f, attrs)
            except TimestampError as exc:
                return "bad_timestamp", str(exc)
            ts = k_ts if k_ts is not None else ts
            level = k_level or level
            message = k_message if k_message is not None else message
            name = k_name or name
            session = k_session or session
        if cont:
            tail = "\n".join(cont)
            message = tail if message is None else message + "\n" + tail
        ev = batch.events
        ev.ts_us.append(ts)
        ev.session_id.append(session)
        ev.level.append(level)
        ev.name.append(name)
        ev.message.append(message)
        ev.attrs.append(_dumps(attrs) if attrs else None)
        ev.byte_offset.append(offset)
        if samples:
            m = batch.metrics
            prefix = f.metric_prefix + "."
            for mname, value, unit in samples:
                m.ts_us.append(ts)
                m.session_id.append(session)
                m.name.append(prefix + mname)
                m.value.append(value)
                m.unit.append(unit)
                m.labels.append(None)
                m.byte_offset.append(offset)
        return None



_MISSING = object()


def _pop_key(attrs: dict[str, Any], key: str) -> Any:
    """attrs[key] removed, or a dotted key's nested value (ECS `log.level` written as
    `{"log": {"level": ...}}`; emptied parents go too), or _MISSING."""
    if key in attrs:
        return attrs.pop(key)
    if "." not in key:
        return _MISSING
    head, _, rest = key.partition(".")
    inner = attrs.get(head)
    if not isinstance(inner, dict):
        return _MISSING
    value = _pop_key(inner, rest)
    if value is not _MISSING and not inner:
        del attrs[head]
    return value


def _level_value(f: FieldReader, key: str, value: Any) -> str | None:
    """A level field's value: a word, or a number by its key's convention (levels.py)."""
    if type(value) is str:
        got = f.levels.get((key, value), _MISSING)
        if got is _MISSING:
            got = _level_uncached(f, key, value)
            if len(f.levels) >= 1024:  # a source whose every record has a level of its own
                f.levels.clear()
            f.levels[(key, value)] = got
        return got  # type: ignore[no-any-return]
    return _level_uncached(f, key, value)


def _level_uncached(f: FieldReader, key: str, value: Any) -> str | None:
    if value is None:
        return None
    n: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.isdigit():
        n = int(value)
    if n is not None:
        word = numeric_level(key, n)
        if word is not None:
            return word
    return f.level(str(value))


def _is_byte_array(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(type(b) is int and 0 <= b <= 255 for b in value))


def _take(attrs: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first of `keys` present in `attrs` (a dotted key also nested), removed: (key, value)."""
    for k in keys:
        value = attrs.pop(k, _MISSING)
        if value is _MISSING and "." in k:
            value = _pop_key(attrs, k)
        if value is not _MISSING:
            return k, value
    return None


def _plan(cands: tuple[tuple[str, ...], ...], present: set[str]) -> tuple[str | None, ...] | None:
    """The key each field takes (None: no key of its), when the keys present say it
    without looking: each field's first candidate is present as it is (not a dotted key
    that may or may not be found nested) and no key is a candidate of two fields (one
    field's take, or a message's bytes put back, cannot change what another finds).
    None: take_keyed looks key by key."""
    seen: set[str] = set()
    plan: list[str | None] = []
    for keys in cands:
        if seen.intersection(keys):
            return None
        seen.update(keys)
        if keys and keys[0] not in present:
            return None
        plan.append(keys[0] if keys else None)
    return tuple(plan)


def take_keyed(f: FieldReader, attrs: dict[str, Any]) -> tuple[Any, ...]:
    """(ts, level, message, name, session) taken out of `attrs` by the `key` directives
    (`key timestamp: time ts`: the first key present wins; a dotted key also finds a
    nested value). Raises TimestampError. Keys shaped as in most lines of a source
    (`FieldReader.keyed` plans them) are taken without a search, with the same result."""
    cands, plan = f.keyed(attrs)
    if plan is not None:
        k_ts, k_level, k_message, k_name, k_session = plan
        return (None if k_ts is None else _ts_of(f, k_ts, attrs.pop(k_ts)),
                None if k_level is None else _level_value(f, k_level, attrs.pop(k_level)),
                None if k_message is None else _message_of(attrs, k_message, attrs.pop(k_message)),
                None if k_name is None else _text(attrs.pop(k_name)),
                None if k_session is None else _text(attrs.pop(k_session)))
    ts = level = message = name = session = None
    c_ts, c_level, c_message, c_name, c_session = cands
    if c_ts and (got := _take(attrs, c_ts)) is not None:
        ts = _ts_of(f, *got)
    if c_level and (got := _take(attrs, c_level)) is not None:
        level = _level_value(f, *got)
    if c_message and (got := _take(attrs, c_message)) is not None:
        message = _message_of(attrs, *got)
    if c_name and (got := _take(attrs, c_name)) is not None:
        name = _text(got[1])
    if c_session and (got := _take(attrs, c_session)) is not None:
        session = _text(got[1])
    return ts, level, message, name, session


def _ts_of(f: FieldReader, key: str, value: Any) -> int:
    try:
        return timestamp_from_value(value, f.tz)
    except TimestampError as exc:
        raise TimestampError(f"field {key}: {exc}") from None


def _message_of(attrs: dict[str, Any], key: str, value: Any) -> Any:
    """A message field's value as text."""
    if type(value) is str:
        return value
    if _is_byte_array(value):
        # journald's JSON writes a message that is not valid UTF-8 as its bytes
        raw = bytes(value)
        message = raw.decode("utf-8", "replace")
        if message.encode("utf-8") != raw:
            attrs[key] = value  # lossy as text: the bytes stay as they were
        return message
    return _text(value)


def _text(value: Any) -> Any:
    return value if isinstance(value, str) or value is None else json.dumps(value)


_KEYED = ("timestamp", "level", "message", "name", "session")

_PAIR, _ATTR, _TS, _NUM, _MSG, _LEVEL, _METRIC, _SPECIAL, _OTHER, _SKIP, _PRI, _SCOPE = range(12)
_SPECIALS = frozenset({"ISO_DATE", "PRI", "SYSLOG_TAG", "HTTP_REQUEST", "NAME", "EVENT", "SESSION_ID",
                       "SCOPE", "FLAG"})
_PRIS_MAX = 1024  # PRI texts kept (`<0>`..`<191>` in practice; a user's PRI terminal may say more)


def _classify(terminal: str) -> tuple[int, str, dict[str, Any] | None]:
    """What the convention makes of a terminal (computed once per terminal name): its
    code, its argument, and for PAIR_ and PRI tokens the cache of their conversions by
    text (a PAIR_'s is convert_pair's own)."""
    t = base_type(terminal)
    if t.startswith("PAIR_"):
        return _PAIR, t, pair_cache(t)
    if t in _TIMESTAMPS:
        return _TS, t, None
    if t in _MESSAGES:
        return _MSG, t, None
    if t == "LEVEL":
        return _LEVEL, t, None
    if t.startswith("ATTR_"):
        return _ATTR, t[5:].lower(), None
    if t.startswith("NUM_"):
        return _NUM, t[4:].lower(), None
    if t.startswith("METRIC_"):
        return _METRIC, t[7:].lower(), None
    if t == "PRI":
        return _PRI, t, {}
    if t == "SCOPE":
        return _SCOPE, t, None
    if t in _SPECIALS:
        return _SPECIAL, t, None
    if t == RULE:
        return _SKIP, t, None
    return _OTHER, t.lower(), None


def _unnamed(v: str, arg: str) -> str:
    """`latency=0.25` in a METRIC_LATENCY (ATTR_, NUM_) terminal: the value after its
    own name; any other text as it is."""
    k, _, rest = v.partition("=")
    return rest if k.lower() == arg else v


def _pri(known: dict[str, Any], v: str) -> tuple[str, str, int]:
    """A PRI token (`<165>`) -> (level, facility, severity), kept by its text (a source
    writes a handful). Raises ValueError for one that is not a number (nothing kept)."""
    got = syslog_severity_level(int(v.strip("<>")))
    if len(known) >= _PRIS_MAX:
        known.clear()
    known[v] = got
    return got


_TIMESTAMPS = frozenset({"ISO_TIMESTAMP", "SYSLOG_TIMESTAMP", "CLF_TIMESTAMP", "TIME_OF_DAY", "EPOCH",
                         "SLASH_TIMESTAMP", "SHORT_TIMESTAMP", "CTIME_TIMESTAMP", "MONTH_DAY_TIMESTAMP"})
_MESSAGES = frozenset({"MESSAGE", "MESSAGE_TAIL", "REST"})
_FIELD: dict[str, str] = {t: "timestamp" for t in _TIMESTAMPS}
_FIELD.update({"ISO_DATE": "timestamp", "LEVEL": "level", "PRI": "priority", "SYSLOG_TAG": "tag",
               "HTTP_REQUEST": "request"})
