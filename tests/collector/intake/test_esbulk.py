"""Elasticsearch bulk: the official client's helpers.bulk (ApiKey and Basic auth), the
handshake, create with _id exactly once, per-item errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from elasticsearch import Elasticsearch, helpers

from tests.collectorkit import TOKENS


def test_helpers_bulk_with_api_key_and_ecs_sources(collector):
    es = Elasticsearch(collector.url, api_key=("any-id", TOKENS["alpha"]), request_timeout=30)
    try:
        assert es.info()["version"]["number"].startswith("8.")
        docs = [{"_index": "app-logs", "_source": {"@timestamp": f"2026-11-30T10:00:0{i}Z", "log.level": "error",
                                                   "message": f"bulk {i}", "service": {"name": "api"}}}
                for i in range(5)]
        ok, errors = helpers.bulk(es, docs)
        assert (ok, errors) == (5, [])
    finally:
        es.close()
    rows = collector.query("SELECT count(*), min(level), min(attrs->>'_index'), min(attrs->'service'->>'name'), "
                           "min(ts_source) FROM events WHERE message LIKE 'bulk %'")
    assert rows == [[5, "ERROR", "app-logs", "api", "line"]]


def test_create_with_id_is_exactly_once(collector):
    es = Elasticsearch(collector.url, basic_auth=("elastic", TOKENS["beta"]), request_timeout=30)
    try:
        docs = [{"_op_type": "create", "_index": "audit", "_id": f"ev-{i}",
                 "_source": {"@timestamp": "2026-11-30T11:00:00Z", "message": f"once {i}"}} for i in range(3)]
        assert helpers.bulk(es, docs) == (3, [])
        # the same three again (a retry after a lost answer), and one new
        again = docs + [{**docs[0], "_id": "ev-new", "_source": {"message": "once new",
                                                                 "@timestamp": "2026-11-30T11:00:01Z"}}]
        ok, errors = helpers.bulk(es, again, raise_on_error=False)
        assert ok == 1 and sorted(e["create"]["status"] for e in errors) == [409, 409, 409]
        assert errors[0]["create"]["error"]["type"] == "version_conflict_engine_exception"
    finally:
        es.close()
    assert collector.query("SELECT count(*), count(DISTINCT attrs->>'_id') FROM events "
                           "WHERE message LIKE 'once %'") == [[4, 4]]


def _bulk(url: str, body: bytes, auth: str | None = f"Bearer {TOKENS['alpha']}") -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/x-ndjson"}
    if auth:
        headers["Authorization"] = auth
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_per_item_errors_and_refusals(collector):
    body = b"\n".join([
        b'{"index":{}}', b'{"message":"into path index","@timestamp":"2026-11-30T12:00:00Z"}',
        b'{"index":{}}', b'not json',
        b'{"delete":{"_id":"1"}}',
        b'{"update":{"_id":"1"}}', b'{"doc":{}}',
        b'{"create":{"_id":"dup"}}', b'{"message":"dup a","@timestamp":"2026-11-30T12:00:00Z"}',
        b'{"create":{"_id":"dup"}}', b'{"message":"dup b","@timestamp":"2026-11-30T12:00:00Z"}',
    ]) + b"\n"
    status, resp, headers = _bulk(collector.url + "/raw-index/_bulk", body)
    assert status == 200 and resp["errors"] is True and headers["X-Elastic-Product"] == "Elasticsearch"
    got = [(op, v["status"], v.get("error", {}).get("type")) for it in resp["items"] for op, v in it.items()]
    assert got == [("index", 201, None), ("index", 400, "mapper_parsing_exception"),
                   ("delete", 400, "illegal_argument_exception"), ("update", 400, "illegal_argument_exception"),
                   ("create", 201, None), ("create", 409, "version_conflict_engine_exception")]
    assert collector.query("SELECT attrs->>'_index' FROM events WHERE message IN ('into path index', 'dup a', "
                           "'dup b') ORDER BY message") == [["raw-index"], ["raw-index"]]
    status, resp, _ = _bulk(collector.url + "/_bulk", b'{"index":{}}\n{"message":"x"}\n', auth=None)
    assert status == 401 and resp["error"]["type"] == "security_exception"
    status, resp, _ = _bulk(collector.url + "/_bulk", b'{"nope":{}}\n')
    assert status == 400 and resp["status"] == 400


def test_a_document_the_format_rejects_is_a_per_item_400(collector):
    """A source the jsonl format stores as a reject (a bad @timestamp) is answered 400
    with the reject's reason, and its _id is not taken: a corrected resend is created."""
    def body(ts: str) -> bytes:
        return b"\n".join([
            b'{"create":{"_index":"rj","_id":"r-1"}}', b'{"message":"rj ok","@timestamp":"2026-11-30T12:00:00Z"}',
            b'{"create":{"_index":"rj","_id":"r-2"}}', b'{"message":"rj bad","@timestamp":"%s"}' % ts.encode(),
            b'{"index":{"_index":"rj"}}', b'{"message":"rj after","@timestamp":"2026-11-30T12:00:01Z"}',
        ]) + b"\n"

    status, resp, _ = _bulk(collector.url + "/_bulk", body("not a time at all"))
    got = [(v["_id"], v["status"], v.get("error", {}).get("type")) for it in resp["items"] for v in it.values()]
    assert status == 200 and resp["errors"] is True
    assert [g[1:] for g in got] == [(201, None), (400, "mapper_parsing_exception"), (201, None)]
    assert got[1][0] == "r-2"
    reason = resp["items"][1]["create"]["error"]["reason"]
    (code,) = collector.query("SELECT error_code FROM rejects WHERE raw::VARCHAR LIKE '%rj bad%'")[0]
    assert reason.startswith(f"stored as a reject ({code}): ") and "not a time at all" in reason, reason
    status, resp, _ = _bulk(collector.url + "/_bulk", body("2026-11-30T12:00:02Z"))
    assert [v["status"] for it in resp["items"] for v in it.values()] == [409, 201, 201]
    assert collector.query("SELECT message, count(*) FROM events WHERE message LIKE 'rj %' GROUP BY 1 ORDER BY 1") \
        == [["rj after", 2], ["rj bad", 1], ["rj ok", 1]]
