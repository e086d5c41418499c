"""Typed values of key=value fields, converted to canonical units.

The grammar decides a value's type (the name of the terminal that matched it, see
grammars/common.lark); this module only converts its text: sizes to bytes, durations
to seconds, percentages to percent. One table per unit family, so the grammar and the
conversion cannot drift apart silently (tests/parser/test_parser_values.py walks both).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

__all__ = [
    "SIZE_FACTORS",
    "DURATION_FACTORS",
    "NUMERIC_TYPES",
    "convert",
    "convert_pair",
    "pair_cache",
    "base_type",
    "unquote",
    "loose_unquote",
    "UNIT_BYTES",
    "UNIT_SECONDS",
    "UNIT_PERCENT",
]

from logship.kernel.units import (  # noqa: F401  (re-exported: the parser's vocabulary)
    DURATION_FACTORS,
    SIZE_FACTORS,
    UNIT_BYTES,
    UNIT_PERCENT,
    UNIT_SECONDS,
)


def _split_unit(text: str) -> tuple[str, str]:
    """`210.3MiB` -> (`210.3`, `MiB`): the number is the longest numeric prefix."""
    i = len(text)
    while i and not text[i - 1].isdigit():
        i -= 1
    return text[:i], text[i:]


def _number(text: str) -> int | float:
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


def _size(text: str) -> tuple[float | int, str]:
    num, unit = _split_unit(text)
    value = _number(num) * SIZE_FACTORS[unit]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return value, UNIT_BYTES


def _duration(text: str) -> tuple[float, str]:
    num, unit = _split_unit(text)
    factor = DURATION_FACTORS[unit]
    if factor >= 1.0:
        return float(_number(num)) * factor, UNIT_SECONDS
    # divide rather than multiply by 1e-3: 750ms -> 0.75 exactly as written
    return float(_number(num)) / round(1.0 / factor), UNIT_SECONDS


def _percent(text: str) -> tuple[float, str]:
    return float(text[:-1]), UNIT_PERCENT


_SURROGATE = re.compile("[\ud800-\udfff]")


def unquote(text: str) -> str:
    """A double-quoted string with JSON escapes -> its text (raises ValueError if bad).

    A lone surrogate escape (`\\ud800`) is refused: it has no UTF-8 form to store.
    """
    if "\\" not in text:
        return text[1:-1]
    value = json.loads(text)
    if _SURROGATE.search(value):
        raise ValueError(f"{text[:40]}: a lone surrogate escape cannot be stored as UTF-8 text")
    return value


_ESC = re.compile(r'\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|.)', re.S)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "]": "]", "/": "/"}


def loose_unquote(text: str) -> str:
    """A quoted field as web servers and syslog write it -> its text: `\\x22` (nginx),
    `\\"`, `\\\\`, `\\]` (RFC 5424), `\\n`, `\\t`, `\\uXXXX`. Unknown escapes stay as written."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if "\\" not in text:
        return text

    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in "xu" and len(e) > 1:
            return chr(int(e[1:], 16))
        return _SIMPLE.get(e, "\\" + e)

    return _ESC.sub(sub, text)



_CONVERTERS: dict[str, Callable[[str], tuple[Any, str | None]]] = {
    "SIZE": _size,
    "DURATION": _duration,
    "PERCENT": _percent,
    "FLOAT": lambda t: (float(t), None),
    "INT": lambda t: (int(t), None),
    "BOOL": lambda t: (t == "true", None),
    "QUOTED": lambda t: (unquote(t), None),
    "BARE": lambda t: (t, None),
    "SD": lambda t: (loose_unquote(t), None),  # RFC 5424 param values: \" \\ \]
}

# Terminal types whose values are numbers (metric samples in a metric entry).
NUMERIC_TYPES = frozenset({"SIZE", "DURATION", "PERCENT", "FLOAT", "INT"})


_BASE: dict[str, str] = {}


def base_type(terminal: str) -> str:
    """A terminal's name without the namespace %import gives it (`common__PAIR_SIZE`
    -> `PAIR_SIZE`); cached, as it runs once per token."""
    b = _BASE.get(terminal)
    if b is None:
        b = _BASE[terminal] = terminal.rsplit("__", 1)[-1]
    return b


# convert_pair's answers by terminal, then by text: a source repeats most of its pairs
# (`level=info`, `method=GET`, `status=200`), and the answer is a function of the two
# alone, made of immutable values (str, int, float, bool, None), so it can be shared
_PAIRS: dict[str, dict[str, tuple[str, Any, str | None, bool]]] = {}
PAIRS_MAX = 4096  # answers kept per terminal (~1 MiB at most); when full, it starts again empty


def pair_cache(terminal: str) -> dict[str, tuple[str, Any, str | None, bool]]:
    """convert_pair's answers for this terminal, by text (one dict for the life of the
    process, emptied when full): a handler looks a token up in it before it calls
    convert_pair, which fills it."""
    seen = _PAIRS.get(terminal)
    if seen is None:
        seen = _PAIRS[terminal] = {}
    return seen


def convert_pair(terminal: str, text: str) -> tuple[str, Any, str | None, bool]:
    """A PAIR_<TYPE> token (`rss=210.3MiB`) -> (key, value, unit, is_numeric)."""
    seen = _PAIRS.get(terminal)
    if seen is None:
        seen = pair_cache(terminal)
    got = seen.get(text)
    if got is None:
        got = _convert_pair(terminal, text)  # raises for a bad value: nothing kept
        if len(seen) >= PAIRS_MAX:
            seen.clear()
        seen[text] = got
    return got


def _convert_pair(terminal: str, text: str) -> tuple[str, Any, str | None, bool]:
    t = _BASE.get(terminal) or base_type(terminal)
    key, _, raw = text.partition("=")
    vt = t[5:]
    value, unit = _CONVERTERS[vt](raw) if vt in _CONVERTERS else (raw, None)
    return key, value, unit, vt in NUMERIC_TYPES


def convert(type_: str, text: str) -> tuple[Any, str | None]:
    """(value in canonical units, unit or None) for a token of terminal type `type_`.

    Unknown terminal types are kept as strings: a user grammar may define its own.
    """
    conv = _CONVERTERS.get(type_)
    if conv is None:
        return text, None
    return conv(text)
