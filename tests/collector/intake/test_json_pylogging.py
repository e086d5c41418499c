"""Generic JSON bodies, Python's HTTPHandler (Basic auth) and SocketHandler's pickles,
against a real collector."""

from __future__ import annotations

import base64
import json
import logging
import logging.handlers
import pickle
import struct
import urllib.error
import urllib.request
from pathlib import Path

from tests.collectorkit import TOKENS


def post(url: str, body: bytes, ctype: str, auth: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": ctype}
    if auth:
        headers["Authorization"] = auth
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def basic(token: str, user: str = "anyone") -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


def test_json_object_and_array_on_lines_and_json_endpoint(collector):
    tok = f"Bearer {TOKENS['alpha']}"
    one = {"@timestamp": "2026-11-30T10:00:00Z", "log.level": "warn", "message": "disk 91%", "host": "a"}
    status, body = post(collector.url + "/v1/lines", json.dumps(one).encode(), "application/json", tok)
    assert (status, body["records"], body["rejects"]) == (200, 1, 0)
    batch = [{"ts": 1795996800 + i, "level": "info", "msg": f"item {i}"} for i in range(3)] + [[1, 2], 7]
    status, body = post(collector.url + "/v1/json", json.dumps(batch).encode(), "application/json; charset=utf-8",
                        basic(TOKENS["alpha"]))
    assert (status, body["records"], body["rejects"]) == (200, 3, 2)
    rows = collector.query("SELECT level, message, attrs->>'host', ts_source FROM events "
                           "WHERE message = 'disk 91%'")
    assert rows == [["WARN", "disk 91%", "a", "line"]]
    rows = collector.query("SELECT count(*) FROM rejects WHERE error_code = 'bad_json'")
    assert rows == [[2]]
    # an object without a time takes the receive time, and says so
    status, body = post(collector.url + "/v1/json", b'{"msg":"no time here"}', "application/json", tok)
    assert (status, body["records"]) == (200, 1)
    assert collector.query("SELECT ts_source, ts IS NOT NULL FROM events WHERE message = 'no time here'") == \
        [["received", True]]


def test_json_appends_follow_each_other_across_a_job(collector):
    """Each append to an intake source starts where the one before ended (the store's
    end at hand, not a read on the writer's thread), also after a job ran on the store
    between two appends: one range from 0, every record once at its own offset."""
    auth = basic(TOKENS["beta"])
    for r in range(4):
        batch = [{"ts": 1795996800 + i, "msg": f"follow {r}-{i}"} for i in range(40)]
        assert post(collector.url + "/v1/json", json.dumps(batch).encode(), "application/json", auth)[:1] == (200,)
        if r == 1:  # a job (nothing to prune) between two appends
            status, out = post(collector.url + "/v1/admin/job", json.dumps(
                {"job": "prune", "cutoff": "2000-01-01T00:00:00+00:00"}).encode(), "application/json",
                "Bearer " + json.loads(Path(f"{collector.proc.db}.collector.json").read_text())["token"])
            assert status == 200, out
    ranges = collector.query("SELECT r.start_offset, r.end_offset FROM source_ranges r JOIN sources s "
                             "USING (source_id) WHERE s.client_id = 'beta' AND s.path LIKE 'logship:intake/json?%'")
    events = collector.query("SELECT count(*), count(DISTINCT message), count(DISTINCT byte_offset), "
                             "max(byte_offset) FROM events WHERE message LIKE 'follow %'")
    assert len(ranges) == 1 and ranges[0][0] == 0
    assert events[0][:3] == [160, 160, 160]
    assert events[0][3] < ranges[0][1]


def test_json_refusals(collector):
    tok = f"Bearer {TOKENS['alpha']}"
    assert post(collector.url + "/v1/json", b"{nope", "application/json", tok)[0] == 400
    assert post(collector.url + "/v1/json", b"{}", "application/json", None)[0] == 401
    assert post(collector.url + "/v1/json", b"{}", "application/json", basic("wrong"))[0] == 401
    status, body = post(collector.url + "/v1/json", b'{"x": NaN}', "application/json", tok)
    assert status == 400 and "JSON text cannot" in body["error"]["message"]


def test_python_http_handler_with_basic_auth(collector):
    host = collector.url.removeprefix("http://")
    handler = logging.handlers.HTTPHandler(host, "/v1/python-logging", method="POST",
                                           credentials=("app", TOKENS["beta"]))
    logger = logging.getLogger("intake.test.http")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    errors: list[BaseException] = []
    handler.handleError = lambda record: errors.append(RuntimeError(record))  # type: ignore[method-assign]
    try:
        logger.warning("disk %s is %d%% full", "/var", 93)
        logger.info("no args: 100%")
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("division failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert errors == []
    rows = collector.query(
        "SELECT level, message, attrs->>'name', attrs->>'funcName', ts_source, e.client_id FROM events e "
        "JOIN sources s USING (source_id) WHERE s.path LIKE 'logship:intake/pylogging%' ORDER BY ts")
    assert rows == [
        ["WARN", "disk /var is 93% full", "intake.test.http", "test_python_http_handler_with_basic_auth", "line",
         "beta"],
        ["INFO", "no args: 100%", "intake.test.http", "test_python_http_handler_with_basic_auth", "line", "beta"],
        ["ERROR", "division failed", "intake.test.http", "test_python_http_handler_with_basic_auth", "line",
         "beta"],
    ]
    # the same form through /v1/lines, and without a token: 401, nothing stored
    form = b"name=x&msg=via+lines&args=%28%29&levelname=ERROR&created=1795996800.5"
    status, body = post(collector.url + "/v1/lines", form, "application/x-www-form-urlencoded", basic(TOKENS["beta"]))
    assert (status, body["records"]) == (200, 1)
    assert post(collector.url + "/v1/python-logging", form, "application/x-www-form-urlencoded")[0] == 401
    assert collector.query("SELECT level, ts FROM events WHERE message = 'via lines'") == \
        [["ERROR", "2026-11-30T00:00:00.500000+00:00"]]


def test_socket_handler_pickle_is_refused_unread(collector):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pickled %s", ("!",), None)
    data = pickle.dumps(dict(record.__dict__), 1 + pickle.HIGHEST_PROTOCOL - 1)
    frame = struct.pack(">L", len(data)) + data  # SocketHandler.makePickle's frame
    status, body = post(collector.url + "/v1/python-logging", frame, "application/octet-stream",
                        f"Bearer {TOKENS['alpha']}")
    assert status == 400 and "never unpickled" in body["error"]["message"]
    assert "never unpickled" in collector.proc.log.read_text()


def test_basic_auth_on_protocol_v1_lines(collector):
    """Basic (password = token) works on Protocol v1's own endpoints too."""
    line = b'{"ts":"2026-11-30T09:00:00Z","level":"info","msg":"basic on lines"}\n'
    status, body = post(collector.url + "/v1/lines?source=basic", line, "application/x-ndjson", basic(TOKENS["beta"]))
    assert (status, body["records"]) == (200, 1)
    assert post(collector.url + "/v1/lines?source=basic", line, "application/x-ndjson", basic("nope"))[0] == 401
    assert collector.query("SELECT e.client_id FROM events e WHERE message = 'basic on lines'") == [["beta"]]
