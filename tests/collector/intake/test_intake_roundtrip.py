"""Property tests of the intakes' rendering, without a collector: what a client sends
comes back out of the jsonl format unchanged, and byte noise is only ever a refusal."""

from __future__ import annotations

import json

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logship.collector.intake import esbulk, loki, otlp, pylogging, jsonbody
from logship.collector.intake.http import BadRequest
from logship.collector.intake.loki import PushRequest
from logship.parser import EntryParser
from tests.hypothesis_profiles import examples

# text JSON and protobuf both carry: no lone surrogates
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
LABEL = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s not in ("level", "severity",
                                                                                         "detected_level"))
ENTRY = st.tuples(st.integers(0, 4_000_000_000_000_000_000), TEXT)


@settings(max_examples=examples(60))
@given(labels=st.dictionaries(LABEL, TEXT, max_size=4), level=st.sampled_from(["info", "warn", "error"]),
       entries=st.lists(ENTRY, min_size=1, max_size=5))
def test_loki_protobuf_entries_come_back_unchanged(labels, level, entries):
    req = PushRequest()
    s = req.streams.add()
    s.labels = "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in {**labels, "level": level}.items()) + "}"
    for ns, line in entries:
        e = s.entries.add()
        e.timestamp.seconds, e.timestamp.nanos = divmod(ns, 1_000_000_000)
        e.line = line
    data, n = loki.render_protobuf(bytes(cramjam.snappy.compress_raw(req.SerializeToString())))
    assert n == len(entries)
    ev = EntryParser("jsonl", tz="UTC").parse(data).batch.events
    assert ev.ts_us == [ns // 1000 for ns, _ in entries]
    assert ev.message == [line for _, line in entries]
    assert ev.level == [{"info": "INFO", "warn": "WARN", "error": "ERROR"}[level]] * n
    # the level label was read out (an emptied labels object goes with it)
    assert [json.loads(a)["labels"] if a else {} for a in ev.attrs] == [labels] * n


@settings(max_examples=examples(60))
@given(recs=st.lists(st.fixed_dictionaries({"message": TEXT, "service": TEXT},
                                           optional={"n": st.integers(-2**53, 2**53)}), min_size=1, max_size=5))
def test_bulk_sources_come_back_unchanged(recs):
    body = b"".join(b'{"index":{}}\n' + json.dumps({"@timestamp": "2026-11-30T00:00:00Z", **r}).encode() + b"\n"
                    for r in recs)
    items = esbulk.parse_bulk(body, "idx")
    lines = b"".join(json.dumps({**it.source, "_index": it.index}).encode() + b"\n" for it in items)
    ev = EntryParser("jsonl", tz="UTC").parse(lines).batch.events
    assert ev.message == [r["message"] for r in recs]
    assert [json.loads(a) for a in ev.attrs] == [{k: v for k, v in r.items() if k != "message"} | {"_index": "idx"}
                                                for r in recs]


RENDERERS = [otlp.render_protobuf, otlp.render_json, loki.render_json, loki.render_protobuf, jsonbody.render_json,
             lambda b: esbulk.parse_bulk(b, "i"), lambda b: pylogging.render_record({"created": b.decode("latin-1")})]


@pytest.mark.parametrize("render", RENDERERS, ids=["otlp-proto", "otlp-json", "loki-json", "loki-proto", "json",
                                                   "bulk", "pylogging"])
@settings(max_examples=examples(150))
@given(noise=st.binary(max_size=300))
def test_noise_is_a_refusal_never_a_crash(render, noise):
    try:
        render(noise)
    except BadRequest:
        pass
