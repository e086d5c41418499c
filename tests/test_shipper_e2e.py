"""The real shipper process against the real collector process on 127.0.0.1, real files.

Every test checks what the DuckDB file holds after the collector stopped: each written
line (an event with a unique `seq`) stored exactly once.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.shipkit import BIN, Collector, ShipperProc, line, wait_for, wait_stored


class Writer:
    """Appends numbered lines to whatever file `path` names now (reopening like an app)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seq = 0
        self.f = open(path, "ab")

    def write(self, n: int = 1) -> None:
        for _ in range(n):
            self.f.write(line(self.seq))
            self.seq += 1
        self.f.flush()

    def reopen(self, path: Path | None = None) -> None:
        self.f.close()
        if path is not None:
            self.path = path
        self.f = open(self.path, "ab")

    def close(self) -> None:
        self.f.close()


def steady(w: Writer, seconds: float, rate: float = 200.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        w.write(max(1, int(rate / 50)))
        time.sleep(0.02)


@pytest.fixture
def collector(tmp_path):
    c = Collector(tmp_path).start()
    yield c
    c.stop()


def test_rename_rotation_symlink_switch_and_gzip_exactly_once(tmp_path, collector):
    logs = tmp_path / "logs"
    real = tmp_path / "real"
    logs.mkdir()
    real.mkdir()
    link = tmp_path / "current.log"
    (real / "a.log").touch()
    link.symlink_to(real / "a.log")
    ship = ShipperProc(tmp_path, [str(logs / "app.log*"), str(link)], collector.url).start()
    try:
        w = Writer(logs / "app.log")
        # 1) rename rotation, 20 times, while writing at a steady rate
        for k in range(20):
            steady(w, 0.12)
            for i in range(k, 0, -1):
                if (logs / f"app.log.{i}").exists():
                    os.rename(logs / f"app.log.{i}", logs / f"app.log.{i + 1}")
            os.rename(logs / "app.log", logs / "app.log.1")
            w.write(2)  # the app writes a little more to the renamed file before reopening
            w.reopen(logs / "app.log")
        steady(w, 0.2)
        # 2) rotated files compressed after rotation (logrotate's compress): .1 -> .1.gz
        os.rename(logs / "app.log", logs / "app.log.0")
        w.reopen(logs / "app.log")
        steady(w, 0.3)
        time.sleep(1.5)
        with open(logs / "app.log.0", "rb") as src, gzip.open(logs / "app.log.0.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(logs / "app.log.0")
        steady(w, 0.2)
        w.close()
        # 3) a symlinked path switched to a new file
        lw = Writer(link)
        lw.seq = 1_000_000
        steady(lw, 0.3)
        nxt = tmp_path / "next.log"
        (real / "b.log").touch()
        nxt.symlink_to(real / "b.log")
        os.replace(nxt, link)
        lw.write(3)  # still the old target
        lw.reopen(link)
        steady(lw, 0.3)
        lw.close()
        expected = set(range(w.seq)) | set(range(1_000_000, lw.seq))
        got = wait_stored(collector, ship, expected)
    finally:
        ship.stop()
    assert set(got) == expected, f"missing {sorted(expected - set(got))[:10]}, extra {sorted(set(got) - expected)[:10]}"
    assert max(got.values()) == 1, f"duplicates: {[s for s, n in got.items() if n > 1][:10]}"
