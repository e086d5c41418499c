"""Round trips for the key=value formats: values written as logfmt / JSON lines are
read back as the same typed attributes (Hypothesis)."""

from __future__ import annotations

import json
import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.hypothesis_profiles import examples

from logship.parser import EntryParser
from tests.run import REPO

RESERVED = {"time", "ts", "timestamp", "t", "level", "lvl", "severity", "loglevel", "msg", "message",
            "event", "event_name", "session", "sess", "session_id", "@timestamp", "@message"}
keys = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda k: k not in RESERVED)
floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: abs(x) < 1e15)
# Strings a logfmt writer may leave unquoted, among them ones that read as another type
# (`true`, `12ms`, `-3`, `1e5`): the renderer must quote those.
bare = st.from_regex(r"[A-Za-z0-9_./:@+-]{1,11}", fullmatch=True) | st.sampled_from(
    ["true", "false", "12ms", "1e5", "-3", "50%", "2KiB", "0.5", "1.", "-"])
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.one_of(st.integers(-10**15, 10**15), floats, st.booleans(), bare, texts)


def _typed_values() -> list[re.Pattern[str]]:
    """The value terminals of grammars/common.lark that read as something other than text
    (booleans, numbers, sizes, durations, percentages), taken from the grammar itself."""
    common = (REPO / "grammars" / "common.lark").read_text()
    names = ("SIZE", "DURATION", "PERCENT", "FLOAT", "INT", "BOOL")
    found = {m[1]: re.compile(m[2]) for m in re.finditer(r"^([A-Z]+)(?:\.\d+)?: /(.*)/$", common, re.M)}
    assert set(names) <= set(found), sorted(found)
    return [found[n] for n in names]


TYPED = _typed_values()
UNQUOTED = re.compile(r"[A-Za-z0-9_./:@+-]+")  # a string logfmt can carry without quotes


def render_logfmt(v) -> str:
    """A value as a logfmt writer writes it: strings bare when the parser reads them back
    as the same string, quoted when they would read as another type (`"true"`, `"12ms"`)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        return text if ("." in text or "e" in text) else text + ".0"
    if UNQUOTED.fullmatch(v) and not any(p.fullmatch(v) for p in TYPED):
        return v
    return json.dumps(v, ensure_ascii=False)


def test_the_renderer_quotes_strings_that_read_as_another_type():
    assert [render_logfmt(v) for v in ("true", "12ms", "-3", "1e5", "50%", "2KiB", "GET", "1.", "a=b")] == [
        '"true"', '"12ms"', '"-3"', '"1e5"', '"50%"', '"2KiB"', "GET", "1.", '"a=b"']


@settings(max_examples=examples(200), deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=6), st.sampled_from(["info", "warn", "error"]),
       texts.filter(lambda s: "\n" not in s and "\r" not in s))
def test_logfmt_round_trip(fields, level, msg):
    line = (f"time=2026-11-27T21:09:05.123Z level={level} msg={json.dumps(msg, ensure_ascii=False)} "
            + " ".join(f"{k}={render_logfmt(v)}" for k, v in fields.items()))
    res = EntryParser("logfmt", tz="UTC").parse(line.encode() + b"\n")
    assert len(res.batch.rejects) == 0, (line, res.batch.rejects.error)
    e = res.batch.events
    assert (e.ts_us, e.level, e.message) == ([1795813745123000], [level.upper()], [msg])
    got = json.loads(e.attrs[0])
    assert got.keys() == fields.keys()
    for k, v in fields.items():
        if isinstance(v, float):
            assert math.isclose(got[k], v, rel_tol=0, abs_tol=0) or got[k] == v
        else:
            assert got[k] == v, (k, v, got[k])


@settings(max_examples=examples(200), deadline=None)
@given(st.dictionaries(keys, st.recursive(values, lambda inner: st.lists(inner, max_size=3)
                                          | st.dictionaries(keys, inner, max_size=3), max_leaves=6),
                       max_size=6),
       st.integers(1_000_000_000, 4_000_000_000))
def test_jsonl_round_trip(fields, epoch):
    obj = {"ts": epoch, "level": "info", "msg": "m", **fields}
    res = EntryParser("jsonl", tz="UTC").parse(json.dumps(obj).encode() + b"\n")
    e = res.batch.events
    assert len(res.batch.rejects) == 0
    assert (e.ts_us, e.level, e.message) == ([epoch * 1_000_000], ["INFO"], ["m"])
    assert (json.loads(e.attrs[0]) if e.attrs[0] else {}) == fields


@settings(max_examples=examples(300))
@given(parts=st.lists(st.sampled_from(['{', '}', '[', ']', '"a"', ':', ',', '1', '-', 'e5', '.5', 'NaN', 'true',
                                       'nul', ' ', '\t', '\r', '"\\u00e9"', '"\\q"', '"x\n"', 'x']), max_size=12))
def test_jsonl_line_decoding_is_the_json_decoders(parts):
    """The jsonl format reads a line with the C scanner first: the same value or the
    same error (message and column) as json's decoder, for near-JSON noise."""
    from logship.parser.jsonl import _loads

    text = "".join(parts)

    def outcome(fn):
        try:
            return "ok", repr(fn(text))
        except ValueError as exc:
            return type(exc).__name__, str(exc)

    assert outcome(_loads) == outcome(json.JSONDecoder().decode)
