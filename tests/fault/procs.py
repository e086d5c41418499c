"""The soak's two real processes: `logship collect` behind the fault proxy, `logship ship`.

Starting never blocks the scheduler: the collector's first stdout line (its URL) is read
by a thread that then points the proxy at the new port and drains the pipe to EOF. The
shipper is ``tests.shipkit.ShipperProc`` (its config, status and start), stopped here
with ``stop_process`` so a slow stop is recorded rather than raised.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.fault.proxy import FaultProxy
from tests.run import logship_cmd, stop_process, url_of
from tests.shipkit import CLIENT, TOKEN, ShipperProc

__all__ = ["CollectorRunner", "stop_shipper"]

COLLECTOR_START_TIMEOUT_S = 30.0


class CollectorRunner:
    """`logship collect --listen 127.0.0.1:0`; every start gets a new port the proxy follows."""

    def __init__(self, work: Path, db: Path, proxy: FaultProxy) -> None:
        self.work = work
        self.db = db
        self.proxy = proxy
        self.tokens = work / "tokens.txt"
        self.tokens.write_text(f"{CLIENT} {TOKEN}\n")
        self.log_path = work / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.url = ""
        self.commit_delay_s = 0.0
        self._reader: threading.Thread | None = None

    def start(self, commit_delay_s: float = 0.0) -> None:
        self.commit_delay_s = commit_delay_s
        cmd = logship_cmd("collect", "--db", self.db, "--listen", "127.0.0.1:0", "--token-file", self.tokens)
        if commit_delay_s:
            cfg = self.work / "collector-slow.toml"
            cfg.write_text(f"commit_delay_s = {commit_delay_s}\n")
            cmd += ["--config", str(cfg)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
        self.started_at = time.monotonic()
        self.url = ""
        self._reader = threading.Thread(target=self._read_stdout, args=(self.proc,), name="soak-collector-stdout")
        self._reader.start()

    def _read_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        url = url_of(proc.stdout.readline())
        if url is not None:
            self.url = url
            self.proxy.set_target(int(url.rsplit(":", 1)[1]))
        for _ in proc.stdout:  # drain to EOF so the pipe never fills
            pass
        proc.stdout.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def ready(self) -> bool:
        return self.running and bool(self.url)

    def start_stuck(self) -> bool:
        """Started long ago and never printed its URL."""
        return self.running and not self.url and time.monotonic() - self.started_at > COLLECTOR_START_TIMEOUT_S

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int | None, bool]:
        """Stop (the proxy first refuses new connections); returns (exit code, had to be killed)."""
        self.proxy.set_target(None)
        if self.proc is None:
            return None, False
        rc, killed = stop_process(self.proc, sig, timeout=timeout)
        if self._reader is not None:
            self._reader.join(10)
        self.proc = None
        self.url = ""
        return rc, killed

    def log_tail(self, n: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def stop_shipper(ship: ShipperProc, sig: int = signal.SIGTERM, timeout: float = 20.0) -> tuple[int | None, bool]:
    """Stop the shipper; returns (exit code, had to be killed) instead of raising."""
    if ship.proc is None:
        return None, False
    try:
        return stop_process(ship.proc, sig, timeout=timeout)
    finally:
        ship.log.close()
        ship.proc = None
