"""`<db>.collector.json` after the collector died: a stale file never blocks local tools.

A collector killed with -9 leaves its file behind. Its pid may be a zombie (killed, not yet
reaped by its parent), gone, or reused by an unrelated process: in each case the file is
stale, is removed, and `logship query` reads the database file itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from logship.store.remote import held_by_collector
from logship.store import Store
from tests.run import logship, wait_for


def _lockfile(db: Path, pid: int, started: float | None, since_boot: float | None = None) -> Path:
    cfile = db.with_name(db.name + ".collector.json")
    doc = {"url": "http://127.0.0.1:9", "pid": pid, "token": "t", "db": str(db)}
    if started is not None:
        doc["started"] = started
    if since_boot is not None:
        doc["started_since_boot"] = since_boot
    cfile.write_text(json.dumps(doc))
    return cfile


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "x.duckdb"
    Store(path).close()
    return path


def test_a_zombie_collector_is_stale(db: Path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE,
                 what="the child exited, not reaped")
        cfile = _lockfile(db, child.pid, psutil.Process(child.pid).create_time())
        assert held_by_collector(db) is None
        assert not cfile.exists()
    finally:
        child.wait()


def test_a_reused_pid_is_stale(db: Path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(other.pid).create_time()
        cfile = _lockfile(db, other.pid, started - 3600.0)   # the pid's process started later
        assert held_by_collector(db) is None
        assert not cfile.exists()
        cfile = _lockfile(db, other.pid, None)               # a file without a start time: unverifiable
        assert held_by_collector(db) is None
        assert not cfile.exists()
        cfile = _lockfile(db, other.pid, started)            # the very process: it holds the file
        running = held_by_collector(db)
        assert running is not None and running.pid == other.pid and cfile.exists()
    finally:
        other.kill()
        other.wait()


def test_a_dead_pid_is_stale_and_query_reads_the_file(db: Path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    cfile = _lockfile(db, child.pid, 1.0)
    out = logship("query", "SELECT 42 AS answer", "--db", db, "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["answer", "42"]
    assert not cfile.exists()
    assert os.listdir(db.parent) == [db.name]


def test_a_live_collector_that_does_not_answer_gets_one_line_saying_what_to_do(db: Path):
    """The pid is alive and is the very process that wrote the file, but nothing listens
    at its url: one line, exit 1, the file stays (it is not stale)."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        cfile = _lockfile(db, other.pid, psutil.Process(other.pid).create_time())
        out = logship("query", "SELECT 42 AS answer", "--db", db)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.count("\n") == 1
        assert out.stderr.startswith(f"error: the collector (pid {other.pid}) at http://127.0.0.1:9 holds the "
                                     "database but does not answer (")
        assert out.stderr.endswith(f"): wait until it answers, or stop it (kill {other.pid}) and run this again\n")
        assert cfile.exists()
    finally:
        other.kill()
        other.wait()


def test_a_clock_step_keeps_the_running_collectors_file(db: Path):
    """The wall clock stepped an hour since the collector wrote its file (NTP, a VM
    resumed): its wall-clock start no longer matches, its time since boot does. It is
    the running collector: the file is kept (a step used to get it removed as stale,
    and `logship query` then met the collector's lock)."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(other.pid).create_time()
        since_boot = started - psutil.boot_time()
        cfile = _lockfile(db, other.pid, started + 3600.0, since_boot)
        running = held_by_collector(db)
        assert running is not None and running.pid == other.pid and cfile.exists()
        cfile = _lockfile(db, other.pid, started + 3600.0, since_boot - 3600.0)  # another process's start
        assert held_by_collector(db) is None
        assert not cfile.exists()
    finally:
        other.kill()
        other.wait()
