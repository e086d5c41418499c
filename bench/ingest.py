"""Benchmark: `logship ingest` of 1,000,000 client-format lines into a fresh DuckDB file.

Prints lines/s, MiB/s, peak RSS and PSS (the logship process plus its parse workers,
sampled with psutil) and CPU seconds, and, measured in the same run, a hand-written `re` parser of the same
format (parse only, one process) as the baseline, with the ratio between the two.

    .venv/bin/python bench/ingest.py [--lines 1000000] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

OUT = Path(__file__).resolve().parent / "out"

# ---------------------------------------------------------------------------------------
# A fast generator of realistic client lines (the mix of bench/gen_client.py: 60% proc
# metrics, 15% net metrics, 22% warnings with a message, 3% errors with a traceback).


def generate(path: Path, n: int, seed: int = 1) -> int:
    """Write about ``n`` lines; returns the exact number of lines written."""
    rnd = random.Random(seed)
    t_ms = 1_795_460_400_000  # 2026-11-27T21:00:00Z
    written = 0
    sess = f"{rnd.getrandbits(64):016x}"
    with open(path, "w", encoding="utf-8") as f:
        buf: list[str] = []

        def ts() -> str:
            s, ms = divmod(t_ms, 1000)
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{ms:03d}+00:00"

        buf.append(f'{ts()} INFO  sess={sess} session start version="1.4.2" os=linux\n')
        written += 1
        while written < n:
            t_ms += rnd.randint(1, 200)
            r = rnd.random()
            if written % 50_000 == 0:
                buf.append(f"{ts()} INFO  sess={sess} session end exit=0\n")
                sess = f"{rnd.getrandbits(64):016x}"
                buf.append(f'{ts()} INFO  sess={sess} session start version="1.4.2" os=linux\n')
                written += 2
            elif r < 0.6:
                buf.append(f"{ts()} INFO  sess={sess} metric proc cpu={rnd.uniform(0, 100):.1f}% "
                           f"rss={rnd.uniform(10, 2000):.1f}MiB threads={rnd.randint(5, 40)}\n")
                written += 1
            elif r < 0.75:
                buf.append(f"{ts()} INFO  sess={sess} metric net down={rnd.randint(0, 10000)}KiB "
                           f"up={rnd.randint(0, 1000)}KiB peers={rnd.randint(0, 60)} iface=eth0\n")
                written += 1
            elif r < 0.97:
                buf.append(f'{ts()} WARN  sess={sess} event tracker.timeout url="http://t.example/a" '
                           f"attempt={rnd.randint(1, 5)} elapsed={rnd.uniform(0.1, 5):.2f}s -- tracker did not answer\n")
                written += 1
            else:
                buf.append(f"{ts()} ERROR sess={sess} event disk.write_failed errno=28 -- No space left on device\n"
                           "    Traceback (most recent call last):\n"
                           '      File "client/disk.py", line 88, in write\n')
                written += 3
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf.clear()
        buf.append(f"{ts()} INFO  sess={sess} session end exit=0\n")
        written += 1
        f.write("".join(buf))
    return written


# ---------------------------------------------------------------------------------------
# The baseline: a hand-written `re` parser of the same format, parse only (column lists).

_LINE = re.compile(
    r"(\S+) +(TRACE|DEBUG|INFO|WARN|ERROR|FATAL) +sess=([0-9a-f]{16}) (session|metric|event) (\S+)"
    r"((?: +[A-Za-z_][A-Za-z0-9_.]*=(?:\"(?:[^\"\\]|\\.)*\"|\S+))*)(?: -- (.*))?")
_KV = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)=(\"(?:[^\"\\]|\\.)*\"|\S+)")
_NUM = re.compile(r"(-?\d+(?:\.\d+)?)(%|B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|ns|us|ms|s|m|h)?")
_UNITS = {"%": (1, "percent"), "B": (1, "bytes"), "KB": (1e3, "bytes"), "MB": (1e6, "bytes"),
          "GB": (1e9, "bytes"), "TB": (1e12, "bytes"), "KiB": (1024, "bytes"), "MiB": (1 << 20, "bytes"),
          "GiB": (1 << 30, "bytes"), "TiB": (1 << 40, "bytes"), "ns": (1e-9, "seconds"),
          "us": (1e-6, "seconds"), "ms": (1e-3, "seconds"), "s": (1, "seconds"), "m": (60, "seconds"),
          "h": (3600, "seconds")}


def re_parse(path: Path) -> tuple[int, int, int]:
    """(lines, records, rejects) with column lists built like the real parser's."""
    from datetime import datetime

    m_ts, m_sess, m_name, m_value, m_unit, e_ts, e_name, e_msg, e_attrs, rej = ([] for _ in range(10))
    lines = 0
    with open(path, "rb") as f:
        for raw in f:
            lines += 1
            if raw[:1] in (b" ", b"\t"):
                if e_msg:
                    e_msg[-1] = (e_msg[-1] or "") + "\n" + raw.decode("utf-8", "replace").rstrip("\n")
                continue
            m = _LINE.fullmatch(raw.decode("utf-8", "replace").rstrip("\n"))
            if m is None:
                rej.append(raw)
                continue
            ts = int(datetime.fromisoformat(m.group(1)).timestamp() * 1_000_000)
            kind, name = m.group(4), m.group(5)
            attrs = {}
            for k, v in _KV.findall(m.group(6)):
                n = _NUM.fullmatch(v)
                if n:
                    scale, unit = _UNITS.get(n.group(2) or "", (1, None))
                    attrs[k] = (float(n.group(1)) * scale, unit)
                else:
                    attrs[k] = (v.strip('"'), None)
            if kind == "metric":
                for k, (v, unit) in attrs.items():
                    if not isinstance(v, str):
                        m_ts.append(ts), m_sess.append(m.group(3)), m_name.append(f"{name}.{k}")
                        m_value.append(v), m_unit.append(unit)
            else:
                e_ts.append(ts), e_name.append(name if kind == "event" else f"session.{name}")
                e_msg.append(m.group(7)), e_attrs.append(json.dumps({k: v for k, (v, _) in attrs.items()}))
    return lines, len(m_ts) + len(e_ts), len(rej)


# ---------------------------------------------------------------------------------------


def run_ingest(path: Path, db: Path) -> dict:
    """Wall time, peak RSS and PSS (logship + its workers, sampled), CPU seconds, summary."""
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    exe = Path(sys.executable).with_name("logship")
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen([str(exe), "ingest", str(path), "--db", str(db), "--tz", "UTC"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak_rss = peak_pss = 0
    while proc.poll() is None:
        try:
            procs = [ps, *ps.children(recursive=True)]
            peak_rss = max(peak_rss, sum(p.memory_info().rss for p in procs))
            # RSS counts the pages forked workers share with their parent once per process;
            # PSS splits them fairly.
            peak_pss = max(peak_pss, sum(p.memory_full_info().pss for p in procs))
        except psutil.Error:
            pass
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    out, err = proc.communicate()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"logship ingest failed ({proc.returncode}): {err.strip()}")
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {"elapsed": elapsed, "rss": peak_rss, "pss": peak_pss, "cpu": cpu, "line": err.strip().splitlines()[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1, help="ingest runs (the median is reported)")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"client-{args.lines}.log"
    t0 = time.perf_counter()
    n = generate(path, args.lines)
    size = path.stat().st_size
    print(f"generated {n:,} lines, {size / 2**20:.1f} MiB in {time.perf_counter() - t0:.1f} s -> {path}")

    t0 = time.perf_counter()
    lines, records, rejects = re_parse(path)
    base = time.perf_counter() - t0
    print(f"baseline re parser (parse only, 1 process): {lines:,} lines, {records:,} records, {rejects} rejects "
          f"in {base:.2f} s = {lines / base:,.0f} lines/s")

    runs = [run_ingest(path, OUT / "bench.duckdb") for _ in range(args.runs)]
    elapsed = statistics.median(r["elapsed"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    print(f"logship ingest: {runs[0]['line']}")
    print(f"logship ingest end to end: {elapsed:.2f} s = {n / elapsed:,.0f} lines/s, "
          f"{size / 2**20 / elapsed:.1f} MiB/s; peak RSS {max(r['rss'] for r in runs) / 2**20:.0f} MiB, "
          f"peak PSS {max(r['pss'] for r in runs) / 2**20:.0f} MiB (logship + workers); "
          f"{cpu:.1f} CPU s = {n / cpu:,.0f} lines per CPU second")
    print(f"ratio logship ingest / re baseline (lines/s): {(n / elapsed) / (lines / base):.2f}")


if __name__ == "__main__":
    main()
