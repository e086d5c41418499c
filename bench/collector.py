"""Collector benchmark: many slow shippers, and one fast one against offline ingest.

1. Fleet: N simulated shippers (asyncio, in a separate process) each send 10
   client-format lines a second over /v1/stream (one frame a second). For each N: the collector's queue (from /metrics), the p50/p99 time from
   frame sent to the first ack covering it (one frame of 10 lines a second), the
   collector's CPU and RSS, and a check
   that every line sent is stored exactly once. Reported: the largest N whose queue
   does not grow and whose p99 is under 1 s.
2. Fast: one client streams M lines as fast as credit allows; lines/s from first frame
   to last ack, against a one-process offline ingest (Store.ingest in max_batch_bytes
   segments) of the same bytes in the same run.

The collector's CPU counts its parse worker processes too; the load generator's own CPU
is printed beside it (it shares the two cores). The open-file limit is raised to its
hard limit first (the collector and the load generator inherit it: a fleet of N holds N
sockets on each side).

Usage: .venv/bin/python bench/collector.py [--seconds 120] [--fleet 250,500,1000,1500] [--fast-lines 300000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from logship.kernel.protocol import DataFrame, decode_message, encode_frame, encode_message  # noqa: E402


def line(i: int, sess: str) -> bytes:
    return (f"2026-11-27T21:{(i // 600) % 60:02d}:{(i // 10) % 60:02d}.{(i % 10) * 100:03d}+00:00 INFO  "
            f"sess={sess} metric proc cpu={i % 100}.5% rss=210.3MiB threads={i % 50}\n").encode()


# --- the load side (a separate process) ---------------------------------------------

# 10 lines a second per shipper, sent as one frame a second (a tailer that wakes once a
# second); the last entry of a frame is held until the next one (it may continue), so
# "first ack" is the ack that covers the frame's earlier lines, right after its commit
LINES_PER_FRAME = 10


async def _shipper(url: str, token: str, k: int, seconds: float, start_at: float, lat_first: list[float],
                   lat_full: list[float], counts: list[int]) -> None:
    sess = f"{k:016x}"
    head = line(0, sess)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.ws_connect(url + "/v1/stream", max_msg_size=0) as ws:
            await ws.send_str(encode_message("hello", version=1, shipper="bench", host=f"h{k}"))
            credit = 0
            sent: list[tuple[int, int, float]] = []  # (start, end, t) not yet fully acked
            opened = asyncio.Event()
            acked = 0

            async def reader() -> None:
                nonlocal credit, acked
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        continue
                    m = decode_message(msg.data)
                    t = time.monotonic()
                    if m["type"] == "welcome":
                        credit += m["credit"]
                    elif m["type"] == "opened":
                        opened.set()
                    elif m["type"] in ("ack", "credit"):
                        credit += m["credit"]
                        if m["type"] == "ack":
                            end = m["end"]
                            for fr in sent:
                                if fr[2] > 0 and end > fr[0]:
                                    lat_first.append(t - fr[2])
                                    fr[2] = -abs(fr[2])  # first ack seen
                            while sent and end >= sent[0][1]:
                                lat_full.append(t + sent[0][2])
                                sent.pop(0)
                            acked = max(acked, end)
                    elif m["type"] == "error":
                        counts[2] += 1

            rt = asyncio.get_running_loop().create_task(reader())
            await ws.send_str(encode_message("open", sid=1, head_b64=base64.b64encode(head).decode(),
                                             path=f"/var/log/c{k}.log", tz="UTC", log_format="client", mtime=0.0))
            await opened.wait()
            await asyncio.sleep(max(0.0, start_at - time.monotonic()) + random.random() * 0.1)
            pos, i = 0, 0
            t_end = start_at + seconds
            while time.monotonic() < t_end:
                data = b"".join(line(j, sess) for j in range(i, i + LINES_PER_FRAME))
                if credit >= len(data):
                    credit -= len(data)
                    sent.append([pos, pos + len(data), time.monotonic()])
                    await ws.send_bytes(encode_frame(DataFrame(1, pos, data)))
                    pos += len(data)
                    i += LINES_PER_FRAME
                    counts[0] += LINES_PER_FRAME
                else:
                    counts[1] += 1  # no credit: the lines wait
                await asyncio.sleep(LINES_PER_FRAME / 10)
            # end of the file: FINAL flushes the last entry
            await ws.send_bytes(encode_frame(DataFrame(1, pos, b"", flags=1)))
            deadline = time.monotonic() + 30
            while acked < pos and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            rt.cancel()


async def _fleet(url: str, tokens: list[str], seconds: float) -> dict:
    lat_first: list[float] = []
    lat_full: list[float] = []
    counts = [0, 0, 0]
    start_at = time.monotonic() + 5 + len(tokens) / 200  # connect first, then all send
    tasks = []
    for k, tok in enumerate(tokens):
        tasks.append(asyncio.create_task(_shipper(url, tok, k, seconds, start_at, lat_first, lat_full, counts)))
        if k % 50 == 49:
            await asyncio.sleep(0.2)
    res = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [repr(r) for r in res if isinstance(r, BaseException)]

    def pct(v: list[float], q: float) -> float:
        return sorted(v)[min(len(v) - 1, int(q * len(v)))] if v else float("nan")

    return {"lines_sent": counts[0], "waits_for_credit": counts[1], "errors": counts[2], "failures": failures[:3],
            "n_failures": len(failures), "p50_first": pct(lat_first, 0.5), "p99_first": pct(lat_first, 0.99),
            "p50_full": pct(lat_full, 0.5), "p99_full": pct(lat_full, 0.99)}


async def _fast(url: str, token: str, n: int) -> dict:
    data = b"".join(line(i, "00000000000000ff") for i in range(n))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.ws_connect(url + "/v1/stream", max_msg_size=0) as ws:
            await ws.send_str(encode_message("hello", version=1, shipper="bench", host="fast"))
            credit = 0
            acked = 0
            opened = asyncio.Event()
            more = asyncio.Event()

            async def reader() -> None:
                nonlocal credit, acked
                async for msg in ws:
                    m = decode_message(msg.data)
                    if m["type"] == "welcome":
                        credit += m["credit"]
                    elif m["type"] == "opened":
                        opened.set()
                    elif m["type"] in ("ack", "credit"):
                        credit += m["credit"]
                        acked = max(acked, m.get("end", 0))
                    more.set()

            rt = asyncio.get_running_loop().create_task(reader())
            await ws.send_str(encode_message("open", sid=1, head_b64=base64.b64encode(data[:1024]).decode(),
                                             path="/fast.log", tz="UTC", log_format="client", mtime=0.0))
            await opened.wait()
            t0 = time.monotonic()
            pos = 0
            while pos < len(data):
                if credit < 4096:
                    more.clear()
                    await more.wait()
                    continue
                piece = data[pos:pos + min(credit, 256 << 10)]
                if pos + len(piece) < len(data):
                    piece = piece[:piece.rfind(b"\n") + 1]
                final = pos + len(piece) == len(data)
                credit -= len(piece)
                await ws.send_bytes(encode_frame(DataFrame(1, pos, piece, flags=1 if final else 0)))
                pos += len(piece)
            while acked < len(data):
                more.clear()
                await more.wait()
            took = time.monotonic() - t0
            rt.cancel()
    return {"lines": n, "seconds": took, "lines_per_s": n / took}


def raise_open_files(need: int) -> int:
    """Raise the soft open-file limit towards the hard one (children inherit it); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def load_main(args: argparse.Namespace) -> None:
    tokens = Path(args.tokens).read_text().split()
    if args.role == "fleet":
        out = asyncio.run(_fleet(args.url, tokens[1::2], args.seconds))
    else:
        out = asyncio.run(_fast(args.url, tokens[1], args.fast_lines))
    print(json.dumps(out), flush=True)


# --- the measuring side ---------------------------------------------------------------


class Collector:
    def __init__(self, tmp: Path, n_clients: int, parse_workers: str | None = None) -> None:
        self.db = tmp / "bench.duckdb"
        self.tokens = tmp / "tokens.txt"
        self.tokens.write_text("".join(f"c{k} tok-{k}-{os.urandom(6).hex()}\n" for k in range(max(1, n_clients))))
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "logship", "collect", "--db", str(self.db), "--listen", "127.0.0.1:0",
             "--token-file", str(self.tokens),
             *(["--parse-workers", parse_workers] if parse_workers not in (None, "default") else [])], cwd=REPO, stdout=subprocess.PIPE,
            stderr=open(tmp / "collector.log", "ab"))
        self.url = self.proc.stdout.readline().decode().strip()
        self.ps = psutil.Process(self.proc.pid)

    def cpu(self) -> float:
        """CPU seconds of the collector and its live children (its parse workers)."""
        total = 0.0
        for p in [self.ps, *self.ps.children(recursive=True)]:
            try:
                total += sum(p.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return total

    def metric(self, name: str) -> float:
        import urllib.request

        text = urllib.request.urlopen(self.url + "/metrics", timeout=10).read().decode()
        for ln in text.splitlines():
            if ln.startswith(name + " "):
                return float(ln.split()[1])
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        self.proc.stdout.close()

    def stored(self, sql: str) -> int:
        import duckdb

        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(sql).fetchone()[0]
        finally:
            con.close()


def run_fleet(n: int, seconds: float, parse_workers: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        coll = Collector(tmp, n, parse_workers)
        load = subprocess.Popen([sys.executable, __file__, "--role", "fleet", "--url", coll.url, "--tokens",
                                 str(coll.tokens), "--seconds", str(seconds)], stdout=subprocess.PIPE)
        queue: list[float] = []
        rss: list[int] = []
        load_ps = psutil.Process(load.pid)
        cpu_t0 = coll.cpu()
        load_cpu = 0.0
        t0 = time.monotonic()
        while load.poll() is None:
            time.sleep(1.0)
            try:
                queue.append(coll.metric("logship_queue_bytes"))
                rss.append(coll.ps.memory_info().rss)
                load_cpu = sum(load_ps.cpu_times()[:2])
            except (OSError, psutil.Error):
                pass
        wall = time.monotonic() - t0
        cpu = coll.cpu() - cpu_t0
        commits = coll.metric("logship_commit_seconds_count")
        commit_s = coll.metric("logship_commit_seconds_sum")
        out = json.loads(load.stdout.read().decode() or "{}")
        load.stdout.close()
        coll.stop()
        stored = coll.stored("SELECT count(DISTINCT (source_id, byte_offset)) FROM metrics")
        half = queue[len(queue) // 2:] or [0]
        out.update({"clients": n, "stored_lines": stored, "collector_cpu_pct": 100 * cpu / wall,
                    "load_cpu_pct": 100 * load_cpu / wall,
                    "rss_mb_max": max(rss) / 2**20 if rss else float("nan"),
                    "queue_max_late_kb": max(half) / 1024, "queue_max_kb": max(queue or [0]) / 1024,
                    "commits": commits, "commit_avg_s": commit_s / max(1, commits),
                    "machine_load": os.getloadavg()[0]})
        out["ok"] = bool(out.get("lines_sent")) and out["queue_max_late_kb"] < 1024 and out["p99_first"] < 1.0 \
            and stored == out["lines_sent"] and not out.get("n_failures")
        return out


def offline_ingest(data: bytes, tmp: Path) -> float:
    """One-process ingest of the same bytes (the baseline): Store.ingest per segment."""
    from logship.store import Store
    from logship.store.segments import iter_segments
    from logship.kernel.protocol import DEFAULT_LIMITS

    with Store(tmp / "offline.duckdb") as st:
        src = st.resolve_source("offline", data[:1024], path="/fast.log", log_format="client", tz="UTC")
        t0 = time.monotonic()
        for seg in iter_segments(io.BytesIO(data), DEFAULT_LIMITS.max_batch_bytes, DEFAULT_LIMITS.max_line_bytes):
            st.ingest(src.source_id, seg.start, seg.data, final=seg.final, kind="file", span=seg.span)
        return time.monotonic() - t0


def cli_ingest(data: bytes, tmp: Path) -> float:
    """`logship ingest FILE` (its parse workers on both cores): the offline rate a stream is held to."""
    path = tmp / "fast.log"
    path.write_bytes(data)
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-P", "-m", "logship", "ingest", str(path), "--db", str(tmp / "cli.duckdb"),
                    "--log-format", "client", "--tz", "UTC"], cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def run_fast(n: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = b"".join(line(i, "00000000000000ff") for i in range(n))
        offline_s = offline_ingest(data, tmp)
        cli_s = cli_ingest(data, tmp)
        coll = Collector(tmp, 1)
        load = subprocess.run([sys.executable, __file__, "--role", "fast", "--url", coll.url, "--tokens",
                               str(coll.tokens), "--fast-lines", str(n)], stdout=subprocess.PIPE, check=True)
        rss = coll.ps.memory_info().rss
        coll.stop()
        out = json.loads(load.stdout.decode())
        stored = coll.stored("SELECT count(DISTINCT byte_offset) FROM metrics")
        out.update({"offline_s": offline_s, "offline_lines_per_s": n / offline_s,
                    "cli_lines_per_s": n / cli_s, "ratio_cli": (n / out["seconds"]) / (n / cli_s),
                    "ratio": (n / out["seconds"]) / (n / offline_s), "stored_lines": stored,
                    "collector_rss_mb": rss / 2**20})
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["fleet", "fast"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--tokens", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=120.0, help="fleet run length per N (default 120)")
    ap.add_argument("--fleet", default="250,500,1000,1500", help="comma-separated N values to try")
    ap.add_argument("--fast-lines", type=int, default=300_000, help="lines for the fast single client")
    ap.add_argument("--parse-workers", default="default",
                    help="comma-separated collector --parse-workers settings to try per N (default: its default)")
    args = ap.parse_args()
    if args.role:
        load_main(args)
        return
    limit = raise_open_files(2 * max([int(x) for x in args.fleet.split(",") if x] or [0]) + 256)
    print(f"open-file limit: {limit}", flush=True)
    best = 0
    for n, workers in [(int(x), w) for x in args.fleet.split(",") if x for w in args.parse_workers.split(",")]:
        r = run_fleet(n, args.seconds, workers)
        print(f"fleet N={n} parse-workers={workers}: sent {r.get('lines_sent')} stored {r['stored_lines']} | p50/p99 first ack "
              f"{r.get('p50_first', float('nan')):.3f}/{r.get('p99_first', float('nan')):.3f} s, full ack "
              f"{r.get('p50_full', float('nan')):.3f}/{r.get('p99_full', float('nan')):.3f} s | queue max "
              f"{r['queue_max_kb']:.0f} KiB (late {r['queue_max_late_kb']:.0f}) | collector CPU "
              f"{r['collector_cpu_pct']:.0f}% (load generator {r['load_cpu_pct']:.0f}%) RSS {r['rss_mb_max']:.0f} MB | waits {r.get('waits_for_credit')} "
              f"errors {r.get('errors')} failures {r.get('n_failures')} | {r['commits']:.0f} commits, avg "
              f"{r['commit_avg_s']:.3f} s | load avg {r['machine_load']:.1f} -> {'OK' if r['ok'] else 'NOT OK'}",
              flush=True)
        if r["ok"]:
            best = max(best, n)
    print(f"largest N meeting the criteria: {best}", flush=True)
    if args.fast_lines:
        f = run_fast(args.fast_lines)
        print(f"fast client: {f['lines']} lines in {f['seconds']:.2f} s = {f['lines_per_s']:,.0f} lines/s stored "
              f"(stored {f['stored_lines']}); offline one-process ingest {f['offline_lines_per_s']:,.0f} lines/s "
              f"(ratio {f['ratio']:.2f}); `logship ingest` with its workers {f['cli_lines_per_s']:,.0f} lines/s "
              f"(ratio {f['ratio_cli']:.2f}); collector RSS {f['collector_rss_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
