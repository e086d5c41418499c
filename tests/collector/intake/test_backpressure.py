"""A full queue: each HTTP intake answers its protocol's "retry later" at once.

The collector commits slowly (commit_delay_s) with a one-byte queue, and five clients
keep posting JSON bodies (appends to one source wait for each other, not in the queue):
while the writer sleeps over one write, another client's body waits in the queue (seen
on /healthz). The four intakes asked together then answer: OTLP 429 + Retry-After, Loki
429 + Retry-After, bulk per-item 429, JSON 429. The queue empties for the moment the
writer takes it, so a round whose answers met that moment is tried again (each round's
records are told apart); every count is checked exactly."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

from tests.collectorkit import TOKENS, CollectorProc

CLIENTS = {**TOKENS, **{f"c{k}": f"tok-c{k}-{k}1234567890" for k in range(3)}}


def post(url: str, body: bytes, ctype: str, client: str = "alpha") -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {CLIENTS[client]}",
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


def ask_together(url: str, k: int) -> dict[str, tuple[int, bytes, dict[str, str]]]:
    """The four intakes at once (round k's records say `x<k>`)."""
    asks = {
        "otlp": ("/v1/logs", b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}', "application/json"),
        "loki": ("/loki/api/v1/push", b'{"streams":[{"stream":{},"values":[["1","x%d"]]}]}' % k, "application/json"),
        "bulk": ("/i/_bulk", b'{"index":{}}\n{"message":"x%d"}\n' % k, "application/x-ndjson"),
        "json": ("/v1/json", b'{"msg":"x%d"}' % k, "application/json"),
    }
    answers: dict[str, tuple[int, bytes, dict[str, str]]] = {}
    threads = [threading.Thread(target=lambda n=n, a=a: answers.__setitem__(n, post(url + a[0], a[1], a[2])))
               for n, a in asks.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def refused(answers: dict[str, tuple[int, bytes, dict[str, str]]]) -> Counter[str]:
    """Which intakes answered "retry later" (the bulk one per item)."""
    out: Counter[str] = Counter()
    for name, (status, body, _) in answers.items():
        if name == "bulk":
            out["esbulk"] += status == 200 and json.loads(body)["items"][0]["index"]["status"] == 429
        else:
            out[name] += status == 429
    return out


def test_full_queue_answers_retry_later_per_protocol(tmp_path):
    coll = CollectorProc(tmp_path, config="commit_delay_s = 1.0\n[limits]\nqueue_bytes = 1\n",
                         tokens=CLIENTS).start()
    stop = threading.Event()
    fills: Counter[int] = Counter()

    def keep_posting(client: str) -> None:
        while not stop.is_set():
            status = post(coll.url + "/v1/json", b'{"msg":"fill"}', "application/json", client)[0]
            fills[status] += 1
            if status == 429:
                stop.wait(0.02)  # a refused client comes back a little later, as clients do

    posters = [threading.Thread(target=keep_posting, args=(c,)) for c in CLIENTS]
    try:
        url = coll.url
        for t in posters:
            t.start()
        asked: Counter[str] = Counter()
        answers: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        for k in range(5):
            deadline = time.monotonic() + 10
            while queued(url) == 0 and time.monotonic() < deadline:
                time.sleep(0.01)  # polling /healthz for the condition
            answers = ask_together(url, k)
            asked += refused(answers)
            if sum(refused(answers).values()) == 4:
                break
        stop.set()
        for t in posters:
            t.join()
        assert sum(refused(answers).values()) == 4, f"round {k}: {answers}"
        assert answers["otlp"][0] == 429 and answers["otlp"][2]["Retry-After"] == "1"
        assert json.loads(answers["otlp"][1])["code"] == 8
        assert answers["loki"][0] == 429 and answers["loki"][2]["Retry-After"] == "1"
        status, body, _ = answers["bulk"]
        doc = json.loads(body)
        assert status == 200 and doc["errors"] is True and doc["items"][0]["index"]["status"] == 429
        assert answers["json"][0] == 429
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            text = r.read().decode()
        for intake in ("otlp", "loki", "esbulk"):
            assert f'logship_intake_requests_total{{intake="{intake}",status="429"}} {asked[intake]}' in text
        json_refused = asked["json"] + fills[429]
        assert f'logship_intake_requests_total{{intake="json",status="429"}} {json_refused}' in text
        assert fills[200] > 0 and set(fills) <= {200, 429}, fills
    finally:
        stop.set()
        coll.stop()
    # nothing of the refused requests was stored; every accepted fill was, once
    assert coll.query(f"SELECT count(*) FROM events WHERE message = 'x{k}'") == [(0,)]
    assert coll.query("SELECT count(*) FROM events WHERE message = 'fill'") == [(fills[200],)]
