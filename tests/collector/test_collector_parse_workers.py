"""The collector parses on every core: `--parse-workers N` (store/pool.py, forked at
start). Big /v1/lines and backlog bodies store exactly the rows they store with
`--parse-workers 0`, a context format (syslog) and a context-free one (client) in the
same batches; a worker that dies loses nothing; a collector killed with SIGKILL leaves
no worker behind; the setting. About 17 s together on a loaded machine (five collector starts).
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import time
import urllib.request
from pathlib import Path

import aiohttp
import psutil

from tests.collectorkit import TOKENS, CollectorProc, client_lines, run

ROOT = Path(__file__).resolve().parents[2]
N = 20_000  # client lines of the /v1/lines body (~1.6 MiB)
BAD = b"this is not a client line\n"
TABLES = {
    "metrics": "SELECT source_id, byte_offset, ts, ts_source, session_id, name, value, unit, labels::VARCHAR "
               "FROM metrics",
    "events": "SELECT source_id, byte_offset, ts, ts_source, session_id, level, name, message, attrs::VARCHAR "
              "FROM events",
    "rejects": "SELECT source_id, byte_offset, raw, error_code, error FROM rejects",
    "ranges": "SELECT source_id, start_offset, end_offset FROM source_ranges",
    "sources": "SELECT source_id, log_format, future_dated FROM sources",
}


def _lines_body() -> bytes:
    """Client lines with a bad line every 1,000 (rejects)."""
    return b"".join(client_lines(a, a + 1000) + BAD for a in range(0, N, 1000))


def _backlog(name: str, copies: int) -> bytes:
    return (ROOT / "samples" / name).read_bytes() * copies


async def _post(s: aiohttp.ClientSession, url: str, data: bytes, headers: dict[str, str]) -> dict:
    headers = {"Authorization": f"Bearer {TOKENS['alpha']}", **headers}
    async with s.post(url, data=data, headers=headers) as r:
        body = await r.json(content_type=None)
        assert r.status == 200, body
        return body


def _backlog_headers(data: bytes, path: str, fmt: str, tz: str = "UTC") -> dict[str, str]:
    return {"X-Logship-Head": base64.b64encode(data[:1024]).decode(), "X-Logship-Path": path,
            "X-Logship-Tz": tz, "X-Logship-Mtime": "1795000000", "X-Logship-Log-Format": fmt}


def _send_all(url: str) -> list[dict]:
    """A /v1/lines body, a client backlog body and a syslog backlog body, at once (so
    the writer's batches mix them)."""
    lines = _lines_body()
    client = _backlog("client.log", 400)   # ~1.1 MiB
    syslog = _backlog("syslog.log", 200)   # ~0.4 MiB, a context format (the year)

    async def go() -> list[dict]:
        async with aiohttp.ClientSession() as s:
            return list(await asyncio.gather(
                _post(s, url + "/v1/lines?source=bulk", lines, {"Logship-Offset": "0"}),
                _post(s, url + "/v1/backlog?start=0&final=1", client,
                      _backlog_headers(client, "/var/log/app.log.1", "client")),
                _post(s, url + "/v1/backlog?start=0&final=1", syslog,
                      _backlog_headers(syslog, "/var/log/syslog.1", "syslog", "Europe/Berlin"))))

    answers = run(go())
    assert [a["committed_end"] for a in answers] == [len(lines), len(client), len(syslog)], answers
    return answers


def _metric(url: str, name: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(f"logship_{name} ")))


def _workers(coll: CollectorProc) -> list[psutil.Process]:
    return psutil.Process(coll.pid).children()


def _gone(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait(pred, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _dump(coll: CollectorProc) -> dict[str, list]:
    return {t: coll.query(f"{q} ORDER BY ALL") for t, q in TABLES.items()}


def test_big_bodies_store_the_same_rows_with_and_without_workers(tmp_path: Path):
    dumps = {}
    for workers in (0, 2):
        (tmp_path / str(workers)).mkdir()
        coll = CollectorProc(tmp_path / str(workers), args=("--parse-workers", str(workers))).start()
        try:
            assert _metric(coll.url, "parse_workers") == workers
            kids = _workers(coll)
            assert len(kids) == workers
            answers = _send_all(coll.url)
            assert answers[0]["lines"] == N + N // 1000
            # the workers parsed (their CPU time), the writer thread did the rest
            if workers:
                assert sum(k.cpu_times().user for k in kids) > 0.2
        finally:
            assert coll.stop() == 0
        assert all(_gone(k) for k in kids)  # shut down with the collector
        dumps[workers] = _dump(coll)
    for table in TABLES:
        assert dumps[2][table] == dumps[0][table], table
    rejects = dumps[2]["rejects"]
    assert sum(1 for r in rejects if r[2] == BAD.rstrip()) == N // 1000
    assert {r[1] for r in dumps[2]["sources"]} == {"client", "syslog"}


def test_a_dead_worker_loses_nothing_and_the_gauge_says_so(tmp_path: Path):
    coll = CollectorProc(tmp_path, args=("--parse-workers", "2")).start()
    try:
        kids = _workers(coll)
        os.kill(kids[0].pid, signal.SIGKILL)
        _send_all(coll.url)
        # a resend of the /v1/lines body commits nothing twice
        again = run(_resend(coll.url))
        assert (again["lines"], again["committed_end"]) == (0, len(_lines_body()))
        _wait(lambda: _metric(coll.url, "parse_workers") == 0)
        _wait(lambda: all(_gone(k) for k in kids))  # the executor ends the other worker
    finally:
        assert coll.stop() == 0
    log = coll.log.read_text()
    assert log.count("parse worker died") == 1, log
    lines = _lines_body()
    assert coll.query("SELECT count(*) FROM events WHERE name = 'test.line'") == [(N,)]
    assert coll.query("SELECT count(*), count(DISTINCT byte_offset) FROM rejects WHERE raw = ?",
                      [BAD.rstrip()]) == [(N // 1000, N // 1000)]
    assert coll.query("SELECT sum(end_offset - start_offset) FROM source_ranges") == [
        (len(lines) + len(_backlog("client.log", 400)) + len(_backlog("syslog.log", 200)),)]


async def _resend(url: str) -> dict:
    async with aiohttp.ClientSession() as s:
        return await _post(s, url + "/v1/lines?source=bulk", _lines_body(), {"Logship-Offset": "0"})


def test_a_collector_killed_with_sigkill_leaves_no_worker(tmp_path: Path):
    coll = CollectorProc(tmp_path, args=("--parse-workers", "2")).start()
    kids = _workers(coll)
    assert len(kids) == 2 and all(k.is_running() for k in kids)
    coll.kill9()
    _wait(lambda: all(_gone(k) for k in kids), timeout=10.0)


def test_logship_ingest_through_the_collector_parses_in_its_workers(tmp_path: Path):
    from tests.run import logship

    log = tmp_path / "big.log"
    log.write_bytes(_lines_body())
    coll = CollectorProc(tmp_path, args=("--parse-workers", "2")).start()
    try:
        kids = _workers(coll)
        before = sum(k.cpu_times().user for k in kids)
        done = logship("ingest", str(log), "--db", str(coll.db), "--tz", "UTC")
        assert done.returncode == 0, done.stderr
        assert f"{N + N // 1000:,} lines" in done.stdout + done.stderr
        # the job's parsing went to the workers: 20,000 lines take them 0.13 s on a quiet
        # machine, 0.4 s on a busy one; idle workers use next to nothing
        assert sum(k.cpu_times().user for k in kids) - before > 0.05
    finally:
        assert coll.stop() == 0
    assert coll.query("SELECT count(*) FROM events") == [(N,)]
    assert coll.query("SELECT count(*) FROM rejects") == [(N // 1000,)]


def test_parse_workers_setting(tmp_path: Path):
    """~0.01 s. `parse_workers` in collector.toml, the option over it, the default, bad values."""
    import pytest

    from logship.collector.config import default_parse_workers, load_config
    from logship.collector.errors import ConfigError

    tokens = tmp_path / "t"
    tokens.write_text("a tok-a-1234567890\n")
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'token_file = "{tokens}"\nparse_workers = 3\n')
    assert load_config(cfg_file).parse_workers == 3
    assert load_config(cfg_file, parse_workers=0).parse_workers == 0
    assert load_config(None, token_file=tokens).parse_workers == default_parse_workers()
    assert 1 <= default_parse_workers() <= 4
    for bad in ("-1", "65", '"two"'):
        cfg_file.write_text(f'token_file = "{tokens}"\nparse_workers = {bad}\n')
        with pytest.raises(ConfigError, match="parse_workers"):
            load_config(cfg_file)
