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


# JSON values as a bulk source may hold them (floats finite; NaN and 1e400 are tested in
# test_stored_rows.py), written with any separators and either escaping
VALUE = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
                     | TEXT, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=examples(150))
@given(pairs=st.lists(st.tuples(st.sampled_from(["message", "_index", "_id", "a", "é", ""]) | TEXT, VALUE), max_size=6),
       seps=st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]), ascii_=st.booleans(),
       pad=st.sampled_from(["", " ", "\t", "\r"]))
def test_bulk_source_written_as_sent_reads_as_the_encoded_merge(pairs, seps, ascii_, pad):
    """A source written as sent with `_index` and `_id` appended decodes to the same
    object, key order included, as `{**source, "_index", "_id"}` encoded (repeated keys:
    first place, last value, both ways)."""
    text = "{" + seps[0].join(json.dumps(k, ensure_ascii=ascii_) + seps[1] + json.dumps(v, ensure_ascii=ascii_)
                              for k, v in pairs) + "}" + pad
    (item,) = esbulk.parse_bulk(b'{"index":{"_index":"ix","_id":"i1"}}\n' + text.encode() + b"\n", None)
    assert item.text is not None  # read by the scanner: written as sent
    old = json.dumps({**json.loads(text), "_index": "ix", "_id": "i1"})
    new = esbulk._line(item)
    assert new.endswith(b"}\n") and new.count(b"\n") == 1
    assert json.dumps(json.loads(new)) == old


def test_otlp_protobuf_text_is_proto3_json():
    """The records written as text from the protobuf fields read as the protobuf
    library's own proto3 JSON of them (ids in hex, as OTLP/JSON has them)."""
    import base64

    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for i in range(12):
        lr = sl.log_records.add()
        lr.time_unix_nano, lr.observed_time_unix_nano = i * 7, i * 11
        lr.severity_number, lr.severity_text = i % 25, ["", "INFO", "wärn\u2028"][i % 3]
        [lambda: setattr(lr.body, "string_value", f"m\n\"é😀{i}"), lambda: setattr(lr.body, "int_value", -(2 ** 63) + i),
         lambda: setattr(lr.body, "bool_value", bool(i % 2)), lambda: setattr(lr.body, "double_value", [0.1, -0.0, 1e300][i % 3]),
         lambda: lr.body.array_value.values.add(string_value="x"), lambda: lr.body.kvlist_value.values.add(key="k"),
         lambda: setattr(lr.body, "bytes_value", b"\x00\xff"), lambda: None][i % 8]()
        for j in range(i % 4):
            kv = lr.attributes.add()
            kv.key = f"k{j}é"
            kv.value.string_value, kv.value.int_value = "v", j  # the last set wins (a oneof)
        lr.dropped_attributes_count, lr.flags = i % 2, i % 3
        if i % 2:
            lr.trace_id, lr.span_id = bytes(range(16)), bytes(range(8))
        lr.event_name = "e" * (i % 2)
    data, n = otlp.render_protobuf(req.SerializeToString())
    got = json.loads(data)["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    want = []
    for lr in sl.log_records:
        d = MessageToDict(lr, use_integers_for_enums=True)
        for k in ("traceId", "spanId"):
            if k in d:
                d[k] = base64.b64decode(d[k]).hex()
        if "body" in d and d["body"].get("kvlistValue"):
            d["body"]["kvlistValue"]["values"] = [{"value": {}, **kv} for kv in d["body"]["kvlistValue"]["values"]]
        want.append(d)
    assert (n, got) == (12, want)
