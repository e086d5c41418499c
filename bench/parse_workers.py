"""The collector's parse workers (`logship collect --parse-workers N`, store/pool.py).

    python bench/parse_workers.py threshold --batch-mb 8
    python bench/parse_workers.py phases --batch-mb 8 --rounds 3
    python bench/parse_workers.py bodies --mb 40 --rounds 2

threshold: in one process, one writer batch (`--batch-mb` MiB of client-format lines,
as items of SIZE bytes, each of its own source, as many shippers' merged frames) is
committed with Store.ingest_items three ways in turn: no pool; a pool of 2 with every
item sent to it (min_bytes 0); the default (items of POOL_MIN_BYTES or more to the pool).
Per item size: MiB/s of each way (median of --rounds) and the ratios. This picks
POOL_MIN_BYTES: below it, shipping an item to a worker and its Arrow tables back costs
more than parsing it in the writer's thread.

bodies: a running collector (fresh DuckDB) with `--parse-workers 0` and with its
default, in interleaved rounds: one /v1/lines body of `--mb` MiB of client-format lines
(MiB/s until the answer, which comes after the commit), then `logship ingest` of the
same file through that collector (the store/remote.py path: a job on its writer thread).
Collector CPU is the process's with its live children (the workers), over the wall time.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.gen_client import client_lines  # noqa: E402

BIN = Path(sys.executable).parent / "logship"
TOKEN = "bench-token"


def make_data(mib: float) -> bytes:
    out, seed, size = [], 1, 0
    while size < mib * 2**20:
        chunk = client_lines(50_000, seed=seed)
        out.append(chunk)
        size += len(chunk)
        seed += 1
    data = b"".join(out)
    return data[:data.rfind(b"\n", 0, int(mib * 2**20)) + 1]


# --- threshold ---------------------------------------------------------------------


def threshold(batch_mb: float, sizes: list[int], rounds: int) -> None:
    from logship.store import Store
    from logship.store.commit import POOL_MIN_BYTES
    from logship.store.item import Item
    from logship.store.pool import ParsePool
    from logship.store.segments import iter_segments

    data = make_data(batch_mb)
    pool = ParsePool(2)  # before DuckDB opens
    try:
        for size in sizes:
            pieces = list(iter_segments(io.BytesIO(data), size, 1 << 20, source_id="x", kind="live"))
            times: dict[str, list[float]] = {"writer thread": [], "all to pool": [], "default": []}
            for r in range(rounds):
                for way in times:
                    d = Path(tempfile.mkdtemp(prefix="bench-pw-"))
                    with Store(d / "t.duckdb") as st:
                        sids = [st.resolve_source("c", p.data[:1024] + str(i).encode(), path=f"/{i}.log",
                                                  tz="UTC", log_format="client").source_id
                                for i, p in enumerate(pieces)]
                        items = [Item(sid, 0, p.data, True, "live") for sid, p in zip(sids, pieces)]
                        t = time.perf_counter()
                        from logship.store.commit import Commit

                        c = Commit(st, {})
                        if way == "writer thread":
                            c.ingest_all(items, None)
                        else:
                            c.ingest_all(items, pool, 0 if way == "all to pool" else None)
                        c.write()
                        times[way].append(time.perf_counter() - t)
                    shutil.rmtree(d, ignore_errors=True)
            med = {w: statistics.median(v) for w, v in times.items()}
            mib = len(data) / 2**20
            print(json.dumps({"item_bytes": size, "items": len(pieces), "batch_mib": round(mib, 1),
                              **{f"{w} MiB/s": round(mib / t, 2) for w, t in med.items()},
                              "all to pool / writer thread": round(med["writer thread"] / med["all to pool"], 2),
                              "default / writer thread": round(med["writer thread"] / med["default"], 2),
                              "POOL_MIN_BYTES": POOL_MIN_BYTES}), flush=True)
    finally:
        pool.close()


# --- phases ------------------------------------------------------------------------


def phases(batch_mb: float, rounds: int) -> None:
    """Where a writer batch's time goes: one batch of ``batch_mb`` MiB of one source as
    1 MiB items (a fast shipper's catch-up), Commit.ingest_all (plan + parse + add) then
    Commit.write (Arrow tables, DuckDB inserts, commit), without and with a pool of 2."""
    from logship.store import Store
    from logship.store.commit import Commit
    from logship.store.pool import ParsePool
    from logship.store.segments import iter_segments

    data = make_data(batch_mb)
    pool = ParsePool(2)
    try:
        for _ in range(rounds):
            for way in ("writer thread", "pool of 2"):
                d = Path(tempfile.mkdtemp(prefix="bench-pw-ph-"))
                with Store(d / "t.duckdb") as st:
                    sid = st.resolve_source("c", data[:1024], path="/a.log", tz="UTC", log_format="client").source_id
                    items = list(iter_segments(io.BytesIO(data), 1 << 20, 1 << 20, source_id=sid, kind="live"))
                    c = Commit(st, {})
                    t0 = time.perf_counter()
                    c.ingest_all(items, pool if way == "pool of 2" else None)
                    t1 = time.perf_counter()
                    c.write()
                    t2 = time.perf_counter()
                shutil.rmtree(d, ignore_errors=True)
                print(json.dumps({"way": way, "plan_parse_add_s": round(t1 - t0, 2), "write_s": round(t2 - t1, 2),
                                  "mib_s": round(len(data) / 2**20 / (t2 - t0), 2)}), flush=True)
    finally:
        pool.close()


# --- bodies ------------------------------------------------------------------------


def tree_cpu(p: psutil.Process) -> float:
    total = 0.0
    for q in [p, *p.children(recursive=True)]:
        try:
            t = q.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


class Collector:
    def __init__(self, d: Path, workers: int | None) -> None:
        (d / "tokens").write_text(f"bench {TOKEN}\n")
        self.db = d / "bench.duckdb"
        more = [] if workers is None else ["--parse-workers", str(workers)]
        self.log = open(d / "collector.log", "ab")
        self.proc = subprocess.Popen([str(BIN), "collect", "--db", str(self.db), "--listen", "127.0.0.1:0",
                                      "--token-file", str(d / "tokens"), *more], stdout=subprocess.PIPE, stderr=self.log)
        self.url = self.proc.stdout.readline().decode().strip()  # type: ignore[union-attr]
        self.ps = psutil.Process(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self.log.close()


def one_body(data: bytes, src: Path, workers: int | None) -> dict:
    d = Path(tempfile.mkdtemp(prefix="bench-pw-body-"))
    coll = Collector(d, workers)
    try:
        c0, t0 = tree_cpu(coll.ps), time.monotonic()
        chunks = (data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20))  # chunked, as a stream
        req = urllib.request.Request(coll.url + "/v1/lines?source=bench", data=chunks, method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Logship-Offset": "0",
                                              "Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=3600) as r:
            answer = json.loads(r.read())
        wall, cpu = time.monotonic() - t0, tree_cpu(coll.ps) - c0
        assert answer["committed_end"] == len(data), answer
        body = {"mib_s": round(len(data) / 2**20 / wall, 2), "cpu_pct": round(100 * cpu / wall)}
        # `logship ingest` of the same bytes through the running collector (a job)
        c0, t0 = tree_cpu(coll.ps), time.monotonic()
        done = subprocess.run([str(BIN), "ingest", str(src), "--db", str(coll.db), "--tz", "UTC"],
                              capture_output=True, text=True, timeout=3600)
        wall, cpu = time.monotonic() - t0, tree_cpu(coll.ps) - c0
        assert done.returncode == 0, done.stderr
        ingest = {"mib_s": round(len(data) / 2**20 / wall, 2), "cpu_pct": round(100 * cpu / wall)}
    finally:
        coll.stop()
        shutil.rmtree(d, ignore_errors=True)
    return {"parse_workers": "default" if workers is None else workers, "lines_body": body, "ingest_job": ingest}


def bodies(mib: float, rounds: int, settings: list[int | None]) -> None:
    data = make_data(mib)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pw-src-"))
    src = tmp / "big.log"
    src.write_bytes(data)
    lines = data.count(b"\n")
    print(f"{len(data) / 2**20:.1f} MiB, {lines:,} lines", flush=True)
    results: dict[str, list[dict]] = {}
    try:
        for _ in range(rounds):
            for w in settings:
                r = one_body(data, src, w)
                results.setdefault(str(r["parse_workers"]), []).append(r)
                print(json.dumps(r), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: {what: statistics.median(x[what]["mib_s"] for x in v) for what in ("lines_body", "ingest_job")}
           for k, v in results.items()}
    print(json.dumps({"median_mib_s": med}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["threshold", "phases", "bodies"])
    ap.add_argument("--batch-mb", type=float, default=8)
    ap.add_argument("--sizes", default="4096,16384,65536,262144,1048576")
    ap.add_argument("--mb", type=float, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--parse-workers", default="0,default")
    a = ap.parse_args()
    if a.what == "threshold":
        threshold(a.batch_mb, [int(s) for s in a.sizes.split(",")], a.rounds)
    elif a.what == "phases":
        phases(a.batch_mb, a.rounds)
    else:
        bodies(a.mb, a.rounds, [None if w == "default" else int(w) for w in a.parse_workers.split(",")])


if __name__ == "__main__":
    main()
