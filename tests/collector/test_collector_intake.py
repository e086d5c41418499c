"""HTTP intake of a real `logship collect`: bodies that do not fit their source's format
go to a sibling source, zones (`?tz=` mismatch, `--http-tz`, the stored zone of `open`
and backlog), bodies that end mid-line, user grammars (`--grammar-dir`)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import aiohttp
import pytest

from logship.collector.config import load_config
from logship.collector.errors import ConfigError
from logship.collector.fit import judge, sibling_name, unknown_is_known
from tests.collectorkit import TOKENS, CollectorProc, StreamClient, client_line, client_lines, run
from tests.run import logship

REPO = Path(__file__).resolve().parents[2]
SYSLOG = (REPO / "samples" / "syslog.log").read_bytes()
METRIC = b"2026-11-28T09:14:02.100+01:00 INFO  sess=a1b2c3d4e5f60718 metric proc cpu=8.5% rss=93.6MiB threads=22\n"

MYAPP = """\
// format: myapp
// description: a user format for the collector test
// event: myapp.log
// sample: 2026-11-27 21:09:05.123 [worker-3] INFO job.done -- finished batch 7
%import common (ISO_TIMESTAMP, MESSAGE_TAIL, SP)
start: ISO_TIMESTAMP _LB ATTR_THREAD _RB LEVEL EVENT MESSAGE_TAIL?
LEVEL: /INFO|WARN|ERROR/
EVENT: /[a-z]+\\.[a-z_]+/
ATTR_THREAD: /[\\w-]+/
_LB: "["
_RB: "]"
%ignore SP
"""


@pytest.fixture
def start(tmp_path):
    """Start `logship collect` with more options; stopped after the test whatever happens."""
    procs: list[CollectorProc] = []

    def go(*args: str) -> CollectorProc:
        procs.append(CollectorProc(tmp_path, args=args).start())
        return procs[-1]

    yield go
    for p in procs:
        p.stop()


def syslog_lines(n: int, skip: int = 0) -> bytes:
    return b"".join(SYSLOG.splitlines(keepends=True)[skip:skip + n])


async def post(url: str, data: bytes, headers: dict[str, str] | None = None,
               token: str = TOKENS["alpha"]) -> tuple[int, dict]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.post(url, data=data, headers=headers or {}) as r:
            return r.status, await r.json(content_type=None)


async def get_text(url: str) -> str:
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as r:
            return await r.text()


def metric_value(text: str, series: str) -> int:
    m = re.search(rf"^{re.escape(series)} (\d+)$", text, re.M)
    assert m, f"{series} not in /metrics"
    return int(m.group(1))


def test_bodies_that_do_not_fit_a_detected_format_go_to_a_sibling_source(tmp_path, start):
    """~1.5 s. The first body fixes `mix` as client; syslog bodies then go to
    `mix.syslog` (also with Logship-Offset: a resend is subtracted there); a body that
    mostly fits stays with its misfit as a reject; a declared format other than the
    source's goes to the declared sibling; a declared source never moves."""
    coll = start()
    u = coll.url + "/v1/lines?source=mix"

    async def go():
        out = [await post(u, client_lines(0, 5)),
               await post(u, syslog_lines(5)),
               await post(u, client_lines(5, 9) + syslog_lines(1, 5)),
               await post(u, syslog_lines(3, 5)),
               await post(u, syslog_lines(2, 8), {"Logship-Offset": "100000"}),
               await post(u, syslog_lines(2, 8), {"Logship-Offset": "100000"}),
               await post(u + "&log_format=jsonl", b'{"ts": "2026-11-27T21:09:05Z", "level": "info", "msg": "hi"}\n'),
               await post(coll.url + "/v1/lines?source=decl&log_format=client", client_lines(0, 2)),
               await post(coll.url + "/v1/lines?source=decl", syslog_lines(3))]
        return out, await get_text(coll.url + "/metrics")

    answers, metrics = run(go())
    assert all(st == 200 for st, _ in answers), answers
    got = [(a["source"], a["lines"], a["records"], a["rejects"]) for _, a in answers]
    assert got == [("mix", 5, 5, 0), ("mix.syslog", 5, 5, 0), ("mix", 5, 4, 1), ("mix.syslog", 3, 3, 0),
                   ("mix.syslog", 2, 2, 0), ("mix.syslog", 0, 0, 0), ("mix.jsonl", 1, 1, 0),
                   ("decl", 2, 2, 0), ("decl", 3, 0, 3)]
    # appended after what the sibling holds; the offset body kept its offset
    assert answers[3][1]["start"] == len(syslog_lines(5))
    assert answers[4][1]["ranges"] == [[0, len(syslog_lines(5)) + len(syslog_lines(3, 5))],
                                       [100000, 100000 + len(syslog_lines(2, 8))]]
    assert metric_value(metrics, 'logship_lines_bodies_moved_total{format="syslog"}') == 4
    coll.stop()
    assert coll.query("SELECT path, log_format, format_hit_rate IS NULL FROM sources ORDER BY path") == [
        ("/v1/lines?source=decl", "client", True), ("/v1/lines?source=mix", "client", False),
        ("/v1/lines?source=mix.jsonl", "jsonl", True), ("/v1/lines?source=mix.syslog", "syslog", False)]
    assert coll.query("SELECT s.path, count(*) FROM events e JOIN sources s USING (source_id) "
                      "GROUP BY 1 ORDER BY 1") == [
        ("/v1/lines?source=decl", 2), ("/v1/lines?source=mix", 9), ("/v1/lines?source=mix.jsonl", 1),
        ("/v1/lines?source=mix.syslog", 10)]


def test_an_undetectable_live_body_goes_to_the_unknown_sibling(tmp_path, start):
    """~1.2 s. A body no format reads, in a source detected as client: `<source>.unknown`
    once the store knows the format `unknown`; until then it stays, as rejects."""
    coll = start()
    u = coll.url + "/v1/lines?source=app"
    prose = b"This is a README.\nIt has no timestamps at all.\nNone.\n"

    async def go():
        return [await post(u, client_lines(0, 3)), await post(u, prose)]

    (s1, a1), (s2, a2) = run(go())
    assert (s1, a1["source"], s2) == (200, "app", 200)
    known = unknown_is_known()
    assert (a2["source"], a2["lines"], a2["records"], a2["rejects"]) == ("app.unknown" if known else "app", 3, 0, 3)
    coll.stop()
    if known:
        assert coll.query("SELECT s.path, s.log_format, r.error_code, count(*) FROM rejects r "
                          "JOIN sources s USING (source_id) GROUP BY ALL") == [
            ("/v1/lines?source=app.unknown", "unknown", "unknown_format", 3)]


def test_lines_tz_other_than_the_sources_is_400_naming_both_and_http_tz_is_the_default(tmp_path, start):
    """~1.3 s. --http-tz Asia/Tokyo zones a source whose requests name none; a request
    with another zone is refused naming both zones, and stores nothing."""
    coll = start("--http-tz", "Asia/Tokyo")
    u = coll.url + "/v1/lines?source=tzs"
    line = b"2026-11-27T21:09:05.123 INFO  sess=3f2a9c1e5b7d9e01 event no.offset\n"  # no offset: the zone's

    async def go():
        return [await post(u, line), await post(u + "&tz=Europe/Berlin", line),
                await post(u + "&tz=Asia/Tokyo", line), await post(u + "&tz=Nowhere/Land", line)]

    (s1, a1), (s2, a2), (s3, a3), (s4, a4) = run(go())
    assert (s1, a1["tz"], a1["records"]) == (200, "Asia/Tokyo", 1)
    assert s2 == 400 and a2["error"]["code"] == "tz_mismatch", a2
    assert a2["error"]["message"] == ("tz Europe/Berlin is not the zone of source tzs, Asia/Tokyo: a source keeps "
                                      "its zone (send tz=Asia/Tokyo or no tz, or name another source)")
    assert (s3, a3["records"], a3["start"]) == (200, 1, len(line))
    assert s4 == 400 and a4["error"]["code"] == "bad_source", a4
    coll.stop()
    assert coll.query("SELECT tz FROM sources") == [("Asia/Tokyo",)]
    assert coll.query("SELECT count(*), min(ts) FROM events") == [(2, _utc("2026-11-27 12:09:05.123"))]


def _utc(text: str):
    import datetime as dt

    return dt.datetime.fromisoformat(text + "+00:00")


def test_a_body_ending_mid_line_keeps_its_tail_out_and_final_stores_it(tmp_path, start):
    """~1.2 s. `rss=93.6MiB` cut to `rss=9` is not stored (committed_end stops at the
    last newline, the cut line starts an entry); its resend from there stores 93.6 MiB;
    with final=1 the cut line is the body's last and is stored; without Logship-Offset a
    body is a batch of whole lines, the last one without its newline too."""
    coll = start()
    first = client_line(0)
    cut = METRIC[:METRIC.index(b"rss=9") + 5]
    rest = METRIC[len(cut):]

    async def go():
        u = coll.url + "/v1/lines?source=mid"
        a = await post(u, first + cut, {"Logship-Offset": "0"})
        b = await post(u, cut + rest, {"Logship-Offset": str(a[1]["committed_end"])})
        c = await post(coll.url + "/v1/lines?source=fin&final=1", first + cut, {"Logship-Offset": "0"})
        # without an offset a body is a batch of whole lines (syslog-ng ends one without a newline)
        d = await post(coll.url + "/v1/lines?source=batch", first + METRIC.rstrip(b"\n"))
        return a, b, c, d

    (sa, a), (sb, b), (sc, c), (sd, d) = run(go())
    assert (sd, d["committed_end"], d["lines"], d["records"]) == (200, len(first + METRIC) - 1, 2, 4)
    assert (sa, a["committed_end"], a["lines"], a["records"]) == (200, len(first), 1, 1)
    assert (sb, b["committed_end"], b["lines"], b["records"]) == (200, len(first) + len(METRIC), 1, 3)
    assert (sc, c["committed_end"], c["lines"]) == (200, len(first + cut), 2)
    coll.stop()
    rows = coll.query("SELECT s.path, m.value, m.unit FROM metrics m JOIN sources s USING (source_id) "
                      "WHERE m.name LIKE '%rss' ORDER BY 1")
    assert rows == [("/v1/lines?source=batch", 93.6 * 2**20, "bytes"), ("/v1/lines?source=fin", 9.0, None),
                    ("/v1/lines?source=mid", 93.6 * 2**20, "bytes")], rows


def test_user_grammars_reach_the_collector(tmp_path, start):
    """~1.3 s. A --grammar-dir format declared with ?log_format= is parsed with it; a
    missing directory stops `logship collect` in one line."""
    gdir = tmp_path / "grammars"
    gdir.mkdir()
    (gdir / "myapp.lark").write_text(MYAPP)
    coll = start("--grammar-dir", str(gdir))
    body = b"2026-11-27 21:09:05.123 [worker-3] INFO job.done -- finished batch 7\nnot myapp at all\n"

    async def go():
        return await post(coll.url + "/v1/lines?source=mine&log_format=myapp", body)

    st, a = run(go())
    assert (st, a["lines"], a["records"], a["rejects"]) == (200, 2, 1, 1), a
    coll.stop()
    assert coll.query("SELECT level, name, message, json_extract_string(attrs, '$.thread') FROM events") == [
        ("INFO", "job.done", "finished batch 7", "worker-3")]
    r = logship("collect", "--db", tmp_path / "x.duckdb", "--token-file", coll.token_file,
                "--grammar-dir", tmp_path / "nope", "--listen", "127.0.0.1:0")
    assert r.returncode != 0 and r.stderr.strip().count("\n") == 0, r.stderr
    assert f"grammar directory {tmp_path / 'nope'} does not exist" in r.stderr


def test_open_and_backlog_keep_the_stored_zone_with_a_warning_and_a_count(tmp_path, start):
    """~1.2 s. A laptop travels: an open or backlog body that names another zone is
    served in the source's stored zone, logged and counted in /metrics."""
    coll = start()
    data = client_lines(0, 4)

    async def go():
        async with StreamClient(coll.url, TOKENS["alpha"]) as c:
            await c.hello()
            o1 = await c.open(1, data, tz="Europe/Berlin")
            o2 = await c.open(2, data, tz="Asia/Tokyo")
            o3 = await c.open(3, data, tz="Europe/Berlin")
        h = {"X-Logship-Head": base64.b64encode(data).decode(), "X-Logship-Tz": "America/New_York",
             "X-Logship-Path": "/var/log/app.log"}
        b = await post(coll.url + "/v1/backlog?start=0&final=1", data, h)
        return o1, o2, o3, b, await get_text(coll.url + "/metrics")

    o1, o2, o3, (sb, b), metrics = run(go())
    assert (o1["tz"], o2["tz"], o3["tz"]) == ("Europe/Berlin", "Europe/Berlin", "Europe/Berlin")
    assert o1["source_id"] == o2["source_id"] == b["source_id"]
    assert (sb, b["tz"], b["records"]) == (200, "Europe/Berlin", 4)
    assert metric_value(metrics, 'logship_tz_mismatch_total{intake="stream"}') == 1
    assert metric_value(metrics, 'logship_tz_mismatch_total{intake="backlog"}') == 1
    coll.stop()
    log = coll.log.read_text()
    assert "sent tz Asia/Tokyo; the source's stored tz Europe/Berlin is kept" in log
    assert "sent tz America/New_York; the source's stored tz Europe/Berlin is kept" in log
    assert coll.query("SELECT tz FROM sources") == [("Europe/Berlin",)]


def test_judge_rule_in_numbers():
    """~0.1 s. Half of the sample's entries parsing keeps a body; under half moves it
    only to a format that parses at least half."""
    two_of_four = client_lines(0, 2) + syslog_lines(2)
    one_of_four = client_lines(0, 1) + syslog_lines(3)
    assert judge(two_of_four, True, "client", "UTC").move_to is None
    v = judge(one_of_four, True, "client", "UTC")
    assert (v.move_to, v.rate, v.moved_rate) == ("syslog", 0.25, 0.75)
    assert judge(b"", True, "client", "UTC").move_to is None
    assert sibling_name("lines-2026-11-30", "syslog") == "lines-2026-11-30.syslog"


def test_config_http_tz_and_grammar_dirs(tmp_path):
    """~0.05 s. `http_tz` and `grammar_dirs` in the collector's TOML; bad values are one line."""
    (tmp_path / "g").mkdir()
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'token_file = "t"\nhttp_tz = "Europe/Berlin"\ngrammar_dirs = ["{tmp_path / "g"}"]\n')
    cfg = load_config(cfg_file)
    assert (cfg.http_tz, cfg.grammar_dirs) == ("Europe/Berlin", (tmp_path / "g",))
    assert load_config(cfg_file, http_tz="UTC").http_tz == "UTC"
    cfg_file.write_text('token_file = "t"\nhttp_tz = "Mars/Base"\n')
    with pytest.raises(ConfigError, match="http_tz 'Mars/Base' is not an IANA time zone"):
        load_config(cfg_file)
    cfg_file.write_text('token_file = "t"\ngrammar_dirs = "g"\n')
    with pytest.raises(ConfigError, match="expected a list of path strings"):
        load_config(cfg_file)


def _python_entries(n: int) -> bytes:
    """`n` Python logging entries, every third with a five-line traceback below it."""
    out = []
    for i in range(n):
        out.append(f"2026-11-30 14:40:{i % 60:02d},{i % 1000:03d} - app.worker - ERROR - job {i} failed\n")
        if i % 3 == 0:
            out.append("Traceback (most recent call last):\n"
                       f'  File "/srv/app/jobs.py", line {i + 10}, in run\n'
                       "    result = step(payload)\n"
                       '  File "/srv/app/steps.py", line 88, in step\n'
                       f"ValueError: bad payload {i}\n")
    return "".join(out).encode()


def test_a_body_of_a_head_format_is_cut_only_before_entry_heads(tmp_path, start):
    """~1.5 s. With max_batch_bytes 4 KiB an 18 KiB body is cut into many pieces; in a
    `head:` format (python_asctime) every cut falls before an entry's first line, so no
    traceback is split into an orphan reject; each is in its entry's message."""
    coll = CollectorProc(tmp_path, config="[limits]\nmax_batch_bytes = 4096\n").start()
    try:
        body = _python_entries(150)
        assert len(body) > 4 * 4096
        st, ans = run(post(coll.url + "/v1/lines?source=py&log_format=python_asctime", body))
        assert st == 200, ans
        assert (ans["records"], ans["rejects"]) == (150, 0)
    finally:
        coll.stop()
    rows = coll.query("SELECT message FROM events ORDER BY byte_offset")
    assert len(rows) == 150
    assert rows[3][0].startswith("job 3 failed\nTraceback (most recent call last):")
    assert rows[3][0].endswith("ValueError: bad payload 3")
    assert coll.query("SELECT count(*) FROM rejects") == [(0,)]
