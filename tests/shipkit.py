"""End-to-end helpers: a real collector process, a real shipper process, a line writer,
and a look into the DuckDB file after the collector stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import psutil

from tests.collectorkit import CollectorProc
from tests.run import logship_cmd, stop_process, wait_for

__all__ = ["CLIENT", "TOKEN", "Collector", "ShipperProc", "line", "stop_process", "wait_for", "wait_stored"]

TOKEN = "tok-e2e-123"
CLIENT = "desk1"


def line(seq: int, pad: int = 40) -> bytes:
    return (f"2026-11-27T21:09:{seq % 60:02d}.123+00:00 INFO  sess=3f2a9c1e5b7d9e01 event test.line "
            f"seq={seq} -- {'p' * pad}\n").encode()


class Collector(CollectorProc):
    """`logship collect` for the end-to-end tests: the one client CLIENT with TOKEN, and
    what it stored as seq -> count."""

    def __init__(self, tmp: Path, port: int = 0, config: str = "") -> None:
        super().__init__(tmp, db=tmp / "e2e.duckdb", config=config, tokens={CLIENT: TOKEN}, port=port)

    def seqs(self) -> Counter:
        """seq -> times stored (the collector must be stopped: DuckDB holds the file)."""
        rows = self.query("SELECT CAST(json_extract(attrs, '$.seq') AS BIGINT) FROM events WHERE name = 'test.line'")
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
                 f'state_dir = "{self.state}"', f"paths = {json.dumps(self.paths)}"]
        settings = {"log_format": "client", "tz": "UTC", **self.extra}  # an extra may name another format
        lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def start(self) -> "ShipperProc":
        self.log = open(self.tmp / "shipper.log", "ab")
        self.proc = subprocess.Popen(logship_cmd("ship", "--config", self.config()), stdout=self.log, stderr=self.log)
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


def wait_stored(coll: Collector, ship: ShipperProc, expected: set[int], timeout: float = 30.0,
                live: tuple[Path, ...] = ()) -> Counter:
    """Wait until the shipper's files are acked, stop both, read the stored seqs."""
    ship.wait_caught_up(timeout=timeout, live=live)  # lag 0 includes the last entry, flushed by time
    ship.stop()
    coll.stop()
    return coll.seqs()


