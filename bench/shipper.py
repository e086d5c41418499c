"""Shipper benchmarks: the idle cost next to an app, and catch-up throughput.

    python bench/shipper.py idle --rate 10 --seconds 60
    python bench/shipper.py catchup --mb 500
    python bench/shipper.py catchup --mb 60 --parse-workers 0,default --rounds 2 --no-syslog-ng
    python bench/shipper.py all --mb 500 --seconds 60

idle: a writer appends `--rate` client-format lines a second for `--seconds`; we sample
the shipper process's CPU time (% of one core) and its RSS (whole process, max), and the
same for `tail -F` on the same file as the baseline measured in the same run.

catchup: a file of `--mb` MiB of client-format lines exists before the shipper starts;
it is shipped to a local collector (fresh DuckDB) twice: through the live stream (backlog
thresholds lifted) and as approved backlog (gzip POST /v1/backlog). MiB/s is file size /
wall time until the collector has acked the whole file; shipper CPU is its CPU time over
that wall time; collector CPU counts its parse worker processes too (`--parse-workers`:
settings of the collector's option compared in the same run, interleaved `--rounds`). In the same run syslog-ng (if installed) ships the same file to the
collector's /v1/lines; its MiB/s is measured until the collector's lines_stored_total
reaches the file's line count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.gen_client import client_lines  # noqa: E402

BIN = Path(sys.executable).parent / "logship"
TOKEN = "bench-token"


class Collector:
    def __init__(self, d: Path, parse_workers: int | None = None) -> None:
        self.d = d
        (d / "tokens").write_text(f"bench {TOKEN}\n")
        self.log = open(d / "collector.log", "ab")
        more = [] if parse_workers is None else ["--parse-workers", str(parse_workers)]
        self.proc = subprocess.Popen([str(BIN), "collect", "--db", str(d / "bench.duckdb"), "--listen",
                                      "127.0.0.1:0", "--token-file", str(d / "tokens"), *more],
                                     stdout=subprocess.PIPE, stderr=self.log)
        self.url = self.proc.stdout.readline().decode().strip()  # type: ignore[union-attr]

    def metric(self, name: str) -> float | None:
        """A counter from /metrics; None when the collector is too busy to answer in time."""
        import urllib.request
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=30) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith(("logship_" + name, name)) and not line.startswith("#"):
                        return float(line.split()[-1])
        except OSError:
            return None
        return 0.0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()


def start_shipper(d: Path, url: str, paths: list[str], **extra: object) -> subprocess.Popen:
    (d / "token").write_text(TOKEN + "\n")
    cfg = {"collector": url, "client_id": "bench", "token_file": str(d / "token"), "state_dir": str(d / "state"),
           "paths": paths, "log_format": "client", "tz": "UTC", "log_level": "warning", **extra}
    lines = [f"{k} = {json.dumps(v)}" for k, v in cfg.items()]
    (d / "shipper.toml").write_text("\n".join(lines) + "\n")
    return subprocess.Popen([str(BIN), "ship", "--config", str(d / "shipper.toml")],
                            stderr=open(d / "shipper.log", "ab"))


def status(d: Path) -> dict:
    try:
        return json.loads((d / "state" / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def tree_cpu(p: psutil.Process) -> tuple[float, float]:
    """CPU seconds of a process and of its live children (the collector's parse workers)."""
    kids = 0.0
    for c in p.children(recursive=True):
        try:
            kids += cpu(c)
        except psutil.NoSuchProcess:
            pass
    return cpu(p), kids


def idle(seconds: float, rate: float) -> dict:
    d = Path(tempfile.mkdtemp(prefix="bench-ship-idle-"))
    coll = Collector(d)
    log = d / "app.log"
    body = client_lines(int(rate * seconds) + 50, seed=7).splitlines(keepends=True)
    with open(log, "wb") as f:
        f.writelines(body[:20])
    ship = start_shipper(d, coll.url, [str(log)])
    tail = subprocess.Popen(["tail", "-F", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3.0)  # start-up is not the steady state
    sp, tp = psutil.Process(ship.pid), psutil.Process(tail.pid)
    c0s, c0t, t0 = cpu(sp), cpu(tp), time.monotonic()
    rss_s, rss_t = [], []
    i = 20
    with open(log, "ab", buffering=0) as f:
        next_at = time.monotonic()
        while time.monotonic() - t0 < seconds:
            f.write(body[i % len(body)])
            i += 1
            next_at += 1.0 / rate
            if i % int(rate) == 0:
                rss_s.append(sp.memory_info().rss)
                rss_t.append(tp.memory_info().rss)
            time.sleep(max(0.0, next_at - time.monotonic()))
    wall = time.monotonic() - t0
    res = {
        "lines": i - 20, "seconds": round(wall, 1),
        "shipper_cpu_pct": round(100 * (cpu(sp) - c0s) / wall, 3),
        "shipper_rss_max_mib": round(max(rss_s) / 2**20, 1),
        "shipper_rss_first_last_mib": [round(rss_s[0] / 2**20, 1), round(rss_s[-1] / 2**20, 1)],
        "tail_cpu_pct": round(100 * (cpu(tp) - c0t) / wall, 3),
        "tail_rss_max_mib": round(max(rss_t) / 2**20, 1),
    }
    st = status(d)
    res["acked_all"] = all(f["lag_bytes"] == 0 for f in st.get("files", []))
    tail.terminate()
    tail.wait()
    ship.send_signal(signal.SIGTERM)
    ship.wait(30)
    coll.stop()
    shutil.rmtree(d, ignore_errors=True)
    return res


def make_file(path: Path, mib: int) -> int:
    """Write about `mib` MiB of client lines; returns the line count."""
    target = mib << 20
    n = 0
    seed = 1
    with open(path, "wb") as f:
        while f.tell() < target:
            chunk = client_lines(50_000, seed=seed)
            seed += 1
            if f.tell() + len(chunk) > target:
                chunk = chunk[: chunk.rfind(b"\n", 0, target - f.tell()) + 1]
                if not chunk:
                    break
            f.write(chunk)
            n += chunk.count(b"\n")
    return n


def ship_file(src: Path, mode: str, timeout: float, parse_workers: int | None = None) -> dict:
    d = Path(tempfile.mkdtemp(prefix=f"bench-ship-{mode}-"))
    log = d / "app.log"
    os.link(src, log) if src.stat().st_dev == d.stat().st_dev else shutil.copy(src, log)
    size = log.stat().st_size
    coll = Collector(d, parse_workers)
    cp = psutil.Process(coll.proc.pid)
    coll_cpu0 = tree_cpu(cp)
    extra: dict[str, object] = {"backlog": "always"}
    if mode == "stream":
        extra.update(backlog_bytes=1 << 50, backlog_after=10**9)
    t0 = time.monotonic()
    ship = start_shipper(d, coll.url, [str(log)], **extra)
    sp = psutil.Process(ship.pid)
    last_cpu = 0.0
    rss = 0
    while time.monotonic() - t0 < timeout:
        try:
            last_cpu = cpu(sp)
            rss = max(rss, sp.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        st = status(d)
        files = st.get("files", [])
        segs = st.get("backlog", {}).get("segments", [])
        if files and files[0]["acked"] >= size and not segs:
            break
        time.sleep(0.25)
    wall = time.monotonic() - t0
    done = status(d).get("files", [{}])[0].get("acked", 0)
    main, kids = tree_cpu(cp)
    coll_cpu, workers_cpu = main + kids - sum(coll_cpu0), kids - coll_cpu0[1]  # from after its start
    ship.send_signal(signal.SIGTERM)
    ship.wait(30)
    coll.stop()
    shutil.rmtree(d, ignore_errors=True)
    return {"mode": mode, "parse_workers": "default" if parse_workers is None else parse_workers,
            "mib": round(size / 2**20, 1), "acked_mib": round(done / 2**20, 1),
            "seconds": round(wall, 1), "mib_s": round(done / 2**20 / wall, 2),
            "shipper_cpu_pct": round(100 * last_cpu / wall, 1), "shipper_rss_max_mib": round(rss / 2**20, 1),
            "collector_cpu_pct": round(100 * coll_cpu / wall, 1),
            "of_it_parse_workers_pct": round(100 * workers_cpu / wall, 1)}


SYSLOG_NG_CONF = """@version: {version}
options {{ keep-hostname(yes); stats-freq(0); }};
source s_file {{ file("{path}" follow-freq(1) flags(no-parse) log-fetch-limit(10000) log-iw-size(100000)
  log-msg-size(1048576)); }};
destination d_http {{ http(url("{url}/v1/lines?source=syslogng") method("POST")
  headers("Authorization: Bearer {token}", "Content-Type: text/plain") body("${{MESSAGE}}")
  batch-lines(10000) batch-bytes(8MiB) batch-timeout(100) workers(2) log-fifo-size(200000)); }};
log {{ source(s_file); destination(d_http); flags(flow-control); }};
"""


def syslog_ng(src: Path, lines: int, timeout: float) -> dict:
    exe = shutil.which("syslog-ng")
    if exe is None:
        return {"mode": "syslog-ng", "skipped": "syslog-ng not installed"}
    d = Path(tempfile.mkdtemp(prefix="bench-syslogng-"))
    log = d / "app.log"
    shutil.copy(src, log)
    size = log.stat().st_size
    coll = Collector(d)
    conf = d / "syslog-ng.conf"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    version = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Config version")), "3.35")
    conf.write_text(SYSLOG_NG_CONF.format(path=log, url=coll.url, token=TOKEN, version=version))
    t0 = time.monotonic()
    p = subprocess.Popen([exe, "-F", "-f", str(conf), "-R", str(d / "persist"), "-p", str(d / "pid"),
                          "-c", str(d / "ctl")], stdout=subprocess.DEVNULL, stderr=open(d / "syslog-ng.log", "ab"))
    pp = psutil.Process(p.pid)
    last_cpu, rss, stored = 0.0, 0, 0.0
    while time.monotonic() - t0 < timeout and p.poll() is None:
        try:
            last_cpu = cpu(pp)
            rss = max(rss, pp.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        stored = coll.metric("lines_stored_total") or stored
        if stored >= lines:
            break
        time.sleep(0.25)
    wall = time.monotonic() - t0
    p.terminate()
    p.wait(30)
    coll.stop()
    shutil.rmtree(d, ignore_errors=True)
    got = size * min(1.0, stored / lines)
    return {"mode": "syslog-ng /v1/lines", "mib": round(size / 2**20, 1), "acked_mib": round(got / 2**20, 1),
            "seconds": round(wall, 1), "mib_s": round(got / 2**20 / wall, 2),
            "shipper_cpu_pct": round(100 * last_cpu / wall, 1), "shipper_rss_max_mib": round(rss / 2**20, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["idle", "catchup", "all"])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=10)
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--parse-workers", default="default",
                    help="catchup: comma list of collector --parse-workers settings run in turn "
                         "(`default`: the collector's default), e.g. 0,default")
    ap.add_argument("--rounds", type=int, default=1, help="catchup: interleaved rounds of every setting")
    ap.add_argument("--no-syslog-ng", action="store_true", help="catchup: skip the syslog-ng comparison")
    a = ap.parse_args()
    settings = [None if w == "default" else int(w) for w in a.parse_workers.split(",")]
    if a.what in ("idle", "all"):
        r = idle(a.seconds, a.rate)
        print(json.dumps({"idle": r}), flush=True)
        print(f"idle {a.rate:g} lines/s for {r['seconds']} s: shipper CPU {r['shipper_cpu_pct']}% of a core, "
              f"RSS max {r['shipper_rss_max_mib']} MiB; tail -F CPU {r['tail_cpu_pct']}%, RSS {r['tail_rss_max_mib']} MiB")
    if a.what in ("catchup", "all"):
        d = Path(tempfile.mkdtemp(prefix="bench-ship-src-"))
        src = d / "big.log"
        t = time.monotonic()
        lines = make_file(src, a.mb)
        print(f"generated {src.stat().st_size / 2**20:.1f} MiB, {lines} lines in {time.monotonic() - t:.0f} s")
        runs = [lambda w=w, m=m: ship_file(src, m, a.timeout, w)
                for _ in range(a.rounds) for m in ("stream", "backlog") for w in settings]
        if not a.no_syslog_ng:
            runs.append(lambda: syslog_ng(src, lines, a.timeout))
        for run in runs:
            print(json.dumps(run()), flush=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
