"""Shared fixtures: a fresh DuckDB path, temporary log dirs, and a guard against
tests that leak threads or child processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest

from tests import hypothesis_profiles

hypothesis_profiles.load()

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a fresh DuckDB file (not created yet)."""
    return tmp_path / "test.duckdb"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


def _live_threads() -> set[int]:
    return {t.ident for t in threading.enumerate() if t.is_alive() and t.ident is not None}


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture(autouse=True)
def no_leaked_threads_or_processes(request):
    """Fail a test that leaves threads or child processes running after it ends.

    Pool workers that a test owns must be shut down by the test; give stragglers a
    moment (threads finishing their last iteration) before judging.
    """
    threads_before, children_before = _live_threads(), _children()
    yield
    if request.node.get_closest_marker("allow_leaks"):
        return
    deadline = time.monotonic() + 5.0
    while True:
        new_threads = {
            t for t in threading.enumerate()
            if t.is_alive() and t.ident not in threads_before and not t.daemon
        }
        new_children = {
            p for p in psutil.Process().children(recursive=True)
            if p.pid not in children_before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        }
        if not new_threads and not new_children:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    pytest.fail(
        f"test leaked threads {[t.name for t in new_threads]} "
        f"or child processes {[p.pid for p in new_children]}"
    )


@pytest.fixture
def collector(tmp_path: Path):
    """A running `logship collect` on a free 127.0.0.1 port with a fresh DuckDB file
    (tests/collectorkit.py: tokens, admin token, stop/kill/restart, a look into the db)."""
    from tests.collectorkit import CollectorProc

    proc = CollectorProc(tmp_path).start()
    yield proc
    proc.stop()
