"""Named, helpful parse errors: a Lark UnexpectedInput -> (error_code, one-line error).

Lark says which terminals it expected; the grammar convention (grammars/README.md)
gives those terminals meanings (ISO_TIMESTAMP is the timestamp, LEVEL the level, a
value terminal after KEY= the value of that key), so the reject can name the field:
`bad_timestamp`, `bad_level`, `bad_value` (field `cpu`), ... This is the grammar-driven
equivalent of UnexpectedInput.match_examples, without a table of bad examples to keep.
"""

from __future__ import annotations

import re
from typing import Mapping

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .values import base_type

__all__ = ["FIELD_OF_TERMINAL", "VALUE_TERMINALS", "describe", "field_of"]

VALUE_TERMINALS = frozenset({"SIZE", "DURATION", "PERCENT", "FLOAT", "INT", "BOOL", "QUOTED", "BARE"})

# Terminal name -> the field it stands for (the grammar convention's names).
FIELD_OF_TERMINAL: dict[str, str] = {
    "ISO_TIMESTAMP": "timestamp", "SYSLOG_TIMESTAMP": "timestamp", "CLF_TIMESTAMP": "timestamp",
    "TIME_OF_DAY": "timestamp", "EPOCH": "timestamp", "ISO_DATE": "date",
    "LEVEL": "level", "PRI": "priority", "SESSION_ID": "session", "SESSION_MARK": "session_mark",
    "NAME": "name", "EVENT": "name", "KEY": "key",
    "MESSAGE_TAIL": "message", "MESSAGE": "message", "REST": "message",
    **{t: "value" for t in VALUE_TERMINALS},
    **{"PAIR_" + t: "pair" for t in VALUE_TERMINALS},
}

_KEY_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)=(\S*)$")
_KEY_AT = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)=")
_WORD_BEFORE = re.compile(r"(\S+)\s*$")
_MAX_SHOWN = 20


def field_of(terminal: str) -> str:
    """The field a terminal stands for: by convention, else its own name in lower case.

    `ATTR_STATUS` -> `status`, `METRIC_REQUEST_TIME` -> `request_time`.
    """
    if terminal in FIELD_OF_TERMINAL:
        return FIELD_OF_TERMINAL[terminal]
    terminal = base_type(terminal)
    if terminal in FIELD_OF_TERMINAL:
        return FIELD_OF_TERMINAL[terminal]
    if terminal.startswith("PAIR_"):
        return "pair"
    for prefix in ("ATTR_", "METRIC_", "NUM_"):
        if terminal.startswith(prefix):
            return terminal[len(prefix):].lower()
    return terminal.lower().lstrip("_")


# How the convention's terminals are named in error messages.
_DISPLAY = {
    "ISO_TIMESTAMP": "an ISO 8601 timestamp", "SYSLOG_TIMESTAMP": "a syslog timestamp (Nov 27 21:09:05)",
    "CLF_TIMESTAMP": "an access-log timestamp ([27/Nov/2026:21:09:05 +0000])",
    "TIME_OF_DAY": "a time of day (21:09:05)", "EPOCH": "an epoch timestamp", "ISO_DATE": "a date",
    "LEVEL": "a level (TRACE DEBUG INFO WARN ERROR FATAL)", "SESSION_ID": "sess=<16 hex digits>",
    "MESSAGE_TAIL": "' -- message'", "NAME": "a dotted name", "KEY": "a key",
}


def _show(lark: Lark | None, name: str) -> str:
    if name == "$END":
        return "end of line"
    base = base_type(name)
    if base.startswith("PAIR_"):
        return "key=value"
    if base in _DISPLAY:
        return _DISPLAY[base]
    if lark is not None:
        try:
            pattern = lark.get_terminal(name).pattern
        except KeyError:
            return name
        if pattern.type == "str":
            return repr(pattern.value).replace("'", '"')
    return name


def _snippet(text: str, pos: int) -> str:
    s = text[pos:pos + _MAX_SHOWN]
    return repr(s + ("..." if len(text) > pos + _MAX_SHOWN else "")) if s else "end of line"


def describe(exc: UnexpectedInput, text: str, lark: Lark | None = None,
             fields: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(error_code, error) for a Lark parse error of one line `text`."""
    if isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
        pos = exc.pos_in_stream
    elif isinstance(exc, UnexpectedToken):
        expected = set(exc.expected or ())
        pos = exc.token.start_pos if exc.token.type != "$END" else len(text)
        if pos is None:
            pos = len(text)
    elif isinstance(exc, UnexpectedEOF):
        expected = set(exc.expected or ())
        pos = len(text)
    else:  # pragma: no cover - lark has no other UnexpectedInput kinds
        expected, pos = set(), 0
    pos = min(max(pos, 0), len(text))
    names = {**FIELD_OF_TERMINAL, **(fields or {})}

    def fld(t: str) -> str:
        t = base_type(t)
        return names.get(t) or field_of(t)

    # Inside or right after a key=value pair: the value of that key is what is wrong.
    # (A bounded window: this pattern backtracks quadratically over a long run of word
    # characters, and a rejected line may be max_line_bytes long: 40 KB took 7 s.)
    m = _KEY_BEFORE.search(text, max(0, pos - 4096), pos)
    expected_fields = {fld(t) for t in expected if not t.startswith("__ANON") and t != "$END"}
    keywords = [_keyword(lark, t) for t in expected]
    at = _KEY_AT.match(text, pos)
    glued = pos < len(text) and not text[pos].isspace()  # no space since `key=`
    if m is not None and (expected_fields <= {"value"} or m.group(2) or glued):
        code, field = "bad_value", m.group(1)
    elif at is not None and "pair" in expected_fields:  # `key=` then no valid value
        code, field = "bad_value", at.group(1)
    elif keywords and all(k and k[0].isalpha() for k in keywords):
        code, field = "bad_kind", "kind"
    elif keywords and all(keywords):  # punctuation after a field: that field ran on
        prev = (getattr(exc, "token_history", None) or [None])[-1]
        if prev is not None and not _keyword(lark, prev.type):
            field = fld(prev.type)
            code = "bad_value" if field == "pair" else f"bad_{field}"
            if field == "pair":
                field = str(prev).partition("=")[0]
        else:
            w = _WORD_BEFORE.search(text, 0, pos)
            code, field = "bad_field", (w.group(1) if w else "line")
    elif pos == 0 and "timestamp" in expected_fields:  # the line does not start right
        code, field = "bad_timestamp", "timestamp"
    elif "key" in expected_fields or "pair" in expected_fields:
        code, field = "bad_field", "key"
    elif len(expected_fields) == 1:
        field = expected_fields.pop()
        code = f"bad_{field}"
    else:
        code, field = "syntax", "line"
    want = " or ".join(sorted({_show(lark, t) for t in expected})) or "nothing"
    col = pos + 1
    error = f"column {col}, field {field}: expected {want}, got {_snippet(text, pos)}"
    return code, error


def _keyword(lark: Lark | None, name: str) -> str | None:
    """The literal text of a keyword terminal (`"session"`, `"="`), else None."""
    if lark is None:
        return None
    try:
        pattern = lark.get_terminal(name).pattern
    except KeyError:
        return None
    return pattern.value if pattern.type == "str" else None
