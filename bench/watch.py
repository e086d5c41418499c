"""The watchdog's footprint beside an app, with the shipper that ships its log.

    python bench/watch.py --seconds 60

A collector on 127.0.0.1, one app (samples/watched_app.py: CPU in bursts, a few events a
second, no crashes) under `logship watch --interval 1 --busy-load 0` (the shared machine is busy: the
load rule would halve the rate), and `logship ship` on its log
(status written every second, as by default). After a warm-up of 5 s we sample both
processes for `--seconds`: CPU time over wall time (% of one core) and RSS (max), next to
the same for a bare `python -c sleep` interpreter as the baseline measured in the same
run. The targets: <= 1% of a core and <= 40 MB RSS, watchdog and shipper each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
PY = [sys.executable, "-P", "-m", "logship"]


def measure(procs: dict[str, psutil.Process], seconds: float) -> dict[str, tuple[float, int]]:
    """name -> (% of one core over the window, max RSS in bytes)."""
    t0 = time.monotonic()
    cpu0 = {n: sum(p.cpu_times()[:2]) for n, p in procs.items()}
    rss = {n: 0 for n in procs}
    while time.monotonic() - t0 < seconds:
        for n, p in procs.items():
            rss[n] = max(rss[n], p.memory_info().rss)
        time.sleep(0.5)
    wall = time.monotonic() - t0
    return {n: (100.0 * (sum(p.cpu_times()[:2]) - cpu0[n]) / wall, rss[n]) for n, p in procs.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    started: list[subprocess.Popen] = []
    try:
        (d / "tokens").write_text("bench bench-token\n")
        (d / "token").write_text("bench-token\n")
        coll = subprocess.Popen(PY + ["collect", "--db", str(d / "b.duckdb"), "--listen", "127.0.0.1:0",
                                      "--token-file", str(d / "tokens")],
                                stdout=subprocess.PIPE, stderr=open(d / "collector.log", "ab"), cwd=REPO)
        started.append(coll)
        url = coll.stdout.readline().decode().strip()  # type: ignore[union-attr]
        watch = subprocess.Popen(PY + ["watch", "--log-dir", str(d / "logs"), "--interval", "1",
                                       "--busy-load", "0", "--shipper-state", str(d / "state"), "--", sys.executable,
                                       str(REPO / "samples" / "watched_app.py"), "--crash-rate", "0"],
                                 stdout=subprocess.DEVNULL, stderr=open(d / "watch.log", "ab"), cwd=REPO)
        started.append(watch)
        ship = subprocess.Popen(PY + ["ship", "--collector", url, "--client-id", "bench", "--token-file",
                                      str(d / "token"), "--state-dir", str(d / "state"), "--log-format", "client",
                                      str(d / "logs" / "app.log*")],
                                stdout=subprocess.DEVNULL, stderr=open(d / "shipper.log", "ab"), cwd=REPO)
        started.append(ship)
        idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        started.append(idle)
        time.sleep(5.0)   # warm-up: imports done, the shipper connected, the first samples written
        res = measure({"watchdog": psutil.Process(watch.pid), "shipper": psutil.Process(ship.pid),
                       "python (idle, baseline)": psutil.Process(idle.pid)}, args.seconds)
        lines = sum(1 for _ in open(d / "logs" / "app.log", "rb"))
        status = json.loads((d / "state" / "status.json").read_text())
        base_rss = res["python (idle, baseline)"][1]
        print(f"{args.seconds:.0f} s at 1 s sampling; {lines} lines written, shipper "
              f"{status['connection']['state']}, lag {sum(f['lag_bytes'] for f in status['files'])} bytes")
        print("| process | CPU (% of one core) | RSS max (MB) | RSS / idle python |")
        print("|---|---|---|---|")
        for name, (cpu, rss) in res.items():
            print(f"| {name} | {cpu:.2f} | {rss / 1e6:.1f} | x{rss / base_rss:.2f} |")
    finally:
        for p in reversed(started):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
