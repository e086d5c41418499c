"""Intake benchmark: payloads captured from real clients, replayed into a collector.

1. Capture (no collector): the OpenTelemetry SDK's OTLP/HTTP exporter (through a
   LoggingHandler, BatchLogRecordProcessor of --batch records) and elasticsearch's
   helpers.bulk (chunks of --batch) post to a small capturing server in this process;
   their request bodies are kept. Loki pushes are built with the intake's PushRequest
   as Promtail/Alloy send them (snappy protobuf, --batch entries a push); JSON bodies
   are arrays of --batch objects; syslog is RFC 5424 octet-counted over TCP.
2. Replay: a fresh `logship collect`; --clients clients (one token each) send their
   share of the payloads back to back. Reported per intake: records/s into DuckDB (wall
   time from the first request to the last answer, every record checked in the database
   afterwards) and the collector's CPU seconds per 1,000 records (psutil, user+system).
   Baseline in the same run: the same ECS records as NDJSON on /v1/lines.

Usage: .venv/bin/python bench/intake.py [--records 100000] [--batch 1000] [--clients 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

T0 = 1795996800  # 2026-11-30T00:00:00Z


def ecs(i: int) -> dict:
    return {"@timestamp": f"2026-11-30T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
            "log.level": ("info", "warn", "error")[i % 3], "message": f"GET /api/items/{i} 200 in {i % 97}ms",
            "service": {"name": "api"}, "http": {"status": 200}}


# --- capture ----------------------------------------------------------------------------


class _Capture(BaseHTTPRequestHandler):
    bodies: dict[str, list[tuple[dict[str, str], bytes]]] = {}

    def log_message(self, *a: object) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the client's handshake
        self._send(200, json.dumps({"version": {"number": "8.17.0"}, "tagline": "You Know, for Search"}).encode())

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(200, b"")

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "content-encoding")}
        self.bodies.setdefault(self.path, []).append((headers, body))
        if self.path.endswith("_bulk"):
            n = sum(1 for ln in body.split(b"\n") if ln.startswith(b'{"index"'))
            items = [{"index": {"_index": "x", "_id": str(k), "status": 201, "result": "created"}} for k in range(n)]
            self._send(200, json.dumps({"took": 1, "errors": False, "items": items}).encode())
        else:
            self._send(200, b"", "application/x-protobuf")

    do_PUT = do_POST


def capture(n: int, batch: int) -> dict[str, list[tuple[dict[str, str], bytes]]]:
    """Real clients' request bodies for n records each."""
    from elasticsearch import Elasticsearch, helpers
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    _Capture.bodies = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        provider = LoggerProvider(resource=Resource.create({"service.name": "api", "host.name": "web-1"}))
        provider.add_log_record_processor(BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=url + "/v1/logs"), max_export_batch_size=batch, max_queue_size=4 * batch,
            schedule_delay_millis=60_000))
        logger = logging.getLogger("bench.otlp")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        handler = LoggingHandler(logger_provider=provider)
        logger.addHandler(handler)
        for i in range(n):
            logger.warning("GET /api/items/%d 200 in %dms", i, i % 97)
            if (i + 1) % batch == 0:
                provider.force_flush()
        provider.force_flush()
        logger.removeHandler(handler)
        provider.shutdown()
        es = Elasticsearch(url)
        helpers.bulk(es, ({"_index": "app", "_source": ecs(i)} for i in range(n)), chunk_size=batch,
                     max_chunk_bytes=64 << 20)
        es.close()
    finally:
        server.shutdown()
        server.server_close()
    return dict(_Capture.bodies)


def built(n: int, batch: int) -> dict[str, list[tuple[dict[str, str], bytes]]]:
    """Loki (snappy protobuf), JSON arrays and the NDJSON baseline for n records each."""
    import cramjam

    from logship.collector.intake.loki import PushRequest

    out: dict[str, list[tuple[dict[str, str], bytes]]] = {"loki": [], "json": [], "lines": []}
    for a in range(0, n, batch):
        req = PushRequest()
        st = req.streams.add()
        st.labels = '{job="api", level="info"}'
        for i in range(a, min(n, a + batch)):
            e = st.entries.add()
            e.timestamp.seconds, e.timestamp.nanos = T0 + i // 1000, (i % 1000) * 1000
            e.line = f"GET /api/items/{i} 200 in {i % 97}ms"
        out["loki"].append(({"Content-Type": "application/x-protobuf"},
                            bytes(cramjam.snappy.compress_raw(req.SerializeToString()))))
        recs = [ecs(i) for i in range(a, min(n, a + batch))]
        out["json"].append(({"Content-Type": "application/json"}, json.dumps(recs).encode()))
        out["lines"].append(({"Content-Type": "application/x-ndjson"},
                             b"".join(json.dumps(r).encode() + b"\n" for r in recs)))
    return out


# --- replay -----------------------------------------------------------------------------

ENDPOINTS = {"otlp": "/v1/logs", "esbulk": "/_bulk", "loki": "/loki/api/v1/push", "json": "/v1/json",
             "lines": "/v1/lines?source=bench"}
# the sources each intake writes (their path), to count what was stored
PATHS = {"otlp": "logship:intake/otlp%", "esbulk": "logship:intake/esbulk%", "loki": "logship:intake/loki%",
         "json": "logship:intake/json%", "lines": "/v1/lines?source=bench%", "syslog": "logship:intake/syslog-tcp%"}


class Collector:
    def __init__(self, tmp: Path, clients: int, config: str = "") -> None:
        self.db = tmp / "bench.duckdb"
        self.tokens = [f"tok-{k}-{os.urandom(6).hex()}" for k in range(clients)]
        (tmp / "tokens.txt").write_text("".join(f"c{k} {t}\n" for k, t in enumerate(self.tokens)))
        cmd = [sys.executable, "-P", "-m", "logship", "collect", "--db", str(self.db), "--listen", "127.0.0.1:0",
               "--token-file", str(tmp / "tokens.txt")]
        if config:
            (tmp / "c.toml").write_text(config)
            cmd += ["--config", str(tmp / "c.toml")]
        self.log = tmp / "collector.log"
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=open(self.log, "ab"))
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().decode().strip()
        self.ps = psutil.Process(self.proc.pid)

    def cpu(self) -> float:
        """CPU seconds of the collector and its live children (its parse workers)."""
        total = 0.0
        for p in [self.ps, *self.ps.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def stored(self, pattern: str) -> int:
        import duckdb

        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute("SELECT count(*) FROM events e JOIN sources s USING (source_id) WHERE s.path LIKE ?",
                               [pattern]).fetchone()[0]
        finally:
            con.close()


async def _replay(url: str, tokens: list[str], path: str, payloads: list[tuple[dict[str, str], bytes]]) -> None:
    async def client(k: int) -> None:
        async with aiohttp.ClientSession() as s:
            for headers, body in payloads[k::len(tokens)]:
                while True:
                    async with s.post(url + path, data=body,
                                      headers={**headers, "Authorization": f"Bearer {tokens[k]}"}) as r:
                        text = await r.read()
                        if r.status in (429, 503):
                            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                            continue
                        if r.status >= 300 or (b'"errors":true' in text):
                            raise RuntimeError(f"{path}: {r.status} {text[:300]!r}")
                        break

    await asyncio.gather(*(client(k) for k in range(len(tokens))))


async def _syslog(port: int, n: int, clients: int) -> None:
    async def client(k: int) -> None:
        _, w = await asyncio.open_connection("127.0.0.1", port)
        buf = bytearray()
        for i in range(k, n, clients):
            msg = (f"<14>1 2026-11-30T00:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z web-1 api 42 - - "
                   f"GET /api/items/{i} 200 in {i % 97}ms").encode()
            buf += b"%d %s" % (len(msg), msg)
            if len(buf) > 256 << 10:
                w.write(bytes(buf))
                buf.clear()
                await w.drain()
        w.write(bytes(buf))
        await w.drain()
        w.close()
        await w.wait_closed()

    await asyncio.gather(*(client(k) for k in range(clients)))


def measure(name: str, payloads: list[tuple[dict[str, str], bytes]] | None, n: int, clients: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        config = '[[syslog]]\nprotocol = "tcp"\nclient_id = "c0"\n' if name == "syslog" else ""
        coll = Collector(tmp, clients, config)
        try:
            cpu0, t0 = coll.cpu(), time.monotonic()
            if name == "syslog":
                import re
                port = int(re.search(r"tcp://127\.0\.0\.1:(\d+)", coll.log.read_text()).group(1))
                asyncio.run(_syslog(port, n, clients))
                # the listener commits what it read in batches: wait for the count in /metrics
                import urllib.request
                pat = re.compile(r'logship_intake_records_total\{intake="syslog-tcp"\} (\d+)')
                while True:
                    text = urllib.request.urlopen(coll.url + "/metrics", timeout=10).read().decode()
                    m = pat.search(text)
                    if m and int(m.group(1)) >= n:
                        break
                    time.sleep(0.05)
            else:
                assert payloads is not None
                asyncio.run(_replay(coll.url, coll.tokens, ENDPOINTS[name], payloads))
            wall, cpu = time.monotonic() - t0, coll.cpu() - cpu0
        finally:
            coll.stop()
        stored = coll.stored(PATHS[name])
    if stored != n:
        raise SystemExit(f"{name}: {stored} records stored, expected {n}")
    return {"intake": name, "records": n, "wall_s": round(wall, 2), "records_per_s": round(n / wall),
            "cpu_s_per_1000": round(cpu / n * 1000, 4), "requests": len(payloads) if payloads else None,
            "bytes_per_record": round(sum(len(b) for _, b in payloads) / n) if payloads else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--intakes", default="lines,json,otlp,esbulk,loki,syslog")
    args = ap.parse_args()
    t = time.monotonic()
    caught = capture(args.records, args.batch)
    payloads = {"otlp": caught["/v1/logs"], "esbulk": caught["/_bulk"], **built(args.records, args.batch)}
    print(f"captured in {time.monotonic() - t:.1f} s: " +
          ", ".join(f"{k} {len(v)} requests" for k, v in payloads.items()), file=sys.stderr)
    base = None
    for name in args.intakes.split(","):
        r = measure(name, payloads.get(name), args.records, args.clients)
        base = base or r
        r["ratio_to_first"] = round(r["records_per_s"] / base["records_per_s"], 2)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
