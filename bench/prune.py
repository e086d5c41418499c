"""Prune benchmark: a database of N rows (default 10M: half metrics, half events, their
times spread evenly over 2026-10-01 .. 2026-11-28) pruned by half.

1. Offline: `prune_db` at the middle (2026-10-30): seconds, file bytes and DuckDB's
   (total, free) blocks before and after (DuckDB keeps the size: the freed blocks stay in
   the file), then `compact_db`: seconds, bytes and blocks after.
2. Under load: a collector holds a copy of the same file while one fast client streams
   client-format lines as fast as credit allows (bench/collector.py's fast role);
   `logship prune` through the collector 8 s after the first line was stored. Lines
   stored per second (from /metrics, sampled every 0.25 s) before, during (from the
   command's start to its end, Python's start-up included) and after the prune.

Usage: .venv/bin/python bench/prune.py [--rows 10000000] [--load-lines 1500000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CUTOFF = datetime(2026, 10, 30, tzinfo=UTC)
SPAN_S = 58 * 86400  # 2026-10-01 .. 2026-11-28


def build(db: Path, rows: int) -> float:
    """The schema (Store), then rows/2 metrics and rows/2 events over SPAN_S, 1000 clients."""
    import duckdb

    from logship.store import Store

    t0 = time.monotonic()
    Store(db).close()
    con = duckdb.connect(str(db))
    half = rows // 2
    step = SPAN_S / half
    con.execute(f"""INSERT INTO metrics (ts, client_id, session_id, name, value, unit, labels, source_id, byte_offset,
        ts_source) SELECT TIMESTAMPTZ '2026-10-01' + to_microseconds(CAST(i * {step} * 1e6 AS BIGINT)),
        'client-' || (i % 1000), 'sess-' || (i % 1000) || '-' || (i // 200000), 'proc.cpu', (i % 997) / 10.0,
        'percent', NULL, 'src-' || (i % 1000), i * 80, 'line' FROM range({half}) t(i)""")
    con.execute(f"""INSERT INTO events (ts, client_id, session_id, level, name, message, attrs, source_id,
        byte_offset, ts_source) SELECT TIMESTAMPTZ '2026-10-01' + to_microseconds(CAST(i * {step} * 1e6 AS BIGINT)),
        'client-' || (i % 1000), 'sess-' || (i % 1000) || '-' || (i // 200000),
        CASE WHEN i % 50 = 0 THEN 'ERROR' ELSE 'INFO' END, 'app.event' || (i % 40),
        'something happened number ' || i, '{{"k": ' || (i % 100) || '}}', 'src-' || (i % 1000), i * 80 + 40,
        'line' FROM range({half}) t(i)""")
    con.execute("""INSERT INTO session_agg SELECT client_id, session_id, min(ts), max(ts), NULL, 0, min(ts), max(ts)
        FROM events GROUP BY client_id, session_id""")
    con.execute("""INSERT INTO sources (source_id, client_id, head, path, log_format, tz, first_seen, last_seen)
        SELECT 'src-' || i, 'client-' || i, CAST('head' || i AS BLOB), '/var/log/app.log', 'client', 'UTC',
        now(), now() FROM range(1000) t(i)""")
    con.execute(f"INSERT INTO source_ranges SELECT 'src-' || i, 0, {half} * 80 FROM range(1000) t(i)")
    con.execute("CHECKPOINT")
    con.close()
    return time.monotonic() - t0


def size(db: Path) -> int:
    from logship.store.prune import file_bytes

    return file_bytes(db)


def blocks(db: Path) -> tuple[int, int]:
    """(total, free) blocks of the file (DuckDB's pragma_database_size)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        total, free = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()").fetchall()[0]
    finally:
        con.close()
    return int(total), int(free)


def offline(db: Path) -> dict:
    from logship.store.compact import compact_db
    from logship.store.prune import prune_db

    before, blocks_before = size(db), blocks(db)
    res = prune_db(db, CUTOFF)
    after, blocks_after = size(db), blocks(db)
    comp = compact_db(db)
    return {"rows_deleted": res.total, "rows": res.rows, "prune_s": res.seconds, "bytes_before": before,
            "blocks_before": blocks_before, "bytes_after_prune": after, "blocks_after_prune": blocks_after,
            "compact_s": comp.seconds, "bytes_after_compact": comp.bytes_after, "blocks_after_compact": blocks(db)}


def metric(url: str, name: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    for ln in text.splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[1])
    return float("nan")


def under_load(db: Path, tmp: Path, load_lines: int, baseline_s: float = 8.0) -> dict:
    tokens = tmp / "tokens.txt"
    tokens.write_text(f"c0 tok-{os.urandom(6).hex()}\n")
    coll = subprocess.Popen([sys.executable, "-P", "-m", "logship", "collect", "--db", str(db), "--listen",
                             "127.0.0.1:0", "--token-file", str(tokens)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=open(tmp / "collector.log", "ab"))
    assert coll.stdout is not None
    url = coll.stdout.readline().decode().strip()
    samples: list[tuple[float, float]] = []
    load = subprocess.Popen([sys.executable, str(REPO / "bench" / "collector.py"), "--role", "fast", "--url", url,
                             "--tokens", str(tokens), "--fast-lines", str(load_lines)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    prune: subprocess.Popen | None = None
    window: list[float] = []
    try:
        while load.poll() is None:
            now = time.monotonic() - t0
            samples.append((now, metric(url, "logship_lines_stored_total")))
            started = next((t for t, n in samples if n > 0), None)  # the load builds its lines first
            if prune is None and started is not None and now >= started + baseline_s:
                window.append(now)
                prune = subprocess.Popen([sys.executable, "-P", "-m", "logship", "prune", "--db", str(db),
                                          "--before", CUTOFF.isoformat()], cwd=REPO, stderr=subprocess.PIPE,
                                         text=True)
            if prune is not None and len(window) == 1 and prune.poll() is not None:
                window.append(time.monotonic() - t0)
            time.sleep(0.25)
        if prune is not None:
            _, err = prune.communicate(timeout=600)
            if len(window) == 1:
                window.append(time.monotonic() - t0)
        else:
            err = "the load ended before the baseline"
    finally:
        coll.terminate()
        coll.wait(120)
        coll.stdout.close()

    def rate(a: float, b: float) -> float:
        pts = [(t, n) for t, n in samples if a <= t <= b]
        if len(pts) < 2:
            return float("nan")
        return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])

    if len(window) < 2:
        raise SystemExit(f"the load ended before the prune could start (raise --load-lines): {err}")
    first = next(t for t, n in samples if n > 0)
    end = samples[-1][0]
    return {"prune": err.strip(), "prune_window_s": window, "baseline_lines_per_s": rate(first, window[0]),
            "during_lines_per_s": rate(window[0], window[1]), "after_lines_per_s": rate(window[1], end),
            "load": load.stdout.read().strip() if load.stdout else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--load-lines", type=int, default=1_500_000)
    ap.add_argument("--keep", type=Path, default=None, help="work directory to keep (default: a temporary one)")
    args = ap.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="logship-prune-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        db = tmp / "ten.duckdb"
        print(f"build {args.rows:,} rows: {build(db, args.rows):.1f} s, {size(db) / 2**20:,.1f} MiB", flush=True)
        copy = tmp / "live.duckdb"
        shutil.copy(db, copy)
        off = offline(db)
        print(f"offline prune: {off['rows_deleted']:,} rows ({off['rows']}) in {off['prune_s']:.1f} s; file "
              f"{off['bytes_before'] / 2**20:,.1f} MiB {off['blocks_before']} -> {off['bytes_after_prune'] / 2**20:,.1f} "
              f"MiB {off['blocks_after_prune']} after prune + CHECKPOINT -> {off['bytes_after_compact'] / 2**20:,.1f} "
              f"MiB {off['blocks_after_compact']} after compact ({off['compact_s']:.1f} s); (total, free) blocks",
              flush=True)
        live = under_load(copy, tmp, args.load_lines)
        print(f"under load: {live['prune']}", flush=True)
        w = live["prune_window_s"]
        print(f"lines stored/s: before {live['baseline_lines_per_s']:,.0f}, during the prune "
              f"({w[1] - w[0]:.1f} s) {live['during_lines_per_s']:,.0f}, after {live['after_lines_per_s']:,.0f}; "
              f"load {live['load']}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
