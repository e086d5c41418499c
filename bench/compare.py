"""Benchmark: logship against its peers on the same client-format lines, in one run.

    .venv/bin/python bench/compare.py [--lines 1000000] [--rounds 3] [--skip lnav,duckdb] [--baseline DIR]

On the same file of client-format lines (bench/gen_client.py, seeded), in interleaved
rounds (every contender once per round, so a noisy neighbour hurts them alike):

- `logship ingest` into a fresh DuckDB file (end to end: read, parse on the worker
  processes, store), and the same with the compiled fast path turned off
  (`LOGSHIP_FAST_PATH=0`: every line through the LALR path), and with `--baseline DIR`
  the same with an earlier checkout of the code (a before/after in one run);
- the one-process hand-written `re` parser of bench/ingest.py (parse + units into column
  lists, no store): the pass bar;
- DuckDB alone: `regexp_extract` in SQL of the metric samples into a table (2 threads),
  the no-Python ceiling;
- lnav (if installed) with a format file for the client format (bench/lnav/), load plus
  metric extraction with its SQL (`regexp_capture`).

Prints per contender the median lines/s, and the ratio of logship to each. Each
contender's metric-sample count is printed beside it (the re parser's: samples plus
events): they agree on this clean data (the peers' regexes are as strict as the
grammar's typed values), not on bad lines (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_client import client_lines  # noqa: E402
from bench.ingest import re_parse  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
LNAV_FORMAT = Path(__file__).resolve().parent / "lnav" / "client_log.json"

# The metric samples of the client format in DuckDB's SQL: head line by regex, pairs by
# regexp_extract_all, units by CASE. Values that are not typed numbers (strings) are not
# samples, as in the grammar.
DUCKDB_SQL = r"""
CREATE OR REPLACE TABLE metrics AS
WITH lines AS (
  SELECT line FROM read_csv(?, columns={'line': 'VARCHAR'}, header=false, delim=?, quote='', escape='',
                            auto_detect=false)
), heads AS (
  SELECT regexp_extract(line, '^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) +(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL) +sess=([0-9a-f]{16}) metric ([A-Za-z_][A-Za-z0-9_.]*)((?: +[^ ]+)*)$',
                        ['ts', 'session', 'grp', 'rest']) AS h
  FROM lines WHERE line LIKE '% metric %'
), pairs AS (
  SELECT h.ts, h.session, h.grp,
         unnest(regexp_extract_all(h.rest, '([A-Za-z_][A-Za-z0-9_.]*)=(-?[0-9]+(?:\.[0-9]+)?)(%|B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|ns|us|ms|s|m|h)?(?: |$)', 0)) AS p
  FROM heads WHERE h.ts <> ''
), typed AS (
  SELECT ts, session, grp, regexp_extract(p, '^([^=]+)=(-?[0-9.]+)([^ ]*)', ['k', 'v', 'u']) AS q FROM pairs
)
SELECT CAST(ts AS TIMESTAMPTZ) AS ts, session, grp || '.' || q.k AS name,
       CAST(q.v AS DOUBLE) * CASE q.u WHEN 'KiB' THEN 1024 WHEN 'MiB' THEN 1048576 WHEN 'GiB' THEN 1073741824
            WHEN 'TiB' THEN 1099511627776 WHEN 'KB' THEN 1e3 WHEN 'MB' THEN 1e6 WHEN 'GB' THEN 1e9 WHEN 'TB' THEN 1e12
            WHEN 'ns' THEN 1e-9 WHEN 'us' THEN 1e-6 WHEN 'ms' THEN 1e-3 WHEN 'm' THEN 60 WHEN 'h' THEN 3600 ELSE 1 END AS value,
       CASE WHEN q.u IN ('B', 'KiB', 'MiB', 'GiB', 'TiB', 'KB', 'MB', 'GB', 'TB') THEN 'bytes'
            WHEN q.u IN ('ns', 'us', 'ms', 's', 'm', 'h') THEN 'seconds' WHEN q.u = '%' THEN 'percent' END AS unit
FROM typed
"""

LNAV_SQL = (";SELECT count(*) AS n FROM client_log, regexp_capture(client_log.log_body, "
            "' ([A-Za-z_][A-Za-z0-9_.]*)=(-?[0-9]+(?:\\.[0-9]+)?)(%|B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|ns|us|ms|s|m|h)?(?= |$)') AS c "
            "WHERE client_log.kind = 'metric' AND c.capture_index = 1")


CPU = [0.0]  # the last contender's CPU seconds (its processes), where known


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_logship(path: Path, db: Path, fast_path: bool = True, code: str | None = None) -> tuple[float, int]:
    """`logship ingest`; `code`: a directory holding another checkout as `logship/`
    (the before of a before/after: `git worktree add` or `git archive` into DIR/logship),
    imported first through PYTHONPATH, by the workers too."""
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    exe = Path(sys.executable).with_name("logship")
    t0 = time.perf_counter()
    c0 = _children_cpu()
    p = subprocess.run([str(exe), "ingest", str(path), "--db", str(db), "--tz", "UTC"],
                       capture_output=True, text=True,
                       env={**os.environ, "LOGSHIP_FAST_PATH": "1" if fast_path else "0",
                            **({"PYTHONPATH": code} if code else {})})
    elapsed = time.perf_counter() - t0
    CPU[0] = _children_cpu() - c0
    if p.returncode != 0:
        raise SystemExit(f"logship ingest failed: {p.stderr.strip()}")
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    return elapsed, n


def run_re(path: Path) -> tuple[float, int]:
    t0, c0 = time.perf_counter(), time.process_time()
    _, records, _ = re_parse(path)
    CPU[0] = time.process_time() - c0
    return time.perf_counter() - t0, records


def run_duckdb(path: Path) -> tuple[float, int]:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(DUCKDB_SQL, [str(path), "\x1f"])
    n = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    con.close()
    return time.perf_counter() - t0, n


def run_lnav(path: Path, home: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    p = subprocess.run(["lnav", "-n", "-c", LNAV_SQL, "-c", ":write-csv-to -", str(path)],
                       capture_output=True, text=True, env={**os.environ, "HOME": home, "TZ": "UTC"})
    elapsed = time.perf_counter() - t0
    try:
        n = int(p.stdout.split()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"lnav gave no count: {p.stdout[-200:]!r} {p.stderr[-200:]!r}") from None
    return elapsed, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip", default="", help="contenders to leave out: logship,lalr,re,duckdb,lnav")
    ap.add_argument("--baseline", metavar="DIR", help="also `logship ingest` with the checkout DIR/logship "
                    "(e.g. `mkdir -p DIR/logship && git archive REV | tar -x -C DIR/logship`)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    OUT.mkdir(exist_ok=True)
    path = OUT / f"compare-client-{args.lines}.log"
    if not path.exists():
        path.write_bytes(client_lines(args.lines, seed=1))
    lines = path.read_bytes().count(b"\n")
    print(f"{lines:,} lines, {path.stat().st_size / 2**20:.1f} MiB -> {path}")
    home = tempfile.mkdtemp(prefix="compare-lnav-")
    contenders = {
        "logship ingest": lambda: run_logship(path, OUT / "compare.duckdb"),
        "logship ingest, LALR only": lambda: run_logship(path, OUT / "compare.duckdb", fast_path=False),
        "re parser (1 process)": lambda: run_re(path),
        "duckdb SQL regexp": lambda: run_duckdb(path),
        "lnav": lambda: run_lnav(path, home),
    }
    keys = dict(zip(contenders, ["logship", "lalr", "re", "duckdb", "lnav"]))
    if args.baseline:
        name = f"logship ingest, {Path(args.baseline).name}"
        contenders = {"logship ingest": contenders.pop("logship ingest"),
                      name: lambda: run_logship(path, OUT / "compare.duckdb", code=args.baseline), **contenders}
        keys[name] = "baseline"
    if shutil.which("lnav") is None:
        skip.add("lnav")
        print("lnav is not installed: left out")
    else:
        subprocess.run(["lnav", "-i", str(LNAV_FORMAT)], capture_output=True, env={**os.environ, "HOME": home})
    times: dict[str, list[float]] = {k: [] for k in contenders if keys[k] not in skip}
    cpus: dict[str, list[float]] = {k: [] for k in times}
    counts: dict[str, int] = {}
    try:
        for r in range(args.rounds):
            for name in times:
                CPU[0] = 0.0
                elapsed, n = contenders[name]()
                times[name].append(elapsed)
                cpus[name].append(CPU[0])
                counts[name] = n
                what = "records: samples + events" if keys[name] == "re" else "metric samples"
                cpu = f"{lines / CPU[0]:9,.0f} lines/CPU s" if CPU[0] else " " * 19
                print(f"  round {r + 1}: {name:26s} {elapsed:7.2f} s  {lines / elapsed:11,.0f} lines/s  {cpu}  ({n:,} {what})",
                      flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"\nmedians of {args.rounds} interleaved rounds ({lines:,} lines):")
    rate = {k: lines / statistics.median(v) for k, v in times.items()}
    ours = rate.get("logship ingest")
    for name, lps in rate.items():
        ratio = f"logship / it = {ours / lps:.2f}" if ours else ""
        cpu = statistics.median(cpus[name])
        per_cpu = f"{lines / cpu:9,.0f} lines per CPU second" if cpu else " " * 29
        print(f"  {name:26s} {lps:11,.0f} lines/s  {per_cpu}  {ratio}")
    print("  (lines per CPU second: every process of the contender; a loaded machine disturbs it less than wall time)")


if __name__ == "__main__":
    main()
