"""Bounded queries under ingest: what 6 runaway /v1/query statements cost a collector.

One collector (default query limits unless given), one loader process posting
client-format lines to /v1/lines as fast as the collector answers (2 posts in flight).
1. --cycles times: lines stored per second over a --window without queries, then over
   a --window with 6 runaway queries kept in flight (each answered one is sent again at
   once; cross joins that only the time limit stops, aggregations that may hit DuckDB's
   memory_limit), then the queries run out; one more window without. The ratio of the
   mean rates with and without (alternating, so the shared machine's drift cancels);
2. the collector's RSS 30 s after the last query answered, against before the first;
4. shutdown: 6 runaway queries in flight again, SIGTERM, seconds until the process exits.
Targets (issue 8): ratio >= 0.8, RSS within 200 MiB of before, exit <= 10 s.

Usage: .venv/bin/python bench/queries.py [--window 15] [--cycles 3] [--config 'query_nice = 19']
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parent.parent
TOKEN = "tok-bench-1234567890"
ADMIN = "adm-bench-abcdef"
RUNAWAYS = [
    "SELECT count(*) FROM range(100000000) a, range(100000) b",
    "SELECT length(string_agg(md5(range::VARCHAR), ',')) FROM range(100000000)",  # past memory_limit
    "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range % 7 = b.range % 5",
    "SELECT count(*) FROM (SELECT range % 50000000 AS k, count(*) FROM range(200000000) GROUP BY k)",
    "SELECT count(*) FROM range(100000000) a, range(100000) b",
    "SELECT max(a.range + b.range) FROM range(100000000) a, range(100000) b",
]


def _lines(i: int, n: int) -> bytes:
    return b"".join(f"2026-11-27T21:{(k // 600) % 60:02d}:{(k // 10) % 60:02d}.{(k % 10) * 100:03d}+00:00 INFO  "
                    f"sess=00000000000000{k % 7:02d} metric proc cpu={k % 100}.5% rss=210.3MiB threads={k % 50}\n"
                    .encode() for k in range(i, i + n))


# --- the loader (its own process, so its CPU is not the collector's) ----------------

async def _load(url: str) -> None:
    async def poster(source: str) -> None:
        i = 0
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
            while True:
                body = _lines(i, 2000)
                async with s.post(f"{url}/v1/lines?source={source}", data=body) as r:
                    await r.read()
                i += 2000

    await asyncio.gather(poster("a"), poster("b"))


# --- the measuring side ------------------------------------------------------------

class Collector:
    def __init__(self, tmp: Path, config: str) -> None:
        (tmp / "tokens.txt").write_text(f"bench {TOKEN}\n")
        (tmp / "admin.txt").write_text(f"ops {ADMIN}\n")
        (tmp / "c.toml").write_text(config + "\n")
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "logship", "collect", "--db", str(tmp / "q.duckdb"), "--listen", "127.0.0.1:0",
             "--token-file", str(tmp / "tokens.txt"), "--admin-token-file", str(tmp / "admin.txt"),
             "--config", str(tmp / "c.toml")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=open(tmp / "collector.log", "ab"))
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().decode().strip()
        self.ps = psutil.Process(self.proc.pid)

    def metric(self, name: str) -> float:
        text = urllib.request.urlopen(self.url + "/metrics", timeout=30).read().decode()
        for line in text.splitlines():
            if line.startswith(f"logship_{name} "):
                return float(line.split()[1])
        raise KeyError(name)

    def rss_mib(self) -> float:
        return self.ps.memory_info().rss / 2**20


async def _query(url: str, sql: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as s:
            async with s.post(url + "/v1/query", json={"sql": sql},
                              headers={"Authorization": f"Bearer {ADMIN}"}) as r:
                body = await r.json(content_type=None)
                err = body.get("error") or {}
                return r.status, " ".join(err.get("message", "ok").split()[:6])
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
        return 0, type(exc).__name__


async def _keep_in_flight(url: str, until: float, outcomes: list[tuple[int, str]]) -> None:
    async def slot(k: int) -> None:
        n = 0
        while time.monotonic() < until:
            outcomes.append(await _query(url, RUNAWAYS[(k + n) % len(RUNAWAYS)]))
            n += 1

    await asyncio.gather(*(slot(k) for k in range(6)))


def _rate(coll: Collector, seconds: float) -> float:
    n0, t0 = coll.metric("lines_stored_total"), time.monotonic()
    time.sleep(seconds)
    return (coll.metric("lines_stored_total") - n0) / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=float, default=15.0, help="seconds of each measured window")
    ap.add_argument("--cycles", type=int, default=3, help="windows without and with queries, alternating")
    ap.add_argument("--config", default="", help="extra collector TOML lines")
    ap.add_argument("--role", default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "load":
        asyncio.run(_load(args.url))
        return
    with tempfile.TemporaryDirectory(prefix="logship-qbench-") as d:
        coll = Collector(Path(d), args.config)
        load = subprocess.Popen([sys.executable, __file__, "--role", "load", "--url", coll.url])
        try:
            time.sleep(5)  # warm up: the first commits, the parser caches
            before = coll.rss_mib()
            outcomes: list[tuple[int, str]] = []
            peak = [before]
            without: list[float] = []
            with_q: list[float] = []

            async def with_queries() -> float:
                until = time.monotonic() + args.window + 1
                task = asyncio.ensure_future(_keep_in_flight(coll.url, until, outcomes))
                await asyncio.sleep(1)  # all six sent, two running
                rate = await asyncio.get_running_loop().run_in_executor(None, _rate, coll, args.window)
                while not task.done():  # the last ones sent run out their limits
                    peak[0] = max(peak[0], coll.rss_mib())
                    await asyncio.sleep(0.5)
                return rate

            # windows without and with queries alternate, so a drift of the machine's other
            # load (it is shared) falls on both sides alike
            for _ in range(args.cycles):
                without.append(_rate(coll, args.window))
                with_q.append(asyncio.run(with_queries()))
                print(f"  window: {without[-1]:,.0f} lines/s without queries, {with_q[-1]:,.0f} with",
                      flush=True)
            ended = time.monotonic()
            without.append(_rate(coll, args.window))
            kinds: dict[str, int] = {}
            for st, code in outcomes:
                kinds[f"{st} {code}"] = kinds.get(f"{st} {code}", 0) + 1
            base = sum(without) / len(without)
            rate_q = sum(with_q) / len(with_q)
            time.sleep(max(0.0, ended + 30 - time.monotonic()))
            after = coll.rss_mib()
            print(f"ingest: {base:,.0f} lines/s stored without queries, {rate_q:,.0f} with 6 runaway queries in "
                  f"flight; ratio {rate_q / base:.2f} (target >= 0.8)", flush=True)
            print(f"query answers: {dict(sorted(kinds.items()))}", flush=True)
            print(f"RSS: {before:.0f} MiB before the queries, peak {peak[0]:.0f} MiB, {after:.0f} MiB 30 s after "
                  f"the last query answered ({after - before:+.0f} MiB; target within 200)", flush=True)

            load.terminate()  # its posts would only see the connection close
            load.wait(30)

            async def shutdown() -> tuple[float, int]:
                flying = [asyncio.ensure_future(_query(coll.url, q)) for q in RUNAWAYS]
                await asyncio.sleep(3)
                running = coll.metric("queries_running")
                t0 = time.monotonic()
                coll.proc.send_signal(signal.SIGTERM)
                rc = await asyncio.get_running_loop().run_in_executor(None, coll.proc.wait, 120)
                took = time.monotonic() - t0
                await asyncio.gather(*flying)
                print(f"SIGTERM with 6 runaway queries in flight ({running:.0f} running): exit {rc} after "
                      f"{took:.2f} s (target <= 10)", flush=True)
                return took, rc

            asyncio.run(shutdown())
            log = (Path(d) / "collector.log").read_text(errors="replace").splitlines()
            bad = [x for x in log if " WARNING " in x or " ERROR " in x]
            print(f"collector log: {len(bad)} warnings/errors" + (f", first: {bad[0][:200]}" if bad else ""),
                  flush=True)
        finally:
            load.terminate()
            load.wait(30)
            if coll.proc.poll() is None:
                coll.proc.kill()
                coll.proc.wait(30)


if __name__ == "__main__":
    main()
