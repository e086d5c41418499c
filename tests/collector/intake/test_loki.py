"""Loki push: python-logging-loki's handler (both its payload versions), raw JSON and
snappy-protobuf pushes with structured metadata, and the refusals."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import cramjam
import logging_loki
import pytest

from logship.collector.intake.loki import PushRequest, parse_labels
from logship.collector.intake.http import BadRequest
from tests.collectorkit import TOKENS


def push(url: str, body: bytes, ctype: str, auth: str | None = f"Bearer {TOKENS['alpha']}") -> tuple[int, str]:
    headers = {"Content-Type": ctype}
    if auth:
        headers["Authorization"] = auth
    req = urllib.request.Request(url + "/loki/api/v1/push", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.parametrize("version", ["0", "1"])
def test_python_logging_loki_handler(collector, version):
    handler = logging_loki.LokiHandler(url=collector.url + "/loki/api/v1/push", tags={"app": f"shop{version}"},
                                       auth=("loki", TOKENS["beta"]), version=version)
    errors: list[logging.LogRecord] = []
    handler.handleError = errors.append  # type: ignore[method-assign]
    logger = logging.getLogger(f"intake.test.loki{version}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.error("card %s refused", "c-9")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert errors == []
    rows = collector.query(f"SELECT level, message, attrs->'labels'->>'app', attrs->'labels'->>'logger', ts_source, "
                           f"abs(epoch(ts) - epoch(now())) < 3600 FROM events WHERE attrs->'labels'->>'app' = "
                           f"'shop{version}'")
    assert rows == [["ERROR", "card c-9 refused", f"shop{version}", f"intake.test.loki{version}", "line", True]]
    # its `severity` label is the level: read out of the labels, the others stay


def test_raw_json_and_snappy_protobuf_pushes(collector):
    doc = {"streams": [{"stream": {"job": "raw", "level": "warn"},
                        "values": [["1795996800123456789", "json line", {"trace_id": "t1"}],
                                   ["1795996801000000000", "{\"k\": 1}"]]}]}
    assert push(collector.url, json.dumps(doc).encode(), "application/json") == (204, "")
    req = PushRequest()
    st = req.streams.add()
    st.labels = '{job="raw", level="info", note="a \\"q\\""}'
    e = st.entries.add()
    e.timestamp.seconds, e.timestamp.nanos = 1795996802, 5000
    e.line = "proto line"
    md = e.structuredMetadata.add()
    md.name, md.value = "user", "u7"
    body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    assert push(collector.url, body, "application/x-protobuf") == (204, "")
    rows = collector.query("SELECT ts, level, message, attrs->'labels'->>'note', attrs->'metadata' FROM events "
                           "WHERE attrs->'labels'->>'job' = 'raw' ORDER BY ts")
    assert rows == [["2026-11-30T00:00:00.123456+00:00", "WARN", "json line", None, "{\"trace_id\":\"t1\"}"],
                    ["2026-11-30T00:00:01+00:00", "WARN", "{\"k\": 1}", None, None],
                    ["2026-11-30T00:00:02.000005+00:00", "INFO", "proto line", 'a "q"', "{\"user\":\"u7\"}"]]


def test_refusals_are_loki_text(collector):
    assert push(collector.url, b"{}", "application/json", auth=None)[0] == 401
    status, text = push(collector.url, b"not snappy", "application/x-protobuf")
    assert status == 400 and "snappy" in text
    status, text = push(collector.url, b'{"streams":[{"stream":{},"values":[["yesterday","x"]]}]}', "application/json")
    assert status == 400 and "nanoseconds" in text
    assert push(collector.url, b"x", "text/plain")[0] == 415


def test_parse_labels():
    assert parse_labels('{a="1", b_c="x,y", d="\\n"}') == {"a": "1", "b_c": "x,y", "d": "\n"}
    assert parse_labels("{}") == {}
    with pytest.raises(BadRequest):
        parse_labels('{a=1}')
