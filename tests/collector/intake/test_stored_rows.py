"""The exact rows one OTLP export and one bulk body become: pinned, so that a faster
rendering or reading (text written from protobuf fields, bulk sources written as sent,
the jsonl format's shortcuts) cannot change what is stored. The expected rows were
taken from the code before those changes (but for the lone surrogate, which made the
whole body fail to commit before: a 429 for ever)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.collectorkit import TOKENS

ROWS = ("SELECT epoch_us(e.ts), e.ts_source, e.level, e.name, e.message, e.attrs::VARCHAR "
        "FROM events e JOIN sources s USING (source_id) WHERE s.path LIKE '{path}' AND s.client_id = '{client}' "
        "ORDER BY e.byte_offset, e.message")


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _otlp_request() -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for key, value in (("service.name", "pin"), ("host.name", "h\u00e9-1")):
        kv = rl.resource.attributes.add()
        kv.key, kv.value.string_value = key, value
    sl = rl.scope_logs.add()
    sl.scope.name, sl.scope.version = "pin.scope", "2"
    lr = sl.log_records.add()  # everything set
    lr.time_unix_nano, lr.observed_time_unix_nano = 1795996800_123456789, 1795996801_000000000
    lr.severity_number, lr.severity_text = 17, "Error"
    lr.body.string_value = "pin one \u00e9\u2028\U0001f600 \"q\""
    for key, kind, value in (("i", "int_value", -(2 ** 63)), ("d", "double_value", 0.1), ("b", "bool_value", True),
                             ("nan", "double_value", float("nan")), ("raw", "bytes_value", b"\x00\xff")):
        kv = lr.attributes.add()
        kv.key = key
        setattr(kv.value, kind, value)
    arr = lr.attributes.add()
    arr.key = "arr"
    arr.value.array_value.values.add(string_value="x")
    arr.value.array_value.values.add(int_value=3)
    lr.trace_id, lr.span_id, lr.flags = bytes(range(16)), bytes(range(8)), 1
    lr.event_name = "pin.event"
    lr2 = sl.log_records.add()  # no time of its own: the observed time, said so
    lr2.observed_time_unix_nano = 1795996802_000000500
    lr2.severity_number = 9
    lr2.body.kvlist_value.values.add(key="k", value={"string_value": "v"})
    lr2.dropped_attributes_count = 2
    sl2 = rl.scope_logs.add()  # another scope, no resource of its own beyond the request's
    lr3 = sl2.log_records.add()
    lr3.time_unix_nano = 1795996803_000000000
    lr3.body.string_value = "pin three"
    return req.SerializeToString()


def test_otlp_export_stored_rows_are_pinned(collector):
    status, _ = _post(collector.url + "/v1/logs", _otlp_request(),
                      {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKENS['alpha']}"})
    assert status == 200
    rows = collector.query(ROWS.format(path="logship:intake/otlp%", client="alpha"))
    assert rows == OTLP_ROWS


BULK = b"\r\n".join([  # CRLF line ends, as some clients send
    b'{"index":{"_index":"pin","_id":"p1"}}',
    b'{"@timestamp":"2026-11-30T10:00:00.5Z","log.level":"warn","message":"pin a \xc3\xa9 \\u00e9","n":1.50,"big":12345678901234567890}',
    b'{"create":{"_index":"pin","_id":"p2"}}',
    b'{ "@timestamp" : "2026-11-30T10:00:01+02:00" , "log" : {"level":"error","logger":"x"}, "message":"pin b", "k":1, "k":2 }  ',
    b'{"index":{"_id":"p3"}}',
    b'{"message":"pin c","@timestamp":"2026-11-30T10:00:02Z","_index":"theirs","_id":"not-this","e":{}}',
    b'{"index":{"_index":"pin","_id":"p4"}}',
    b'{"message":"pin nan","@timestamp":"2026-11-30T10:00:03Z","x":NaN}',
    b'{"index":{"_index":"pin","_id":"p5"}}',
    b'{"message":"pin inf","@timestamp":"2026-11-30T10:00:03Z","x":1e400}',
    b'{"index":{"_index":"pin","_id":"p6"}}',
    b'{"message":"pin bad time","@timestamp":"yesterday"}',
    b'{"index":{"_index":"pin","_id":"p7"}}',  # before: the whole body failed to commit, 429 for ever
    b'{"message":"pin \\ud800 lone","@timestamp":"2026-11-30T10:00:04Z"}',
    b'{"index":{"_index":"pin","_id":"p8"}}',
    b'{"message":"pin broken",',
    b'{"index":{"_index":"pin","_id":"p9"}}',
    b'\xef\xbb\xbf{"message":"pin bom","@timestamp":"2026-11-30T10:00:05Z"}',
]) + b"\r\n"


def test_bulk_stored_rows_and_answers_are_pinned(collector):
    status, body = _post(collector.url + "/dflt/_bulk", BULK,
                         {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {TOKENS['beta']}"})
    assert status == 200
    answers = [(v["_id"], v["status"], v.get("error", {}).get("type")) for it in json.loads(body)["items"]
               for v in it.values()]
    assert answers == BULK_ANSWERS
    rows = collector.query(ROWS.format(path="logship:intake/esbulk%", client="beta"))
    assert rows == BULK_ROWS
    rejects = collector.query("SELECT r.error_code FROM rejects r JOIN sources s USING (source_id) "
                              "WHERE s.path LIKE 'logship:intake/esbulk%' AND s.client_id = 'beta'")
    assert sorted(rejects) == [["bad_timestamp"], ["bad_value"]]


OTLP_ROWS = [
    [1795996800123456, 'line', 'ERROR', 'jsonl', 'pin one é\u2028😀 "q"', '{"observedTimeUnixNano":"1795996801000000000","severityNumber":17,"flags":1,"traceId":"000102030405060708090a0b0c0d0e0f","spanId":"0001020304050607","eventName":"pin.event","attributes":{"i":-9223372036854775808,"d":0.1,"b":true,"nan":"NaN","raw":"AP8=","arr":["x",3]},"resource":{"service.name":"pin","host.name":"hé-1"},"scope":"pin.scope"}'],
    [1795996802000000, 'line', 'INFO', 'jsonl', '{"k":"v"}', '{"droppedAttributesCount":2,"timeSource":"observedTimeUnixNano","resource":{"service.name":"pin","host.name":"hé-1"},"scope":"pin.scope"}'],
    [1795996803000000, 'line', None, 'jsonl', 'pin three', '{"resource":{"service.name":"pin","host.name":"hé-1"}}'],
]
BULK_ANSWERS = [
    ('p1', 201, None),
    ('p2', 201, None),
    ('p3', 201, None),
    ('p4', 400, 'mapper_parsing_exception'),
    ('p5', 400, 'mapper_parsing_exception'),
    ('p6', 400, 'mapper_parsing_exception'),
    ('p7', 400, 'mapper_parsing_exception'),
    ('p8', 400, 'mapper_parsing_exception'),
    ('p9', 201, None),
]
BULK_ROWS = [
    [1796032800500000, 'line', 'WARN', 'jsonl', 'pin a é é', '{"n":1.5,"big":12345678901234567890,"_index":"pin","_id":"p1"}'],
    [1796025601000000, 'line', 'ERROR', 'jsonl', 'pin b', '{"log":{"logger":"x"},"k":2,"_index":"pin","_id":"p2"}'],
    [1796032802000000, 'line', None, 'jsonl', 'pin c', '{"_index":"dflt","_id":"p3","e":{}}'],
    [1796032805000000, 'line', None, 'jsonl', 'pin bom', '{"_index":"pin","_id":"p9"}'],
]
