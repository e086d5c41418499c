"""A full queue: each HTTP intake answers its protocol's "retry later" at once.

The collector commits slowly (commit_delay_s) with a one-byte queue: while one body
commits and a second is staged behind it, a third waits in the queue (seen on /healthz), and every intake asked then
answers: OTLP 429 + Retry-After, Loki 429 + Retry-After, bulk per-item 429, JSON 429."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

from tests.collectorkit import TOKENS, CollectorProc

def post(url: str, body: bytes, ctype: str, client: str = "alpha") -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {TOKENS[client]}",
                                                          "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def queued(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
            return json.loads(r.read())["queue_bytes"]
    except urllib.error.HTTPError as e:
        return json.loads(e.read())["queue_bytes"]


def test_full_queue_answers_retry_later_per_protocol(tmp_path):
    coll = CollectorProc(tmp_path, config="commit_delay_s = 1.0\n[limits]\nqueue_bytes = 1\n").start()
    try:
        url = coll.url
        answers: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        for attempt in range(5):
            # three sources (appends to one source wait for each other, not in the queue): the
            # writer stages the second while the first is written, the third waits in the queue
            posters = [threading.Thread(target=post, args=(url + path, b'{"msg":"fill"}\n', ctype, client))
                       for path, ctype, client in (("/v1/json", "application/json", "alpha"),
                                                   ("/v1/json", "application/json", "beta"),
                                                   ("/v1/lines?source=fill", "application/x-ndjson", "alpha"))]
            for t in posters:
                t.start()
            deadline = time.monotonic() + 10
            while queued(url) == 0 and any(t.is_alive() for t in posters) and time.monotonic() < deadline:
                time.sleep(0.01)  # polling /healthz for the condition
            if queued(url) > 0:
                answers = {
                    "otlp": post(url + "/v1/logs", b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}',
                                 "application/json"),
                    "loki": post(url + "/loki/api/v1/push",
                                 b'{"streams":[{"stream":{},"values":[["1","x"]]}]}', "application/json"),
                    "bulk": post(url + "/i/_bulk", b'{"index":{}}\n{"message":"x"}\n', "application/x-ndjson"),
                    "json": post(url + "/v1/json", b'{"msg":"x"}', "application/json"),
                }
            for t in posters:
                t.join()
            if answers:
                break
        assert answers, "the queue never filled"
        assert answers["otlp"][0] == 429 and answers["otlp"][2]["Retry-After"] == "1"
        assert json.loads(answers["otlp"][1])["code"] == 8
        assert answers["loki"][0] == 429 and answers["loki"][2]["Retry-After"] == "1"
        status, body, _ = answers["bulk"]
        doc = json.loads(body)
        assert status == 200 and doc["errors"] is True and doc["items"][0]["index"]["status"] == 429
        assert answers["json"][0] == 429
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            text = r.read().decode()
        for intake in ("otlp", "loki", "esbulk", "json"):
            assert f'logship_intake_requests_total{{intake="{intake}",status="429"}} 1' in text
    finally:
        coll.stop()
    # nothing of the refused requests was stored; the fills were
    assert coll.query("SELECT count(*) FROM events WHERE message = 'x'") == [(0,)]
