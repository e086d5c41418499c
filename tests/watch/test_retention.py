"""Retention of the watchdog's rotated files: age and total size, oldest first, never a
file the shipper has not had acknowledged unless the size cap forces it. Under 2 s."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from logship.kernel.fingerprint import source_id
from logship.watch.retention import plan, prune, rotated_files
from tests.watchkit import app_script, entries, log_files, run, watch_json_argv

NOW = 2_000_000_000.0
DAY = 86400.0


def make(log_dir: Path, sizes: dict[str, int], ages: dict[str, float] | None = None) -> None:
    """Files named `app.log`, `app.log.1` ... with distinct heads, of these sizes and ages (days)."""
    log_dir.mkdir(exist_ok=True)
    for name, size in sizes.items():
        p = log_dir / name
        p.write_bytes((f"{name} head\n".encode() * (size // 10 + 1))[:size])
        t = NOW - (ages or {}).get(name, 0.0) * DAY
        os.utime(p, (t, t))


def status(log_dir: Path, acked: list[str], partly: dict[str, int] | None = None) -> dict:
    """A shipper status naming these files acknowledged (whole, or up to an offset)."""
    key = lambda n: source_id("c1", (log_dir / n).read_bytes()[:1024])  # noqa: E731
    return {"client_id": "c1", "acked_sources": [key(n) for n in acked],
            "files": [{"path": n, "source_id": key(n), "acked": a} for n, a in (partly or {}).items()]}


def test_oldest_first_by_size_and_the_current_file_is_never_deleted(tmp_path: Path):
    make(tmp_path, {"app.log": 500, "app.log.1": 400, "app.log.2": 400, "app.log.3": 400})
    assert [p.name for p in rotated_files(tmp_path / "app.log")] == ["app.log.3", "app.log.2", "app.log.1"]
    got = plan(tmp_path / "app.log", 0, 1000, None, NOW)   # no shipper: everything counts as acked
    assert [(d.path.name, d.reason, d.acked) for d in got] == [("app.log.3", "size", True), ("app.log.2", "size", True)]
    got = plan(tmp_path / "app.log", 0, 10, None, NOW)     # a tiny cap: the newest file stays anyway
    assert [d.path.name for d in got] == ["app.log.3", "app.log.2", "app.log.1"]


def test_age_spares_unacked_files_and_the_size_cap_forces_them_last(tmp_path: Path):
    make(tmp_path, {"app.log": 100, "app.log.1": 100, "app.log.2": 100, "app.log.3": 100},
         ages={"app.log.1": 8, "app.log.2": 9, "app.log.3": 10})
    st = status(tmp_path, acked=["app.log.3"], partly={"app.log.2": 50, "app.log.1": 100})
    got = plan(tmp_path / "app.log", 7 * DAY, 0, st, NOW)  # .2 is half acked: it stays
    assert [(d.path.name, d.reason) for d in got] == [("app.log.3", "age"), ("app.log.1", "age")]
    st = status(tmp_path, acked=["app.log.3"])
    got = plan(tmp_path / "app.log", 0, 150, st, NOW)      # acked first, then the oldest unacked
    assert [(d.path.name, d.acked) for d in got] == [("app.log.3", True), ("app.log.2", False), ("app.log.1", False)]
    got = plan(tmp_path / "app.log", 0, 350, st, NOW)      # the cap allows them: unacked survive
    assert [(d.path.name, d.acked) for d in got] == [("app.log.3", True)]
    assert [d.path.name for d, err in prune(tmp_path / "app.log", 0, 350, st, NOW)] == ["app.log.3"]
    assert not (tmp_path / "app.log.3").exists() and (tmp_path / "app.log.2").exists()


def test_the_watchdog_rotates_and_keeps_its_directory_under_a_tiny_cap(tmp_path: Path):
    """~1 s. 2 KiB files, a 5 KiB cap, no shipper: old files go, the newest stay, each said."""
    script = app_script(tmp_path, """
        for i in range(300):
            emit("fill.line", i=i, pad="x" * 40)
    """)
    logs = tmp_path / "logs"
    res = run(watch_json_argv(log_dir=logs, command=(sys.executable, script), interval=0.5,
                              rotate_bytes=2048, keep_bytes=5120))
    assert res.returncode == 0, res.stderr
    files = log_files(logs)
    assert sum(p.stat().st_size for p in files) <= 5120 + 2048
    assert files[-1].name == "app.log" and len(files) >= 2
    deleted = [e for e in entries(logs) if e.name == "watch.retention_deleted"]
    left = {int(p.name.rsplit(".", 1)[1]) for p in files[:-1]}
    assert deleted and max(left) == len(left)   # the oldest went, the newest .1 .. .N stayed
    # the last of the app's events is in the newest file
    assert [e.field("i") for e in entries(logs) if e.name == "fill.line"][-1] == "299"
