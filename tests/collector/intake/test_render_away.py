"""Big OTLP exports and bulk bodies are rendered in the collector's parse workers
(collector/intake/offload.py): the same rows and answers as the pinned small ones
rendered on the event loop; a render job's result and its BadRequest come back from a
worker unchanged, and without a usable pool the loop renders. ~3 s (a collector, a
one-worker pool)."""

from __future__ import annotations

import asyncio
import json
import re
from types import SimpleNamespace

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from logship.collector.intake import esbulk, offload, otlp
from logship.collector.intake.http import BadRequest
from logship.store.pool import ParsePool
from tests.collectorkit import TOKENS

from .test_stored_rows import BULK, BULK_ANSWERS, BULK_ROWS, OTLP_ROWS, _otlp_request, _post

PINNED = ("SELECT epoch_us(e.ts), e.ts_source, e.level, e.name, e.message, e.attrs::VARCHAR "
          "FROM events e JOIN sources s USING (source_id) WHERE s.path LIKE '{path}' AND s.client_id = '{client}' "
          "AND e.message NOT LIKE 'pad %' ORDER BY e.byte_offset, e.message")


def _padded_otlp() -> bytes:
    req = ExportLogsServiceRequest()
    req.ParseFromString(_otlp_request())
    sl = req.resource_logs.add().scope_logs.add()
    for i in range(600):
        sl.log_records.add(time_unix_nano=1795996900_000000000 + i).body.string_value = f"pad {i} " + "x" * 40
    return req.SerializeToString()


def _padded_bulk() -> bytes:
    pad = b"".join(b'{"index":{"_index":"pad"}}\n{"message":"pad %d %s","@timestamp":"2026-11-30T10:00:00Z"}\n'
                   % (i, b"x" * 40) for i in range(600))
    return BULK + pad


def test_big_otlp_and_bulk_payloads_store_the_pinned_rows(collector):
    workers = re.search(r"^logship_parse_workers (\d+)", collector.metrics(), re.M)
    assert workers and int(workers.group(1)) >= 1  # the collector renders these in its workers
    body = _padded_otlp()
    assert len(body) >= offload.AWAY_BYTES
    status, _ = _post(collector.url + "/v1/logs", body,
                      {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKENS['alpha']}"})
    assert status == 200
    assert collector.query(PINNED.format(path="logship:intake/otlp%", client="alpha")) == OTLP_ROWS
    body = _padded_bulk()
    assert len(body) >= offload.AWAY_BYTES
    status, answer = _post(collector.url + "/dflt/_bulk", body,
                           {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {TOKENS['beta']}"})
    assert status == 200
    items = [v for it in json.loads(answer)["items"] for v in it.values()]
    assert [(v["_id"], v["status"], v.get("error", {}).get("type")) for v in items[:9]] == BULK_ANSWERS
    assert [v["status"] for v in items[9:]] == [201] * 600
    assert collector.query(PINNED.format(path="logship:intake/esbulk%", client="beta")) == BULK_ROWS
    count = collector.query("SELECT count(*) FROM events WHERE message LIKE 'pad %'")
    assert count == [[1200]]
    # a create whose _id is stored is still answered 409 (checked before its line is used)
    status, answer = _post(collector.url + "/_bulk", b'{"create":{"_index":"pin","_id":"p1"}}\n{"message":"again"}\n'
                           + body[len(BULK):], {"Content-Type": "application/x-ndjson",
                                                "Authorization": f"Bearer {TOKENS['beta']}"})
    first = json.loads(answer)["items"][0]["create"]
    assert (first["status"], first["error"]["type"]) == (409, "version_conflict_engine_exception")


def _state(pool: object) -> SimpleNamespace:
    return SimpleNamespace(store=SimpleNamespace(pool=pool))


def test_render_runs_in_a_worker_and_falls_back_on_the_loop():
    body = _padded_otlp()
    want = otlp.render_protobuf(body)
    with ParsePool(1) as pool:
        assert asyncio.run(offload.render(_state(pool), len(body), otlp.render_protobuf, body)) == want
        with pytest.raises(BadRequest, match="not an OTLP ExportLogsServiceRequest"):
            asyncio.run(offload.render(_state(pool), offload.AWAY_BYTES, otlp.render_protobuf, b"\xff" * 40))
        pool.broken = True  # a worker died: the loop renders
        assert asyncio.run(offload.render(_state(pool), len(body), otlp.render_protobuf, body)) == want
    # shut down meanwhile (the submit refuses): the loop renders
    pool.broken = False
    assert asyncio.run(offload.render(_state(pool), len(body), otlp.render_protobuf, body)) == want
    assert asyncio.run(offload.render(_state(None), len(body), otlp.render_protobuf, body)) == want


def test_bulk_render_comes_back_from_a_worker_unchanged():
    """A bulk body's columns (ids generated in the worker kept as they were made) and a
    body refused whole come back from a worker as the loop makes them."""
    body = _padded_bulk() + b'{"create":{"_index":"c","_id":"7"}}\n{"a":NaN}\n{"delete":{"_index":"c","_id":"7"}}\n'
    want = esbulk.render_bulk(body, "dflt")
    with ParsePool(1) as pool:
        got = asyncio.run(offload.render(_state(pool), len(body), esbulk.render_bulk, body, "dflt"))
        with pytest.raises(BadRequest, match="line 1: the action is not JSON"):
            asyncio.run(offload.render(_state(pool), offload.AWAY_BYTES, esbulk.render_bulk, b"nope\n" * 9000, None))
    assert isinstance(got, esbulk.Rendered) and len(got.ops) == len(want.ops) == 611
    generated = [n for n, g in enumerate(want.given) if not g and want.lines[n] is not None]
    assert len(generated) == 600 and all(len(got.ids[n]) == 20 for n in generated)
    for n in generated:  # the generated ids differ run to run; everything else is equal
        assert got.lines[n] == want.lines[n].replace(want.ids[n].encode(), got.ids[n].encode())
        got.ids[n], got.lines[n] = want.ids[n], want.lines[n]
    assert got == want
    # the NaN source is pending, its line refused (answered 400 after the id check); the delete answered
    assert (want.status[-2:], want.lines[-2:], sorted(want.bad_lines)) == ([0, 400], [None, None], [3, 4, 609])
    assert want.errors[610][0] == "illegal_argument_exception"
