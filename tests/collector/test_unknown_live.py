"""A /v1/lines body whose format cannot be told: stored under `unknown`, each entry an
acked `unknown_format` reject, answered 200 (never refused: issue 10). ~1.5 s (a real
collector process)."""

from __future__ import annotations

import aiohttp

from tests.collectorkit import TOKENS, run

README = b"# logship\n\nShips logs to a collector.\n\n    pip install logship\nSee docs/.\n"


def test_an_undetectable_lines_body_is_stored_as_unknown_rejects_and_acked(collector):
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.post(collector.url + "/v1/lines?source=readme", data=README,
                              headers={"Authorization": f"Bearer {TOKENS['alpha']}"}) as r:
                return r.status, await r.json(content_type=None)

    status, body = run(go())
    assert (status, body["lines"], body["records"], body["rejects"], body["committed_end"]) == (200, 6, 0, 6, len(README))
    collector.stop()
    assert collector.query("SELECT log_format FROM sources WHERE client_id = 'alpha'") == [("unknown",)]
    assert collector.query("SELECT error_code, count(*) FROM rejects GROUP BY 1") == [("unknown_format", 6)]
    errors = collector.query("SELECT DISTINCT error FROM rejects")
    assert len(errors) == 1 and "sess" not in errors[0][0] and "could not be detected" in errors[0][0]


def test_metrics_render_the_future_dated_counter():
    """/metrics names the count of future-dated entries (docs/storage.md). ~1 ms."""
    from logship.collector.metrics import Metrics

    m = Metrics()
    m.future_dated = 3
    assert "\n# TYPE logship_future_dated_total counter\nlogship_future_dated_total 3\n" in m.render()
