"""Faults the soak found, each reproduced deterministically with the real processes.

Each test failed on the code the soak found it on; the docstring names the cause.
"""

from __future__ import annotations

import re

import pytest

from tests.diskkit import Filler, tmpfs_or_skip
from tests.shipkit import Collector, ShipperProc, line, wait_for


@pytest.fixture
def db_dir(tmp_path):
    with tmpfs_or_skip(tmp_path / "db", "64m") as d:
        yield d


def _write(path, seqs):
    with open(path, "ab") as f:
        f.write(b"".join(line(s) for s in seqs))


def test_a_source_opened_while_the_store_is_full_is_shipped_once_space_returns(tmp_path, db_dir):
    """Found by the soak (seed 11, a disk_full_db just before the end: the drain stalled).

    The collector answered a store error while resolving the source (ENOSPC on its
    commit) with bad_open (StreamSession._open), and the shipper drops a bad_open source
    for the rest of the connection (Shipper._on_error): after the disk healed the file
    was never shipped until some reconnect. Now it is store_failed (retry).
    """
    logs = tmp_path / "logs"
    logs.mkdir()
    coll = Collector(tmp_path)
    coll.db = db_dir / "e2e.duckdb"
    coll.start()
    ship = ShipperProc(tmp_path, [str(logs / "*.log")], coll.url).start()
    try:
        _write(logs / "a.log", range(100))
        ship.wait_caught_up(live=(logs / "a.log",))
        filler = Filler(db_dir)
        filler.fill()
        _write(logs / "b.log", range(1000, 1100))   # a new source while the store cannot commit
        wait_for(lambda: re.search(r"cannot open (the )?source", (tmp_path / "shipper.log").read_text()),
                 timeout=20, what="the open of b.log to fail")
        filler.release()
        _write(logs / "b.log", range(1100, 1150))
        ship.wait_caught_up(live=(logs / "a.log", logs / "b.log"), timeout=20)
        ship.stop()
        coll.stop()
        got = coll.seqs()
    finally:
        ship.stop()
        coll.stop()
    expected = set(range(100)) | set(range(1000, 1150))
    assert set(got) == expected and max(got.values()) == 1
