"""Round trips for the key=value formats: values written as logfmt / JSON lines are
read back as the same typed attributes (Hypothesis)."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.hypothesis_profiles import examples

from logship.parser import EntryParser

RESERVED = {"time", "ts", "timestamp", "t", "level", "lvl", "severity", "loglevel", "msg", "message",
            "event", "event_name", "session", "sess", "session_id", "@timestamp", "@message"}
keys = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda k: k not in RESERVED)
floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: abs(x) < 1e15)
bare = st.from_regex(r"[A-Za-z][A-Za-z0-9_./:@+-]{0,10}", fullmatch=True).filter(
    lambda s: s not in ("true", "false"))
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.one_of(st.integers(-10**15, 10**15), floats, st.booleans(), bare, texts)


def render_logfmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        return text if ("." in text or "e" in text) else text + ".0"
    if (v and all(c.isalnum() or c in "_./:@+-" for c in v) and v[0].isalpha() and v.isascii()
            and v not in ("true", "false")):   # a bare true/false is a boolean: quote the string
        return v
    return json.dumps(v, ensure_ascii=False)


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
