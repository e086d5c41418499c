"""OTLP/HTTP logs: the OpenTelemetry Python SDK's exporter through a LoggingHandler,
raw protobuf and JSON posts, and the refusals in OTLP's own shape."""

from __future__ import annotations

import gzip
import json
import logging
import urllib.error
import urllib.request

import pytest

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from tests.collectorkit import TOKENS


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


# the SDK's own LoggingHandler, as the issue asks (its successor lives in
# opentelemetry-instrumentation-logging)
@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated:DeprecationWarning")
def test_sdk_exporter_through_logging_handler(collector):
    exporter = OTLPLogExporter(endpoint=collector.url + "/v1/logs", compression=Compression.Gzip,
                               headers={"Authorization": f"Bearer {TOKENS['alpha']}"})
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout", "deployment.environment": "t"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger("intake.test.otlp")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.warning("payment %s declined", "p-17", extra={"order.id": 4711})
        logger.error("gateway down")
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    rows = collector.query(
        "SELECT level, message, attrs->'resource'->>'service.name', attrs->'attributes'->>'order.id', "
        "attrs->>'scope', ts_source, ts > now() - INTERVAL 1 HOUR FROM events e JOIN sources s USING (source_id) "
        "WHERE s.path LIKE 'logship:intake/otlp%' AND s.client_id = 'alpha' ORDER BY ts")
    assert rows == [["WARN", "payment p-17 declined", "checkout", "4711", "intake.test.otlp", "line", True],
                    ["ERROR", "gateway down", "checkout", None, "intake.test.otlp", "line", True]]


def _request(n: int, with_time: bool = True) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    kv = rl.resource.attributes.add()
    kv.key, kv.value.string_value = "host.name", "web-1"
    sl = rl.scope_logs.add()
    sl.scope.name = "raw"
    for i in range(n):
        lr = sl.log_records.add()
        if with_time:
            lr.time_unix_nano = 1795996800_000000000 + i * 1000
        lr.observed_time_unix_nano = 1795996900_000000000
        lr.severity_number = 17
        lr.body.string_value = f"raw {i}"
        lr.trace_id = bytes(range(16))
        lr.span_id = bytes(range(8))
    return req


def test_raw_protobuf_json_and_observed_time(collector):
    h = {"Authorization": f"Bearer {TOKENS['beta']}"}
    status, body, _ = post(collector.url + "/v1/logs", gzip.compress(_request(5).SerializeToString()),
                           {**h, "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    assert (status, body) == (200, b"")
    status, _, _ = post(collector.url + "/v1/logs", _request(1, with_time=False).SerializeToString(),
                        {**h, "Content-Type": "application/x-protobuf"})
    assert status == 200
    doc = {"resourceLogs": [{"resource": {"attributes": [{"key": "k", "value": {"intValue": "3"}}]},
                             "scopeLogs": [{"logRecords": [{"timeUnixNano": "1795996800000000000",
                                                            "severityText": "debug",
                                                            "body": {"stringValue": "as json"}}]}]}]}
    status, body, _ = post(collector.url + "/v1/logs", json.dumps(doc).encode(), {**h, "Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {})
    rows = collector.query(
        "SELECT count(*), min(level), min(attrs->>'traceId'), min(attrs->>'spanId') FROM events e JOIN sources s "
        "USING (source_id) WHERE s.client_id = 'beta' AND message LIKE 'raw %' AND attrs->>'timeSource' IS NULL")
    assert rows == [[5, "ERROR", "000102030405060708090a0b0c0d0e0f", "0001020304050607"]]
    rows = collector.query("SELECT ts, attrs->>'timeSource' FROM events e JOIN sources s USING (source_id) "
                           "WHERE s.client_id = 'beta' AND attrs->>'timeSource' IS NOT NULL")
    assert rows == [["2026-11-30T00:01:40+00:00", "observedTimeUnixNano"]]
    assert collector.query("SELECT level, attrs->'resource'->>'k' FROM events WHERE message = 'as json'") == \
        [["DEBUG", "3"]]


def test_refusals_in_otlp_shape(collector):
    h = {"Authorization": f"Bearer {TOKENS['beta']}"}
    status, body, _ = post(collector.url + "/v1/logs", b"\xff\xff\xff", {**h, "Content-Type": "application/x-protobuf"})
    assert status == 400 and b"ExportLogsServiceRequest" in body and body[:1] == b"\x08"
    status, body, _ = post(collector.url + "/v1/logs", b"[]", {**h, "Content-Type": "application/json"})
    assert status == 400 and json.loads(body)["code"] == 3
    status, body, _ = post(collector.url + "/v1/logs", b"x", {**h, "Content-Type": "text/plain"})
    assert status == 415
    status, body, _ = post(collector.url + "/v1/logs", b"{}", {"Content-Type": "application/json"})
    assert status == 401 and json.loads(body)["code"] == 16
    assert 'logship_intake_requests_total{intake="otlp",status="400"} 2' in collector.metrics()
