"""End-to-end helpers: a real collector process, a real shipper process, a line writer,
and a look into the DuckDB file after the collector stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent / "logship"
TOKEN = "tok-e2e-123"
CLIENT = "desk1"


def line(seq: int, pad: int = 40) -> bytes:
    return (f"2026-11-27T21:09:{seq % 60:02d}.123+00:00 INFO  sess=3f2a9c1e5b7d9e01 event test.line "
            f"seq={seq} -- {'p' * pad}\n").encode()


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, bool]:
    """Signal the process and reap it; SIGKILL when it outlives ``timeout``.

    Returns (exit code, whether it had to be killed).
    """
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(), True


class Collector:
    """`logship collect` on 127.0.0.1; restartable on the same port."""

    def __init__(self, tmp: Path, port: int = 0, config: str = "") -> None:
        self.tmp = tmp
        self.config = config
        self.db = tmp / "e2e.duckdb"
        self.tokens = tmp / "tokens.txt"
        self.tokens.write_text(f"{CLIENT} {TOKEN}\n")
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "Collector":
        self.log = open(self.tmp / "collector.log", "ab")
        extra: list[str] = []
        if self.config:
            (self.tmp / "collector.toml").write_text(self.config)
            extra = ["--config", str(self.tmp / "collector.toml")]
        self.proc = subprocess.Popen(
            [str(BIN), "collect", "--db", str(self.db), "--listen", f"127.0.0.1:{self.port}",
             "--token-file", str(self.tokens), *extra],
            stdout=subprocess.PIPE, stderr=self.log,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().decode().strip()
        assert first.startswith("http://"), f"collector printed {first!r}"
        self.url = first
        self.port = int(first.rsplit(":", 1)[1])
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        stop_process(self.proc, signal.SIGKILL if kill else signal.SIGTERM, timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()
        self.proc = None

    def seqs(self) -> Counter:
        """seq -> times stored (the collector must be stopped: DuckDB holds the file)."""
        import duckdb

        con = duckdb.connect(str(self.db), read_only=True)
        try:
            rows = con.sql(
                "SELECT CAST(json_extract(attrs, '$.seq') AS BIGINT) FROM events WHERE name = 'test.line'"
            ).fetchall()
        finally:
            con.close()
        return Counter(r[0] for r in rows)


class ShipperProc:
    """`logship ship` with the token in a file and a TOML config for the extras."""

    def __init__(self, tmp: Path, paths: list[str], url: str, state: Path | None = None, **extra: object) -> None:
        self.tmp = tmp
        self.state = state or tmp / "state"
        self.paths = paths
        self.url = url
        self.extra = {"rotate_wait": 0.5, "head_settle": 0.5, "poll_interval": 2, "reconnect_max": 1,
                      "log_level": "debug", **extra}
        (tmp / "token").write_text(TOKEN + "\n")
        self.proc: subprocess.Popen | None = None

    def config(self) -> Path:
        cfg = self.tmp / "shipper.toml"
        lines = [f'collector = "{self.url}"', f'client_id = "{CLIENT}"', f'token_file = "{self.tmp / "token"}"',
                 f'state_dir = "{self.state}"', f"paths = {json.dumps(self.paths)}", 'log_format = "client"',
                 'tz = "UTC"']
        lines += [f"{k} = {json.dumps(v)}" for k, v in self.extra.items()]
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def start(self) -> "ShipperProc":
        self.log = open(self.tmp / "shipper.log", "ab")
        self.proc = subprocess.Popen([str(BIN), "ship", "--config", str(self.config())],
                                     stdout=self.log, stderr=self.log)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        try:
            _, killed = stop_process(self.proc, signal.SIGKILL if kill else signal.SIGTERM, timeout=20)
        finally:
            self.log.close()
            self.proc = None
        if killed:
            raise AssertionError("the shipper did not stop on SIGTERM")

    def rss(self) -> int:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss

    def status(self) -> dict:
        try:
            return json.loads((self.state / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def wait_caught_up(self, total_bytes: int | None = None, timeout: float = 30.0,
                       live: tuple[Path, ...] = ()) -> dict:
        """Until every file is fully acked (and, if given, the sizes add up) and the status settled.

        ``live``: files that must be listed with their whole current size acked (a status
        written before the shipper saw them would otherwise look caught up).
        """
        deadline = time.monotonic() + timeout
        called = time.time()
        st: dict = {}
        while time.monotonic() < deadline:
            st = self.status()
            if st.get("updated_at", 0) <= called + 0.2:
                time.sleep(0.2)  # written before we asked: it may predate the last writes
                continue
            files = st.get("files", [])
            by_path = {f["path"]: f for f in files}
            live_ok = all(
                p.stat().st_size == 0 or by_path.get(str(p), {}).get("acked", -1) >= p.stat().st_size
                for p in live if p.exists()
            )
            if (st.get("connection", {}).get("state") == "connected" and not st.get("unsettled_files")
                    and all(f["lag_bytes"] == 0 for f in files) and live_ok):
                acked = sum(f["acked"] for f in files)
                if total_bytes is None or acked >= total_bytes or not files:
                    return st
            time.sleep(0.2)
        raise AssertionError(f"shipper not caught up after {timeout} s: {json.dumps(st)[:2000]}")


def wait_for(pred, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_stored(coll: Collector, ship: ShipperProc, expected: set[int], timeout: float = 30.0,
                live: tuple[Path, ...] = ()) -> Counter:
    """Wait until the shipper's files are acked, stop both, read the stored seqs."""
    ship.wait_caught_up(timeout=timeout, live=live)  # lag 0 includes the last entry, flushed by time
    ship.stop()
    coll.stop()
    return coll.seqs()


