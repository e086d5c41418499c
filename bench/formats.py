"""Parse speed of every shipped format: lines/s on 200k generated lines each, one process.

    .venv/bin/python bench/formats.py [--lines 200000] [--formats client,syslog] [--no-lalr]

Prints lines/s per format and its ratios to the client format and to bench/ingest.py's
one-process `re` parser (on client lines) measured in the same run (the acceptance bar:
no format slower than 1/3 of the client format; the target: 100,000 lines/s), with the compiled
fast path (parser/compiled.py) and, measured right after it, on the LALR path alone
(`--no-lalr` skips that), plus the format's fast-path status (`compiled`, or why it
runs on LALR alone). Each variant first parses WARM_UP other lines untimed (grammar
load, warm-up, compiled path build and caches are one-off costs, not counted). Lines are generated deterministically (seeded) from real-looking
templates; parsing goes through the parser seam (EntryParser.parse over 8 MiB chunks),
as store/ calls it.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_client import client_lines  # noqa: E402
from logship.parser import EntryParser, get_format  # noqa: E402
from logship.parser import compiled as compiled_mod  # noqa: E402

CHUNK = 8 << 20
HOSTS = ["web-01", "web-02", "db-01.example.net", "cache-3"]
APPS = [("sshd", True), ("CRON", True), ("kernel", False), ("systemd", True), ("(sd-pam)", True),
        ("postfix/smtpd", True), ("dhclient", False)]
PATHS = ["/", "/index.html", "/api/items?page=2", "/static/app.js", "/search?q=\\x22x\\x22", "/health"]
AGENTS = ["curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
          "Go-http-client/1.1", "-"]


def _times(n: int, rnd: random.Random):
    t = datetime(2026, 11, 27, 21, 0, 0, tzinfo=timezone.utc)
    for _ in range(n):
        t += timedelta(milliseconds=rnd.randint(1, 400))
        yield t


def syslog_lines(n: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    out = []
    for t in _times(n, rnd):
        app, pid = rnd.choice(APPS)
        tag = f"{app}[{rnd.randint(1, 65000)}]:" if pid else f"{app}:"
        out.append(f"{t:%b} {t.day:2d} {t:%H:%M:%S} {rnd.choice(HOSTS)} {tag} "
                   f"session opened for user deploy by (uid={rnd.randint(0, 1000)})\n")
    return "".join(out).encode()


def syslog5424_lines(n: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    out = []
    for t in _times(n, rnd):
        out.append(f"<{rnd.randint(0, 191)}>1 {t.isoformat(timespec='milliseconds').replace('+00:00', 'Z')} "
                   f"{rnd.choice(HOSTS)} app {rnd.randint(1, 65000)} ID{rnd.randint(1, 99)} "
                   f"[origin ip=\"10.0.0.{rnd.randint(1, 254)}\"][meta seq=\"{rnd.randint(1, 10**6)}\"] "
                   f"request handled in {rnd.randint(1, 900)} ms\n")
    return "".join(out).encode()


def access_lines(n: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    out = []
    for t in _times(n, rnd):
        out.append(f"10.0.{rnd.randint(0, 255)}.{rnd.randint(1, 254)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "
                   f"\"{rnd.choice(['GET', 'POST'])} {rnd.choice(PATHS)} HTTP/1.1\" "
                   f"{rnd.choice([200, 200, 304, 404, 500])} {rnd.randint(0, 90000)} \"-\" "
                   f"\"{rnd.choice(AGENTS)}\" {rnd.randint(0, 3000) / 1000:.3f}\n")
    return "".join(out).encode()


def logfmt_lines(n: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    out = []
    for t in _times(n, rnd):
        out.append(f"time={t.isoformat(timespec='milliseconds')} level={rnd.choice(['info', 'warn', 'debug'])} "
                   f"msg=\"request done\" method=GET path={rnd.choice(PATHS[:4])} "
                   f"status={rnd.choice([200, 404])} took={rnd.randint(1, 900)}ms\n")
    return "".join(out).encode()


def jsonl_lines(n: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    out = []
    for t in _times(n, rnd):
        out.append(json.dumps({"ts": t.isoformat(timespec="milliseconds"), "level": rnd.choice(["info", "warn"]),
                               "msg": "request done", "path": rnd.choice(PATHS), "status": 200,
                               "took_ms": rnd.randint(1, 900)}) + "\n")
    return "".join(out).encode()


LEVELS = ["INFO", "INFO", "DEBUG", "WARNING", "ERROR"]
LOGGERS = ["root", "app.http", "app.db", "app.worker"]
MESSAGES = ["GET /api/items 200 in 12ms", "connection pool size=5 timeout=30s",
            "slow request: GET /api/report took 2.5s", "user café logged in: key=value - dashes"]
PY_TRACE = ("Traceback (most recent call last):\n  File \"/srv/app/jobs.py\", line 73, in run\n"
            "    result = step()\nKeyError: 'missing'\n")
JAVA_TRACE = ("java.lang.IllegalStateException: charge declined\n\tat com.example.Pay.charge(Pay.java:38)\n"
              "\tat com.example.App.main(App.java:68)\nCaused by: java.io.IOException: reset\n\t... 1 more\n")


def _leveled(n: int, seed: int, line, trace: str = "") -> bytes:
    """Lines of a "timestamp, level, message" format; 1 entry in 20 has a stack trace."""
    rnd = random.Random(seed)
    out = []
    for t in _times(n, rnd):
        out.append(line(t, rnd.choice(LEVELS), rnd.choice(LOGGERS), rnd.choice(MESSAGES), rnd))
        if trace and rnd.random() < 0.05:
            out.append(trace)
    return "".join(out).encode()


def python_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: f"{lv}:{lg}:{m}\n", PY_TRACE)


def python_asctime_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} - {lg} - {lv} - {m}\n",
                    PY_TRACE)


def log4j_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: (
        f"{t:%Y-%m-%dT%H:%M:%S},{t.microsecond // 1000:03d} {lv.replace('WARNING', 'WARN'):5s} "
        f"[pool-1-thread-{r.randint(1, 8)}] com.example.{lg.replace('app.', '')}.Service - {m}\n"), JAVA_TRACE)


def golog_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: f"{t:%Y/%m/%d %H:%M:%S.%f} {m}\n")


def dpkg_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: (
        f"{t:%Y-%m-%d %H:%M:%S} status {r.choice(['unpacked', 'half-configured', 'installed'])} "
        f"lib{r.choice(['ssl3', 'curl4', 'zstd1'])}:amd64 1.{r.randint(0, 9)}.{r.randint(0, 30)}-1\n"))


def windows_cbs_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: (
        f"{t:%Y-%m-%d %H:%M:%S}, {lv.capitalize():22s}CBS    {m}\n"))


def nginx_error_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: (
        f"{t:%Y/%m/%d %H:%M:%S} [{lv.lower().replace('warning', 'warn')}] 22285#22285: *{r.randint(1, 99999)} "
        f"open() \"/srv/html{r.choice(PATHS[:4])}\" failed (2: No such file or directory), client: 10.0.0.{r.randint(1, 254)}, "
        f"server: localhost, request: \"GET / HTTP/1.1\", host: \"example.com\"\n"))


def apache_error_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: (
        f"[{t:%a %b %d %H:%M:%S}.{t.microsecond:06d} {t.year}] [core:{lv.lower().replace('warning', 'warn')}] "
        f"[pid {r.randint(100, 65000)}:tid {r.randint(10**9, 10**10)}] [client 10.0.0.{r.randint(1, 254)}:{r.randint(1024, 65000)}] "
        f"AH00128: File does not exist: /usr/local/apache2/htdocs{r.choice(PATHS[:4])}\n"))


def access_vhost_lines(n: int, seed: int = 1) -> bytes:
    # vhost_combined has no request time: drop access_lines' last field
    return b"".join(b"www.example.com:443 " + ln.rsplit(b" ", 1)[0] + b"\n"
                    for ln in access_lines(n, seed).splitlines())


def logcat_lines(n: int, seed: int = 1) -> bytes:
    return _leveled(n, seed, lambda t, lv, lg, m, r: (
        f"{t:%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} {r.randint(100, 9999):5d} {r.randint(100, 9999):5d} "
        f"{lv[0]} {r.choice(['ActivityManager', 'System.err', 'libc    ', 'EventBus'])}: {m}\n"))


def apt_history_lines(n: int, seed: int = 1) -> bytes:
    """Stanzas of five lines (a blank line, Start-Date, Commandline, Install, End-Date)."""
    r = random.Random(seed)
    out = []
    for i, t in zip(range(0, n, 5), _times(n, r)):
        pkg = r.choice(["nginx", "rsyslog", "libssl3", "golang-go"])
        out.append(f"\nStart-Date: {t:%Y-%m-%d  %H:%M:%S}\nCommandline: apt-get install -y {pkg}\n"
                   f"Install: {pkg}:amd64 (1.{r.randint(0, 9)}-1), lib{pkg}-dev:amd64 (1.0-2, automatic)\n"
                   f"End-Date: {t:%Y-%m-%d  %H:%M:%S}\n")
    return "".join(out).encode()


GENERATORS = {
    "client": client_lines, "syslog": syslog_lines, "syslog5424": syslog5424_lines,
    "access": access_lines, "logfmt": logfmt_lines, "jsonl": jsonl_lines,
    "python": python_lines, "python_asctime": python_asctime_lines, "log4j": log4j_lines,
    "golog": golog_lines, "dpkg": dpkg_lines, "windows_cbs": windows_cbs_lines,
    "nginx_error": nginx_error_lines, "apache_error": apache_error_lines,
    "access_vhost": access_vhost_lines, "logcat": logcat_lines, "apt_history": apt_history_lines,
}


WARM_UP = 5_000  # lines each parser variant parses untimed before it is measured


def measure(name: str, data: bytes) -> tuple[float, float, int, int]:
    """(lines/s wall, lines/s CPU, lines, rejects) for one format over `data`.

    CPU time (this process only) is printed next to wall time because the machine is
    shared: the ratios are computed from CPU time, which other processes disturb less.
    First `_warm_up` parses WARM_UP other lines of the format, untimed: the one-off costs
    (loading the grammar, parser/compiled.py's WARM_LINES on the LALR path, building the
    compiled path, the caches' first entries) are not counted against the variant that
    happens to run first.
    """
    _warm_up(name)
    parser = EntryParser(name, tz="UTC", mtime=MTIME)
    lines = rejects = 0
    off = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while off < len(data):
        end = min(len(data), off + CHUNK)
        if end < len(data):
            end = data.rfind(b"\n", off, end) + 1
        res = parser.parse(data[off:end], off, final=end == len(data))
        lines += res.lines
        rejects += len(res.batch.rejects)
        off = res.end_offset
    return lines / (time.perf_counter() - t0), lines / (time.process_time() - c0), lines, rejects


MTIME = datetime(2026, 11, 28, tzinfo=timezone.utc).timestamp()


def _warm_up(name: str) -> None:
    """Parse WARM_UP lines of the format (another seed than the measured lines) with a
    parser of their own, so the measured parser starts from a fresh context."""
    EntryParser(name, tz="UTC", mtime=MTIME).parse(GENERATORS[name](WARM_UP, seed=2))


def measure_lalr(name: str, data: bytes) -> tuple[float, float, int, int]:
    """`measure` with every line through the LALR path: `compiled_for` answers "off"
    in parser/compiled.py and in every logship module that imported it by name
    (parser/client.py, whose handler then splits no line on the compiled path either),
    so the handlers get the LALR parser alone (parse and convert, as `measure`)."""
    real = compiled_mod.compiled_for
    patched = [m for n, m in list(sys.modules.items())
               if n.startswith("logship.") and getattr(m, "compiled_for", None) is real]
    for m in patched:
        m.compiled_for = _off  # type: ignore[attr-defined]
    try:
        return measure(name, data)
    finally:
        for m in patched:
            m.compiled_for = real  # type: ignore[attr-defined]


def _off(lark: object) -> tuple[None, str]:
    return None, "off"


def measure_re(n: int) -> float:
    """Lines per CPU second of bench/ingest.py's `re` parser on `n` client lines (best of 3)."""
    import tempfile

    from bench.ingest import re_parse

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "client.log"
        path.write_bytes(client_lines(n))
        lines = path.read_bytes().count(b"\n")
        best = min(_cpu(lambda: re_parse(path)) for _ in range(3))
    return lines / best


def _cpu(fn) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--formats", default=",".join(GENERATORS))
    ap.add_argument("--no-lalr", action="store_true", help="do not measure the LALR path alone")
    args = ap.parse_args()
    names = [n for n in args.formats.split(",") if n]
    names = ["client"] + [n for n in names if n != "client"]  # the other ratios need its figure first
    print(f"python {platform.python_version()}, {args.lines:,} lines per format, one process; "
          f"lines/s by CPU time (wall beside it)")
    results = {}
    re_rate = measure_re(args.lines)
    print(f"{'re parser':14s} {re_rate:9,.0f} lines/s CPU: bench/ingest.py's one-process `re` parser on the "
          f"client lines (parse + units, no store), the bar beside each format")
    for name in names:
        data = GENERATORS[name](args.lines)
        status = get_format(name).fast_path()
        wall, cpu, lines, rejects = measure(name, data)
        results[name] = cpu
        ratio = cpu / results["client"]
        lalr = ""
        if not args.no_lalr and status == "compiled":
            _, lcpu, _, lrejects = measure_lalr(name, data)
            lalr = f"  LALR alone {lcpu:9,.0f} (fast path x{cpu / lcpu:.2f})"
            assert lrejects == rejects, (name, rejects, lrejects)
        print(f"{name:14s} {cpu:9,.0f} lines/s CPU ({wall:9,.0f} wall) {len(data) / lines:4.0f} B/line "
              f"rejects={rejects} x{ratio:.2f} of client{'' if ratio >= 1 / 3 else ' SLOWER THAN 1/3'}"
              f" x{cpu / re_rate:.2f} of re{lalr}  [{status}]{'' if cpu >= 100_000 else '  < 100k'}", flush=True)
        if rejects:
            print(f"  warning: {rejects} generated {name} lines were rejected", file=sys.stderr)


if __name__ == "__main__":
    main()
