"""`make demo`: the whole pipeline live on this machine, in about 30 seconds.

A collector on a free 127.0.0.1 port; several simulated desktop apps
(samples/watched_app.py) each under `logship watch`, each client with its own shipper.
Apps crash now and then and are started again (a new session). Midway the collector is
stopped for a few seconds (the shippers keep their place, nothing is lost), then one
"measure less" round trip: a bulk file fills the collector's small writer queue, the
acks carry a slow-down factor, the watchdog of that client samples less often until the
queue drains. At the end everything is stopped cleanly and the database is summarised:
sessions and how they ended, CPU per session as a small chart, top events, rejects, and
the check that every entry written was stored.

    python -m bench.live_demo --out demo-live --seconds 30 --clients 4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOGSHIP = [sys.executable, "-P", "-m", "logship"]
APP = REPO / "samples" / "watched_app.py"
# a small, slow store: so one bulk file fills the writer queue (the "measure less" step)
COLLECTOR_TOML = """commit_delay_s = 0.25
min_credit = 16384
[limits]
queue_bytes = 65536
max_batch_bytes = 32768
inflight_budget = 2097152
initial_credit = 131072
"""
BARS = "▁▂▃▄▅▆▇█"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def wait_for(pred, timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    say(f"(gave up waiting for {what} after {timeout:.0f} s)")
    return False


class Collector:
    def __init__(self, out: Path, tokens: Path) -> None:
        self.out, self.tokens, self.port = out, tokens, 0
        (out / "collector.toml").write_text(COLLECTOR_TOML)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        log = open(self.out / "collector.log", "ab")
        self.proc = subprocess.Popen(
            LOGSHIP + ["collect", "--db", str(self.out / "demo.duckdb"), "--listen", f"127.0.0.1:{self.port}",
                       "--token-file", str(self.tokens), "--config", str(self.out / "collector.toml")],
            stdout=subprocess.PIPE, stderr=log, cwd=REPO)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("http"):
            raise SystemExit(f"the collector did not start: {line!r} (see {self.out / 'collector.log'})")
        self.url = line
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self.proc = None


class Client:
    """One desktop: a shipper, and the app under `logship watch`, restarted after a crash."""

    def __init__(self, out: Path, n: int, url: str, token: str, interval: float) -> None:
        self.id = f"desk-{n}"
        self.n = n
        self.dir = out / self.id
        self.logs = self.dir / "logs"
        self.bulk = self.dir / "import"
        self.state = self.dir / "state"
        for d in (self.logs, self.bulk, self.state):
            d.mkdir(parents=True, exist_ok=True)
        (self.dir / "token").write_text(token + "\n")
        (self.dir / "shipper.toml").write_text("\n".join([
            f'collector = "{url}"', f'client_id = "{self.id}"', f'token_file = "{self.dir / "token"}"',
            f'state_dir = "{self.state}"', f'paths = {json.dumps([str(self.logs / "app.log*"), str(self.bulk / "*.log")])}',
            'log_format = "client"', 'tz = "UTC"', 'backlog = "always"', "status_interval = 0.2",
            "max_frame_bytes = 16384", "rotate_wait = 0.5", "head_settle = 0.5", "reconnect_max = 1",
        ]) + "\n")
        self.interval = interval
        self.shipper: subprocess.Popen[bytes] | None = None
        self.watch: subprocess.Popen[bytes] | None = None
        self.runs: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=self.id)

    def start(self) -> None:
        with open(self.dir / "shipper.log", "ab") as log:
            self.shipper = subprocess.Popen(LOGSHIP + ["ship", "--config", str(self.dir / "shipper.toml")],
                                            stdout=log, stderr=log, cwd=REPO)
        self._thread.start()

    def _supervise(self) -> None:
        run = 0
        while not self._stop.is_set():
            run += 1
            with open(self.dir / "app.out", "ab") as out:
                self.watch = subprocess.Popen(
                    LOGSHIP + ["watch", "--log-dir", str(self.logs), "--shipper-state", str(self.state),
                               "--interval", str(self.interval), "--busy-load", "0", "--app-version", "2.1.0",
                               "--", sys.executable, str(APP), "--seed", str(self.n * 100 + run),
                               "--crash-rate", "0.02"],
                    stdout=out, stderr=out, cwd=REPO)
                rc = self.watch.wait()
            self.runs.append(rc)
            if rc != 0 and not self._stop.is_set():
                time.sleep(0.3)   # a crash: the user (or a service manager) starts it again

    def stop_app(self) -> None:
        self._stop.set()
        w = self.watch
        if w is not None and w.poll() is None:
            w.send_signal(signal.SIGTERM)   # forwarded to the app: the session ends `stopped`
        self._thread.join(timeout=30)

    def status(self) -> dict:
        try:
            return json.loads((self.state / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def connected(self) -> bool:
        return self.status().get("connection", {}).get("state") == "connected"

    def caught_up(self, since: float) -> bool:
        """Every file acked to its end, in a status written after ``since``."""
        st = self.status()
        files = st.get("files", [])
        return (st.get("connection", {}).get("state") == "connected" and st.get("updated_at", 0) > since
                and all(f["lag_bytes"] == 0 for f in files))

    def stop_shipper(self) -> None:
        if self.shipper is not None:
            self.shipper.send_signal(signal.SIGTERM)
            self.shipper.wait(timeout=30)
            self.shipper = None

    def written_entries(self) -> int:
        """Entry head lines in every file the shipper ships (continuations excluded)."""
        n = 0
        for p in list(self.logs.glob("app.log*")) + list(self.bulk.glob("*.log")):
            with open(p, "rb") as f:
                n += sum(1 for line in f if line.strip() and not line.startswith((b" ", b"\t")))
        return n

    def interval_events(self) -> list[str]:
        out = []
        for p in sorted(self.logs.glob("app.log*")):
            for line in p.read_text(errors="replace").splitlines():
                if " event watch.interval " in line:
                    out.append(line.split(" event watch.interval ", 1)[1])
        return out


def bulk_lines(n: int) -> bytes:
    """An archived import: old client entries (another session) to push through at once."""
    return b"".join(f"2026-11-30T08:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}+00:00 INFO  "
                    f"sess=0123456789abcdef event import.row n={i} pad={'x' * 20}\n".encode() for i in range(n))


def chart(values: list[float], width: int = 40) -> str:
    if not values:
        return ""
    step = max(1, -(-len(values) // width))
    cols = [max(values[i:i + step]) for i in range(0, len(values), step)]
    top = max(max(cols), 1.0)
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in cols)


def summarise(db: Path, clients: list[Client]) -> int:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    print("\n== sessions and how they ended")
    rows = con.execute("SELECT client_id, end_reason, count(*) FROM sessions WHERE session_id <> '0123456789abcdef' "
                       "GROUP BY ALL ORDER BY ALL").fetchall()
    per: dict[str, list[str]] = {}
    for cid, reason, n in rows:
        per.setdefault(cid, []).append(f"{n} {reason}")
    for cid in sorted(per):
        print(f"  {cid:8} {', '.join(per[cid])}")
    print("\n== CPU per session (proc.cpu over time; the bar's top is the session's peak)")
    sess = con.execute(
        "SELECT s.client_id, s.session_id, s.end_reason, coalesce(s.signal, CAST(s.exit_code AS VARCHAR), '') "
        "FROM sessions s WHERE s.session_id <> '0123456789abcdef' ORDER BY s.client_id, s.started_at").fetchall()
    for cid, sid, reason, how in sess:
        vals = [r[0] for r in con.execute(
            "SELECT value FROM metrics WHERE client_id = ? AND session_id = ? AND name = 'proc.cpu' ORDER BY ts",
            [cid, sid]).fetchall()]
        peak = max(vals, default=0.0)
        print(f"  {cid:8} {sid}  {reason:8} {how:8} {chart(vals):40}  peak {peak:5.1f}%  {len(vals)} samples")
    print("\n== top events")
    for name, level, n in con.execute(
            "SELECT name, level, count(*) FROM events WHERE name NOT IN ('session.start', 'session.end') "
            "GROUP BY ALL ORDER BY 3 DESC, 1 LIMIT 10").fetchall():
        print(f"  {n:6}  {level:5} {name}")
    rejects = con.execute("SELECT error_code, count(*) FROM rejects GROUP BY ALL ORDER BY 2 DESC").fetchall()
    print("\n== rejects:", ", ".join(f"{n} {code}" for code, n in rejects) if rejects else "none")
    print("\n== nothing lost: entries written (log files) vs stored (events + metric lines + rejects)")
    lost_any = 0
    for c in clients:
        stored = con.execute(
            "SELECT (SELECT count(*) FROM events WHERE client_id = $c)"
            " + (SELECT count(DISTINCT (source_id, byte_offset)) FROM metrics WHERE client_id = $c)"
            " + (SELECT count(*) FROM rejects r JOIN sources s USING (source_id) WHERE s.client_id = $c)",
            {"c": c.id}).fetchall()[0][0]
        written = c.written_entries()
        lost_any += abs(written - stored)
        print(f"  {c.id:8} written {written:6}  stored {stored:6}  {'ok' if written == stored else 'DIFFERENT'}")
    con.close()
    return lost_any


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("demo-live"))
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--interval", type=float, default=0.5, help="the watchdogs' sampling interval")
    args = ap.parse_args()
    out: Path = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    tokens = {f"desk-{n}": f"demo-token-{n}-{os.urandom(4).hex()}" for n in range(1, args.clients + 1)}
    (out / "tokens.txt").write_text("".join(f"{c} {t}\n" for c, t in tokens.items()))
    began = time.monotonic()
    third = args.seconds / 3
    coll = Collector(out, out / "tokens.txt")
    clients: list[Client] = []
    try:
        coll.start()
        say(f"collector on {coll.url} (db {out / 'demo.duckdb'})")
        clients = [Client(out, n, coll.url, tokens[f"desk-{n}"], args.interval) for n in range(1, args.clients + 1)]
        for c in clients:
            c.start()
        say(f"{len(clients)} apps under `logship watch`, a shipper each (files in {out}/desk-N/)")
        wait_for(lambda: all(c.connected() for c in clients), 60, "the shippers to connect")
        say("every shipper is connected and streaming")
        time.sleep(third)
        coll.stop()
        sizes = sum(p.stat().st_size for c in clients for p in c.logs.glob("app.log*"))
        say(f"collector stopped: the apps keep writing ({sizes} bytes in their logs so far)")
        time.sleep(4.0)
        coll.start()
        say(f"collector back on {coll.url}: the shippers resume from their acked offsets")
        c1 = clients[0]
        (c1.bulk / "import.log").write_bytes(bulk_lines(3000))
        say(f"measure less: {c1.id} ships a 320 KiB import into a small, slow writer queue ...")
        wait_for(lambda: any("reason=slow_down" in e for e in c1.interval_events()), 20, "a slow-down")
        for e in c1.interval_events():
            say(f"  {c1.id} watchdog: watch.interval {e}")
        if wait_for(lambda: "reason=normal" in (c1.interval_events() or [""])[-1], 30, "the interval back"):
            say(f"  {c1.id} watchdog: watch.interval {c1.interval_events()[-1]}")
        left = args.seconds - (time.monotonic() - began)
        if left > 0:
            time.sleep(left)
        say("stopping the apps (SIGTERM to each watchdog, forwarded to its app)")
        for c in clients:
            c.stop_app()
        say("waiting for the shippers to have everything acked ...")
        asked = time.time()
        if not wait_for(lambda: all(c.caught_up(asked) for c in clients), 30, "the shippers to catch up"):
            for c in clients:
                st = c.status()
                say(f"  {c.id}: {st.get('connection')} " + ", ".join(
                    f"{Path(f['path']).name} lag {f['lag_bytes']}" for f in st.get("files", [])))
    finally:
        for c in clients:
            c.stop_app()
            c.stop_shipper()
        coll.stop()
    say(f"all stopped after {time.monotonic() - began:.0f} s; app runs per client: "
        + ", ".join(f"{c.id} {len(c.runs)}" for c in clients))
    lost = summarise(out / "demo.duckdb", clients)
    print(f"\n{'nothing lost' if not lost else f'{lost} entries differ'}; query it yourself: "
          f"logship sessions --db {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}/demo.duckdb")
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
